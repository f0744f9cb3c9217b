// C++ tests of rnnfast::Stream, the streaming API: for every cell and variant, step() by step() equals the
// whole-sequence engine's inference and its training-mode forward (float64 1e-12, float32 2e-6, over batches,
// inputs and unit counts); after warm-up a million steps allocate nothing (malloc and operator new are counted);
// copies sharing one model's weights stream on four threads at once exactly as alone. Plain asserts: no test
// framework needed.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rnnfast/rnnfast.hpp"

#include "test_support.hpp"

namespace {

using rnnfast::CellType;
using rnnfast::Index;

std::vector<double> random_vector(Index n, unsigned seed, double scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-scale, scale);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

struct Variant {
  const char* name;
  CellType type;
  rnnfast::CellOptions options;
};

// The largest differences of a stream from the sequence engine, relative to the outputs' size (at least 1).
struct Differences {
  double inference = 0;  // from the engine's inference (training=false)
  double training = 0;   // from its training-mode forward (training=true)
};

// Stream step by step against the sequence engine, T steps from a random state. Small batches take the stacked
// kernel (stacked_step.hpp) for the plain cells, so the sizes cover its packet widths, partial last packets,
// blocks of one and two packets, and inputs of one and several features. One sequence's inference runs on that
// kernel too, so the training-mode forward (the batched gate passes, never the stacked kernel) is the reference
// that does not share it.
template <class T>
Differences stream_vs_sequence(const Variant& v, Index B, Index D, Index H) {
  const Index steps = 7, G = rnnfast::gate_count(v.type) * H;
  auto cast = [](const std::vector<double>& d) { return std::vector<T>(d.begin(), d.end()); };
  // U's spectral radius below 1 (uniform ±a over H rows has radius about a·sqrt(H/3)): rounding differences
  // then fade over the steps instead of growing as they would in a chaotic network.
  auto kernel = cast(random_vector(D * G, 1, 0.5)), recurrent = cast(random_vector(H * G, 2, 1.5 / std::sqrt(H)));
  auto bias = cast(random_vector(rnnfast::bias_size(v.type, H), 3, 0.5));
  auto peephole = cast(random_vector(3 * H, 4, 0.5));
  auto norm = cast(random_vector(std::max<Index>(rnnfast::norm_size(v.type, H, v.options), 1), 5, 1.0));
  auto x = cast(random_vector(steps * B * D, 6, 1.0));  // time-major
  auto h0 = cast(random_vector(B * H, 7, 0.5)), c0 = cast(random_vector(B * H, 8, 0.5));
  rnnfast::CellWeights<T> w{kernel.data(), recurrent.data(), bias.data(),
                            v.options.peephole ? peephole.data() : nullptr,
                            v.options.layer_norm ? norm.data() : nullptr};
  const bool lstm = rnnfast::has_cell_state(v.type);

  rnnfast::Recurrent<T> rnn(v.type, D, H, v.options);
  rnnfast::SequenceInput<T> in;
  in.batch = B;
  in.time = steps;
  in.input_size = D;
  in.x = x.data();
  in.h0 = h0.data();
  in.c0 = lstm ? c0.data() : nullptr;
  rnnfast::SequenceOptions opt;
  opt.time_major = true;
  opt.return_sequences = true;
  std::vector<T> y(steps * B * H), h(B * H), c(B * H);
  rnnfast::Workspace<T> ws;
  rnn.forward(in, opt, w, {y.data(), h.data(), lstm ? c.data() : nullptr}, ws, false);
  std::vector<T> y_training(steps * B * H), h_training(B * H), c_training(B * H);
  rnnfast::Workspace<T> ws_training;
  rnn.forward(in, opt, w, {y_training.data(), h_training.data(), lstm ? c_training.data() : nullptr}, ws_training,
              true);

  rnnfast::Stream<T> stream(v.type, D, H, w, v.options, B);
  stream.reset(h0.data(), lstm ? c0.data() : nullptr);
  std::vector<T> out(B * H);
  double worst = 0, worst_training = 0;
  for (Index t = 0; t < steps; ++t) {
    stream.step(x.data() + t * B * D, out.data());
    for (Index i = 0; i < B * H; ++i) {
      worst = std::max(worst, std::abs(double(out[i]) - double(y[t * B * H + i])));
      worst_training = std::max(worst_training, std::abs(double(out[i]) - double(y_training[t * B * H + i])));
    }
  }
  for (Index i = 0; i < B * H && lstm; ++i) {
    worst = std::max(worst, std::abs(double(stream.c()[i]) - double(c[i])));
    worst_training = std::max(worst_training, std::abs(double(stream.c()[i]) - double(c_training[i])));
  }
  double scale = 1;  // a relu SimpleRNN's outputs grow: its rounding differences with them
  for (const T& value : y) scale = std::max(scale, std::abs(double(value)));
  return {worst / scale, worst_training / scale};
}

void test_matches_the_sequence_engine(const Variant& v) {
  for (Index B : {1, 2, 5})
    for (Index D : {1, 3})
      for (Index H : {1, 5, 8, 13, 16, 24, 32, 40, 64, 96, 100, 128}) {  // 96, 128: one-packet blocks (AVX-512)
        const std::string what = std::string(v.name) + " B=" + std::to_string(B) + " D=" + std::to_string(D) +
                                 " H=" + std::to_string(H);
        const Differences e64 = stream_vs_sequence<double>(v, B, D, H), e32 = stream_vs_sequence<float>(v, B, D, H);
        const double d64 = e64.inference, d32 = e32.inference;
        check(d64 < 1e-12, what + ": float64 stream differs from the sequence engine by " + std::to_string(d64));
        // float32: the layer-normalised peephole LSTM at 96 units measured 9.5e-7 (8 ulps) in 60 runs and at
        // least 1.0e-6 in one; 2e-6 is 17 ulps.
        check(d32 < 2e-6, what + ": float32 stream differs from the sequence engine by " + std::to_string(d32));
        check(e64.training < 1e-12, what + ": float64 stream differs from the training-mode forward by " +
                                        std::to_string(e64.training));
        check(e32.training < 2e-6, what + ": float32 stream differs from the training-mode forward by " +
                                       std::to_string(e32.training));
      }
}

// A million steps; under a sanitizer (which counts only operator new, and runs ~50× slower) fewer.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kSteps = 20000;
#else
constexpr int kSteps = 1000000;
#endif

void test_a_million_steps_allocate_nothing(const Variant& v, Index units) {
  const Index D = 1, G = rnnfast::gate_count(v.type) * units;
  auto kernel = random_vector(D * G, 1, 0.5), recurrent = random_vector(units * G, 2, 0.5);
  auto bias = random_vector(rnnfast::bias_size(v.type, units), 3, 0.5), peephole = random_vector(3 * units, 4, 0.5);
  auto norm = random_vector(std::max<Index>(rnnfast::norm_size(v.type, units, v.options), 1), 5, 1.0);
  std::vector<float> k(kernel.begin(), kernel.end()), r(recurrent.begin(), recurrent.end()),
      b(bias.begin(), bias.end()), p(peephole.begin(), peephole.end()), n(norm.begin(), norm.end());
  rnnfast::Stream<float> stream(v.type, D, units, {k.data(), r.data(), b.data(),
                                                   v.options.peephole ? p.data() : nullptr,
                                                   v.options.layer_norm ? n.data() : nullptr},
                                v.options);
  std::vector<float> y(units);
  float x = 0.5f;
  for (int i = 0; i < 100; ++i) stream.step(&x, y.data());  // warm-up
#ifdef RNNFAST_COUNTS_MALLOC
  const long long before = g_allocations;
#endif
  float sum = 0;
  for (int i = 0; i < kSteps; ++i) {
    x = static_cast<float>(std::sin(i * 0.01));
    stream.step(&x, y.data());
    sum += y[0];
  }
#ifdef RNNFAST_COUNTS_MALLOC
  const long long allocations = g_allocations - before;
  check(allocations == 0, std::string(v.name) + ": a million steps allocated " + std::to_string(allocations) +
                              " times");
#endif
  check(std::isfinite(sum), std::string(v.name) + ": non-finite outputs");
}

// Copies of one Stream share its weights: four threads streaming four signals at once give what each gives alone.
void test_copies_stream_on_threads(const Variant& v) {
  const Index D = 2, H = 24, G = rnnfast::gate_count(v.type) * H, steps = 2000;
  auto kernel = random_vector(D * G, 1, 0.5), recurrent = random_vector(H * G, 2, 0.5);
  auto bias = random_vector(rnnfast::bias_size(v.type, H), 3, 0.5), peephole = random_vector(3 * H, 4, 0.5);
  auto norm = random_vector(std::max<Index>(rnnfast::norm_size(v.type, H, v.options), 1), 5, 1.0);
  const rnnfast::Stream<double> original(v.type, D, H, {kernel.data(), recurrent.data(), bias.data(),
                                                        v.options.peephole ? peephole.data() : nullptr,
                                                        v.options.layer_norm ? norm.data() : nullptr},
                                         v.options);
  auto signal = [&](int k, Index t, Index d) { return std::sin(0.01 * static_cast<double>(t * (k + 1) + d)); };
  // Equal up to rounding: each copy's buffers have their own alignment, and the norms' vectorised sums may split
  // differently (a race would show as far larger differences).
  const double worst = serial_against_threads(4, [&](int k, std::vector<double>& last) {
    rnnfast::Stream<double> s = original;  // shares the packed weights
    std::vector<double> x(D), y(H);
    for (Index t = 0; t < steps; ++t) {
      for (Index d = 0; d < D; ++d) x[d] = signal(k, t, d);
      s.step(x.data(), y.data());
    }
    last = y;
  });
  check(worst < 1e-9, std::string(v.name) + ": streams on threads differ by " + std::to_string(worst));
}

}  // namespace

