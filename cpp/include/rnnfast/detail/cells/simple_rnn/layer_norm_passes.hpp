// The layer-normalised SimpleRNN, h_t = act(LN(x_t·W + h_{t-1}·U + b)), norm weights [γ, β] (H each).
//
// A norm needs whole rows, so the cell does not split the units across threads (splits_units = false).
#pragma once

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/cells/common/layer_norm.hpp"
#include "rnnfast/detail/cells/simple_rnn/passes.hpp"

namespace rnnfast {

// Saved per row: [h_t | â | 1/σ] (2H + 1); backward writes dA (feeds W and U) over h_t.
template <class T, Activation Act>
class LayerNormSimpleRnnCell {
 public:
  static constexpr int gates = 1;
  static constexpr bool has_cell_state = false;
  static constexpr bool splits_units = false;

  LayerNormSimpleRnnCell(Index units, T epsilon) : units_(units), epsilon_(epsilon) {}
  Index units() const { return units_; }
  Index saved_width() const { return 2 * units_ + 1; }
  Index scratch_width() const { return units_; }
  Index bias_size() const { return units_; }
  Index norm_size() const { return 2 * units_; }

  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    const Index H = units_;
    recurrent_product(ctx, 0, 1, s.batch, s.h_in, s.ld_h_in, s.saved, s.ld_saved, true);
    const T* gamma = ctx.weights.norm;
    const T* beta = gamma + H;
    for (Index r = 0; r < s.batch; ++r) {
      T* h = s.h + r * s.ld_h;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev, h, H);
        continue;
      }
      T* a = s.saved + r * s.ld_saved;
      T* a_hat = a + H;
      const T* bias = ctx.weights.bias;
      for_each_value<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        store(a_hat + j, Eigen::internal::padd(load<V>(a + j), load<V>(bias + j)));
      });
      a[2 * H] = normalize(a_hat, H, epsilon_);
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        const V out = simple_rnn::activate<Act>(affine<V>(gamma, a_hat, beta, j));
        store(a + j, out);
        store(h + j, out);
      });
    }
  }

  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    const Index H = units_;
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved;
      if (!row_active(s.active, r)) {
        std::fill(a, a + H, T(0));
        continue;
      }
      T* dn = s.scratch + r * H;  // dL/d(γ⊙â + β)
      const T* dh = s.dh + r * H;
      for_each_value<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        store(dn + j, simple_rnn::gradient<Act>(load<V>(a + j), load<V>(dh + j)));
      });
      affine_norm_backward(dn, a + H, ctx.weights.norm, H, a[2 * H], grads.norm, grads.norm + H, a);
      add_row(grads.bias, a, H);
    }
    ctx.team.sync();
    recurrent_product_backward(ctx, 0, 1, s.batch, s.saved, s.ld_saved, s.dh_prev);
    finish_recurrent_gradient(s, H, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::split_weight_grads(team, m, input_size, units_, units_, saved_width(), 0, 0, w, g);
  }

 private:
  Index units_;
  T epsilon_;
};

}  // namespace rnnfast
