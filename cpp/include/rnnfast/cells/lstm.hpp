// LSTM, Keras gate order i, f, c̃ (written g here), o:
//   [i f g o] = [σ σ tanh σ](x_t·W + h_{t-1}·U + b),  c_t = f⊙c_{t-1} + i⊙g,  h_t = o⊙tanh(c_t).
#pragma once

#include "rnnfast/cells/common.hpp"

namespace rnnfast {

template <class T>
class LstmCell {
 public:
  static constexpr int gates = 4;
  static constexpr bool has_cell_state = true;

  explicit LstmCell(Index units) : units_(units) {}
  Index units() const { return units_; }
  // i, f, g, o after their activations; backward overwrites them with [da_i, da_f, da_g, da_o].
  Index saved_width() const { return 4 * units_; }
  Index scratch_width() const { return 0; }
  Index bias_size() const { return 4 * units_; }

  // This thread's units: the product of their gate columns, then one fused pass over them.
  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    using Eigen::internal::padd;
    using Eigen::internal::pmadd;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    // The recurrent product adds to x·W in the saved rows; the pass below turns them into activations.
    recurrent_product(ctx, 0, 4, s.batch, s.h_prev, s.ld_h_prev, s.saved, s.ld_saved, true);
    const T* b = ctx.weights.bias + u0;
    for (Index r = 0; r < s.batch; ++r) {
      const T* c_prev = s.c_prev + r * s.ld_c_prev + u0;
      T* h = s.h + r * s.ld_h + u0;
      T* c = s.c + r * s.ld_c + u0;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev + u0, h, n);
        copy_row(c_prev, c, n);
        continue;
      }
      T* a = s.saved + r * s.ld_saved + u0;
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        auto pre = [&](int gate) { return padd(load<V>(a + gate * H + j), load<V>(b + gate * H + j)); };
        const V i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = tanh(pre(2)), o = sigmoid(pre(3));
        const V c_new = pmadd(f, load<V>(c_prev + j), pmul(i, g));
        store(a + j, i);
        store(a + H + j, f);
        store(a + 2 * H + j, g);
        store(a + 3 * H + j, o);
        store(c + j, c_new);
        store(h + j, pmul(o, tanh(c_new)));
      });
    }
  }

  // The gate gradients of this thread's units, over their activations; once the team has them all, dh_{t-1}
  // for this thread's units.
  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    using namespace detail;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      if (!row_active(s.active, r)) {
        for (int gate = 0; gate < 4; ++gate) std::fill(a + gate * H, a + gate * H + n, T(0));
        continue;  // dc passes through unchanged
      }
      const T* c = s.c + r * s.ld_c + u0;
      const T* c_prev = s.c_prev + r * s.ld_c_prev + u0;
      const T* dh = s.dh + r * H + u0;
      T* dc = s.dc + r * H + u0;
      T* db = dbias + u0;
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V i = load<V>(a + j), f = load<V>(a + H + j), g = load<V>(a + 2 * H + j), o = load<V>(a + 3 * H + j);
        const V tanh_c = tanh(load<V>(c + j)), dh_j = load<V>(dh + j);
        // dL/dc_t: from c_{t+1} and through h_t = o⊙tanh(c_t).
        const V dc_j = Eigen::internal::pmadd(pmul(dh_j, o), one_minus_square(tanh_c), load<V>(dc + j));
        const V da[4] = {pmul(pmul(dc_j, g), sigmoid_slope(i)), pmul(pmul(dc_j, load<V>(c_prev + j)), sigmoid_slope(f)),
                         pmul(pmul(dc_j, i), one_minus_square(g)), pmul(pmul(dh_j, tanh_c), sigmoid_slope(o))};
        for (int gate = 0; gate < 4; ++gate) {
          store(a + gate * H + j, da[gate]);
          accumulate(db + gate * H + j, da[gate]);
        }
        store(dc + j, pmul(dc_j, f));
      });
    }
    ctx.team.sync();  // the product reads every thread's gate gradients
    recurrent_product_backward(ctx, 0, 4, s.batch, s.saved, s.ld_saved, s.dh_prev);
    pass_inactive_gradient(s, H, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(team, m, input_size, units_, 4 * units_, w, g);
  }

 private:
  Index units_;
};

}  // namespace rnnfast
