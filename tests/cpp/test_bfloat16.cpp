// C++ tests of the bfloat16 products (Precision::bfloat16): the rounding to nearest even and its edges, the
// widening loads of every packet width, and Stream's steps on bfloat16 weights for every plain cell, on each
// kernel the build has (portable; AVX512-BF16's dot products of pairs), against a float64 reference that rounds
// the same operands. The reference is fed the stream's own state at every step, so both round identical values
// and differ only by float sums and activations (bound 1e-6 of the outputs' size; measured up to 2.2e-7); over
// the whole run the stream stays within 2e-2 of full float64 precision (bfloat16 keeps 8 significant bits: ~4e-3
// per operand; measured 3e-4 to 6e-3) and visibly away from it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "rnnfast/detail/bfloat16.hpp"
#include "rnnfast/rnnfast.hpp"

#include "test_support.hpp"

namespace {

using rnnfast::CellType;
using rnnfast::Index;
using rnnfast::detail::bfloat16;

std::uint32_t bits_of(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
float float_of(std::uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

void test_rounding() {
  using rnnfast::detail::to_bfloat16;
  auto rounds_to = [](std::uint32_t from, std::uint16_t to, const char* what) {
    const std::uint16_t got = to_bfloat16(float_of(from)).bits;
    check(got == to, std::string("to_bfloat16: ") + what + ": got " + std::to_string(got) + ", want " +
                         std::to_string(to));
  };
  rounds_to(0x3f800000u, 0x3f80u, "1 is exact");
  rounds_to(0x3f808000u, 0x3f80u, "a tie rounds to the even neighbour below");
  rounds_to(0x3f818000u, 0x3f82u, "a tie rounds to the even neighbour above");
  rounds_to(0x3f808001u, 0x3f81u, "above the tie rounds up");
  rounds_to(0x3f807fffu, 0x3f80u, "below the tie rounds down");
  rounds_to(0xbf808001u, 0xbf81u, "negative values round by magnitude");
  rounds_to(0x7f7fffffu, 0x7f80u, "the largest float rounds to infinity");
  rounds_to(0x7f800000u, 0x7f80u, "infinity stays");
  rounds_to(0xff800000u, 0xff80u, "-infinity stays");
  rounds_to(0x00018000u, 0x0002u, "subnormals round, not flushed");
  rounds_to(0x80000000u, 0x8000u, "-0 stays");
  const std::uint16_t nan = to_bfloat16(float_of(0x7f800001u)).bits;  // a signalling NaN whose payload is low
  check((nan & 0x7f80u) == 0x7f80u && (nan & 0x007fu) != 0, "to_bfloat16: NaN stays NaN");
  check(std::isnan(rnnfast::detail::to_float(bfloat16{nan})), "to_float: NaN widens to NaN");
  // every bfloat16 widens exactly and rounds back to itself
  int mismatches = 0;
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const float v = rnnfast::detail::to_float(bfloat16{static_cast<std::uint16_t>(b)});
    if (bits_of(v) != b << 16) ++mismatches;
    if (!std::isnan(v) && to_bfloat16(v).bits != b) ++mismatches;
  }
  check(mismatches == 0, "bfloat16 round trips: " + std::to_string(mismatches) + " mismatches");
}

template <class P>
void test_load(const char* name) {
  constexpr int L = Eigen::internal::unpacket_traits<P>::size;
  std::vector<bfloat16> values(L + 3);
  for (int i = 0; i < L + 3; ++i) values[i] = rnnfast::detail::to_bfloat16(0.37f * float(i) - 2.5f);
  for (int offset = 0; offset < 3; ++offset) {  // unaligned too
    alignas(64) float lanes[L];
    Eigen::internal::pstore(lanes, rnnfast::detail::load_bfloat16<P>(values.data() + offset));
    for (int i = 0; i < L; ++i)
      check(lanes[i] == rnnfast::detail::to_float(values[offset + i]),
            std::string("load_bfloat16<") + name + ">: lane " + std::to_string(i));
  }
}

std::vector<double> random_vector(Index n, unsigned seed, double scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-scale, scale);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// One step of one row in float64; operands of the products rounded to bfloat16 when `rounded`.
struct Reference {
  CellType type;
  bool peephole;
  Index D, H;
  std::vector<double> kernel, recurrent, bias, peep;
  bool rounded;

  double operand(double v) const { return rounded ? double(rnnfast::detail::round_to_bfloat16(float(v))) : v; }
  // Σ_k a[k] · m[k][column], m row-major of G·H columns.
  double product(const double* a, Index n, const std::vector<double>& m, Index column) const {
    const Index G = rnnfast::gate_count(type) * H;
    double sum = 0;
    for (Index k = 0; k < n; ++k) sum += operand(a[k]) * operand(m[k * G + column]);
    return sum;
  }
  void step(const double* x, const double* h_prev, const double* c_prev, double* h, double* c) const {
    if (type == CellType::lstm) {
      for (Index j = 0; j < H; ++j) {
        double a[4];
        for (int g = 0; g < 4; ++g)
          a[g] = product(x, D, kernel, g * H + j) + product(h_prev, H, recurrent, g * H + j) + bias[g * H + j];
        const double i = sigmoid(a[0] + (peephole ? peep[j] * c_prev[j] : 0));
        const double f = sigmoid(a[1] + (peephole ? peep[H + j] * c_prev[j] : 0));
        c[j] = f * c_prev[j] + i * std::tanh(a[2]);
        const double o = sigmoid(a[3] + (peephole ? peep[2 * H + j] * c[j] : 0));
        h[j] = o * std::tanh(c[j]);
      }
    } else if (type == CellType::gru) {  // bias (2, 3H): input, recurrent
      for (Index j = 0; j < H; ++j) {
        double xs[3], us[3];
        for (int g = 0; g < 3; ++g) {
          xs[g] = product(x, D, kernel, g * H + j) + bias[g * H + j];
          us[g] = product(h_prev, H, recurrent, g * H + j) + bias[3 * H + g * H + j];
        }
        const double z = sigmoid(xs[0] + us[0]), r = sigmoid(xs[1] + us[1]);
        h[j] = z * h_prev[j] + (1 - z) * std::tanh(xs[2] + r * us[2]);
      }
    } else if (type == CellType::gru_reset_before) {
      std::vector<double> z(H), rh(H);
      for (Index j = 0; j < H; ++j) {
        z[j] = sigmoid(product(x, D, kernel, j) + product(h_prev, H, recurrent, j) + bias[j]);
        const double r = sigmoid(product(x, D, kernel, H + j) + product(h_prev, H, recurrent, H + j) + bias[H + j]);
        rh[j] = r * h_prev[j];
      }
      for (Index j = 0; j < H; ++j) {
        const double cand = std::tanh(product(x, D, kernel, 2 * H + j) + product(rh.data(), H, recurrent, 2 * H + j) +
                                      bias[2 * H + j]);
        h[j] = z[j] * h_prev[j] + (1 - z[j]) * cand;
      }
    } else {
      for (Index j = 0; j < H; ++j) {
        const double a = product(x, D, kernel, j) + product(h_prev, H, recurrent, j) + bias[j];
        h[j] = type == CellType::simple_rnn_relu ? std::max(a, 0.0) : std::tanh(a);
      }
    }
  }
};

struct Errors {
  double step = 0;   // against the rounding reference fed the stream's state
  double drift = 0;  // against full float64 precision over the run
  double largest = 0;  // the largest output at full precision
};

Errors stream_errors(CellType type, bool peephole, Index B, Index D, Index H) {
  const Index steps = 12, G = rnnfast::gate_count(type) * H;
  // W's scale shrinks with many inputs, so that x·W stays of the same size whatever D
  const double w_scale = 0.5 / std::sqrt(std::max(1.0, D / 3.0));
  Reference ref{type, peephole, D, H, random_vector(D * G, 1, w_scale), random_vector(H * G, 2, 1.5 / std::sqrt(H)),
                random_vector(rnnfast::bias_size(type, H), 3, 0.5), random_vector(3 * H, 4, 0.5), true};
  Reference exact = ref;
  exact.rounded = false;
  const auto x = random_vector(steps * B * D, 6, 1.0);
  auto to_float = [](const std::vector<double>& d) { return std::vector<float>(d.begin(), d.end()); };
  const auto kernel = to_float(ref.kernel), recurrent = to_float(ref.recurrent), bias = to_float(ref.bias),
             peep = to_float(ref.peep), xf = to_float(x);
  rnnfast::CellOptions options;
  options.peephole = peephole;
  options.precision = rnnfast::Precision::bfloat16;
  rnnfast::Stream<float> stream(type, D, H, {kernel.data(), recurrent.data(), bias.data(),
                                             peephole ? peep.data() : nullptr, nullptr},
                                options, B);
  const bool lstm = rnnfast::has_cell_state(type);
  std::vector<double> h(B * H, 0), c(B * H, 0), h_next(B * H), c_next(B * H);
  std::vector<double> h_exact(B * H, 0), c_exact(B * H, 0), h_exact_next(B * H), c_exact_next(B * H);
  std::vector<double> x_row(D);
  std::vector<float> out(B * H);
  Errors e;
  double scale = 1;
  for (Index t = 0; t < steps; ++t) {
    for (Index i = 0; i < B * H; ++i) {  // the stream's state (float) into the rounding reference
      h[i] = stream.h()[i];
      c[i] = stream.c()[i];
    }
    stream.step(xf.data() + t * B * D, out.data());
    for (Index r = 0; r < B; ++r) {
      for (Index k = 0; k < D; ++k) x_row[k] = xf[(t * B + r) * D + k];
      ref.step(x_row.data(), h.data() + r * H, c.data() + r * H, h_next.data() + r * H, c_next.data() + r * H);
      exact.step(x_row.data(), h_exact.data() + r * H, c_exact.data() + r * H, h_exact_next.data() + r * H,
                 c_exact_next.data() + r * H);
    }
    h_exact.swap(h_exact_next);
    c_exact.swap(c_exact_next);
    for (Index i = 0; i < B * H; ++i) {
      scale = std::max(scale, std::abs(h_next[i]));
      e.step = std::max(e.step, std::abs(double(out[i]) - h_next[i]));
      if (lstm) e.step = std::max(e.step, std::abs(double(stream.c()[i]) - c_next[i]));
      e.drift = std::max(e.drift, std::abs(double(out[i]) - h_exact[i]));
      e.largest = std::max(e.largest, std::abs(h_exact[i]));
    }
  }
  return {e.step / scale, e.drift / scale, e.largest};
}

void test_stream(const char* name, CellType type, bool peephole) {
  // Small weights are held in float, larger ones (past L1 as float: from about 64 units, or many inputs) stored
  // as bfloat16 or in row pairs: the sizes cover all three, odd row counts included.
  for (Index B : {1, 2})
    for (Index D : {1, 3, 257})
      for (Index H : {1, 5, 16, 24, 32, 64, 96, 128}) {
        if (B * H > 64 && B > 1) continue;  // bfloat16 streams run on the stacked kernel (one row or few units)
        const std::string what = std::string(name) + " B=" + std::to_string(B) + " D=" + std::to_string(D) +
                                 " H=" + std::to_string(H);
        const Errors e = stream_errors(type, peephole, B, D, H);
        check(e.step < 1e-6,
              what + ": bfloat16 step differs from the rounding reference by " + std::to_string(e.step));
        check(e.drift < 2e-2, what + ": bfloat16 stream drifts from float64 by " + std::to_string(e.drift));
        // and it does round: float32 products would stay within ~1e-6 of float64 here (where the outputs are not
        // all zero, as a relu unit's may be)
        check(e.drift > 1e-5 || e.largest < 1e-3, what + ": bfloat16 stream equals float64 to " +
                                                      std::to_string(e.drift));
      }
}

// The storages against each other, StackedStep alone (Stream picks one by size): every cell, odd and even inputs
// and units, every packet width (small H takes narrow packets). Each storage steps from the same state, so they
// round the same operands and differ only by the order of float sums (bound 1e-5 of the outputs' size).
template <class O>
double storage_difference(CellType type, bool peephole, Index D, Index H) {
  const Index G = rnnfast::gate_count(type) * H, steps = 4;
  auto to_float = [](const std::vector<double>& d) { return std::vector<float>(d.begin(), d.end()); };
  const auto kernel = to_float(random_vector(D * G, 11, 0.5 / std::sqrt(std::max(1.0, D / 3.0))));
  const auto recurrent = to_float(random_vector(H * G, 12, 1.5 / std::sqrt(H)));
  const auto bias = to_float(random_vector(rnnfast::bias_size(type, H), 13, 0.5));
  const auto peep = to_float(random_vector(3 * H, 14, 0.5)), x = to_float(random_vector(steps * D, 15, 1.0));
  const rnnfast::CellWeights<float> w{kernel.data(), recurrent.data(), bias.data(), peephole ? peep.data() : nullptr};
  rnnfast::StackedStep<float, rnnfast::detail::rounded_float> reference(type, D, H, w, peephole);
  rnnfast::StackedStep<float, O> tested(type, D, H, w, peephole);
  std::vector<float> h(H, 0.f), c(H, 0.f), h_ref(H), c_ref(H), h_out(H), c_out(H);
  std::vector<float> scratch_ref(std::max<Index>(1, reference.scratch_width()));
  std::vector<float> scratch(std::max<Index>(1, tested.scratch_width()));
  double worst = 0, scale = 1;
  for (Index t = 0; t < steps; ++t) {
    reference.step(1, x.data() + t * D, h.data(), c.data(), h_ref.data(), c_ref.data(), scratch_ref.data());
    tested.step(1, x.data() + t * D, h.data(), c.data(), h_out.data(), c_out.data(), scratch.data(), t % 2 == 1);
    for (Index j = 0; j < H; ++j) {
      worst = std::max({worst, std::abs(double(h_out[j]) - h_ref[j]), std::abs(double(c_out[j]) - c_ref[j])});
      scale = std::max(scale, std::abs(double(h_ref[j])));
    }
    h = h_ref;
    c = c_ref;
  }
  return worst / scale;
}

void test_storages() {
  const struct {
    const char* name;
    CellType type;
    bool peephole;
  } cells[] = {{"simple_rnn_tanh", CellType::simple_rnn_tanh, false}, {"lstm", CellType::lstm, false},
               {"lstm_peephole", CellType::lstm, true},                {"gru", CellType::gru, false},
               {"gru_reset_before", CellType::gru_reset_before, false}};
  for (const auto& cell : cells)
    for (Index D : {1, 2, 7, 16, 31})
      for (Index H : {1, 2, 3, 5, 8, 13, 16, 17, 33, 64, 65}) {
        const std::string what = std::string(cell.name) + " D=" + std::to_string(D) + " H=" + std::to_string(H);
        const double bf16 = storage_difference<bfloat16>(cell.type, cell.peephole, D, H);
        check(bf16 < 1e-5, what + ": bfloat16 storage differs from bfloat16 in float by " + std::to_string(bf16));
#if defined(RNNFAST_BFLOAT16_PAIRS)
        const double pairs = storage_difference<rnnfast::detail::paired_bfloat16>(cell.type, cell.peephole, D, H);
        check(pairs < 1e-5, what + ": row pairs differ from bfloat16 in float by " + std::to_string(pairs));
#endif
      }
}

// An infinite input saturates the gates of every storage; no NaN may reach the state (the padding of an odd
// number of units must not enter a product: inf · 0 there would be NaN).
template <class O>
void test_infinite_input(const char* storage) {
  for (CellType type : {CellType::gru_reset_before, CellType::gru, CellType::lstm, CellType::simple_rnn_tanh})
    for (Index H : {5, 17}) {
      const Index D = 3, G = rnnfast::gate_count(type) * H;
      std::vector<float> kernel(D * G, 0.25f), recurrent(H * G, 0.1f), bias(rnnfast::bias_size(type, H), 0.f);
      rnnfast::StackedStep<float, O> step(type, D, H, {kernel.data(), recurrent.data(), bias.data()});
      std::vector<float> x = {std::numeric_limits<float>::infinity(), 1.f, -1.f}, h(H, 0.5f), c(H, 0.5f);
      std::vector<float> h_out(H), c_out(H), scratch(std::max<Index>(1, step.scratch_width()));
      step.step(1, x.data(), h.data(), c.data(), h_out.data(), c_out.data(), scratch.data());
      for (Index j = 0; j < H; ++j)
        check(!std::isnan(h_out[j]), std::string(storage) + ": an infinite input gave NaN, H=" + std::to_string(H));
    }
}

// Stream picks the storage by the weights' size: each one is reached.
void test_stream_storage_choice() {
  auto kernel_of = [](Index H) {
    const Index G = 4 * H;
    std::vector<float> k(G, 0.1f), r(H * G, 0.01f), b(G, 0.f);
    rnnfast::CellOptions bf16;
    bf16.precision = rnnfast::Precision::bfloat16;
    return std::string(rnnfast::Stream<float>(CellType::lstm, 1, H, {k.data(), r.data(), b.data()}, bf16).kernel());
  };
  check(kernel_of(8) == "stacked bfloat16 in float", "a small bfloat16 Stream holds its weights in float");
  setenv("RNNFAST_BFLOAT16_KERNEL", "portable", 1);
  check(kernel_of(128) == "stacked bfloat16", "a large bfloat16 Stream on the portable kernel stores bfloat16");
  unsetenv("RNNFAST_BFLOAT16_KERNEL");
#if defined(RNNFAST_BFLOAT16_PAIRS)
  check(kernel_of(128) == "stacked bfloat16 pairs", "a large bfloat16 Stream on AVX512-BF16 stores row pairs");
#endif
  std::vector<float> k(4, 0.1f), r(4, 0.1f), b(4, 0.f);
  check(std::string(rnnfast::Stream<float>(CellType::lstm, 1, 1, {k.data(), r.data(), b.data()}).kernel()) ==
            "stacked",
        "a float32 Stream of one row steps on the stacked kernel");
}

void test_refusals() {
  std::vector<float> k(4 * 8, 0.1f), r(4 * 8 * 2, 0.1f), b(8, 0.f), norm(18 * 2, 1.f);
  rnnfast::CellOptions bf16;
  bf16.precision = rnnfast::Precision::bfloat16;
  auto throws = [](auto make, const char* what) {
    bool threw = false;
    try {
      make();
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    check(threw, what);
  };
  rnnfast::CellOptions ln = bf16;
  ln.layer_norm = true;
  const rnnfast::CellWeights<float> with_norm{k.data(), r.data(), b.data(), nullptr, norm.data()};
  throws([&] { rnnfast::Stream<float> s(CellType::lstm, 1, 2, with_norm, ln); },
         "a layer-normalised bfloat16 stream is refused");
  std::vector<double> kd(4 * 8, 0.1), rd(4 * 8 * 2, 0.1), bd(8, 0.);
  throws([&] { rnnfast::Stream<double> s(CellType::lstm, 1, 2, {kd.data(), rd.data(), bd.data()}, bf16); },
         "a float64 bfloat16 stream is refused");
  throws([&] { rnnfast::Recurrent<float> e(CellType::lstm, 1, 2, bf16); },
         "the sequence engine refuses bfloat16");
  throws([&] { rnnfast::Model<float>().add_recurrent(CellType::lstm, 1, 2, {k.data(), r.data(), b.data()}, bf16); },
         "a Model refuses bfloat16");
}

}  // namespace

int main() {
  test_rounding();
  test_load<float>("float");
#if defined(EIGEN_VECTORIZE_SSE2)
  test_load<Eigen::internal::Packet4f>("Packet4f");
#endif
#if defined(EIGEN_VECTORIZE_AVX2)
  test_load<Eigen::internal::Packet8f>("Packet8f");
#endif
#if defined(EIGEN_VECTORIZE_AVX512)
  test_load<Eigen::internal::Packet16f>("Packet16f");
#endif
  // Every kernel this build has: the portable one, and AVX512-BF16's where the build targets it. (Streams of
  // small weights hold them in float whatever the kernel; the larger sizes reach the kernel's own storage.)
  for (const char* kernel : {"portable", "avx512_bf16"}) {
    setenv("RNNFAST_BFLOAT16_KERNEL", kernel, 1);
    const bool paired = rnnfast::detail::bfloat16_kernel() == rnnfast::detail::BfloatKernel::avx512_bf16;
    if (std::string(kernel) == "avx512_bf16" && !paired) {
      std::printf("note: this build has no AVX512-BF16 kernel\n");
      continue;
    }
    const std::string k = std::string(" [") + kernel + "]";
    test_stream(("simple_rnn_tanh" + k).c_str(), CellType::simple_rnn_tanh, false);
    test_stream(("simple_rnn_relu" + k).c_str(), CellType::simple_rnn_relu, false);
    test_stream(("lstm" + k).c_str(), CellType::lstm, false);
    test_stream(("lstm_peephole" + k).c_str(), CellType::lstm, true);
    test_stream(("gru" + k).c_str(), CellType::gru, false);
    test_stream(("gru_reset_before" + k).c_str(), CellType::gru_reset_before, false);
  }
  setenv("RNNFAST_BFLOAT16_KERNEL", "fastest", 1);
  bool refused = false;
  try {
    rnnfast::detail::bfloat16_kernel();
  } catch (const std::invalid_argument&) {
    refused = true;
  }
  check(refused, "an unknown RNNFAST_BFLOAT16_KERNEL is refused");
  unsetenv("RNNFAST_BFLOAT16_KERNEL");
  test_storages();
  test_infinite_input<rnnfast::detail::rounded_float>("bfloat16 in float");
  test_infinite_input<bfloat16>("bfloat16");
#if defined(RNNFAST_BFLOAT16_PAIRS)
  test_infinite_input<rnnfast::detail::paired_bfloat16>("row pairs");
#endif
  test_stream_storage_choice();
  test_refusals();
  std::printf("%s\n", g_failures == 0 ? "all bfloat16 tests passed" : "bfloat16 tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
