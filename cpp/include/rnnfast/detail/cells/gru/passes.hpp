// The GRU's whole-sequence passes (the cell of the sequence driver): per step, the recurrent product(s) on this
// thread's units, then fused passes of the equations (equations.hpp) over each batch row; backward likewise.
#pragma once

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/cells/gru/equations.hpp"

namespace rnnfast {

template <class T>
class GruCell {
 public:
  static constexpr int gates = 3;
  static constexpr bool has_cell_state = false;
  static constexpr bool splits_units = true;  // threads may own slices of the units

  GruCell(Index units, bool reset_after) : units_(units), reset_after_(reset_after) {}
  Index units() const { return units_; }
  bool reset_after() const { return reset_after_; }
  CellType stacked_type() const { return reset_after_ ? CellType::gru : CellType::gru_reset_before; }
  // z, r, h̃ and one more: u_h (reset_after) or r⊙h_{t-1} (reset_before), both needed by backward. Backward
  // overwrites them with [da_z, da_r, du_h, da_h] (reset_after: U sees the first three, W the z, r and fourth)
  // or [da_z, da_r, da_h, r⊙h_{t-1}] (reset_before).
  Index saved_width() const { return 4 * units_; }
  Index scratch_width() const { return units_; }
  Index bias_size() const { return (reset_after_ ? 6 : 3) * units_; }
  Index norm_size() const { return 0; }

  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    if (reset_after_) forward_reset_after(s, ctx);
    else forward_reset_before(s, ctx);
  }
  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    if (reset_after_) backward_reset_after(s, ctx, grads.bias);
    else backward_reset_before(s, ctx, grads.bias);
  }
  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    if (reset_after_) weight_grads_reset_after(team, m, input_size, w, g);
    else weight_grads_reset_before(team, m, input_size, w, g);
  }

 private:
  // A row past its length: its state passed through unchanged, so dh_{t-1} = dh and its dA is zero.
  void skip_row(const StepBackward<T>& s, Index r, UnitSlice u, int slots) const {
    const Index H = units_, n = u.size();
    T* a = s.saved + r * s.ld_saved + u.begin;
    for (int k = 0; k < slots; ++k) std::fill(a + k * H, a + k * H + n, T(0));
    detail::copy_row(s.dh + r * H + u.begin, s.dh_prev + r * H + u.begin, n);
  }

  void forward_reset_after(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    using namespace Eigen::internal;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    // Slots z, r: x·W + h·U; slot h̃ keeps x_h, and u_h = h·U_h goes to the fourth slot (r multiplies it alone).
    recurrent_product(ctx, 0, 2, s.batch, s.h_in, s.ld_h_in, s.saved, s.ld_saved, true);
    recurrent_product(ctx, 2, 1, s.batch, s.h_in, s.ld_h_in, s.saved + H, s.ld_saved, false);
    const T* b_in = ctx.weights.bias + u0;
    const T* b_rec = ctx.weights.bias + 3 * H + u0;
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      const T* h_prev = s.h_prev + r * s.ld_h_prev + u0;
      T* h = s.h + r * s.ld_h + u0;
      if (!row_active(s.active, r)) {
        copy_row(h_prev, h, n);
        continue;
      }
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        auto pre = [&](int gate) {
          return padd(load<V>(a + gate * H + j), padd(load<V>(b_in + gate * H + j), load<V>(b_rec + gate * H + j)));
        };
        const V uh = padd(load<V>(a + 3 * H + j), load<V>(b_rec + 2 * H + j));
        const V xh = padd(load<V>(a + 2 * H + j), load<V>(b_in + 2 * H + j));
        const gru::Gates<V> g = gru::reset_after(pre(0), pre(1), xh, uh, load<V>(h_prev + j));
        store(a + j, g.z);
        store(a + H + j, g.r);
        store(a + 2 * H + j, g.candidate);
        store(a + 3 * H + j, uh);
        store(h + j, g.h);
      });
    }
  }

  void backward_reset_after(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    using namespace detail;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      if (!row_active(s.active, r)) {
        skip_row(s, r, ctx.units, 4);
        continue;
      }
      T* a = s.saved + r * s.ld_saved + u0;
      const T* dh = s.dh + r * H + u0;
      const T* h_prev = s.h_prev + r * s.ld_h_prev + u0;
      T* dh_prev = s.dh_prev + r * H + u0;
      T* db = dbias + u0;
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const gru::StateGradients<V> d =
            gru::state_gradients(load<V>(a + j), load<V>(a + 2 * H + j), load<V>(h_prev + j), load<V>(dh + j));
        const gru::ResetAfterGradients<V> dr =
            gru::reset_after_gradients(load<V>(a + H + j), load<V>(a + 3 * H + j), d.da_h);
        store(dh_prev + j, d.dh_prev);
        store(a + j, d.da_z);
        store(a + H + j, dr.da_r);
        store(a + 2 * H + j, dr.du_h);
        store(a + 3 * H + j, d.da_h);
        // Input bias: [da_z, da_r, da_h]; recurrent bias: [da_z, da_r, du_h].
        accumulate(db + j, d.da_z);
        accumulate(db + H + j, dr.da_r);
        accumulate(db + 2 * H + j, d.da_h);
        accumulate(db + 3 * H + j, d.da_z);
        accumulate(db + 4 * H + j, dr.da_r);
        accumulate(db + 5 * H + j, dr.du_h);
      });
    }
    ctx.team.sync();  // the product reads every thread's gate gradients
    if (s.recurrent_mask == nullptr) {
      recurrent_product_backward(ctx, 0, 3, s.batch, s.saved, s.ld_saved, s.dh_prev, true);
    } else {  // the product's gradient reaches h_{t-1} through the mask; the direct path does not
      recurrent_product_backward(ctx, 0, 3, s.batch, s.saved, s.ld_saved, s.scratch);
      add_recurrent_gradient(s, H, ctx.units, s.scratch);
    }
  }

  void weight_grads_reset_after(const Team& team, const SequenceMatrices<T>& m, Index input_size,
                                const CellWeights<T>& w, const CellGrads<T>& g) const {
    using detail::accumulate_at_b;
    const Index H = units_, D = input_size, ld = 4 * H;
    const T* da = m.saved;
    // W sees [da_z, da_r, da_h]; U sees [da_z, da_r, du_h]: z and r in one call (their dA packed once for both).
    detail::accumulate_two_at_b(team, m.rows, 2 * H, da, ld, m.x, D, D, g.kernel, m.h_prev, H, H,
                                g.recurrent_kernel, 3 * H);
    accumulate_at_b(team, m.rows, D, H, m.x, D, da + 3 * H, ld, g.kernel + 2 * H, 3 * H);
    accumulate_at_b(team, m.rows, H, H, m.h_prev, H, da + 2 * H, ld, g.recurrent_kernel + 2 * H, 3 * H);
    if (m.dx != nullptr) {
      detail::multiply_a_bt(team, m.rows, D, 2 * H, da, ld, w.kernel, 3 * H, m.dx, false);
      detail::multiply_a_bt(team, m.rows, D, H, da + 3 * H, ld, w.kernel + 2 * H, 3 * H, m.dx, true);
    }
  }

  void forward_reset_before(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    using namespace Eigen::internal;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    const T* b = ctx.weights.bias + u0;
    recurrent_product(ctx, 0, 2, s.batch, s.h_in, s.ld_h_in, s.saved, s.ld_saved, true);
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      const T* h_in = s.h_in + r * s.ld_h_in + u0;
      if (!row_active(s.active, r)) {
        std::fill(a + 3 * H, a + 3 * H + n, T(0));  // keeps the second product finite for rows that do not run
        continue;
      }
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const gru::ResetGates<V> g = gru::reset_gates(padd(load<V>(a + j), load<V>(b + j)),
                                                      padd(load<V>(a + H + j), load<V>(b + H + j)), load<V>(h_in + j));
        store(a + j, g.z);
        store(a + H + j, g.r);
        store(a + 3 * H + j, g.reset_h);
      });
    }
    // (r⊙h_{t-1})·U_h can only start once r is known for every unit: the second product of the step.
    ctx.team.sync();
    recurrent_product(ctx, 2, 1, s.batch, s.saved + 3 * H, s.ld_saved, s.saved, s.ld_saved, true);  // onto x_h
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      const T* h_prev = s.h_prev + r * s.ld_h_prev + u0;
      T* h = s.h + r * s.ld_h + u0;
      if (!row_active(s.active, r)) {
        copy_row(h_prev, h, n);
        continue;
      }
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V hh = gru::candidate(padd(load<V>(a + 2 * H + j), load<V>(b + 2 * H + j)));
        store(a + 2 * H + j, hh);
        store(h + j, gru::state(load<V>(a + j), hh, load<V>(h_prev + j)));
      });
    }
  }

  void backward_reset_before(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    using namespace detail;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      if (!row_active(s.active, r)) {
        skip_row(s, r, ctx.units, 3);
        continue;
      }
      T* a = s.saved + r * s.ld_saved + u0;
      const T* dh = s.dh + r * H + u0;
      const T* h_prev = s.h_prev + r * s.ld_h_prev + u0;
      T* dh_prev = s.dh_prev + r * H + u0;
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const gru::StateGradients<V> d =
            gru::state_gradients(load<V>(a + j), load<V>(a + 2 * H + j), load<V>(h_prev + j), load<V>(dh + j));
        store(dh_prev + j, d.dh_prev);
        store(a + j, d.da_z);
        store(a + 2 * H + j, d.da_h);
      });
    }
    // d(r⊙h_in) = da_h·U_hᵀ, then r's gradient, then the product for z and r. Without recurrent dropout both
    // recurrent paths add to dh_prev at once; with it they gather in the scratch, which then goes through the
    // mask.
    ctx.team.sync();
    T* d_rh = s.scratch;
    const bool masked = s.recurrent_mask != nullptr;
    recurrent_product_backward(ctx, 2, 1, s.batch, s.saved, s.ld_saved, d_rh);
    for (Index r = 0; r < s.batch; ++r) {
      if (!row_active(s.active, r)) continue;
      T* a = s.saved + r * s.ld_saved + u0;
      T* d_rh_row = d_rh + r * H + u0;
      const T* h_in = s.h_in + r * s.ld_h_in + u0;
      T* recurrent_path = masked ? d_rh_row : s.dh_prev + r * H + u0;
      T* db = dbias + u0;
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V rg = load<V>(a + H + j), drh = load<V>(d_rh_row + j);
        const V da_r = gru::reset_before_gradient(rg, load<V>(h_in + j), drh);
        store(a + H + j, da_r);
        if (masked) store(recurrent_path + j, pmul(drh, rg));
        else store(recurrent_path + j, Eigen::internal::pmadd(drh, rg, load<V>(recurrent_path + j)));
        accumulate(db + j, load<V>(a + j));
        accumulate(db + H + j, da_r);
        accumulate(db + 2 * H + j, load<V>(a + 2 * H + j));
      });
    }
    ctx.team.sync();
    recurrent_product_backward(ctx, 0, 2, s.batch, s.saved, s.ld_saved, masked ? d_rh : s.dh_prev, true);
    if (masked) add_recurrent_gradient(s, H, ctx.units, d_rh);
  }

  void weight_grads_reset_before(const Team& team, const SequenceMatrices<T>& m, Index input_size,
                                 const CellWeights<T>& w, const CellGrads<T>& g) const {
    const Index H = units_, D = input_size, ld = 4 * H;
    const T* da = m.saved;
    // W sees [da_z, da_r, da_h] from x; U sees [da_z, da_r] from h_{t-1} and da_h from r⊙h_{t-1} (saved beside dA).
    detail::accumulate_two_at_b(team, m.rows, 2 * H, da, ld, m.x, D, D, g.kernel, m.h_prev, H, H,
                                g.recurrent_kernel, 3 * H);
    detail::accumulate_two_at_b(team, m.rows, H, da + 2 * H, ld, m.x, D, D, g.kernel + 2 * H, m.saved + 3 * H, ld, H,
                                g.recurrent_kernel + 2 * H, 3 * H);
    if (m.dx != nullptr) detail::multiply_a_bt(team, m.rows, D, 3 * H, da, ld, w.kernel, 3 * H, m.dx, false);
  }

  Index units_;
  bool reset_after_;
};

}  // namespace rnnfast
