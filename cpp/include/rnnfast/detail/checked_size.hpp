// Size arithmetic that refuses to wrap. Sizes that come from a file or a caller are multiplied and added
// through these only, so that an overflowing product is an error rather than a small buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "rnnfast/cell_type.hpp"

namespace rnnfast {
namespace detail {

// a · b, or nothing when the product does not fit in I.
template <class I>
std::optional<I> multiply_exact(I a, I b) noexcept {
  static_assert(std::is_integral_v<I>);
  I result;
  if (__builtin_mul_overflow(a, b, &result)) return std::nullopt;
  return result;
}
// a + b, or nothing when the sum does not fit in I.
template <class I>
std::optional<I> add_exact(I a, I b) noexcept {
  static_assert(std::is_integral_v<I>);
  I result;
  if (__builtin_add_overflow(a, b, &result)) return std::nullopt;
  return result;
}

// a · b for sizes given to the API: std::invalid_argument naming `what` when it does not fit an Index.
inline Index checked_mul(Index a, Index b, const char* what) {
  const auto product = multiply_exact(a, b);
  if (!product) throw std::invalid_argument(std::string(what) + ": sizes too large (their product overflows)");
  return *product;
}
inline Index checked_add(Index a, Index b, const char* what) {
  const auto sum = add_exact(a, b);
  if (!sum) throw std::invalid_argument(std::string(what) + ": sizes too large (their sum overflows)");
  return *sum;
}

// Checks that every buffer of a recurrent layer of these sizes can be sized without overflow: each holds at
// most 32 · max(inputs, units, rows) · (units + 256) values (gates, biases, norms, panels rounded up to 256
// units), of at most 8 bytes. std::invalid_argument naming `what` otherwise.
inline void check_layer_sizes(Index inputs, Index units, Index rows, const char* what) {
  const Index widest = std::max({inputs, units, rows, Index(1)});
  const Index values = checked_mul(checked_mul(widest, checked_add(units, 256, what), what), 32, what);
  checked_mul(values, 8, what);
}

}  // namespace detail
}  // namespace rnnfast
