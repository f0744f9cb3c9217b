// The GRU's equations, written once for every pass that computes them: the whole-sequence passes (one packet of
// a batch row's units), the stacked/streaming kernel (one packet of a block of units in registers) and the
// layer-normalised cell. V is a SIMD packet or a scalar of the engine's type (detail/cells/common/lanes.hpp).
//
// Keras gate order z (update), r (reset), h̃ (candidate); h_t = z⊙h_{t-1} + (1−z)⊙h̃, computed h̃ + z⊙(h_{t-1} − h̃).
//   reset_after=true (Keras default; cuDNN/PyTorch form), bias 2 × 3H = [input bias; recurrent bias]:
//     [u_z u_r u_h] = h_{t-1}·U + b_rec,  z = σ(x_z + u_z), r = σ(x_r + u_r), h̃ = tanh(x_h + r⊙u_h)
//   reset_after=false (original GRU), bias 3H:
//     z = σ(x_z + h_{t-1}·U_z), r = σ(x_r + h_{t-1}·U_r), h̃ = tanh(x_h + (r⊙h_{t-1})·U_h)
// where [x_z x_r x_h] = x_t·W (+ input bias).
#pragma once

#include "rnnfast/detail/cells/common/lanes.hpp"

namespace rnnfast::detail::gru {

// h_t from z, h̃ and h_{t-1}.
template <class V>
inline V state(const V& z, const V& candidate, const V& h_prev) {
  using namespace Eigen::internal;
  return pmadd(z, psub(h_prev, candidate), candidate);
}

template <class V>
struct Gates {
  V z, r, candidate, h;
};

// reset_after: pre_z = x_z + u_z, pre_r = x_r + u_r (biases included), x_h and u_h apart.
template <class V>
inline Gates<V> reset_after(const V& pre_z, const V& pre_r, const V& x_h, const V& u_h, const V& h_prev) {
  Gates<V> s;
  s.z = sigmoid(pre_z);
  s.r = sigmoid(pre_r);
  s.candidate = tanh(Eigen::internal::pmadd(s.r, u_h, x_h));
  s.h = state(s.z, s.candidate, h_prev);
  return s;
}

// reset_before, before the candidate's product: z, r and r⊙h_in (what U_h multiplies; h_in = h_{t-1}, or
// h_{t-1}⊙mask with recurrent dropout).
template <class V>
struct ResetGates {
  V z, r, reset_h;
};
template <class V>
inline ResetGates<V> reset_gates(const V& pre_z, const V& pre_r, const V& h_in) {
  ResetGates<V> s;
  s.z = sigmoid(pre_z);
  s.r = sigmoid(pre_r);
  s.reset_h = Eigen::internal::pmul(s.r, h_in);
  return s;
}
// reset_before, after it: h̃ = tanh(x_h + (r⊙h_in)·U_h) from that pre-activation.
template <class V>
inline V candidate(const V& pre_h) {
  return tanh(pre_h);
}

// The gradients through h_t = h̃ + z⊙(h_{t-1} − h̃): of z's and h̃'s pre-activations, and the direct part of
// dL/dh_{t-1}, dh⊙z (the recurrent products add the rest).
template <class V>
struct StateGradients {
  V da_z, da_h, dh_prev;
};
template <class V>
inline StateGradients<V> state_gradients(const V& z, const V& candidate, const V& h_prev, const V& dh) {
  using namespace Eigen::internal;
  StateGradients<V> d;
  d.da_h = pmul(pmul(dh, one_minus(z)), one_minus_square(candidate));
  d.da_z = pmul(pmul(dh, psub(h_prev, candidate)), sigmoid_slope(z));
  d.dh_prev = pmul(dh, z);
  return d;
}

// reset_after, through h̃ = tanh(x_h + r⊙u_h): the gradients of u_h and of r's pre-activation.
template <class V>
struct ResetAfterGradients {
  V du_h, da_r;
};
template <class V>
inline ResetAfterGradients<V> reset_after_gradients(const V& r, const V& u_h, const V& da_h) {
  using Eigen::internal::pmul;
  return {pmul(da_h, r), pmul(pmul(da_h, u_h), sigmoid_slope(r))};
}

// reset_before, given d_rh = dL/d(r⊙h_in): the gradient of r's pre-activation (the h_in path is d_rh⊙r).
template <class V>
inline V reset_before_gradient(const V& r, const V& h_in, const V& d_rh) {
  using Eigen::internal::pmul;
  return pmul(pmul(d_rh, h_in), sigmoid_slope(r));
}

}  // namespace rnnfast::detail::gru
