// The LSTM's equations, written once for every pass that computes them: the whole-sequence passes (one packet of
// a batch row's units), the stacked/streaming kernel (one packet of a block of units in registers) and the
// layer-normalised cell. V is a SIMD packet or a scalar of the engine's type (detail/cells/common/lanes.hpp).
//
// Keras gate order i, f, c̃ (written g here), o:
//   [i f g o] = [σ σ tanh σ](pre),  c_t = f⊙c_{t-1} + i⊙g,  h_t = o⊙tanh(c_t),
// pre = x_t·W + h_{t-1}·U + b per gate (layer-normalised: the norms' sum). With peepholes the gates also see the
// cell state: i and f add p_i⊙c_{t-1} and p_f⊙c_{t-1}, o adds p_o⊙c_t.
#pragma once

#include "rnnfast/detail/cells/common/lanes.hpp"

namespace rnnfast::detail::lstm {

// The gates after their activations, and the new cell state.
template <class V>
struct Gates {
  V i, f, g, o, c;
};

// The peepholes of a packet of units (zeros, and not read, without peepholes).
template <class V>
struct Peepholes {
  V i{}, f{}, o{};
};

// The peepholes of units j.. from p (p_i, p_f, p_o side by side, `stride` apart); nothing is read without them.
template <bool Peephole, class V, class T>
inline Peepholes<V> load_peepholes(const T* p, Index stride, Index j) {
  Peepholes<V> w;
  if constexpr (Peephole) {
    w.i = load<V>(p + j);
    w.f = load<V>(p + stride + j);
    w.o = load<V>(p + 2 * stride + j);
  }
  return w;
}

// The gates and c_t from the pre-activations and c_{t-1}; pp: the peepholes (read only with Peephole).
template <bool Peephole, class V>
inline Gates<V> gates(const V& pre_i, const V& pre_f, const V& pre_g, const V& pre_o, const V& c_prev,
                      const Peepholes<V>& pp) {
  using Eigen::internal::pmadd;
  using Eigen::internal::pmul;
  const V &p_i = pp.i, &p_f = pp.f, &p_o = pp.o;
  Gates<V> s;
  if constexpr (Peephole) {
    s.i = sigmoid(pmadd(p_i, c_prev, pre_i));
    s.f = sigmoid(pmadd(p_f, c_prev, pre_f));
  } else {
    s.i = sigmoid(pre_i);
    s.f = sigmoid(pre_f);
  }
  s.g = tanh(pre_g);
  s.c = pmadd(s.f, c_prev, pmul(s.i, s.g));
  if constexpr (Peephole) s.o = sigmoid(pmadd(p_o, s.c, pre_o));
  else s.o = sigmoid(pre_o);
  return s;
}

// h_t = o⊙tanh(v), v = c_t (layer-normalised: LN_c(c_t)).
template <class V>
inline V output(const V& o, const V& v) {
  return Eigen::internal::pmul(o, tanh(v));
}

// dL/dc_t of the plain cell: from c_{t+1} (dc_next) and through h_t = o⊙tanh(c_t).
template <class V>
inline V cell_gradient(const V& dh, const V& o, const V& tanh_c, const V& dc_next) {
  using namespace Eigen::internal;
  return pmadd(pmul(dh, o), one_minus_square(tanh_c), dc_next);
}

// The pre-activation gradients and dL/dc_{t-1}.
template <class V>
struct Gradients {
  V da_i, da_f, da_g, da_o, dc_prev;
};

// From the saved gates, c_{t-1}, dh_tanh = dL/dh_t ⊙ tanh(v) (o's share of h_t) and dc = dL/dc_t but for the
// path through o's peephole, which is added here. The peepholes' own gradients are da_i⊙c_{t-1}, da_f⊙c_{t-1}
// and da_o⊙c_t.
template <bool Peephole, class V>
inline Gradients<V> gradients(const V& i, const V& f, const V& g, const V& o, const V& c_prev, const V& dh_tanh,
                              V dc, const Peepholes<V>& pp) {
  using Eigen::internal::pmadd;
  using Eigen::internal::pmul;
  const V &p_i = pp.i, &p_f = pp.f, &p_o = pp.o;
  Gradients<V> d;
  d.da_o = pmul(dh_tanh, sigmoid_slope(o));
  if constexpr (Peephole) dc = pmadd(d.da_o, p_o, dc);
  d.da_i = pmul(pmul(dc, g), sigmoid_slope(i));
  d.da_f = pmul(pmul(dc, c_prev), sigmoid_slope(f));
  d.da_g = pmul(pmul(dc, i), one_minus_square(g));
  d.dc_prev = pmul(dc, f);
  if constexpr (Peephole) d.dc_prev = pmadd(d.da_i, p_i, pmadd(d.da_f, p_f, d.dc_prev));
  return d;
}

}  // namespace rnnfast::detail::lstm
