// Recurrent<double>::backward against finite differences, for every cell and variant (SimpleRNN tanh and relu,
// LSTM with and without peepholes, GRU reset_after and reset_before, and the layer-normalised SimpleRNN, LSTM,
// peephole LSTM and GRU), with ragged lengths (one of them 0), go_backwards, return_sequences on and off, both
// layouts and dropout masks (input and recurrent), from given initial states h0 and c0.
//
// The loss is a fixed random linear functional of every output, L = Σ R_y⊙y + Σ R_h⊙h_T (+ Σ R_c⊙c_T), so every
// output carries gradient; without return_sequences R_y weighs the last output (SequenceGradIn::dy). Checked:
// dL/dx, dL/dh0, dL/dc0 and the gradients of kernel, recurrent_kernel, bias, peephole and norm, every entry, by
// the fourth-order central difference (8·(L(p+ε) − L(p−ε)) − (L(p+2ε) − L(p−2ε))) / 12ε with ε = 1e-5 (accurate
// to ~1e-10 in double here, where the two-point difference's rounding noise reaches 1e-8). Tolerance: 1e-6
// relative plus 1e-8 absolute.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "rnnfast/rnnfast.hpp"

#include "test_support.hpp"

namespace {

using rnnfast::CellType;
using rnnfast::Index;

constexpr double kStep = 1e-5;
constexpr double kRelative = 1e-6, kAbsolute = 1e-8;

std::vector<double> random_vector(Index n, std::mt19937& gen, double scale) {
  std::uniform_real_distribution<double> dist(-scale, scale);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

// Keras' dropout masks: kept entries 1/(1 − rate), dropped ones 0 (at least one of each per mask).
std::vector<double> dropout_mask(Index n, std::mt19937& gen, double rate) {
  std::bernoulli_distribution drop(rate);
  std::vector<double> m(static_cast<std::size_t>(n));
  for (auto& v : m) v = drop(gen) ? 0.0 : 1.0 / (1.0 - rate);
  m[0] = 0.0;
  m[n - 1] = 1.0 / (1.0 - rate);
  return m;
}

struct Variant {
  const char* name;
  CellType type;
  rnnfast::CellOptions options;
};

struct Case {
  bool lengths = false, go_backwards = false, return_sequences = false, time_major = false, masks = false;
  std::string name() const {
    std::string s;
    s += lengths ? " lengths" : " full";
    if (go_backwards) s += " go_backwards";
    s += return_sequences ? " sequences" : " last";
    if (time_major) s += " time_major";
    if (masks) s += " dropout";
    return s;
  }
};

// One layer, its inputs and the loss's coefficients; loss() runs a training forward, gradients() its backward.
struct Shape {
  Index batch, time, input_size, units;
};

class Problem {
 public:
  Problem(const Variant& v, const Case& c, Shape shape, unsigned seed)
      : B(shape.batch), T(shape.time), D(shape.input_size), H(shape.units), v_(v), c_(c),
        lstm_(rnnfast::has_cell_state(v.type)), rnn_(v.type, D, H, v.options) {
    std::mt19937 gen(seed);
    const Index G = rnnfast::gate_count(v.type) * H;
    x = random_vector(B * T * D, gen, 1.0);
    h0 = random_vector(B * H, gen, 0.5);
    c0 = random_vector(B * H, gen, 0.5);
    kernel = random_vector(D * G, gen, 0.5);
    recurrent = random_vector(H * G, gen, 1.0 / std::sqrt(double(H)));
    bias = random_vector(rnnfast::bias_size(v.type, H), gen, 0.5);
    if (v.options.peephole) peephole = random_vector(3 * H, gen, 0.5);
    if (v.options.layer_norm) norm = random_vector(rnnfast::norm_size(v.type, H, v.options), gen, 1.0);
    if (c.masks) {
      input_mask = dropout_mask(B * D, gen, 0.25);
      recurrent_mask = dropout_mask(B * H, gen, 0.25);
    }
    if (c.lengths) {  // ragged, one of them empty
      lengths.assign(static_cast<std::size_t>(B), T);
      lengths[1] = T / 2;
      lengths[B - 1] = 0;
    }
    ry = random_vector((c.return_sequences ? T : 1) * B * H, gen, 1.0);
    rh = random_vector(B * H, gen, 1.0);
    rc = random_vector(B * H, gen, 1.0);
    y.resize(c.return_sequences ? T * B * H : 0);
    h.resize(B * H);
    cT.resize(B * H);
  }

  const Index B, T, D, H;
  std::vector<double> x, h0, c0, kernel, recurrent, bias, peephole, norm, input_mask, recurrent_mask;
  std::vector<std::int64_t> lengths;
  std::vector<double> ry, rh, rc;  // the loss's coefficients of y (or the last output), h_T and c_T

  double loss() {
    forward();
    double l = 0;
    if (c_.return_sequences)
      for (std::size_t i = 0; i < y.size(); ++i) l += ry[i] * y[i];
    else
      for (std::size_t i = 0; i < h.size(); ++i) l += ry[i] * h[i];  // the last output is h_T
    for (std::size_t i = 0; i < h.size(); ++i) l += rh[i] * h[i];
    if (lstm_)
      for (std::size_t i = 0; i < cT.size(); ++i) l += rc[i] * cT[i];
    return l;
  }

  struct Gradients {
    std::vector<double> x, h0, c0, kernel, recurrent, bias, peephole, norm;
  };

  Gradients gradients() {
    forward();
    Gradients g;
    g.x.resize(x.size());
    g.h0.resize(h0.size());
    g.c0.resize(c0.size());
    g.kernel.resize(kernel.size());
    g.recurrent.resize(recurrent.size());
    g.bias.resize(bias.size());
    g.peephole.resize(peephole.size());
    g.norm.resize(norm.size());
    rnnfast::SequenceGradIn<double> gin;
    gin.dy = ry.data();
    gin.dh_final = rh.data();
    gin.dc_final = lstm_ ? rc.data() : nullptr;
    rnnfast::SequenceGradOut<double> gout;
    gout.dx = g.x.data();
    gout.dh0 = g.h0.data();
    gout.dc0 = lstm_ ? g.c0.data() : nullptr;
    gout.weights = {g.kernel.data(), g.recurrent.data(), g.bias.data(), or_null(g.peephole), or_null(g.norm)};
    rnn_.backward(ws_, weights(), gin, gout);
    return g;
  }

 private:
  static double* or_null(std::vector<double>& v) { return v.empty() ? nullptr : v.data(); }
  static const double* or_null(const std::vector<double>& v) { return v.empty() ? nullptr : v.data(); }

  rnnfast::CellWeights<double> weights() const {
    return {kernel.data(), recurrent.data(), bias.data(), or_null(peephole), or_null(norm)};
  }

  void forward() {
    rnnfast::SequenceInput<double> in;
    in.batch = B;
    in.time = T;
    in.input_size = D;
    in.x = x.data();
    in.lengths = lengths.empty() ? nullptr : lengths.data();
    in.h0 = h0.data();
    in.c0 = lstm_ ? c0.data() : nullptr;
    in.input_mask = or_null(input_mask);
    in.recurrent_mask = or_null(recurrent_mask);
    rnnfast::SequenceOptions opt;
    opt.time_major = c_.time_major;
    opt.go_backwards = c_.go_backwards;
    opt.return_sequences = c_.return_sequences;
    rnn_.forward(in, opt, weights(), {or_null(y), h.data(), lstm_ ? cT.data() : nullptr}, ws_, true);
  }

  Variant v_;
  Case c_;
  bool lstm_;
  rnnfast::Recurrent<double> rnn_;
  rnnfast::Workspace<double> ws_;
  std::vector<double> y, h, cT;
};

// Entries of `analytic` that differ from the central differences of the loss in `param` beyond the tolerance;
// `worst` gets the largest |analytic − numeric| / (kRelative·|numeric| + kAbsolute) seen.
int mismatches(Problem& p, std::vector<double>& param, const std::vector<double>& analytic, const std::string& what,
               double& worst) {
  int bad = 0;
  for (std::size_t i = 0; i < param.size(); ++i) {
    const double old = param[i];
    auto at = [&](double offset) {
      param[i] = old + offset;
      return p.loss();
    };
    const double numeric = (8 * (at(kStep) - at(-kStep)) - (at(2 * kStep) - at(-2 * kStep))) / (12 * kStep);
    param[i] = old;
    const double ratio = std::abs(analytic[i] - numeric) / (kRelative * std::abs(numeric) + kAbsolute);
    worst = std::max(worst, ratio);
    if (!(ratio <= 1)) {
      if (bad++ < 3)
        std::printf("  %s[%zu]: backward %.12g, finite differences %.12g\n", what.c_str(), i, analytic[i], numeric);
    }
  }
  return bad;
}

// Every gradient of one variant and case; returns the worst ratio to the tolerance.
double check_case(const Variant& v, const Case& c, Shape shape, unsigned seed) {
  Problem p(v, c, shape, seed);
  const Problem::Gradients g = p.gradients();
  const std::string what = std::string(v.name) + " H=" + std::to_string(shape.units) + c.name();
  double worst = 0;
  auto compare = [&](std::vector<double>& param, const std::vector<double>& analytic, const char* name) {
    const int bad = mismatches(p, param, analytic, what + ": d" + name, worst);
    check(bad == 0, what + ": " + std::to_string(bad) + " entries of d" + name + " off the finite differences");
  };
  compare(p.x, g.x, "x");
  compare(p.h0, g.h0, "h0");
  if (rnnfast::has_cell_state(v.type)) compare(p.c0, g.c0, "c0");
  compare(p.kernel, g.kernel, "kernel");
  compare(p.recurrent, g.recurrent, "recurrent_kernel");
  compare(p.bias, g.bias, "bias");
  if (v.options.peephole) compare(p.peephole, g.peephole, "peephole");
  if (v.options.layer_norm) compare(p.norm, g.norm, "norm");
  return worst;
}

// The comparison itself catches a wrong gradient: one entry of dU off by three times the tolerance is flagged,
// and only that one.
void test_a_wrong_gradient_is_caught() {
  const Variant v{"lstm", CellType::lstm, {}};
  Case c;
  c.return_sequences = true;
  Problem p(v, c, {3, 4, 3, 5}, 1);
  Problem::Gradients g = p.gradients();
  g.recurrent[7] += 3 * (kRelative * std::abs(g.recurrent[7]) + kAbsolute);
  double worst = 0;
  std::printf("a deliberately wrong gradient (expected to be reported):\n");
  check(mismatches(p, p.recurrent, g.recurrent, "lstm, perturbed: drecurrent_kernel", worst) == 1,
        "a gradient entry off by three times the tolerance went unnoticed");
}

}  // namespace

int main() {
  rnnfast::CellOptions plain, peephole, layer_norm, both;
  peephole.peephole = true;
  layer_norm.layer_norm = true;
  both.peephole = both.layer_norm = true;
  const Variant variants[] = {
      {"simple_rnn_tanh", CellType::simple_rnn_tanh, plain},
      {"simple_rnn_relu", CellType::simple_rnn_relu, plain},
      {"lstm", CellType::lstm, plain},
      {"lstm_peephole", CellType::lstm, peephole},
      {"gru", CellType::gru, plain},
      {"gru_reset_before", CellType::gru_reset_before, plain},
      {"simple_rnn_tanh_ln", CellType::simple_rnn_tanh, layer_norm},
      {"simple_rnn_relu_ln", CellType::simple_rnn_relu, layer_norm},
      {"lstm_ln", CellType::lstm, layer_norm},
      {"lstm_peephole_ln", CellType::lstm, both},
      {"gru_ln", CellType::gru, layer_norm},
  };
  test_a_wrong_gradient_is_caught();
  // 5 units: less than a SIMD packet of doubles or one and a part; 17: whole panels of the packed products and a
  // partial one at every packet width (2, 4, 8 doubles). Every combination of the options at 5 units; at 17, a
  // quarter of them: every combination of lengths, go_backwards and return_sequences, time-major and dropout
  // each in half of those.
  double worst = 0;
  int cases = 0;
  unsigned seed = 100;
  for (const auto& v : variants)
    for (int bits = 0; bits < 32; ++bits) {
      Case c;
      c.lengths = bits & 1;
      c.go_backwards = bits & 2;
      c.return_sequences = bits & 4;
      c.time_major = bits & 8;
      c.masks = bits & 16;
      worst = std::max(worst, check_case(v, c, {3, 4, 3, 5}, seed++));
      ++cases;
      if (c.time_major == (c.lengths != c.go_backwards) && c.masks == (c.go_backwards != c.return_sequences)) {
        worst = std::max(worst, check_case(v, c, {3, 3, 2, 17}, seed++));
        ++cases;
      }
    }
  std::printf("%d cases; the largest error was %.3g of the tolerance\n", cases, worst);
  std::printf("%s\n", g_failures == 0 ? "all gradient tests passed" : "gradient tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
