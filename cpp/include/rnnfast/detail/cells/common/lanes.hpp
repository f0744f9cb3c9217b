// The value types of the elementwise cell code: a SIMD packet of units where Eigen vectorises the activations
// (float), else a scalar; loads, stores and the gate activations on either.
//
// Every pass walks a row's units in packets from its first unit, then the remaining units one by one, with
// unaligned loads: which units share a packet depends only on the row's length, never on where the row sits in
// memory, so equal inputs give bit-identical results at any address.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/activations.hpp"
#include "rnnfast/detail/packed_gemm.hpp"

namespace rnnfast::detail {

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

// The same for passes without activations (plain arithmetic): on packets wherever T has them.
template <class T, class F>
inline void for_each_value(Index n, F&& value) {
  Index j = 0;
  if constexpr (Lanes<T>::size > 1)
    for (; j + Lanes<T>::size <= n; j += Lanes<T>::size) value(typename Lanes<T>::Packet{}, j);
  for (; j < n; ++j) value(T{}, j);
}

// Σ term(V{}, j) over n values, in an order fixed by n alone: one running packet over the packets from the
// first value, its lanes summed, then the rest one by one.
template <class T, class F>
inline T sum_over(Index n, F&& term) {
  using P = typename Lanes<T>::Packet;
  Index j = 0;
  T sum = T(0);
  if constexpr (Lanes<T>::size > 1) {
    P acc = Eigen::internal::pset1<P>(T(0));
    for (; j + Lanes<T>::size <= n; j += Lanes<T>::size) acc = Eigen::internal::padd(acc, term(P{}, j));
    sum = Eigen::internal::predux(acc);
  }
  for (; j < n; ++j) sum += term(T{}, j);
  return sum;
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
// f applied to each lane of x, for activations with no packet form of their own.
template <class V, class F>
inline V per_lane(const V& x, F f) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  alignas(64) T lanes[Eigen::internal::unpacket_traits<V>::size];
  Eigen::internal::pstore(lanes, x);
  for (T& v : lanes) v = f(v);
  return Eigen::internal::pload<V>(lanes);
}
// The gate activations: rnnfast's own for float (activations.hpp, short latency); for double the standard
// ones, lane by lane on a packet, so that a packet's lanes equal what a scalar pass computes.
template <class V>
inline V sigmoid(const V& x) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  if constexpr (std::is_same_v<T, float>) return sigmoid_float(x);
  else if constexpr (std::is_same_v<V, T>) return Eigen::internal::scalar_logistic_op<T>()(x);
  else return per_lane(x, [](T v) { return sigmoid(v); });
}
template <class V>
inline V tanh(const V& x) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  if constexpr (std::is_same_v<T, float>) return tanh_float(x);
  else if constexpr (std::is_same_v<V, T>) return Eigen::internal::scalar_tanh_op<T>()(x);
  else return per_lane(x, [](T v) { return tanh(v); });
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

}  // namespace rnnfast::detail