int main() {
  rnnfast::CellOptions plain, peephole, layer_norm, both;
  peephole.peephole = true;
  layer_norm.layer_norm = true;
  both.peephole = both.layer_norm = true;
  const Variant variants[] = {
      {"simple_rnn_tanh", CellType::simple_rnn_tanh, plain}, {"simple_rnn_relu", CellType::simple_rnn_relu, plain},
      {"lstm", CellType::lstm, plain},                       {"lstm_peephole", CellType::lstm, peephole},
      {"gru", CellType::gru, plain},                         {"gru_reset_before", CellType::gru_reset_before, plain},
      {"simple_rnn_ln", CellType::simple_rnn_tanh, layer_norm}, {"lstm_ln", CellType::lstm, layer_norm},
      {"lstm_peephole_ln", CellType::lstm, both},            {"gru_ln", CellType::gru, layer_norm},
  };
#ifdef RNNFAST_COUNTS_MALLOC
  {  // the counter itself sees allocations, by malloc and by new
    const long long before = g_allocations;
    auto* probe = new std::vector<int>(1000);
    void* raw = std::malloc(16);
    asm volatile("" : : "r"(probe), "r"(raw) : "memory");  // keep both allocations
    const long long counted = g_allocations - before;
    check(counted >= 3, "the allocation counter saw " + std::to_string(counted) + " of 3 allocations");
    delete probe;
    std::free(raw);
  }
#endif
  for (const auto& v : variants) test_matches_the_sequence_engine(v);
  for (const auto& v : variants) test_a_million_steps_allocate_nothing(v, 32);
  for (const auto& v : variants) test_copies_stream_on_threads(v);
#ifndef RNNFAST_COUNTS_MALLOC
  std::printf("note: allocations are counted on glibc only\n");
#endif
  std::printf("%s\n", g_failures == 0 ? "all stream tests passed" : "stream tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
