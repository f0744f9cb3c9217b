// How a packed weight operand is stored and enters the arithmetic: weights of type O, converted to the engine's
// type T when they are loaded into a register, the products accumulated in T. The packed products
// (packed_gemm.hpp, PackedGates) and the stacked-step kernels read their weights only through this trait, so a
// narrower storage type (bfloat16, int8 with scales) is one more specialisation, not another kernel.
#pragma once

#include <Eigen/Core>
#include <algorithm>

namespace rnnfast::detail {

template <class T, class O>
struct Operand;

// Weights stored as they come.
template <class T>
struct Operand<T, T> {
  using stored = T;
  // n values of `from` into packed storage.
  static void pack(const T* from, std::ptrdiff_t n, stored* to) { std::copy(from, from + n, to); }
  static stored pack_one(T v) { return v; }
  // The packet of P's lanes at p, 64-byte aligned storage (packed panels and blocks are).
  template <class P>
  static P load(const stored* p) {
    return Eigen::internal::pload<P>(p);
  }
};

}  // namespace rnnfast::detail
