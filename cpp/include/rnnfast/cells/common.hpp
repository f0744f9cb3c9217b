// What every cell shares: weight views, the per-step views the sequence driver hands to a cell, the packed
// recurrent weights, and the post-loop weight-gradient products.
//
// Layouts (all row-major, Keras order): kernel D × G·H, recurrent_kernel H × G·H, bias G·H (GRU with
// reset_after: 2 × 3H, input row then recurrent row). A "block" is the B rows of one time step: row r of a block
// starts at data + r * ld, so a step's rows may be strided inside a whole-sequence array.
//
// Threads: each thread of a team owns a slice of the units (the same columns of every gate), computes the
// recurrent product for those columns only and runs the fused gate pass on them, so a step needs the team to
// meet only where a product reads what other threads wrote (h_{t-1} forward, dA backward).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "rnnfast/activations.hpp"
#include "rnnfast/cell_type.hpp"
#include "rnnfast/gemm.hpp"
#include "rnnfast/packed_gemm.hpp"
#include "rnnfast/parallel.hpp"

namespace rnnfast {

template <class T>
struct CellWeights {
  const T* kernel = nullptr;            // D × G·H
  const T* recurrent_kernel = nullptr;  // H × G·H
  const T* bias = nullptr;              // G·H (GRU reset_after: 2 × 3H)
  const T* peephole = nullptr;          // LSTM with peepholes: 3 × H, the weights of c on the gates i, f, o
  const T* norm = nullptr;              // layer-normalised cells: their norms' γ and β (cells/layer_norm.hpp)
};

template <class T>
struct CellGrads {
  T* kernel = nullptr;
  T* recurrent_kernel = nullptr;
  T* bias = nullptr;      // accumulated by the backward steps; zeroed by the driver
  T* peephole = nullptr;  // likewise (LSTM with peepholes)
  T* norm = nullptr;      // likewise (layer-normalised cells)
};

// The units [begin, end) a thread owns: whole panels of the packed weights, so no two threads write one panel.
struct UnitSlice {
  Index begin = 0, end = 0;
  Index size() const { return end - begin; }
};

template <class T>
UnitSlice unit_slice(const Team& team, Index units) {
  using S = linalg::PanelShape<T>;
  const auto [p0, p1] = team.share(S::panels(units));
  return {std::min(p0 * S::nr, units), std::min(p1 * S::nr, units)};
}

// Whether the per-step products use rnnfast's packed kernels. They follow the build's instruction set, so a
// portable build (no AVX2) with a CBLAS instead multiplies the unpacked weights through it: OpenBLAS picks its
// AVX2 kernels at run time.
#if defined(RNNFAST_USE_CBLAS) && !defined(__AVX2__)
inline constexpr bool kPackedKernels = false;
#else
inline constexpr bool kPackedKernels = true;
#endif

// A weight matrix packed once per call, gate by gate: M_g = M[:, g·H : (g+1)·H] (K × H; for h·U_g and x·W_g), or
// its transpose (H × H; for the backward products dA_g·U_gᵀ). Each block is in panels of the H output units.
template <class T>
class PackedGates {
 public:
  static Index size(int gates, Index k, Index units) {
    return kPackedKernels ? gates * linalg::PanelShape<T>::packed_size(k, units) : 0;
  }
  PackedGates(T* data, int gates, Index k, Index units) : data_(data), gates_(gates), k_(k), units_(units) {}

  linalg::PackedMatrix<T> gate(int g) const { return {data_ + g * block(), k_, units_}; }

  // Packs this slice's panels of every gate from `matrix` (K × G·H row-major; transposed: H × G·H, read as
  // its gate blocks' transposes). The matrix must outlive the products.
  void pack(const T* matrix, bool transposed, UnitSlice slice) {
    matrix_ = matrix;
    transposed_ = transposed;
    if (!kPackedKernels) return;
    using S = linalg::PanelShape<T>;
    const Index p0 = slice.begin / S::nr, p1 = S::panels(slice.end);
    for (int g = 0; g < gates_; ++g)  // M_g starts at column g·H; packed transposed, its rows become columns
      linalg::pack_panels(matrix + g * units_, gates_ * units_, transposed, k_, units_, p0, p1, data_ + g * block());
  }

