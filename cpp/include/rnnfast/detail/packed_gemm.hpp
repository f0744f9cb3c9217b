// The per-step recurrent product on weights packed once per call, and the large products after a backward loop
// on the same micro-kernel (gemm_packing, at the end).
//
// A BLAS GEMM repacks its B operand on every call; for h·U that is all of U at every time step. Here U (or Uᵀ for
// the backward pass) is packed once per call into column panels of `nr` columns (two SIMD registers), each panel
// K × nr contiguous and zero-padded past the last column, so the micro-kernel streams it with aligned loads.
// A (the states h, or the gate gradients) is read in place, one broadcast per element, from any row stride.
//
// Register blocking: for batches mr = 6 rows × one panel (12 accumulators of the 16 vector registers) or, with 32
// registers (AVX-512), × two panels in the per-step products; one row × four panels for batch 1, where the product
// is a matrix-vector product bound by the bandwidth of U.
// The kernels use Eigen's packet primitives, so they follow the build's instruction set (AVX2+FMA natively,
// SSE2 in a portable build, plain scalars without vectorisation).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <vector>

#include "rnnfast/detail/buffers.hpp"
#include "rnnfast/detail/operand.hpp"

namespace rnnfast::linalg {

using Index = std::ptrdiff_t;

template <class T>
struct PanelShape {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int lanes = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr Index nr = 2 * lanes;  // columns per panel
  static constexpr Index mr = 6;          // rows per micro-tile
  // Panels per micro-tile of several rows in gemm_packed: with 32 vector registers (AVX-512) two, 24 accumulators,
  // so a step of the kernel loads 4 + 6 values for 24 FMAs instead of 2 + 6 for 12; with 16 registers one, or they
  // spill. gemm_packing keeps one: its B panels come from L1, where two panels of kc rows no longer fit.
  static constexpr int tile_panels = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 2 : 1;
  static constexpr Index kc = 256;        // depth per pass: a panel slice of kc × nr stays in L1
  static Index panels(Index n) { return (n + nr - 1) / nr; }
  static Index packed_size(Index k, Index n) { return k * panels(n) * nr; }
};

// A K × N matrix in panels: panel p holds columns [p·nr, p·nr + nr) as K rows of nr values, stored as O
// (rnnfast::detail::Operand: converted to T as they are loaded).
template <class T, class O = T>
struct PackedMatrix {
  const O* data = nullptr;
  Index k = 0, n = 0;
  const O* panel(Index p) const { return data + p * k * PanelShape<T>::nr; }
};

// Packs panels [p0, p1) of B (K × N) into dst (PanelShape<T>::packed_size(K, N) values). B[k][j] is src[k·ld + j],
// or src[j·ld + k] when `transposed` (so a row-major U packs as Uᵀ). Threads may pack disjoint panel ranges.
// Either way B is read in its storage order, so a B streaming from memory is read once, in order.
template <class T, class O>
void pack_panels(const T* src, Index ld, bool transposed, Index K, Index N, Index p0, Index p1, O* dst) {
  using Stored = rnnfast::detail::Operand<T, O>;
  constexpr Index nr = PanelShape<T>::nr;
  if (!transposed) {
    for (Index k = 0; k < K; ++k) {
      const T* row = src + k * ld;
      for (Index p = p0; p < p1; ++p) {
        O* out = dst + (p * K + k) * nr;
        const Index j0 = p * nr, width = std::min(nr, N - j0);
        Stored::pack(row + j0, width, out);
        if (width < nr) std::fill(out + width, out + nr, Stored::pack_one(T(0)));
      }
    }
    return;
  }
  for (Index p = p0; p < p1; ++p) {
    O* out = dst + p * K * nr;
    const Index j0 = p * nr, width = std::min(nr, N - j0);
    for (Index j = 0; j < nr; ++j) {
      if (j < width) {
        const T* col = src + (j0 + j) * ld;
        for (Index k = 0; k < K; ++k) out[k * nr + j] = Stored::pack_one(col[k]);
      } else {
        for (Index k = 0; k < K; ++k) out[k * nr + j] = Stored::pack_one(T(0));
      }
    }
  }
}

namespace detail {

#if defined(__GNUC__)
#define RNNFAST_NOINLINE __attribute__((noinline))
#define RNNFAST_UNROLL _Pragma("GCC unroll 16")
#else
#define RNNFAST_NOINLINE
#define RNNFAST_UNROLL
#endif

// C[0:MR, 0:NP·nr) (+)= A[0:MR, 0:kc) · [NP panels of B, each kc × nr, panel_stride apart].
// Only the last panel may be partial: `last_width` columns of it are stored.
// Never inlined: its accumulators must live in registers, and inlined into a large caller the compiler may spill
// them.
template <class T, int MR, int NP, class O = T>
RNNFAST_NOINLINE void micro_kernel(Index kc, const T* a, Index lda, const O* b, Index panel_stride, T* c, Index ldc,
                                   Index last_width, bool accumulate) {
  using Stored = rnnfast::detail::Operand<T, O>;
  using namespace Eigen::internal;
  using Packet = typename PanelShape<T>::Packet;
  constexpr int L = PanelShape<T>::lanes;
  constexpr Index nr = PanelShape<T>::nr;
  Packet acc[MR][NP][2];
  RNNFAST_UNROLL
  for (int r = 0; r < MR; ++r)
    RNNFAST_UNROLL
    for (int j = 0; j < NP; ++j) acc[r][j][0] = acc[r][j][1] = pset1<Packet>(T(0));
  for (Index k = 0; k < kc; ++k) {
    Packet bv[NP][2];
    RNNFAST_UNROLL
    for (int j = 0; j < NP; ++j) {
      bv[j][0] = Stored::template load<Packet>(b + j * panel_stride + k * nr);
      bv[j][1] = Stored::template load<Packet>(b + j * panel_stride + k * nr + L);
    }
    RNNFAST_UNROLL
    for (int r = 0; r < MR; ++r) {
      const Packet av = pset1<Packet>(a[r * lda + k]);
      RNNFAST_UNROLL
      for (int j = 0; j < NP; ++j) {
        acc[r][j][0] = pmadd(av, bv[j][0], acc[r][j][0]);
        acc[r][j][1] = pmadd(av, bv[j][1], acc[r][j][1]);
      }
    }
  }
  RNNFAST_UNROLL
  for (int r = 0; r < MR; ++r)
    RNNFAST_UNROLL
    for (int j = 0; j < NP; ++j) {
      T* out = c + r * ldc + j * nr;
      if (j + 1 < NP || last_width == nr) {
        if (accumulate) {
          acc[r][j][0] = padd(acc[r][j][0], ploadu<Packet>(out));
          acc[r][j][1] = padd(acc[r][j][1], ploadu<Packet>(out + L));
        }
        pstoreu(out, acc[r][j][0]);
        pstoreu(out + L, acc[r][j][1]);
      } else {
        alignas(64) T tile[nr];
        pstore(tile, acc[r][j][0]);
        pstore(tile + L, acc[r][j][1]);
        for (Index i = 0; i < last_width; ++i) out[i] = accumulate ? out[i] + tile[i] : tile[i];
      }
    }
}

// C[0:m, 0:(NP-1)·nr + width) (+)= A[0:m, 0:kc) · NP packed panels, panel_stride apart: tiles of mr rows, then
// the rows left over.
template <class T, int NP, class O = T>
inline void panel_rows(Index m, Index kc, const T* a, Index lda, const O* panel, Index panel_stride, T* c, Index ldc,
                       Index width, bool accumulate) {
  constexpr Index mr = PanelShape<T>::mr;
  Index r = 0;
  for (; r + mr <= m; r += mr)
    micro_kernel<T, mr, NP, O>(kc, a + r * lda, lda, panel, panel_stride, c + r * ldc, ldc, width, accumulate);
  const T* ar = a + r * lda;
  T* cr = c + r * ldc;
  switch (m - r) {
    case 1: micro_kernel<T, 1, NP, O>(kc, ar, lda, panel, panel_stride, cr, ldc, width, accumulate); break;
    case 2: micro_kernel<T, 2, NP, O>(kc, ar, lda, panel, panel_stride, cr, ldc, width, accumulate); break;
    case 3: micro_kernel<T, 3, NP, O>(kc, ar, lda, panel, panel_stride, cr, ldc, width, accumulate); break;
    case 4: micro_kernel<T, 4, NP, O>(kc, ar, lda, panel, panel_stride, cr, ldc, width, accumulate); break;
    case 5: micro_kernel<T, 5, NP, O>(kc, ar, lda, panel, panel_stride, cr, ldc, width, accumulate); break;
    default: break;
  }
}

// dst (m × k, row-major) = the transpose of src's k × m block (row stride ld): square tiles of one packet's lanes
// transposed in registers, the edges element by element. Gathered one element at a time, the packing would stride
// through memory at every element.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // a packet type as a template argument (as inside Eigen)
#endif
template <class T>
void pack_transposed(const T* src, Index ld, Index m, Index k, T* dst) {
  using Packet = typename PanelShape<T>::Packet;
  constexpr int L = PanelShape<T>::lanes;
  Index r = 0;
  if constexpr (L > 1) {
    for (; r + L <= m; r += L) {
      Index p = 0;
      for (; p + L <= k; p += L) {
        Eigen::internal::PacketBlock<Packet, L> tile;
        for (int j = 0; j < L; ++j) tile.packet[j] = Eigen::internal::ploadu<Packet>(src + (p + j) * ld + r);
        Eigen::internal::ptranspose(tile);
        for (int j = 0; j < L; ++j) Eigen::internal::pstoreu(dst + (r + j) * k + p, tile.packet[j]);
      }
      for (; p < k; ++p)
        for (int j = 0; j < L; ++j) dst[(r + j) * k + p] = src[p * ld + r + j];
    }
  }
  for (; r < m; ++r)
    for (Index p = 0; p < k; ++p) dst[r * k + p] = src[p * ld + r];
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail

// C[:, p0·nr : min(p1·nr, N)) (+)= A (m × K, leading dimension lda) · B[:, same columns], B packed.
// Without `accumulate`, C is overwritten (and never read). K >= 1.
template <class T, class O>
void gemm_packed(Index m, const T* a, Index lda, const PackedMatrix<T, O>& b, Index p0, Index p1, T* c, Index ldc,
                 bool accumulate) {
  using S = PanelShape<T>;
  constexpr Index nr = S::nr;
  const Index K = b.k, N = b.n, panel_stride = K * nr;
  if (m == 0 || p0 >= p1) return;
  auto width_of = [&](Index p) { return std::min(nr, N - p * nr); };
  for (Index k0 = 0; k0 < K; k0 += S::kc) {
    const Index kc = std::min(S::kc, K - k0);
    const bool acc = accumulate || k0 > 0;
    const T* a_k = a + k0;
    if (m == 1) {
      Index p = p0;
      for (; p + 4 <= p1; p += 4)
        detail::micro_kernel<T, 1, 4, O>(kc, a_k, lda, b.panel(p) + k0 * nr, panel_stride, c + p * nr, ldc,
                                      width_of(p + 3), acc);
      for (; p < p1; ++p)
        detail::micro_kernel<T, 1, 1, O>(kc, a_k, lda, b.panel(p) + k0 * nr, panel_stride, c + p * nr, ldc,
                                      width_of(p), acc);
    } else {
      constexpr int NP = S::tile_panels;
      Index p = p0;
      if constexpr (NP > 1)
        for (; p + NP <= p1; p += NP)
          detail::panel_rows<T, NP, O>(m, kc, a_k, lda, b.panel(p) + k0 * nr, panel_stride, c + p * nr, ldc,
                                    width_of(p + NP - 1), acc);
      for (; p < p1; ++p)
        detail::panel_rows<T, 1, O>(m, kc, a_k, lda, b.panel(p) + k0 * nr, panel_stride, c + p * nr, ldc,
                                 width_of(p), acc);
    }
  }
}

// The large products after a backward loop: C_i (m_i × n) (+)= op(A_i) · op(B) for one to a few left operands A_i
// sharing B (dW = Xᵀ·dA and dU = H_prevᵀ·dA share dA), both operands packed block by block (GotoBLAS-style), so
// their storage order does not matter. A block of kc rows of op(B) (nc columns at most) is packed once and
// multiplied by every mc-row block of every A_i, each packed as a row-major mc × kc matrix (the micro-kernel reads
// its tiles of mr rows in place). op(A)[i][p] is a[i·lda + p], or a[p·lda + i] when `a_transposed`; op(B)[p][j] is
// b[p·ldb + j], or b[j·ldb + p] when `b_transposed`. Runs on the calling thread; `buffers` grow on first use and are
// reused. Without `accumulate`, C is overwritten (never read).
template <class T>
struct LeftOperand {
  const T* a = nullptr;
  Index lda = 0, m = 0;
  T* c = nullptr;  // m × n, row stride ldc
  Index ldc = 0;
};

template <class T>
struct PackingBuffers {
  rnnfast::detail::AlignedVector<T> a, b;
};

template <class T>
void gemm_packing(const LeftOperand<T>* left, int count, bool a_transposed, Index n, Index k, const T* b, Index ldb,
                  bool b_transposed, bool accumulate, PackingBuffers<T>& buffers) {
  using S = PanelShape<T>;
  constexpr Index nr = S::nr, mr = S::mr, kc_max = S::kc;
  // The A block (mc × kc) stays in L2 while each B panel (kc × nr) passes through L1; the B block (kc × nc) in
  // L2/L3.
  constexpr Index mc_max = 24 * mr, nc_max = 64 * nr;
  if (n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int i = 0; i < count; ++i)
        for (Index r = 0; r < left[i].m; ++r) {
          T* row = left[i].c + r * left[i].ldc;
          std::fill(row, row + n, T(0));
        }
    return;
  }
  Index m_max = 0;
  for (int i = 0; i < count; ++i) m_max = std::max(m_max, left[i].m);
  if (m_max == 0) return;
  const Index kc_cap = std::min(kc_max, k);
  const Index nc_cap = std::min(nc_max, S::panels(n) * nr), mc_cap = std::min(mc_max, m_max);
  rnnfast::detail::grow(buffers.b, kc_cap * nc_cap);
  rnnfast::detail::grow(buffers.a, kc_cap * mc_cap);
  T* bp = buffers.b.data();
  T* ap = buffers.a.data();
  for (Index j0 = 0; j0 < n; j0 += nc_max) {
    const Index nc = std::min(nc_max, n - j0), panels = S::panels(nc);
    for (Index p0 = 0; p0 < k; p0 += kc_max) {
      const Index kc = std::min(kc_max, k - p0);
      const bool acc = accumulate || p0 > 0;
      if (b_transposed) pack_panels(b + j0 * ldb + p0, ldb, true, kc, nc, 0, panels, bp);
      else pack_panels(b + p0 * ldb + j0, ldb, false, kc, nc, 0, panels, bp);
      for (int op = 0; op < count; ++op) {
        const LeftOperand<T>& l = left[op];
        for (Index i0 = 0; i0 < l.m; i0 += mc_max) {
          const Index mc = std::min(mc_max, l.m - i0);
          if (a_transposed) {
            detail::pack_transposed(l.a + p0 * l.lda + i0, l.lda, mc, kc, ap);
          } else {
            for (Index r = 0; r < mc; ++r) {
              const T* from = l.a + (i0 + r) * l.lda + p0;
              std::copy(from, from + kc, ap + r * kc);
            }
          }
          for (Index p = 0; p < panels; ++p)
            detail::panel_rows<T, 1>(mc, kc, ap, kc, bp + p * kc * nr, kc * nr, l.c + i0 * l.ldc + j0 + p * nr,
                                     l.ldc, std::min(nr, nc - p * nr), acc);
        }
      }
    }
  }
}

}  // namespace rnnfast::linalg
