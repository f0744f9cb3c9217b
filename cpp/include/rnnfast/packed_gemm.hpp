// The per-step recurrent product on weights packed once per call.
//
// A BLAS GEMM repacks its B operand on every call; for h·U that is all of U at every time step. Here U (or Uᵀ for
// the backward pass) is packed once per call into column panels of `nr` columns (two SIMD registers), each panel
// K × nr contiguous and zero-padded past the last column, so the micro-kernel streams it with aligned loads.
// A (the states h, or the gate gradients) is read in place, one broadcast per element, from any row stride.
//
// Register blocking: mr = 6 rows × one panel (12 accumulators of the 16 vector registers) for batches, and one
// row × four panels for batch 1, where the product is a matrix-vector product bound by the bandwidth of U.
// The kernels use Eigen's packet primitives, so they follow the build's instruction set (AVX2+FMA natively,
// SSE2 in a portable build, plain scalars without vectorisation).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>

namespace rnnfast::linalg {

using Index = std::ptrdiff_t;

template <class T>
struct PanelShape {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int lanes = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr Index nr = 2 * lanes;  // columns per panel
  static constexpr Index mr = 6;          // rows per micro-tile
  static constexpr Index kc = 256;        // depth per pass: a panel slice of kc × nr stays in L1
  static Index panels(Index n) { return (n + nr - 1) / nr; }
  static Index packed_size(Index k, Index n) { return k * panels(n) * nr; }
};

// A K × N matrix in panels: panel p holds columns [p·nr, p·nr + nr) as K rows of nr values.
template <class T>
struct PackedMatrix {
  const T* data = nullptr;
  Index k = 0, n = 0;
  const T* panel(Index p) const { return data + p * k * PanelShape<T>::nr; }
};

// Packs panels [p0, p1) of B (K × N) into dst (PanelShape<T>::packed_size(K, N) values). B[k][j] is src[k·ld + j],
// or src[j·ld + k] when `transposed` (so a row-major U packs as Uᵀ). Threads may pack disjoint panel ranges.
template <class T>
void pack_panels(const T* src, Index ld, bool transposed, Index K, Index N, Index p0, Index p1, T* dst) {
  constexpr Index nr = PanelShape<T>::nr;
  for (Index p = p0; p < p1; ++p) {
    T* out = dst + p * K * nr;
    const Index j0 = p * nr, width = std::min(nr, N - j0);
    if (!transposed) {
      for (Index k = 0; k < K; ++k) {
        const T* row = src + k * ld + j0;
        Index j = 0;
        for (; j < width; ++j) out[k * nr + j] = row[j];
        for (; j < nr; ++j) out[k * nr + j] = T(0);
      }
    } else {
      for (Index j = 0; j < nr; ++j) {
        if (j < width) {
          const T* col = src + (j0 + j) * ld;
          for (Index k = 0; k < K; ++k) out[k * nr + j] = col[k];
        } else {
          for (Index k = 0; k < K; ++k) out[k * nr + j] = T(0);
        }
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
// them (measured: a third of the speed).
template <class T, int MR, int NP>
RNNFAST_NOINLINE void micro_kernel(Index kc, const T* a, Index lda, const T* b, Index panel_stride, T* c, Index ldc,
                         Index last_width, bool accumulate) {
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
      bv[j][0] = pload<Packet>(b + j * panel_stride + k * nr);
      bv[j][1] = pload<Packet>(b + j * panel_stride + k * nr + L);
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

template <class T, int MR>
inline void row_tile(Index kc, const T* a, Index lda, const T* b, Index panel_stride, T* c, Index ldc,
                     Index width, bool accumulate) {
  micro_kernel<T, MR, 1>(kc, a, lda, b, panel_stride, c, ldc, width, accumulate);
}

}  // namespace detail

// C[:, p0·nr : min(p1·nr, N)) (+)= A (m × K, leading dimension lda) · B[:, same columns], B packed.
// Without `accumulate`, C is overwritten (and never read). K >= 1.
template <class T>
void gemm_packed(Index m, const T* a, Index lda, const PackedMatrix<T>& b, Index p0, Index p1, T* c, Index ldc,
                 bool accumulate) {
  using S = PanelShape<T>;
  constexpr Index nr = S::nr, mr = S::mr;
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
        detail::micro_kernel<T, 1, 4>(kc, a_k, lda, b.panel(p) + k0 * nr, panel_stride, c + p * nr, ldc,
                                      width_of(p + 3), acc);
      for (; p < p1; ++p)
        detail::micro_kernel<T, 1, 1>(kc, a_k, lda, b.panel(p) + k0 * nr, panel_stride, c + p * nr, ldc,
                                      width_of(p), acc);
    } else {
      for (Index p = p0; p < p1; ++p) {
        const T* bp = b.panel(p) + k0 * nr;
        T* cp = c + p * nr;
        const Index width = width_of(p);
        Index r = 0;
        for (; r + mr <= m; r += mr)
          detail::row_tile<T, 6>(kc, a_k + r * lda, lda, bp, panel_stride, cp + r * ldc, ldc, width, acc);
        const T* ar = a_k + r * lda;
        T* cr = cp + r * ldc;
        switch (m - r) {
          case 1: detail::row_tile<T, 1>(kc, ar, lda, bp, panel_stride, cr, ldc, width, acc); break;
          case 2: detail::row_tile<T, 2>(kc, ar, lda, bp, panel_stride, cr, ldc, width, acc); break;
          case 3: detail::row_tile<T, 3>(kc, ar, lda, bp, panel_stride, cr, ldc, width, acc); break;
          case 4: detail::row_tile<T, 4>(kc, ar, lda, bp, panel_stride, cr, ldc, width, acc); break;
          case 5: detail::row_tile<T, 5>(kc, ar, lda, bp, panel_stride, cr, ldc, width, acc); break;
          default: break;
        }
      }
    }
  }
}

}  // namespace rnnfast::linalg
