// Layer-normalised cells. LN(v) = γ⊙(v − mean(v))/sqrt(var(v) + ε) + β over a row's features (biased variance):
//   SimpleRNN: h_t = act(LN(x_t·W + h_{t-1}·U + b))                              (the seeds' LNSimpleRNNCell)
//   LSTM:      [i f g o] = LN_x(x_t·W) + LN_h(h_{t-1}·U) + b (+ peepholes after the norms),
//              c_t = f⊙c_{t-1} + i⊙g,  h_t = o⊙tanh(LN_c(c_t))
//   GRU (reset_after): input part LN_x(x_t·W) + b_in, recurrent part LN_h(h_{t-1}·U) + b_rec, then the usual
//              z = σ(x_z + u_z), r = σ(x_r + u_r), h̃ = tanh(x_h + r⊙u_h), h_t = z⊙h_{t-1} + (1−z)⊙h̃.
// Norm weights (CellWeights::norm), concatenated: SimpleRNN [γ, β] (H each); LSTM [γ_x, β_x, γ_h, β_h] (4H each)
// then [γ_c, β_c] (H each); GRU [γ_x, β_x, γ_h, β_h] (3H each).
//
// A norm needs whole rows, so these cells do not split the units across threads (splits_units = false): a call
// runs on its calling thread. Each step saves the normalised vectors and their 1/σ; backward writes the
// gradients of x·W and h·U over the normalised vectors (dA_x feeds W and dX, dA_h feeds U and dh_{t-1}).
#pragma once

#include <cmath>

#include "rnnfast/cells/common.hpp"
#include "rnnfast/cells/simple_rnn.hpp"

