// The layer-normalised LSTM: [i f g o] = LN_x(x_t·W) + LN_h(h_{t-1}·U) + b (+ peepholes after the norms),
// c_t = f⊙c_{t-1} + i⊙g, h_t = o⊙tanh(LN_c(c_t)); norm weights [γ_x, β_x, γ_h, β_h] (4H each), then [γ_c, β_c].
//
// A norm needs whole rows, so the cell does not split the units across threads (splits_units = false).
#pragma once

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/cells/common/layer_norm.hpp"
#include "rnnfast/detail/cells/lstm/equations.hpp"

namespace rnnfast {

// Saved per row: [i f g o | x̂ (4H) | ĥ (4H) | ĉ (H) | 1/σ_x, 1/σ_h, 1/σ_c] (13H + 3). Backward writes the gate
// gradients over the gates, dA_x over x̂ and dA_h over ĥ.
template <class T>
class LayerNormLstmCell {
 public:
  static constexpr int gates = 4;
  static constexpr bool has_cell_state = true;
  static constexpr bool splits_units = false;

  LayerNormLstmCell(Index units, bool peephole, T epsilon) : units_(units), peephole_(peephole), epsilon_(epsilon) {}
  Index units() const { return units_; }
  Index saved_width() const { return 13 * units_ + 3; }
  Index scratch_width() const { return 4 * units_; }
  Index bias_size() const { return 4 * units_; }
  Index norm_size() const { return 18 * units_; }

  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    if (peephole_) forward_rows<true>(s, ctx);
    else forward_rows<false>(s, ctx);
  }

  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    if (peephole_) backward_rows<true>(s, ctx, grads);
    else backward_rows<false>(s, ctx, grads);
    const Index G = 4 * units_;
    ctx.team.sync();
    detail::recurrent_product_backward(ctx, 0, 4, s.batch, s.saved + 2 * G, s.ld_saved, s.dh_prev);
    detail::finish_recurrent_gradient(s, units_, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    const Index G = 4 * units_;
    detail::split_weight_grads(team, m, input_size, units_, G, saved_width(), G, 2 * G, w, g);
  }

