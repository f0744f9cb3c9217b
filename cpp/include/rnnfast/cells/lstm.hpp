// LSTM, Keras gate order i, f, c̃ (written g here), o:
//   [i f g o] = [σ σ tanh σ](x_t·W + h_{t-1}·U + b),  c_t = f⊙c_{t-1} + i⊙g,  h_t = o⊙tanh(c_t).
// With peepholes the gates also see the cell state: i and f add p_i⊙c_{t-1} and p_f⊙c_{t-1}, o adds p_o⊙c_t.
#pragma once

#include "rnnfast/cells/common.hpp"

namespace rnnfast {

template <class T>
class LstmCell {
 public:
  static constexpr int gates = 4;
  static constexpr bool has_cell_state = true;
  static constexpr bool splits_units = true;  // threads may own slices of the units

  explicit LstmCell(Index units, bool peephole = false) : units_(units), peephole_(peephole) {}
  Index units() const { return units_; }
  bool peephole() const { return peephole_; }
  CellType stacked_type() const { return CellType::lstm; }  // as SimpleRnnCell::stacked_type
  // i, f, g, o after their activations; backward overwrites them with [da_i, da_f, da_g, da_o].
  Index saved_width() const { return 4 * units_; }
  Index scratch_width() const { return 0; }
  Index bias_size() const { return 4 * units_; }
  Index norm_size() const { return 0; }

  // This thread's units: the product of their gate columns, then one fused pass over them.
  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    // The recurrent product adds to x·W in the saved rows; the pass turns them into activations.
    detail::recurrent_product(ctx, 0, 4, s.batch, s.h_in, s.ld_h_in, s.saved, s.ld_saved, true);
    if (peephole_) forward_rows<true>(s, ctx);
    else forward_rows<false>(s, ctx);
  }

  // The gate gradients of this thread's units, over their activations; once the team has them all, dh_{t-1}
  // for this thread's units.
  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    if (peephole_) backward_rows<true>(s, ctx, grads);
    else backward_rows<false>(s, ctx, grads);
    ctx.team.sync();  // the product reads every thread's gate gradients
    detail::recurrent_product_backward(ctx, 0, 4, s.batch, s.saved, s.ld_saved, s.dh_prev);
    detail::finish_recurrent_gradient(s, units_, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(team, m, input_size, units_, 4 * units_, w, g);
  }

 private:
  template <bool Peephole>
  void forward_rows(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    using Eigen::internal::padd;
    using Eigen::internal::pmadd;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    const T* b = ctx.weights.bias + u0;
    const T* p = Peephole ? ctx.weights.peephole + u0 : nullptr;
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
        const V cp = load<V>(c_prev + j);
        V i, f;
        if constexpr (Peephole) {
          i = sigmoid(pmadd(load<V>(p + j), cp, pre(0)));
          f = sigmoid(pmadd(load<V>(p + H + j), cp, pre(1)));
        } else {
          i = sigmoid(pre(0));
          f = sigmoid(pre(1));
        }
        const V g = tanh(pre(2));
        const V c_new = pmadd(f, cp, pmul(i, g));
        V o;
        if constexpr (Peephole) o = sigmoid(pmadd(load<V>(p + 2 * H + j), c_new, pre(3)));
        else o = sigmoid(pre(3));
        store(a + j, i);
        store(a + H + j, f);
        store(a + 2 * H + j, g);
        store(a + 3 * H + j, o);
        store(c + j, c_new);
        store(h + j, pmul(o, tanh(c_new)));
      });
    }
  }

  template <bool Peephole>
  void backward_rows(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    using Eigen::internal::pmadd;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    const T* p = Peephole ? ctx.weights.peephole + u0 : nullptr;
    T* db = grads.bias + u0;
    T* dp = Peephole ? grads.peephole + u0 : nullptr;
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
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V i = load<V>(a + j), f = load<V>(a + H + j), g = load<V>(a + 2 * H + j), o = load<V>(a + 3 * H + j);
        const V c_j = load<V>(c + j), cp = load<V>(c_prev + j), tanh_c = tanh(c_j), dh_j = load<V>(dh + j);
        const V da_o = pmul(pmul(dh_j, tanh_c), sigmoid_slope(o));
        // dL/dc_t: from c_{t+1}, through h_t = o⊙tanh(c_t), and (peepholes) through o.
        V dc_j = pmadd(pmul(dh_j, o), one_minus_square(tanh_c), load<V>(dc + j));
        if constexpr (Peephole) dc_j = pmadd(da_o, load<V>(p + 2 * H + j), dc_j);
        const V da_i = pmul(pmul(dc_j, g), sigmoid_slope(i)), da_f = pmul(pmul(dc_j, cp), sigmoid_slope(f));
        const V da[4] = {da_i, da_f, pmul(pmul(dc_j, i), one_minus_square(g)), da_o};
        for (int gate = 0; gate < 4; ++gate) {
          store(a + gate * H + j, da[gate]);
          accumulate(db + gate * H + j, da[gate]);
        }
        V dc_prev = pmul(dc_j, f);
        if constexpr (Peephole) {
          dc_prev = pmadd(da_i, load<V>(p + j), pmadd(da_f, load<V>(p + H + j), dc_prev));
          accumulate(dp + j, pmul(da_i, cp));
          accumulate(dp + H + j, pmul(da_f, cp));
          accumulate(dp + 2 * H + j, pmul(da_o, c_j));
        }
        store(dc + j, dc_prev);
      });
    }
  }

  Index units_;
  bool peephole_;
};

}  // namespace rnnfast
