// GRU, Keras gate order z (update), r (reset), h̃ (candidate); h_t = z⊙h_{t-1} + (1−z)⊙h̃.
//   reset_after=true  (Keras default; cuDNN/PyTorch form), bias 2 × 3H = [input bias; recurrent bias]:
//     [u_z u_r u_h] = h_{t-1}·U + b_rec,  z = σ(x_z + u_z), r = σ(x_r + u_r), h̃ = tanh(x_h + r⊙u_h)
//   reset_after=false (original GRU), bias 3H:
//     z = σ(x_z + h_{t-1}·U_z), r = σ(x_r + h_{t-1}·U_r), h̃ = tanh(x_h + (r⊙h_{t-1})·U_h)
// where [x_z x_r x_h] = x_t·W (+ input bias).
#pragma once

#include "rnnfast/cells/common.hpp"

namespace rnnfast {

template <class T>
class GruCell {
 public:
  static constexpr int gates = 3;
  static constexpr bool has_cell_state = false;

  GruCell(Index units, bool reset_after) : units_(units), reset_after_(reset_after) {}
  Index units() const { return units_; }
  bool reset_after() const { return reset_after_; }
  // z, r, h̃ and one more: u_h (reset_after) or r⊙h_{t-1} (reset_before), both needed by backward.
  Index saved_width() const { return 4 * units_; }
  // reset_after keeps [da_z, da_r, du_h] (feeds U) and da_h (feeds W) side by side.
  Index da_width() const { return (reset_after_ ? 4 : 3) * units_; }
  Index scratch_width() const { return reset_after_ ? 0 : units_; }
  Index bias_size() const { return (reset_after_ ? 6 : 3) * units_; }

  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    if (reset_after_) forward_reset_after(s, ctx);
    else forward_reset_before(s, ctx);
  }
  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    if (reset_after_) backward_reset_after(s, ctx, dbias);
    else backward_reset_before(s, ctx, dbias);
  }
  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    if (reset_after_) weight_grads_reset_after(team, m, input_size, w, g);
    else weight_grads_reset_before(team, m, input_size, w, g);
  }

 private:
  // h = z⊙h_prev + (1−z)⊙h̃ on this slice (z, hh point at the slice), or h_prev for a row past its length.
  void write_state(const StepForward<T>& s, UnitSlice u, Index r, const T* z, const T* hh) const {
    using namespace detail;
    const Index n = u.size();
    const T* h_prev = s.h_prev + r * s.ld_h_prev + u.begin;
    T* h = s.h + r * s.ld_h + u.begin;
    if (!row_active(s.active, r)) {
      copy_row(h_prev, h, n);
      return;
    }
    const CVec<T> hh_v(hh, n);
    Vec<T>(h, n) = hh_v + CVec<T>(z, n) * (CVec<T>(h_prev, n) - hh_v);
  }

  void forward_reset_after(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    // Slots z, r: x·W + h·U; slot h̃ keeps x_h, and u_h = h·U_h goes to the fourth slot (r multiplies it alone).
    recurrent_product(ctx, 0, 2, s.batch, s.h_prev, s.ld_h_prev, s.saved, s.ld_saved, true);
    recurrent_product(ctx, 2, 1, s.batch, s.h_prev, s.ld_h_prev, s.saved + H, s.ld_saved, false);
    const T* b_in = ctx.weights.bias + u0;
    const T* b_rec = ctx.weights.bias + 3 * H + u0;
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      if (row_active(s.active, r)) {
        Vec<T> z(a, n), rg(a + H, n), hh(a + 2 * H, n), uh(a + 3 * H, n);
        uh += CVec<T>(b_rec + 2 * H, n);
        z = (z + CVec<T>(b_in, n) + CVec<T>(b_rec, n)).logistic();
        rg = (rg + CVec<T>(b_in + H, n) + CVec<T>(b_rec + H, n)).logistic();
        hh = (hh + CVec<T>(b_in + 2 * H, n) + rg * uh).tanh();
      }
      write_state(s, ctx.units, r, a, a + 2 * H);
    }
  }

  void backward_reset_after(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    using namespace detail;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      T* da = s.da + r * s.ld_da + u0;
      if (!row_active(s.active, r)) {
        for (int gate = 0; gate < 4; ++gate) Vec<T>(da + gate * H, n).setZero();
        continue;
      }
      const T* a = s.saved + r * s.ld_saved + u0;
      const CVec<T> z(a, n), rg(a + H, n), hh(a + 2 * H, n), uh(a + 3 * H, n);
      const CVec<T> dh(s.dh + r * H + u0, n), h_prev(s.h_prev + r * s.ld_h_prev + u0, n);
      Vec<T> da_z(da, n), da_r(da + H, n), du_h(da + 2 * H, n), da_h(da + 3 * H, n);
      da_h = dh * (T(1) - z) * (T(1) - hh.square());
      du_h = da_h * rg;
      da_r = da_h * uh * rg * (T(1) - rg);
      da_z = dh * (h_prev - hh) * z * (T(1) - z);
      // Input bias: [da_z, da_r, da_h]; recurrent bias: [da_z, da_r, du_h].
      add_row(dbias + u0, da, n);
      add_row(dbias + H + u0, da + H, n);
      add_row(dbias + 2 * H + u0, da + 3 * H, n);
      for (int gate = 0; gate < 3; ++gate) add_row(dbias + (3 + gate) * H + u0, da + gate * H, n);
    }
    ctx.team.sync();  // the product reads every thread's gate gradients
    recurrent_product_backward(ctx, 0, 3, s.batch, s.da, s.ld_da, s.dh_prev);
    add_direct_gradient(s, ctx.units);
  }

  // dh_{t-1} gets dh⊙z besides the recurrent product (and d(r⊙h)⊙r without reset_after); rows past their length
  // pass dh through. On this slice.
  void add_direct_gradient(const StepBackward<T>& s, UnitSlice u, const T* d_rh = nullptr) const {
    using namespace detail;
    const Index H = units_, u0 = u.begin, n = u.size();
    for (Index r = 0; r < s.batch; ++r) {
      Vec<T> dh_prev(s.dh_prev + r * H + u0, n);
      const CVec<T> dh(s.dh + r * H + u0, n);
      if (!row_active(s.active, r)) {
        dh_prev = dh;
        continue;
      }
      const T* a = s.saved + r * s.ld_saved + u0;
      dh_prev += dh * CVec<T>(a, n);
      if (d_rh != nullptr) dh_prev += CVec<T>(d_rh + r * H + u0, n) * CVec<T>(a + H, n);
    }
  }

  void weight_grads_reset_after(const Team& team, const SequenceMatrices<T>& m, Index input_size,
                                const CellWeights<T>& w, const CellGrads<T>& g) const {
    using detail::accumulate_at_b;
    const Index H = units_, D = input_size, ld = 4 * H;
    // W sees [da_z, da_r, da_h]; U sees [da_z, da_r, du_h].
    accumulate_at_b(team, m.rows, D, 2 * H, m.x, D, m.da, ld, g.kernel, 3 * H);
    accumulate_at_b(team, m.rows, D, H, m.x, D, m.da + 3 * H, ld, g.kernel + 2 * H, 3 * H);
    accumulate_at_b(team, m.rows, H, 3 * H, m.h_prev, H, m.da, ld, g.recurrent_kernel, 3 * H);
    if (m.dx != nullptr) {
      linalg::gemm(team, linalg::Op::none, linalg::Op::transpose, m.rows, D, 2 * H, T(1), m.da, ld, w.kernel, 3 * H,
                   T(0), m.dx, D);
      linalg::gemm(team, linalg::Op::none, linalg::Op::transpose, m.rows, D, H, T(1), m.da + 3 * H, ld,
                   w.kernel + 2 * H, 3 * H, T(1), m.dx, D);
    }
  }

  void forward_reset_before(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    const T* b = ctx.weights.bias + u0;
    recurrent_product(ctx, 0, 2, s.batch, s.h_prev, s.ld_h_prev, s.saved, s.ld_saved, true);
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      Vec<T> z(a, n), rg(a + H, n), rh(a + 3 * H, n);
      if (!row_active(s.active, r)) {
        rh.setZero();  // keeps the second product finite for rows that do not run
        continue;
      }
      z = (z + CVec<T>(b, n)).logistic();
      rg = (rg + CVec<T>(b + H, n)).logistic();
      rh = rg * CVec<T>(s.h_prev + r * s.ld_h_prev + u0, n);
    }
    // (r⊙h_{t-1})·U_h can only start once r is known for every unit: the second product of the step.
    ctx.team.sync();
    recurrent_product(ctx, 2, 1, s.batch, s.saved + 3 * H, s.ld_saved, s.saved, s.ld_saved, true);  // onto x_h
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      if (row_active(s.active, r)) {
        Vec<T> hh(a + 2 * H, n);
        hh = (hh + CVec<T>(b + 2 * H, n)).tanh();
      }
      write_state(s, ctx.units, r, a, a + 2 * H);
    }
  }

  void backward_reset_before(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    using namespace detail;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      T* da = s.da + r * s.ld_da + u0;
      if (!row_active(s.active, r)) {
        for (int gate = 0; gate < 3; ++gate) Vec<T>(da + gate * H, n).setZero();
        continue;
      }
      const T* a = s.saved + r * s.ld_saved + u0;
      const CVec<T> z(a, n), hh(a + 2 * H, n);
      const CVec<T> dh(s.dh + r * H + u0, n), h_prev(s.h_prev + r * s.ld_h_prev + u0, n);
      Vec<T>(da + 2 * H, n) = dh * (T(1) - z) * (T(1) - hh.square());
      Vec<T>(da, n) = dh * (h_prev - hh) * z * (T(1) - z);
    }
    // d(r⊙h_{t-1}) = da_h·U_hᵀ, then r's gradient, then the product for z and r.
    ctx.team.sync();
    T* d_rh = s.scratch;
    recurrent_product_backward(ctx, 2, 1, s.batch, s.da, s.ld_da, d_rh);
    for (Index r = 0; r < s.batch; ++r) {
      if (!row_active(s.active, r)) continue;
      T* da = s.da + r * s.ld_da + u0;
      const CVec<T> rg(s.saved + r * s.ld_saved + H + u0, n);
      Vec<T>(da + H, n) =
          CVec<T>(d_rh + r * H + u0, n) * CVec<T>(s.h_prev + r * s.ld_h_prev + u0, n) * rg * (T(1) - rg);
      for (int gate = 0; gate < 3; ++gate) add_row(dbias + gate * H + u0, da + gate * H, n);
    }
    ctx.team.sync();
    recurrent_product_backward(ctx, 0, 2, s.batch, s.da, s.ld_da, s.dh_prev);
    add_direct_gradient(s, ctx.units, d_rh);
  }

  void weight_grads_reset_before(const Team& team, const SequenceMatrices<T>& m, Index input_size,
                                 const CellWeights<T>& w, const CellGrads<T>& g) const {
    using detail::accumulate_at_b;
    const Index H = units_, D = input_size;
    accumulate_at_b(team, m.rows, D, 3 * H, m.x, D, m.da, 3 * H, g.kernel, 3 * H);
    accumulate_at_b(team, m.rows, H, 2 * H, m.h_prev, H, m.da, 3 * H, g.recurrent_kernel, 3 * H);
    accumulate_at_b(team, m.rows, H, H, m.saved + 3 * H, 4 * H, m.da + 2 * H, 3 * H, g.recurrent_kernel + 2 * H,
                    3 * H);
    if (m.dx != nullptr)
      linalg::gemm(team, linalg::Op::none, linalg::Op::transpose, m.rows, D, 3 * H, T(1), m.da, 3 * H, w.kernel,
                   3 * H, T(0), m.dx, D);
  }

  Index units_;
  bool reset_after_;
};

}  // namespace rnnfast
