// The per-step weights of the sequence passes: a weight matrix packed once per call, gate by gate, in panels of
// the units, and the slice of units each thread of a team owns.
#pragma once

#include <algorithm>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/gemm.hpp"
#include "rnnfast/detail/packed_gemm.hpp"
#include "rnnfast/detail/parallel.hpp"

namespace rnnfast {

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
// its transpose (H × H; for the backward products dA_g·U_gᵀ). Each block is in panels of the H output units,
// stored as O (detail/operand.hpp).
template <class T, class O = T>
class PackedGates {
 public:
  static Index size(int gates, Index k, Index units) {
    return kPackedKernels ? gates * linalg::PanelShape<T>::packed_size(k, units) : 0;
  }
  PackedGates(O* data, int gates, Index k, Index units) : data_(data), gates_(gates), k_(k), units_(units) {}

  linalg::PackedMatrix<T, O> gate(int g) const { return {data_ + g * block(), k_, units_}; }

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
      const linalg::PackedMatrix<T, O> joined{data_ + first * block(), k_, count * units_};
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
  O* data_;
  int gates_;
  Index k_, units_;
  const T* matrix_ = nullptr;
  bool transposed_ = false;
};

}  // namespace rnnfast