  // Gates [first, first + count) in one product, when this slice is every unit and whole panels tile each gate:
  // their packed blocks then form one packed K × count·H matrix, and out (gate 0's destination, gate g at
  // out + g·H) gets all their columns at once — for batch 1, panels four at a time instead of each gate's one or
  // two alone. Returns false (and does nothing) where that does not apply.
  bool multiply_gates(UnitSlice slice, int first, int count, Index rows, const T* a, Index lda, T* out, Index ld,
                      bool accumulate) const {
    if constexpr (!kPackedKernels) {
      return false;
    } else {
      using S = linalg::PanelShape<T>;
      if (slice.begin != 0 || slice.end != units_ || units_ % S::nr != 0) return false;
      const linalg::PackedMatrix<T> joined{data_ + first * block(), k_, count * units_};
      linalg::gemm_packed(rows, a, lda, joined, 0, S::panels(count * units_), out + first * units_, ld, accumulate);
      return true;
    }
  }

  // block[:, slice] (+)= a · M_g[:, slice]: block is the rows × H destination of gate g (row stride ld).
  void multiply(UnitSlice slice, int g, Index rows, const T* a, Index lda, T* block, Index ld, bool accumulate) const {
    if constexpr (kPackedKernels) {
      using S = linalg::PanelShape<T>;
      linalg::gemm_packed(rows, a, lda, gate(g), slice.begin / S::nr, S::panels(slice.end), block, ld, accumulate);
    } else {
      using linalg::Op;
      const Index ldm = gates_ * units_, n = slice.size();
      const T beta = accumulate ? T(1) : T(0);
      if (!transposed_)
        linalg::gemm(Op::none, Op::none, rows, n, k_, T(1), a, lda, matrix_ + g * units_ + slice.begin, ldm, beta,
                     block + slice.begin, ld);
      else  // M_gᵀ[k][j] = M[j][g·H + k]
        linalg::gemm(Op::none, Op::transpose, rows, n, k_, T(1), a, lda, matrix_ + slice.begin * ldm + g * units_,
                     ldm, beta, block + slice.begin, ld);
    }
  }

