// How a packed weight operand is stored and enters the arithmetic: weights of type O, converted to the engine's
// type T when they are loaded into a register, the products accumulated in T. The packed products
// (packed_gemm.hpp, PackedGates) and the stacked-step kernels read their weights only through this trait, so a
// narrower storage type (bfloat16, int8 with scales) is one more specialisation, not another kernel.
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
  // Whether the activations a product multiplies with these weights enter it rounded (activation()).
  static constexpr bool rounds_activations = false;
  // n values of `from` into packed storage.
  static void pack(const T* from, std::ptrdiff_t n, stored* to) { std::copy(from, from + n, to); }
  static stored pack_one(T v) { return v; }
  // The packet of P's lanes at p, 64-byte aligned storage (packed panels and blocks are).
  template <class P>
  static P load(const stored* p) {
    return Eigen::internal::pload<P>(p);
  }
  // An activation (an input or a state) as it enters a product with these weights.
  static T activation(T v) { return v; }
};

// Weights stored as bfloat16, multiplied in float32: the products of mixed_bfloat16, whose operands — weights and
// activations alike — are rounded to bfloat16 and whose sums accumulate in float32. Half the bytes of float32
// weights to read at every step; a product of two bfloat16 values is exact in float32.
template <>
struct Operand<float, bfloat16> {
  using stored = bfloat16;
  static constexpr bool rounds_activations = true;
  static void pack(const float* from, std::ptrdiff_t n, stored* to) {
    for (std::ptrdiff_t i = 0; i < n; ++i) to[i] = to_bfloat16(from[i]);
  }
  static stored pack_one(float v) { return to_bfloat16(v); }
  template <class P>
  static P load(const stored* p) {
    return load_bfloat16<P>(p);
  }
  static float activation(float v) { return round_to_bfloat16(v); }
};

}  // namespace rnnfast::detail
