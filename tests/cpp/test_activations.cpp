// C++ tests of the float activations (activations.hpp) on every packet width the build has and on scalars:
// tanh within 8 ulps of the true value and σ within 3e-7 of the true one, over a dense grid of [-30, 30] and tiny
// and huge arguments; |tanh| ≤ 1 and 0 ≤ σ ≤ 1; σ exactly 1 past 15.8 and unbiased near 1; odd symmetry of
// tanh; ±inf saturate; NaN propagates; and every lane of a packet gives the scalar result for its argument (within
// 2 ulps).
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "rnnfast/detail/activations.hpp"

#include "test_support.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments, as in Eigen
#endif

namespace {

using Eigen::internal::pfirst;
using Eigen::internal::pset1;

float ulp_of(double v) {
  const float f = static_cast<float>(v);
  return std::abs(std::nextafter(f, std::numeric_limits<float>::infinity()) - f);
}

std::vector<float> arguments() {
  std::vector<float> xs;
  for (int i = -3000000; i <= 3000000; ++i) xs.push_back(static_cast<float>(i) * 1e-5f);
  for (float m = 1e-38f; m < 1e-2f; m *= 1.7f) {
    xs.push_back(m);
    xs.push_back(-m);
  }
  for (float x : {0.0f, -0.0f, 1e4f, -1e4f, 1e30f, -1e30f, std::numeric_limits<float>::max(),
                  -std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min()})
    xs.push_back(x);
  return xs;
}

template <class V>
void test_packet(const char* name, const std::vector<float>& xs) {
  constexpr int lanes = Eigen::internal::unpacket_traits<V>::size;
  double worst_tanh = 0, worst_sigmoid = 0;
  float worst_tanh_at = 0, worst_sigmoid_at = 0;
  bool in_range = true, lanes_agree = true, odd = true;
  for (std::size_t i = 0; i < xs.size(); i += lanes) {
    alignas(64) float in[lanes], t[lanes], s[lanes];
    for (int l = 0; l < lanes; ++l) in[l] = xs[std::min(i + l, xs.size() - 1)];
    Eigen::internal::pstore(t, rnnfast::detail::tanh_float(Eigen::internal::pload<V>(in)));
    Eigen::internal::pstore(s, rnnfast::detail::sigmoid_float(Eigen::internal::pload<V>(in)));
    for (int l = 0; l < lanes; ++l) {
      const double x = in[l], tanh_x = std::tanh(x), sigmoid_x = 1.0 / (1.0 + std::exp(-x));
      const double e_t = std::abs(t[l] - tanh_x) / ulp_of(tanh_x), e_s = std::abs(s[l] - sigmoid_x);
      if (e_t > worst_tanh) worst_tanh = e_t, worst_tanh_at = in[l];
      if (e_s > worst_sigmoid) worst_sigmoid = e_s, worst_sigmoid_at = in[l];
      in_range = in_range && std::abs(t[l]) <= 1.0f && s[l] >= 0.0f && s[l] <= 1.0f;
      // (the widest packet may divide by a refined reciprocal estimate where scalars divide exactly)
      lanes_agree = lanes_agree && std::abs(t[l] - rnnfast::detail::tanh_float(in[l])) <= 2 * ulp_of(t[l]) &&
                    std::abs(s[l] - rnnfast::detail::sigmoid_float(in[l])) <= 2 * ulp_of(0.5);  // σ: absolute
      odd = odd && rnnfast::detail::tanh_float(-in[l]) == -rnnfast::detail::tanh_float(in[l]);
    }
  }
  const std::string n = name;
  check(worst_tanh <= 8, n + ": tanh is " + std::to_string(worst_tanh) + " ulps off at " +
                             std::to_string(worst_tanh_at));
  check(worst_sigmoid <= 3e-7, n + ": sigmoid is " + std::to_string(worst_sigmoid) + " off at " +
                                   std::to_string(worst_sigmoid_at));
  check(in_range, n + ": an activation left its range");
  check(lanes_agree, n + ": a packet's lanes differ from the scalar function");
  check(odd, n + ": tanh is not odd");
  const auto tanh_of = [](float x) { return pfirst(rnnfast::detail::tanh_float(pset1<V>(x))); };
  const auto sigmoid_of = [](float x) { return pfirst(rnnfast::detail::sigmoid_float(pset1<V>(x))); };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Saturation: the argument is clamped where tanh is within a few ulps of ±1.
  check(std::abs(tanh_of(inf) - 1) < 3e-7f && tanh_of(-inf) == -tanh_of(inf), n + ": tanh(±inf) is not ±1");
  // σ is exactly 1 once saturated (a gate at 1 − 1e-7 would decay the state it keeps, step after step),
  // and near 1 its error has no bias that a forget gate would compound.
  bool exact = sigmoid_of(inf) == 1.0f && sigmoid_of(-inf) < 3e-7f;
  for (float x = 15.9f; x < 40.0f; x += 0.1f) exact = exact && sigmoid_of(x) == 1.0f;
  check(exact, n + ": sigmoid is not exactly 1 past 15.8");
  double bias = 0;
  int count = 0;
  for (float x = 6.0f; x < 40.0f; x += 1e-3f, ++count) bias += sigmoid_of(x) - 1.0 / (1.0 + std::exp(-double(x)));
  bias /= count;
  char bias_text[32];
  std::snprintf(bias_text, sizeof bias_text, "%.2g", bias);
  check(std::abs(bias) < 3e-8, n + ": sigmoid near 1 is biased by " + bias_text);
  check(std::isnan(tanh_of(nan)) && std::isnan(sigmoid_of(nan)), n + ": NaN does not propagate");
  std::printf("%s: tanh %.2f ulps, sigmoid %.2g at worst, mean sigmoid error on [6, 40] %.2g\n", name, worst_tanh,
              worst_sigmoid, bias);
}

}  // namespace

int main() {
  const auto xs = arguments();
  using Full = Eigen::internal::packet_traits<float>::type;
  using Half = Eigen::internal::unpacket_traits<Full>::half;
  using Quarter = Eigen::internal::unpacket_traits<Half>::half;
  test_packet<Full>("widest packet", xs);
  test_packet<Half>("half packet", xs);
  test_packet<Quarter>("quarter packet", xs);
  test_packet<float>("scalar", xs);
  std::printf("%s\n", g_failures == 0 ? "all activation tests passed" : "activation tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
