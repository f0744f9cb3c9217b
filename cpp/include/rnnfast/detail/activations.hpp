// tanh and the logistic function σ for float, on SIMD packets or scalars: the gate activations of every cell.
//
// A streaming step at small H is a chain of dependent operations (product, σ and tanh of the gates, tanh of the
// new cell state), so the latency of an activation is the step's cost. Eigen's float tanh and σ are rational
// functions evaluated by Horner's rule with a division, a long chain from input to result. These use a rational
// function of the same degrees, fitted for rnnfast, evaluated by Estrin's scheme (the powers x², x⁴, x⁸ in parallel with the terms), and on AVX-512 a reciprocal estimate with one Newton
// step instead of the division, whose throughput is poor on 512-bit registers.
//
//   tanh(x) ≈ x·P(x²)/Q(x²) for |x| ≤ 7.9, P of degree 6 and Q of degree 3 in x² (relative error 1.5e-9 in exact
//   arithmetic; as evaluated in float at most ~6 ulps, checked by tests/cpp/test_activations.cpp, and |tanh| ≤ 1);
//   past 7.9 the argument is clamped, so tanh saturates at ±0.9999998 rather than ±1. σ(x) = ½ + ½·tanh(x/2),
//   with the halving folded into the coefficients: its error is absolute (under 2e-7, as Eigen's), and past 15.8
//   it is exactly 1 (see sigmoid_float). NaN propagates. double keeps Eigen's and the standard library's functions.
#pragma once

#include <Eigen/Core>
#include <type_traits>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments (as inside Eigen)
#endif

namespace rnnfast::detail {

// n/q: on 512-bit float packets n times a 14-bit estimate of 1/q refined by one Newton step (~1 ulp more);
// elsewhere a division.
template <class V>
inline V ratio(const V& n, const V& q) {
  using namespace Eigen::internal;
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<V, Packet16f>) {
    const Packet16f r = _mm512_rcp14_ps(q);
    return pmul(n, pmadd(r, psub(pset1<Packet16f>(1.0f), pmul(q, r)), r));  // r + r·(1 − q·r)
  }
#endif
  return pdiv(n, q);
}

// a(y) = c0 + c1·y + … + c6·y⁶ by Estrin's scheme, given y² and y⁴.
template <class V>
inline V estrin6(const float (&c)[7], const V& y, const V& y2, const V& y4) {
  using namespace Eigen::internal;
  const V e0 = pmadd(pset1<V>(c[1]), y, pset1<V>(c[0])), e1 = pmadd(pset1<V>(c[3]), y, pset1<V>(c[2]));
  const V e2 = pmadd(pset1<V>(c[5]), y, pset1<V>(c[4]));
  return pmadd(pmadd(pset1<V>(c[6]), y2, e2), y4, pmadd(e1, y2, e0));
}
template <class V>
inline V estrin3(const float (&c)[4], const V& y, const V& y2) {
  using namespace Eigen::internal;
  return pmadd(pmadd(pset1<V>(c[3]), y, pset1<V>(c[2])), y2, pmadd(pset1<V>(c[1]), y, pset1<V>(c[0])));
}

// x·P(x²)/Q(x²) with x clamped to ±limit; the clamp of x² goes first, x's own runs beside the terms.
// pmin/pmax return their first argument when it is NaN, so NaN passes through.
template <class V>
inline V odd_rational(const V& x, float limit, const float (&p)[7], const float (&q)[4]) {
  using namespace Eigen::internal;
  // x² + 1e-9 keeps y⁴ and the products of the high terms normal for tiny x (denormals are slow on some
  // CPUs); it changes P and Q by under 2e-10 relative.
  const V y = pmin(pmadd(x, x, pset1<V>(1e-9f)), pset1<V>(limit * limit));
  const V y2 = pmul(y, y), y4 = pmul(y2, y2);
  const V xc = pmax(pmin(x, pset1<V>(limit)), pset1<V>(-limit));
  const V num = pmul(xc, estrin6(p, y, y2, y4)), den = estrin3(q, y, y2);
  return ratio(num, den);
}

struct TanhCoefficients {  // tanh(x) ≈ x·P(x²)/Q(x²), |x| ≤ 7.9
  static constexpr float limit = 7.9f;
  static constexpr float p[7] = {1.0f, 1.312812120e-01f, 3.153635887e-03f, 1.168939616e-05f, -2.252494369e-08f,
                                 6.482550607e-11f, -1.192365569e-13f};
  static constexpr float q[4] = {1.0f, 4.646145403e-01f, 2.469184063e-02f, 2.619314182e-04f};
};
struct SigmoidCoefficients {  // σ(x) − ½ = ½·tanh(x/2) ≈ x·P(x²)/Q(x²), |x| ≤ 15.8 (tanh's with x/2)
  static constexpr float limit = 15.8f;
  static constexpr float p[7] = {2.5e-01f,          8.205075748e-03f,  4.927556074e-05f, 4.566170375e-08f,
                                 -2.199701532e-11f, 1.582653957e-14f, -7.277621883e-18f};
  static constexpr float q[4] = {1.0f, 1.161536351e-01f, 1.543240040e-03f, 4.092678410e-06f};
};

// The activations of a float packet (or float); V's scalar type must be float.
template <class V>
inline V tanh_float(const V& x) {
  using K = TanhCoefficients;
  return odd_rational(x, K::limit, K::p, K::q);
}
// Past 15.8 σ is exactly 1: the clamped rational would stay 2 ulps below 1 (1 − 1.2e-7), where float
// rounds σ(x ≥ 16.7) to 1, and a saturated forget gate (LSTM) or update gate (GRU) at 1 − 1.2e-7 decays the
// state it keeps by that much every step: ~1e-3 relative over 10⁴ steps, against ~1e-5 with σ = 1.
template <class V>
inline V sigmoid_float(const V& x) {
  using namespace Eigen::internal;
  using K = SigmoidCoefficients;
  // ½, or past +limit ½ + (x − limit): at least one float step of x there (~1e-6), which takes the sum past 1 for
  // the final clamp. Computed beside the rational, it adds only the clamp to the latency. (Below −limit σ stays
  // within 1.4e-7 of 0: a gate that small scales what it lets in, and that error does not compound.)
  const V offset = padd(pset1<V>(0.5f), pmax(psub(x, pset1<V>(K::limit)), pset1<V>(0.0f)));
  return pmin(padd(odd_rational(x, K::limit, K::p, K::q), offset), pset1<V>(1.0f));  // pmin keeps a NaN
}

}  // namespace rnnfast::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