 private:
  Index block() const { return linalg::PanelShape<T>::packed_size(k_, units_); }
  T* data_;
  int gates_;
  Index k_, units_;
  const T* matrix_ = nullptr;
  bool transposed_ = false;
};

// What a cell's step needs besides the step's arrays.
template <class T>
struct StepContext {
  const CellWeights<T>& weights;
  const PackedGates<T>& packed;  // U_g (forward step) or U_gᵀ (backward step)
  UnitSlice units;                   // this thread's units
  const Team& team;
};

// One forward time step. The cell computes the recurrent product(s) itself (some cells need two per step).
template <class T>
struct StepForward {
  Index batch = 0;
  const T* h_prev = nullptr;
  Index ld_h_prev = 0;
  // What the recurrent product multiplies: h_{t-1}, or h_{t-1}⊙mask with recurrent dropout (the driver keeps it).
  const T* h_in = nullptr;
  Index ld_h_in = 0;
  const T* c_prev = nullptr;  // cells with a cell state only
  Index ld_c_prev = 0;
  T* h = nullptr;  // new state, written for every row (rows past their length copy h_prev)
  Index ld_h = 0;
  T* c = nullptr;
  Index ld_c = 0;
  // What backward needs, Cell::saved_width() per row (at inference: scratch). On entry gate g's slot
  // [g·H, (g+1)·H) holds x_t·W_g (without bias); the cell adds its recurrent product and activates.
  T* saved = nullptr;
  Index ld_saved = 0;
  const std::uint8_t* active = nullptr;  // per row: 1 while the sequence runs; nullptr = all rows active
};

// One backward time step, in reverse order.
template <class T>
struct StepBackward {
  Index batch = 0;
  // In: the step's saved activations. Out: its pre-activation gradients dA, written in place over them (zeros
  // for inactive rows), so training needs no second whole-sequence array; the cell documents its dA layout.
  T* saved = nullptr;
  Index ld_saved = 0;
  const T* h_prev = nullptr;
  Index ld_h_prev = 0;
  const T* h_in = nullptr;  // as in StepForward
  Index ld_h_in = 0;
  // Recurrent dropout: batch × H (row stride H), kept units 1/(1−rate), dropped 0; nullptr = none. The gradient
  // reaching h_{t-1} through the recurrent product(s) is multiplied by it.
  const T* recurrent_mask = nullptr;
  const T* c_prev = nullptr;
  Index ld_c_prev = 0;
  const T* c = nullptr;  // c_t, the cell state this step produced
  Index ld_c = 0;
  const T* dh = nullptr;  // batch × H, dL/dh_t (contiguous)
  T* dc = nullptr;        // batch × H, in: dL/dc_t, out: dL/dc_{t-1}
  T* dh_prev = nullptr;   // batch × H, out: dL/dh_{t-1}
  T* scratch = nullptr;  // batch × Cell::scratch_width()
  const std::uint8_t* active = nullptr;
};

// Everything the post-loop products need: whole-sequence matrices of n_rows rows, each in the same row order.
template <class T>
struct SequenceMatrices {
  Index rows = 0;
  const T* x = nullptr;       // rows × D
  const T* h_prev = nullptr;  // rows × H: the recurrent products' inputs (h_in)
  const T* saved = nullptr;   // rows × saved_width: after the backward loop, dA (and what the cell kept beside it)
  T* dx = nullptr;            // rows × D (nullptr: not wanted)
};

namespace detail {

template <class T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using CVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Element-wise cell passes, written once over a value type V: a SIMD packet of units where Eigen vectorises the
// activations (float), else a scalar. A whole cell update per packet stays in registers (one pass over memory
// instead of one Eigen expression per gate), and in-place updates (dA over the saved activations) are safe
// because each unit is read completely before it is written.
template <class T>
struct Lanes {
  using Packet = typename linalg::PanelShape<T>::Packet;
  static constexpr Index size = linalg::PanelShape<T>::lanes;
  static constexpr bool vectorised = size > 1 && Eigen::internal::packet_traits<T>::HasTanh;
};

// Calls unit(V{}, j) for the first unit j of every packet of n units, then for each remaining unit with V = T.
template <class T, class F>
inline void for_each_unit(Index n, F&& unit) {
  Index j = 0;
  if constexpr (Lanes<T>::vectorised)
    for (; j + Lanes<T>::size <= n; j += Lanes<T>::size) unit(typename Lanes<T>::Packet{}, j);
  for (; j < n; ++j) unit(T{}, j);
}

template <class V, class T>
inline V load(const T* p) {
  return Eigen::internal::ploadu<V>(p);
}
template <class T, class V>
inline void store(T* p, const V& v) {
  Eigen::internal::pstoreu(p, v);
}
template <class V, class T>
inline V splat(T x) {
  return Eigen::internal::pset1<V>(x);
}
// The gate activations: rnnfast's own for float (activations.hpp, short latency), the standard ones for double.
template <class V>
inline V sigmoid(const V& x) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  if constexpr (std::is_same_v<T, float>) return sigmoid_float(x);
  else if constexpr (std::is_same_v<V, T>) return Eigen::internal::scalar_logistic_op<T>()(x);
  else return Eigen::internal::scalar_logistic_op<T>().packetOp(x);
}
template <class V>
inline V tanh(const V& x) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  if constexpr (std::is_same_v<T, float>) return tanh_float(x);
  else if constexpr (std::is_same_v<V, T>) return Eigen::internal::scalar_tanh_op<T>()(x);
  else return Eigen::internal::ptanh(x);
}
// 1 − x, 1 − x² and x·(1 − x): the derivatives of tanh and σ from their outputs.
template <class V>
inline V one_minus(const V& x) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  return Eigen::internal::psub(splat<V>(T(1)), x);
}
template <class V>
inline V one_minus_square(const V& x) {
  return one_minus(Eigen::internal::pmul(x, x));
}
template <class V>
inline V sigmoid_slope(const V& s) {
  return Eigen::internal::pmul(s, one_minus(s));
}
// acc[j..] += v: the bias gradient of this thread's units.
template <class T, class V>
inline void accumulate(T* acc, const V& v) {
  store(acc, Eigen::internal::padd(load<V>(acc), v));
}

inline bool row_active(const std::uint8_t* active, Index r) { return active == nullptr || active[r] != 0; }

template <class T>
void copy_row(const T* from, T* to, Index n) {
  std::copy(from, from + n, to);
}

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
// they are built, so these products do not depend on how a BLAS library was built or configured (OpenBLAS held to
// its Haswell kernels runs at half the speed of AVX-512 ones); else through linalg::gemm.
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

}  // namespace detail
}  // namespace rnnfast

namespace rnnfast::detail {

// The usual post-loop products when dA (rows × G·H, in the saved array) feeds all of W and U: dW = Xᵀ·dA,
// dU = H_prevᵀ·dA, dX = dA·Wᵀ. Three large GEMMs over every step at once.
template <class T>
void dense_weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, Index units, Index width,
                        const CellWeights<T>& w, const CellGrads<T>& g) {
  accumulate_two_at_b(team, m.rows, width, m.saved, width, m.x, input_size, input_size, g.kernel, m.h_prev, units,
                      units, g.recurrent_kernel, width);
  if (m.dx != nullptr) multiply_a_bt(team, m.rows, input_size, width, m.saved, width, w.kernel, width, m.dx, false);
}

}  // namespace rnnfast::detail
