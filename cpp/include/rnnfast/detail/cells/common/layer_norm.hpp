// Layer normalisation over a row, LN(v) = γ⊙(v − mean(v))/sqrt(var(v) + ε) + β (biased variance), and its
// backward, for the layer-normalised cells; the weight-gradient products of a cell whose x·W and h·U are
// normalised apart.
#pragma once

#include <cmath>

#include "rnnfast/detail/cells/common/products.hpp"

namespace rnnfast {
namespace detail {

// Every sum runs in an order fixed by the row's length (sum_over), never by where the row sits in memory.

// v ← (v − mean(v)) / sqrt(var(v) + ε) over n values; returns 1/sqrt(var + ε). Two passes, for accuracy.
template <class T>
T normalize(T* v, Index n, T epsilon) {
  using namespace Eigen::internal;
  const T mean = sum_over<T>(n, [&](auto x, Index j) { return load<decltype(x)>(v + j); }) / T(n);
  for_each_value<T>(n, [&](auto x, Index j) {
    using V = decltype(x);
    store(v + j, psub(load<V>(v + j), splat<V>(mean)));
  });
  const T variance = sum_over<T>(n, [&](auto x, Index j) {
                       const auto d = load<decltype(x)>(v + j);
                       return pmul(d, d);
                     }) /
                     T(n);
  const T rstd = T(1) / std::sqrt(variance + epsilon);
  for_each_value<T>(n, [&](auto x, Index j) {
    using V = decltype(x);
    store(v + j, pmul(load<V>(v + j), splat<V>(rstd)));
  });
  return rstd;
}

// γ⊙v̂ + β of one packet (or value) at j.
template <class V, class T>
inline V affine(const T* gamma, const T* v_hat, const T* beta, Index j) {
  return Eigen::internal::pmadd(load<V>(gamma + j), load<V>(v_hat + j), load<V>(beta + j));
}

// Backward of v̂ = normalize(v): g holds dL/dv̂ on entry and dL/dv on return.
template <class T>
void normalize_backward(T* g, const T* v_hat, Index n, T rstd) {
  using namespace Eigen::internal;
  const T mean_g = sum_over<T>(n, [&](auto x, Index j) { return load<decltype(x)>(g + j); }) / T(n);
  const T mean_gv = sum_over<T>(n, [&](auto x, Index j) {
                      using V = decltype(x);
                      return pmul(load<V>(g + j), load<V>(v_hat + j));
                    }) /
                    T(n);
  for_each_value<T>(n, [&](auto x, Index j) {
    using V = decltype(x);
    const V centred = psub(psub(load<V>(g + j), splat<V>(mean_g)), pmul(load<V>(v_hat + j), splat<V>(mean_gv)));
    store(g + j, pmul(splat<V>(rstd), centred));
  });
}

// Gradients of y = γ⊙v̂ + β given dy: dγ += dy⊙v̂, dβ += dy; and into g (n values) dL/dv.
template <class T>
void affine_norm_backward(const T* dy, const T* v_hat, const T* gamma, Index n, T rstd, T* d_gamma, T* d_beta,
                          T* g) {
  using namespace Eigen::internal;
  for_each_value<T>(n, [&](auto x, Index j) {
    using V = decltype(x);
    const V dy_j = load<V>(dy + j);
    accumulate(d_gamma + j, pmul(dy_j, load<V>(v_hat + j)));
    accumulate(d_beta + j, dy_j);
    store(g + j, pmul(dy_j, load<V>(gamma + j)));
  });
  normalize_backward(g, v_hat, n, rstd);
}

// dW = Xᵀ·dA_x, dU = H_inᵀ·dA_h, dX = dA_x·Wᵀ, with dA_x and dA_h (G columns each) inside the saved rows.
template <class T>
void split_weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, Index units, Index width,
                        Index ld, Index dax_offset, Index dah_offset, const CellWeights<T>& w, const CellGrads<T>& g) {
  accumulate_at_b(team, m.rows, input_size, width, m.x, input_size, m.saved + dax_offset, ld, g.kernel, width);
  accumulate_at_b(team, m.rows, units, width, m.h_prev, units, m.saved + dah_offset, ld, g.recurrent_kernel, width);
  if (m.dx != nullptr)
    multiply_a_bt(team, m.rows, input_size, width, m.saved + dax_offset, ld, w.kernel, width, m.dx, false);
}

}  // namespace detail
}  // namespace rnnfast
