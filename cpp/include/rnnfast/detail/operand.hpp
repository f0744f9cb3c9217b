// How a packed weight operand is stored and enters the arithmetic: weights of type O, converted to the engine's
// type T when they are loaded into a register, the products accumulated in T, and how the activations they
// multiply enter the products. The packed products (packed_gemm.hpp, PackedGates) and the stacked-step kernels
// read their weights through this trait, so a narrower storage type (bfloat16, int8 with scales) is one more
// specialisation; only weights in row pairs (paired_bfloat16) take a kernel loop of their own
// (stacked_kernel.hpp's add_pairs), since their instruction multiplies two rows at once.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "rnnfast/detail/bfloat16.hpp"

namespace rnnfast::detail {

template <class T, class O>
struct Operand;

// Weights stored as they come.
template <class T>
struct Operand<T, T> {
  using stored = T;
  // Whether the activations a product multiplies with these weights enter it rounded (activations()).
  static constexpr bool rounds_activations = false;
  // Rows stored together (interleaved), and activations read together: 1, or 2 for pairs (paired_bfloat16).
  static constexpr int row_group = 1;
  // Whether a packet of weights is converted as it is loaded (more work per row than a plain load).
  static constexpr bool widens = false;
  // n values of `from` into packed storage.
  static void pack(const T* from, std::ptrdiff_t n, stored* to) { std::copy(from, from + n, to); }
  static stored pack_one(T v) { return v; }
  // The packet of P's lanes at p, 64-byte aligned storage (packed panels and blocks are).
  template <class P>
  static P load(const stored* p) {
    return Eigen::internal::pload<P>(p);
  }
  // n activations (inputs or states) as the products read them: v itself here; else written to `out` (activation_slots(n) values;
  // `out` may be v).
  static const T* activations(const T* v, std::ptrdiff_t, T*) { return v; }
  static std::ptrdiff_t activation_slots(std::ptrdiff_t n) { return n; }
};

// How activations enter the products of bfloat16 weights: rounded to bfloat16 (held in float), one slot each.
struct BfloatActivations {
  static constexpr bool rounds_activations = true;
  static const float* activations(const float* v, std::ptrdiff_t n, float* out) {
    round_to_bfloat16(v, n, out);
    return out;
  }
  static std::ptrdiff_t activation_slots(std::ptrdiff_t n) { return n; }
};

// Weights stored as bfloat16, multiplied in float32: the products of mixed_bfloat16, whose operands — weights and
// activations alike — are rounded to bfloat16 and whose sums accumulate in float32. Half the bytes of float32
// weights to read at every step; a product of two bfloat16 values is exact in float32.
template <>
struct Operand<float, bfloat16> : BfloatActivations {
  using stored = bfloat16;
  static constexpr int row_group = 1;
  static constexpr bool widens = true;
  static void pack(const float* from, std::ptrdiff_t n, stored* to) {
    for (std::ptrdiff_t i = 0; i < n; ++i) to[i] = to_bfloat16(from[i]);
  }
  static stored pack_one(float v) { return to_bfloat16(v); }
  template <class P>
  static P load(const stored* p) {
    return load_bfloat16<P>(p);
  }
};

// bfloat16 weights held as float32 (rounded_float): the numbers of Operand<float, bfloat16>, without the
// widening at each load.
template <>
struct Operand<float, rounded_float> : BfloatActivations {
  using stored = rounded_float;
  static constexpr int row_group = 1;
  static constexpr bool widens = false;
  static void pack(const float* from, std::ptrdiff_t n, stored* to) {
    for (std::ptrdiff_t i = 0; i < n; ++i) to[i] = {round_to_bfloat16(from[i])};
  }
  static stored pack_one(float v) { return {round_to_bfloat16(v)}; }
  template <class P>
  static P load(const stored* p) {
    return Eigen::internal::pload<P>(reinterpret_cast<const float*>(p));
  }
};

#if defined(RNNFAST_BFLOAT16_PAIRS)
// bfloat16 weights in row pairs, multiplied by AVX512-BF16's dot products of pairs (vdpbf16ps: two products of
// bfloat16 values summed into each float lane per instruction, twice the float FMA rate); activations read in
// pairs too. The same numbers as Operand<float, bfloat16> up to the order of the sums, except for subnormals:
// the conversion and the dot products treat subnormal inputs as zero and flush subnormal results.
template <>
struct Operand<float, paired_bfloat16> {
  using stored = paired_bfloat16;
  static constexpr bool rounds_activations = true;
  static constexpr int row_group = 2;
  static constexpr bool widens = false;
  static stored pack_one(float v) { return {to_bfloat16(v).bits}; }
  // Pair p of the n activations (rounded; the last one with 0 when n is odd) in out[p], a float's 32 bits: the
  // bfloat16 values in order, 16 at a time by vcvtneps2bf16 (subnormal inputs as zero), the last ones under a
  // mask. out may be v (each store lands on values already read).
  static const float* activations(const float* v, std::ptrdiff_t n, float* out) {
    for (std::ptrdiff_t k = 0; k < n; k += 16) {
      const std::ptrdiff_t left = n - k < 16 ? n - k : 16;
      const __mmask16 read = static_cast<__mmask16>((1u << left) - 1u);
      const __mmask16 write = static_cast<__mmask16>((1u << (left + (left & 1))) - 1u);  // up to the pair's end
      _mm256_mask_storeu_epi16(out + k / 2, write, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(read, v + k)));
    }
    return out;
  }
  static std::ptrdiff_t activation_slots(std::ptrdiff_t n) { return (n + 1) / 2; }
};
#endif

}  // namespace rnnfast::detail
