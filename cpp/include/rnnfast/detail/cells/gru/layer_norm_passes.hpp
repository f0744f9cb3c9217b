// The layer-normalised GRU (reset_after): input part LN_x(x_t·W) + b_in, recurrent part LN_h(h_{t-1}·U) + b_rec,
// then the GRU's gates; norm weights [γ_x, β_x, γ_h, β_h] (3H each).
//
// A norm needs whole rows, so the cell does not split the units across threads (splits_units = false).
#pragma once

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/cells/common/layer_norm.hpp"
#include "rnnfast/detail/cells/gru/equations.hpp"

namespace rnnfast {

// reset_after only. Saved per row: [z r h̃ u_h | x̂ (3H) | ĥ (3H) | 1/σ_x, 1/σ_h] (10H + 2), u_h the recurrent
// part of the candidate (LN_h(h·U) + b_rec, its third block). Backward writes dA_x over x̂ and dA_h over ĥ.
template <class T>
class LayerNormGruCell {
 public:
  static constexpr int gates = 3;
  static constexpr bool has_cell_state = false;
  static constexpr bool splits_units = false;

  LayerNormGruCell(Index units, T epsilon) : units_(units), epsilon_(epsilon) {}
  Index units() const { return units_; }
  Index saved_width() const { return 10 * units_ + 2; }
  Index scratch_width() const { return 3 * units_; }
  Index bias_size() const { return 6 * units_; }
  Index norm_size() const { return 12 * units_; }

  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    const Index H = units_, G = 3 * H;
    recurrent_product(ctx, 0, 3, s.batch, s.h_in, s.ld_h_in, s.saved + 4 * H + G, s.ld_saved, false);
    const T* nw = ctx.weights.norm;
    const T *gx = nw, *bx = nw + G, *gh = nw + 2 * G, *bh = nw + 3 * G;
    const T *b_in = ctx.weights.bias, *b_rec = ctx.weights.bias + G;
    for (Index r = 0; r < s.batch; ++r) {
      const T* h_prev = s.h_prev + r * s.ld_h_prev;
      T* h = s.h + r * s.ld_h;
      if (!row_active(s.active, r)) {
        copy_row(h_prev, h, H);
        continue;
      }
      T* a = s.saved + r * s.ld_saved;
      T* x_hat = a + 4 * H;
      T* h_hat = x_hat + G;
      T* rstd = h_hat + G;
      copy_row(a, x_hat, G);
      rstd[0] = normalize(x_hat, G, epsilon_);
      rstd[1] = normalize(h_hat, G, epsilon_);
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        using Eigen::internal::padd;
        auto input_part = [&](int k) {  // block k of LN_x(x·W) + b_in
          return padd(affine<V>(gx, x_hat, bx, k * H + j), load<V>(b_in + k * H + j));
        };
        auto recurrent_part = [&](int k) {  // block k of LN_h(h·U) + b_rec
          return padd(affine<V>(gh, h_hat, bh, k * H + j), load<V>(b_rec + k * H + j));
        };
        const V uh = recurrent_part(2);
        const gru::Gates<V> g = gru::reset_after(padd(input_part(0), recurrent_part(0)),
                                                 padd(input_part(1), recurrent_part(1)), input_part(2), uh,
                                                 load<V>(h_prev + j));
        store(a + j, g.z);
        store(a + H + j, g.r);
        store(a + 2 * H + j, g.candidate);
        store(a + 3 * H + j, uh);
        store(h + j, g.h);
      });
    }
  }

  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    const Index H = units_, G = 3 * H;
    const T* nw = ctx.weights.norm;
    T* dnw = grads.norm;
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved;
      if (!row_active(s.active, r)) {
        std::fill(a + 4 * H, a + 4 * H + 2 * G, T(0));
        copy_row(s.dh + r * H, s.dh_prev + r * H, H);
        continue;
      }
      T* x_hat = a + 4 * H;
      T* h_hat = x_hat + G;
      const T* rstd = h_hat + G;
      const T* h_prev = s.h_prev + r * s.ld_h_prev;
      // Over [z r h̃ u_h]: d(input part) = [da_z, da_r, da_h] and du_h; dh_{t-1} starts with the carry's dh⊙z.
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        const gru::StateGradients<V> d = gru::state_gradients(load<V>(a + j), load<V>(a + 2 * H + j),
                                                              load<V>(h_prev + j), load<V>(s.dh + r * H + j));
        const gru::ResetAfterGradients<V> dr =
            gru::reset_after_gradients(load<V>(a + H + j), load<V>(a + 3 * H + j), d.da_h);
        store(a + j, d.da_z);
        store(a + H + j, dr.da_r);
        store(a + 2 * H + j, d.da_h);
        store(a + 3 * H + j, dr.du_h);
        store(s.dh_prev + r * H + j, d.dh_prev);
      });
      T* tmp = s.scratch + r * G;
      add_row(grads.bias, a, G);
      affine_norm_backward(a, x_hat, nw, G, rstd[0], dnw, dnw + G, tmp);
      copy_row(tmp, x_hat, G);
      Vec<T>(a + 2 * H, H) = Vec<T>(a + 3 * H, H);  // a[0, 3H) = d(recurrent part)
      add_row(grads.bias + G, a, G);
      affine_norm_backward(a, h_hat, nw + 2 * G, G, rstd[1], dnw + 2 * G, dnw + 3 * G, tmp);
      copy_row(tmp, h_hat, G);
    }
    ctx.team.sync();
    const T* da_h_norm = s.saved + 4 * H + G;
    if (s.recurrent_mask == nullptr) {
      recurrent_product_backward(ctx, 0, 3, s.batch, da_h_norm, s.ld_saved, s.dh_prev, true);
    } else {
      recurrent_product_backward(ctx, 0, 3, s.batch, da_h_norm, s.ld_saved, s.scratch);
      add_recurrent_gradient(s, H, ctx.units, s.scratch);
    }
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    const Index H = units_, G = 3 * H;
    detail::split_weight_grads(team, m, input_size, H, G, saved_width(), 4 * H, 4 * H + G, w, g);
  }

 private:
  Index units_;
  T epsilon_;
};

}  // namespace rnnfast