 private:
  template <bool Peephole>
  void forward_rows(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    using Eigen::internal::padd;
    const Index H = units_, G = 4 * H;
    // x·W is in the gate slots on entry; h·U goes to the ĥ slot, each to be normalised on its own.
    recurrent_product(ctx, 0, 4, s.batch, s.h_in, s.ld_h_in, s.saved + 2 * G, s.ld_saved, false);
    const T* nw = ctx.weights.norm;
    const T *gx = nw, *bx = nw + G, *gh = nw + 2 * G, *bh = nw + 3 * G, *gc = nw + 4 * G, *bc = nw + 4 * G + H;
    const T* bias = ctx.weights.bias;
    const T* p = ctx.weights.peephole;
    for (Index r = 0; r < s.batch; ++r) {
      const T* c_prev = s.c_prev + r * s.ld_c_prev;
      T* h = s.h + r * s.ld_h;
      T* c = s.c + r * s.ld_c;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev, h, H);
        copy_row(c_prev, c, H);
        continue;
      }
      T* a = s.saved + r * s.ld_saved;
      T* x_hat = a + G;
      T* h_hat = a + 2 * G;
      T* c_hat = a + 3 * G;
      T* rstd = a + 3 * G + H;
      copy_row(a, x_hat, G);
      rstd[0] = normalize(x_hat, G, epsilon_);
      rstd[1] = normalize(h_hat, G, epsilon_);
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        auto pre = [&](int gate) {  // LN_x(x·W) + LN_h(h·U) + b
          const Index k = gate * H + j;
          return padd(padd(affine<V>(gx, x_hat, bx, k), affine<V>(gh, h_hat, bh, k)), load<V>(bias + k));
        };
        const lstm::Peepholes<V> pp = lstm::load_peepholes<Peephole, V>(p, H, j);
        const lstm::Gates<V> g =
            lstm::gates<Peephole>(pre(0), pre(1), pre(2), pre(3), load<V>(c_prev + j), pp);
        store(a + j, g.i);
        store(a + H + j, g.f);
        store(a + 2 * H + j, g.g);
        store(a + 3 * H + j, g.o);
        store(c + j, g.c);
      });
      copy_row(c, c_hat, H);
      rstd[2] = normalize(c_hat, H, epsilon_);
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        store(h + j, lstm::output(load<V>(a + 3 * H + j), affine<V>(gc, c_hat, bc, j)));
      });
    }
  }

  template <bool Peephole>
  void backward_rows(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    using namespace Eigen::internal;
    const Index H = units_, G = 4 * H;
    const T* nw = ctx.weights.norm;
    const T* p = ctx.weights.peephole;
    T* dnw = grads.norm;
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved;
      if (!row_active(s.active, r)) {  // dc passes through; nothing reaches the weights
        std::fill(a + G, a + 3 * G, T(0));
        continue;
      }
      T* x_hat = a + G;
      T* h_hat = a + 2 * G;
      const T* c_hat = a + 3 * G;
      const T* rstd = a + 3 * G + H;
      T* tmp = s.scratch + r * G;
      T* tanh_n = tmp + 2 * H;
      T* dc_from_h = tmp + H;
      const T* c_prev = s.c_prev + r * s.ld_c_prev;
      const T* c = s.c + r * s.ld_c;
      const T* dh = s.dh + r * H;
      T* dc = s.dc + r * H;
      // Through h_t = o⊙tanh(n_c), n_c = LN_c(c_t): the norm's own gradients and dL/dc_t from h_t.
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        const V t = tanh(affine<V>(nw + 4 * G, c_hat, nw + 4 * G + H, j));
        store(tanh_n + j, t);
        store(tmp + j, pmul(pmul(load<V>(dh + j), load<V>(a + 3 * H + j)), one_minus_square(t)));
      });
      affine_norm_backward(tmp, c_hat, nw + 4 * G, H, rstd[2], dnw + 4 * G, dnw + 4 * G + H, dc_from_h);
      // The gate gradients over the gates, as the plain LSTM (peepholes after the norms).
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        const V i = load<V>(a + j), f = load<V>(a + H + j), g = load<V>(a + 2 * H + j), o = load<V>(a + 3 * H + j);
        const V cp = load<V>(c_prev + j);
        const lstm::Peepholes<V> pp = lstm::load_peepholes<Peephole, V>(p, H, j);
        const lstm::Gradients<V> d =
            lstm::gradients<Peephole>(i, f, g, o, cp, pmul(load<V>(dh + j), load<V>(tanh_n + j)),
                                      padd(load<V>(dc + j), load<V>(dc_from_h + j)), pp);
        store(a + j, d.da_i);
        store(a + H + j, d.da_f);
        store(a + 2 * H + j, d.da_g);
        store(a + 3 * H + j, d.da_o);
        if constexpr (Peephole) {
          accumulate(grads.peephole + j, pmul(d.da_i, cp));
          accumulate(grads.peephole + H + j, pmul(d.da_f, cp));
          accumulate(grads.peephole + 2 * H + j, pmul(d.da_o, load<V>(c + j)));
        }
        store(dc + j, d.dc_prev);
      });
      add_row(grads.bias, a, G);
      // The gates' pre-activation is LN_x(x·W) + LN_h(h·U) + b: both norms receive dA.
      affine_norm_backward(a, x_hat, nw, G, rstd[0], dnw, dnw + G, tmp);
      copy_row(tmp, x_hat, G);
      affine_norm_backward(a, h_hat, nw + 2 * G, G, rstd[1], dnw + 2 * G, dnw + 3 * G, tmp);
      copy_row(tmp, h_hat, G);
    }
  }

  Index units_;
  bool peephole_;
  T epsilon_;
};

}  // namespace rnnfast
