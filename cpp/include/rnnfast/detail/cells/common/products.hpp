// What the cells' passes share around their gate equations: the per-step recurrent products on a thread's
// slice of the units and their backward, the recurrent-dropout mask on dh_{t-1}, and the large products of the
// weight gradients after the backward loop.
//
// Threads: each thread of a team owns a slice of the units (the same columns of every gate), computes the
// recurrent product for those columns only and runs the fused gate pass on them, so a step needs the team to
// meet only where a product reads what other threads wrote (h_{t-1} forward, dA backward).
#pragma once

#include <stdexcept>

#include "rnnfast/detail/cells/common/lanes.hpp"
#include "rnnfast/detail/cells/common/step_views.hpp"

namespace rnnfast {
namespace detail {

// For cells whose only path to h_{t-1} is the recurrent product, which wrote dL/dh_in into dh_prev: on this
// slice, the recurrent-dropout mask for rows that ran, and dh_prev = dh for rows that did not (their state
// passed through the step unchanged).
template <class T>
void finish_recurrent_gradient(const StepBackward<T>& s, Index units, UnitSlice u) {
  if (s.active == nullptr && s.recurrent_mask == nullptr) return;
  for (Index r = 0; r < s.batch; ++r) {
    T* dh_prev = s.dh_prev + r * units + u.begin;
    if (!row_active(s.active, r)) copy_row(s.dh + r * units + u.begin, dh_prev, u.size());
    else if (s.recurrent_mask != nullptr)
      Vec<T>(dh_prev, u.size()) *= CVec<T>(s.recurrent_mask + r * units + u.begin, u.size());
  }
}

// dh_prev[r] += mask[r] ⊙ from[r] on this slice for rows that ran (no mask: plain sum).
template <class T>
void add_recurrent_gradient(const StepBackward<T>& s, Index units, UnitSlice u, const T* from) {
  for (Index r = 0; r < s.batch; ++r) {
    if (!row_active(s.active, r)) continue;
    const Index o = r * units + u.begin;
    Vec<T> dh_prev(s.dh_prev + o, u.size());
    if (s.recurrent_mask != nullptr) dh_prev += CVec<T>(from + o, u.size()) * CVec<T>(s.recurrent_mask + o, u.size());
    else dh_prev += CVec<T>(from + o, u.size());
  }
}

// The per-step recurrent product on this slice, gates [first, first + count):
// out[:, g·H + slice] (+)= h · U_g[:, slice].
template <class T>
void recurrent_product(const StepContext<T>& ctx, int first, int count, Index batch, const T* h, Index ld_h, T* out,
                       Index ld_out, bool accumulate) {
  if (ctx.packed.multiply_gates(ctx.units, first, count, batch, h, ld_h, out, ld_out, accumulate)) return;
  for (int g = first; g < first + count; ++g)
    ctx.packed.multiply(ctx.units, g, batch, h, ld_h, out + g * ctx.packed.gate(g).n, ld_out, accumulate);
}

// Its backward on this slice: dh[:, slice] (+)= Σ_g dA[:, g·H : (g+1)·H] · U_gᵀ[:, slice], dh of row length H.
template <class T>
void recurrent_product_backward(const StepContext<T>& ctx, int first, int count, Index batch, const T* da,
                                Index ld_da, T* dh, bool accumulate = false) {
  const Index H = ctx.packed.gate(0).n;
  for (int g = first; g < first + count; ++g)
    ctx.packed.multiply(ctx.units, g, batch, da + g * H, ld_da, dh, H, accumulate || g > first);
}

// Accumulate the pre-activation gradient of one row into the bias gradient.
template <class T>
void add_row(T* acc, const T* row, Index n) {
  Vec<T>(acc, n) += CVec<T>(row, n);
}

// The large products after a backward loop, C_i (m_i × n) (+)= op(A_i) · op(B) for left operands sharing B,
// shared by the team: each thread takes a share of every C_i's rows (in whole micro-tiles), or of the columns (in
// whole panels) when the C_i are wider than tall together. Two calls with the same shapes split C the same way, so
// one may accumulate onto the other without a barrier in between; the caller syncs the team before anyone reads C.
// On the packed kernels (the per-step products' own, both operands packed; B packed once for all A_i) wherever
// they are built, so these products do not depend on how a BLAS library was built or configured (which kernels it
// picks); else through linalg::gemm.
template <class T>
void large_products(const Team& team, linalg::Op ta, linalg::Op tb, const linalg::LeftOperand<T>* left, int count,
                    Index n, Index k, const T* b, Index ldb, bool accumulate) {
  constexpr int kMaxOperands = 2;
  if (count < 1 || count > kMaxOperands) throw std::logic_error("rnnfast: large_products takes 1 or 2 operands");
  if constexpr (!kPackedKernels) {
    for (int i = 0; i < count; ++i)
      linalg::gemm(team, ta, tb, left[i].m, n, k, T(1), left[i].a, left[i].lda, b, ldb, accumulate ? T(1) : T(0),
                   left[i].c, left[i].ldc);
  } else {
    using S = linalg::PanelShape<T>;
    const bool at = ta == linalg::Op::transpose, bt = tb == linalg::Op::transpose;
    thread_local linalg::PackingBuffers<T> buffers;
    Index m = 0;
    for (int i = 0; i < count; ++i) m += left[i].m;
    linalg::LeftOperand<T> mine[kMaxOperands];
    if (m >= n) {
      for (int i = 0; i < count; ++i) {
        const auto [t0, t1] = team.share((left[i].m + S::mr - 1) / S::mr);
        const Index r0 = std::min(t0 * S::mr, left[i].m), r1 = std::min(t1 * S::mr, left[i].m);
        mine[i] = {at ? left[i].a + r0 : left[i].a + r0 * left[i].lda, left[i].lda, r1 - r0,
                   left[i].c + r0 * left[i].ldc, left[i].ldc};
      }
      linalg::gemm_packing(mine, count, at, n, k, b, ldb, bt, accumulate, buffers);
    } else {
      const auto [p0, p1] = team.share(S::panels(n));
      const Index c0 = std::min(p0 * S::nr, n), c1 = std::min(p1 * S::nr, n);
      for (int i = 0; i < count; ++i) mine[i] = {left[i].a, left[i].lda, left[i].m, left[i].c + c0, left[i].ldc};
      linalg::gemm_packing(mine, count, at, c1 - c0, k, bt ? b + c0 * ldb : b + c0, ldb, bt, accumulate, buffers);
    }
  }
}

// dW[:, cols) = Xᵀ · dA[:, da_cols) over all rows; ld's are the full widths of each matrix. The team shares
// the product.
template <class T>
void accumulate_at_b(const Team& team, Index rows, Index m, Index n, const T* a, Index lda, const T* b, Index ldb,
                     T* c, Index ldc) {
  const linalg::LeftOperand<T> left{a, lda, m, c, ldc};
  large_products(team, linalg::Op::transpose, linalg::Op::none, &left, 1, n, rows, b, ldb, false);
}

// dW[:, cols) = Xᵀ · B and dU[:, cols) = H_inᵀ · B in one call, for the same columns B of dA (packed once for
// both): a0 (rows × m0, row stride lda0) into c0, a1 (rows × m1) into c1, both with row stride ldc.
template <class T>
void accumulate_two_at_b(const Team& team, Index rows, Index n, const T* b, Index ldb, const T* a0, Index lda0,
                         Index m0, T* c0, const T* a1, Index lda1, Index m1, T* c1, Index ldc) {
  const linalg::LeftOperand<T> left[2] = {{a0, lda0, m0, c0, ldc}, {a1, lda1, m1, c1, ldc}};
  large_products(team, linalg::Op::transpose, linalg::Op::none, left, 2, n, rows, b, ldb, false);
}

// dX (+)= dA[:, da_cols) · W[:, cols)ᵀ over all rows (W: input_size × ldw).
template <class T>
void multiply_a_bt(const Team& team, Index rows, Index input_size, Index width, const T* da, Index ld_da,
                   const T* w, Index ldw, T* dx, bool accumulate) {
  const linalg::LeftOperand<T> left{da, ld_da, rows, dx, input_size};
  large_products(team, linalg::Op::none, linalg::Op::transpose, &left, 1, input_size, width, w, ldw, accumulate);
}

// The usual post-loop products when dA (rows × G·H, in the saved array) feeds all of W and U: dW = Xᵀ·dA,
// dU = H_prevᵀ·dA, dX = dA·Wᵀ. Three large GEMMs over every step at once.
template <class T>
void dense_weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, Index units, Index width,
                        const CellWeights<T>& w, const CellGrads<T>& g) {
  accumulate_two_at_b(team, m.rows, width, m.saved, width, m.x, input_size, input_size, g.kernel, m.h_prev, units,
                      units, g.recurrent_kernel, width);
  if (m.dx != nullptr) multiply_a_bt(team, m.rows, input_size, width, m.saved, width, w.kernel, width, m.dx, false);
}

}  // namespace detail
}  // namespace rnnfast