namespace rnnfast {
namespace detail {

// v ← (v − mean(v)) / sqrt(var(v) + ε) over n values; returns 1/sqrt(var + ε). Two passes, for accuracy.
template <class T>
T normalize(T* v, Index n, T epsilon) {
  Vec<T> m(v, n);
  m -= m.mean();
  const T rstd = T(1) / std::sqrt(m.square().mean() + epsilon);
  m *= rstd;
  return rstd;
}

// Backward of v̂ = normalize(v): g holds dL/dv̂ on entry and dL/dv on return.
template <class T>
void normalize_backward(T* g, const T* v_hat, Index n, T rstd) {
  Vec<T> gv(g, n);
  const CVec<T> vh(v_hat, n);
  const T mean_g = gv.mean(), mean_gv = (gv * vh).mean();
  gv = rstd * (gv - mean_g - vh * mean_gv);
}

// Gradients of y = γ⊙v̂ + β given dy: dγ += dy⊙v̂, dβ += dy; and into g (n values) dL/dv.
template <class T>
void affine_norm_backward(const T* dy, const T* v_hat, const T* gamma, Index n, T rstd, T* d_gamma, T* d_beta,
                          T* g) {
  const CVec<T> dy_v(dy, n), vh(v_hat, n);
  Vec<T>(d_gamma, n) += dy_v * vh;
  Vec<T>(d_beta, n) += dy_v;
  Vec<T>(g, n) = dy_v * CVec<T>(gamma, n);
  normalize_backward(g, v_hat, n, rstd);
}

// dW = Xᵀ·dA_x, dU = H_inᵀ·dA_h, dX = dA_x·Wᵀ, with dA_x and dA_h (G columns each) inside the saved rows.
template <class T>
void split_weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, Index units, Index width,
                        Index ld, Index dax_offset, Index dah_offset, const CellWeights<T>& w, const CellGrads<T>& g) {
  accumulate_at_b(team, m.rows, input_size, width, m.x, input_size, m.saved + dax_offset, ld, g.kernel, width);
  accumulate_at_b(team, m.rows, units, width, m.h_prev, units, m.saved + dah_offset, ld, g.recurrent_kernel, width);
  if (m.dx != nullptr)
    multiply_a_bt(team, m.rows, input_size, width, m.saved + dax_offset, ld, w.kernel, width, m.dx, false);
}

}  // namespace detail

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
      Vec<T> a_hat(a + H, H);
      a_hat = Vec<T>(a, H) + CVec<T>(ctx.weights.bias, H);
      a[2 * H] = normalize(a + H, H, epsilon_);
      Vec<T> out(a, H);
      out = CVec<T>(gamma, H) * a_hat + CVec<T>(beta, H);
      if constexpr (Act == Activation::tanh) out = out.tanh();
      else out = out.max(T(0));
      copy_row(a, h, H);
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
      Vec<T> dn(s.scratch + r * H, H);  // dL/d(γ⊙â + β)
      const CVec<T> h(a, H), dh(s.dh + r * H, H);
      if constexpr (Act == Activation::tanh) dn = dh * (T(1) - h.square());
      else dn = (h > T(0)).select(dh, T(0));
      affine_norm_backward(dn.data(), a + H, ctx.weights.norm, H, a[2 * H], grads.norm, grads.norm + H, a);
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
    using namespace detail;
    const Index H = units_, G = 4 * H;
    // x·W is in the gate slots on entry; h·U goes to the ĥ slot, each to be normalised on its own.
    recurrent_product(ctx, 0, 4, s.batch, s.h_in, s.ld_h_in, s.saved + 2 * G, s.ld_saved, false);
    const T* nw = ctx.weights.norm;
    const CVec<T> gx(nw, G), bx(nw + G, G), gh(nw + 2 * G, G), bh(nw + 3 * G, G);
    const CVec<T> gc(nw + 4 * G, H), bc(nw + 4 * G + H, H), bias(ctx.weights.bias, G);
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
      Vec<T> pre(a, G);
      pre = gx * CVec<T>(x_hat, G) + bx + gh * CVec<T>(h_hat, G) + bh + bias;
      Vec<T> i(a, H), f(a + H, H), g(a + 2 * H, H), o(a + 3 * H, H);
      const CVec<T> cp(c_prev, H);
      if (peephole_) {
        i += CVec<T>(ctx.weights.peephole, H) * cp;
        f += CVec<T>(ctx.weights.peephole + H, H) * cp;
      }
      i = i.logistic();
      f = f.logistic();
      g = g.tanh();
      Vec<T> c_new(c, H);
      c_new = f * cp + i * g;
      if (peephole_) o += CVec<T>(ctx.weights.peephole + 2 * H, H) * c_new;
      o = o.logistic();
      copy_row(c, c_hat, H);
      rstd[2] = normalize(c_hat, H, epsilon_);
      Vec<T>(h, H) = o * (gc * CVec<T>(c_hat, H) + bc).tanh();
    }
  }

  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    using Eigen::internal::pmadd;
    using Eigen::internal::pmul;
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
      Vec<T>(tanh_n, H) = (CVec<T>(nw + 4 * G, H) * CVec<T>(c_hat, H) + CVec<T>(nw + 4 * G + H, H)).tanh();
      Vec<T>(tmp, H) = CVec<T>(dh, H) * CVec<T>(a + 3 * H, H) * (T(1) - CVec<T>(tanh_n, H).square());
      affine_norm_backward(tmp, c_hat, nw + 4 * G, H, rstd[2], dnw + 4 * G, dnw + 4 * G + H, dc_from_h);
      // The gate gradients over the gates, as the plain LSTM (peepholes after the norms).
      for_each_unit<T>(H, [&](auto v, Index j) {
        using V = decltype(v);
        const V i = load<V>(a + j), f = load<V>(a + H + j), g = load<V>(a + 2 * H + j), o = load<V>(a + 3 * H + j);
        const V cp = load<V>(c_prev + j), dh_j = load<V>(dh + j);
        const V da_o = pmul(pmul(dh_j, load<V>(tanh_n + j)), sigmoid_slope(o));
        V dc_j = Eigen::internal::padd(load<V>(dc + j), load<V>(dc_from_h + j));
        if (peephole_) dc_j = pmadd(da_o, load<V>(p + 2 * H + j), dc_j);
        const V da_i = pmul(pmul(dc_j, g), sigmoid_slope(i)), da_f = pmul(pmul(dc_j, cp), sigmoid_slope(f));
        store(a + j, da_i);
        store(a + H + j, da_f);
        store(a + 2 * H + j, pmul(pmul(dc_j, i), one_minus_square(g)));
        store(a + 3 * H + j, da_o);
        V dc_prev = pmul(dc_j, f);
        if (peephole_) {
          dc_prev = pmadd(da_i, load<V>(p + j), pmadd(da_f, load<V>(p + H + j), dc_prev));
          accumulate(grads.peephole + j, pmul(da_i, cp));
          accumulate(grads.peephole + H + j, pmul(da_f, cp));
          accumulate(grads.peephole + 2 * H + j, pmul(da_o, load<V>(c + j)));
        }
        store(dc + j, dc_prev);
      });
      add_row(grads.bias, a, G);
      // The gates' pre-activation is LN_x(x·W) + LN_h(h·U) + b: both norms receive dA.
      affine_norm_backward(a, x_hat, nw, G, rstd[0], dnw, dnw + G, tmp);
      copy_row(tmp, x_hat, G);
      affine_norm_backward(a, h_hat, nw + 2 * G, G, rstd[1], dnw + 2 * G, dnw + 3 * G, tmp);
      copy_row(tmp, h_hat, G);
    }
    ctx.team.sync();
    recurrent_product_backward(ctx, 0, 4, s.batch, s.saved + 2 * G, s.ld_saved, s.dh_prev);
    finish_recurrent_gradient(s, H, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    const Index G = 4 * units_;
    detail::split_weight_grads(team, m, input_size, units_, G, saved_width(), G, 2 * G, w, g);
  }

 private:
  Index units_;
  bool peephole_;
  T epsilon_;
};

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
    const CVec<T> gx(nw, G), bx(nw + G, G), gh(nw + 2 * G, G), bh(nw + 3 * G, G);
    const CVec<T> b_in(ctx.weights.bias, G), b_rec(ctx.weights.bias + G, G);
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
      Vec<T> xp(a, G);  // the input part, then z, r, h̃ in place; u_h after them
      xp = gx * CVec<T>(x_hat, G) + bx + b_in;
      auto recurrent_part = [&](Index k) {  // block k of LN_h(h·U) + b_rec
        return gh.segment(k * H, H) * CVec<T>(h_hat + k * H, H) + bh.segment(k * H, H) + b_rec.segment(k * H, H);
      };
      Vec<T> z(a, H), rg(a + H, H), hh(a + 2 * H, H), uh(a + 3 * H, H);
      uh = recurrent_part(2);
      z = (z + recurrent_part(0)).logistic();
      rg = (rg + recurrent_part(1)).logistic();
      hh = (hh + rg * uh).tanh();
      const CVec<T> hp_v(h_prev, H);
      Vec<T>(h, H) = hh + z * (hp_v - hh);
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
        using Eigen::internal::pmul;
        const V z = load<V>(a + j), rg = load<V>(a + H + j), hh = load<V>(a + 2 * H + j), uh = load<V>(a + 3 * H + j);
        const V dh_j = load<V>(s.dh + r * H + j);
        const V da_h = pmul(pmul(dh_j, one_minus(z)), one_minus_square(hh));
        store(a + j, pmul(pmul(dh_j, Eigen::internal::psub(load<V>(h_prev + j), hh)), sigmoid_slope(z)));
        store(a + H + j, pmul(pmul(da_h, uh), sigmoid_slope(rg)));
        store(a + 2 * H + j, da_h);
        store(a + 3 * H + j, pmul(da_h, rg));
        store(s.dh_prev + r * H + j, pmul(dh_j, z));
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
