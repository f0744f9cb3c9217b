// The SimpleRNN's equations, written once for every pass that computes them: h_t = act(pre), act = tanh or
// relu, pre = x_t·W + h_{t-1}·U + b (layer-normalised: LN(pre)). V is a SIMD packet or a scalar of the engine's
// type (detail/cells/common/lanes.hpp).
#pragma once

#include <type_traits>

#include "rnnfast/detail/cells/common/lanes.hpp"

namespace rnnfast {

enum class Activation { tanh, relu };

namespace detail::simple_rnn {

template <Activation Act, class V>
inline V activate(const V& pre) {
  using T = typename Eigen::internal::unpacket_traits<V>::type;
  if constexpr (Act == Activation::tanh) return tanh(pre);
  else return Eigen::internal::pmax(pre, splat<V>(T(0)));
}

// dL/dpre from h = act(pre) and dL/dh.
template <Activation Act, class V>
inline V gradient(const V& h, const V& dh) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<V>::type;
  if constexpr (Act == Activation::tanh) return pmul(dh, one_minus_square(h));
  else if constexpr (std::is_same_v<V, T>) return h > T(0) ? dh : T(0);
  else return pselect(pcmp_lt(splat<V>(T(0)), h), dh, splat<V>(T(0)));
}

}  // namespace detail::simple_rnn
}  // namespace rnnfast
