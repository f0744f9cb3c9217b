// The SimpleRNN's whole-sequence passes (the cell of the sequence driver): per step, the recurrent product on this
// thread's units, then the activation (equations.hpp) over each batch row; backward likewise.
#pragma once

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/cells/simple_rnn/equations.hpp"

namespace rnnfast {

template <class T, Activation Act>
class SimpleRnnCell {
 public:
  static constexpr int gates = 1;
  static constexpr bool has_cell_state = false;
  static constexpr bool splits_units = true;  // threads may own slices of the units

  explicit SimpleRnnCell(Index units) : units_(units) {}
  Index units() const { return units_; }
  // Its stacked-step kernel (step.hpp), for the sequence engine's one-sequence inference.
  CellType stacked_type() const {
    return Act == Activation::tanh ? CellType::simple_rnn_tanh : CellType::simple_rnn_relu;
  }
  Index saved_width() const { return units_; }  // h_t (the activation); backward overwrites it with dA
  Index scratch_width() const { return 0; }
  Index bias_size() const { return units_; }
  Index norm_size() const { return 0; }

  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    const Index u0 = ctx.units.begin, n = ctx.units.size();
    recurrent_product(ctx, 0, 1, s.batch, s.h_in, s.ld_h_in, s.saved, s.ld_saved, true);
    const T* bias = ctx.weights.bias + u0;
    for (Index r = 0; r < s.batch; ++r) {
      T* h = s.h + r * s.ld_h + u0;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev + u0, h, n);
        continue;
      }
      T* a = s.saved + r * s.ld_saved + u0;  // x·W + h·U in, the activation out
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V out = simple_rnn::activate<Act>(Eigen::internal::padd(load<V>(a + j), load<V>(bias + j)));
        store(a + j, out);
        store(h + j, out);
      });
    }
  }

  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;  // h_t in, dA out
      if (!row_active(s.active, r)) {
        std::fill(a, a + n, T(0));
        continue;
      }
      const T* dh = s.dh + r * H + u0;
      for_each_value<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V da = simple_rnn::gradient<Act>(load<V>(a + j), load<V>(dh + j));
        store(a + j, da);
        accumulate(grads.bias + u0 + j, da);
      });
    }
    ctx.team.sync();  // the product reads every thread's gate gradients
    recurrent_product_backward(ctx, 0, 1, s.batch, s.saved, s.ld_saved, s.dh_prev);
    finish_recurrent_gradient(s, H, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(team, m, input_size, units_, units_, w, g);
  }

 private:
  Index units_;
};

}  // namespace rnnfast
