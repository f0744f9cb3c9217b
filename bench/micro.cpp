// C++ microbenchmarks of the engine (Google Benchmark), on the cases of bench/README.md:
//   Forward/<cell>/<case>/threads:<n>   whole-sequence inference (return_sequences), ms and FLOP/s; the
//                                       weights unchanged between calls, so batch 1 reuses their packing
//   Train/<cell>/<case>/threads:<n>     forward with training plus backward to every gradient
//   (cells: simple_rnn, lstm, gru, gru_reset_before, and the variants lstm_peephole, lstm_ln, gru_ln,
//   simple_rnn_ln, and lstm_dropout, lstm_recurrent_dropout, gru_recurrent_dropout with rate 0.25: those only in
//   Train, masks being for training)
//   PerStep/<cell>/H<h>                 batch 1, 1 input, 1000 steps: time per step within one sequence call
//   Stream/<cell>/H<h>                  batch 1, 1 input: one rnnfast::Stream::step() call (the streaming API)
//   StreamBfloat16/<cell>/H<h>          the same Stream on bfloat16 weights and operands (Precision::bfloat16), on
//                                       the best kernel of the build (AVX512-BF16's where it has it)
//   StreamBfloat16Portable/<cell>/H<h>  the same on the portable kernel (bfloat16 widened, float FMAs)
//   StackedStep/<cell>/H<h>             the same step on rnnfast::StackedStep alone, Stream's kernel for plain cells
//   Backward/<cell>/<case>                        the backward pass alone
//   WeightGrads/<case>                            the three products after an LSTM's backward loop
//   InputProduct/<case>, RecurrentProduct/<case>   the two products of a forward pass, for the roofline
// FLOP/s counts multiply-adds as two FLOPs, of the products only (the gate passes are not counted).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "rnnfast/detail/cells/common/products.hpp"
#include "rnnfast/detail/stacked_step.hpp"
#include "rnnfast/rnnfast.hpp"

namespace {

using rnnfast::CellType;
using rnnfast::Index;

struct Case {
  const char* name;
  Index batch, time, input, units;
};
const Case kCases[] = {{"a", 1, 100, 32, 128}, {"b", 64, 100, 256, 256}, {"d", 16, 1000, 64, 128}};

struct CellInfo {
  const char* name;
  CellType type;
  bool peephole = false;
  float dropout = 0.0f, recurrent_dropout = 0.0f;
  bool layer_norm = false;
  bool training_only() const { return dropout > 0 || recurrent_dropout > 0; }
};
const CellInfo kCells[] = {{"simple_rnn", CellType::simple_rnn_tanh},
                           {"lstm", CellType::lstm},
                           {"gru", CellType::gru},
                           {"gru_reset_before", CellType::gru_reset_before},
                           {"lstm_peephole", CellType::lstm, true},
                           {"lstm_dropout", CellType::lstm, false, 0.25f},
                           {"lstm_recurrent_dropout", CellType::lstm, false, 0.0f, 0.25f},
                           {"gru_recurrent_dropout", CellType::gru, false, 0.0f, 0.25f},
                           {"simple_rnn_ln", CellType::simple_rnn_tanh, false, 0.0f, 0.0f, true},
                           {"lstm_ln", CellType::lstm, false, 0.0f, 0.0f, true},
                           {"gru_ln", CellType::gru, false, 0.0f, 0.0f, true}};

std::vector<float> random_vector(Index n, unsigned seed, float scale = 0.1f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

// Keep-or-drop mask of n values: kept 1/(1−rate), dropped 0.
std::vector<float> dropout_mask(Index n, float rate, unsigned seed) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution keep(1.0 - rate);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& m : v) m = keep(gen) ? 1.0f / (1.0f - rate) : 0.0f;
  return v;
}

rnnfast::CellOptions options_of(const CellInfo& cell) {
  rnnfast::CellOptions o;
  o.peephole = cell.peephole;
  o.layer_norm = cell.layer_norm;
  return o;
}

// Everything one layer call needs, sized for a case.
struct Problem {
  rnnfast::Recurrent<float> rnn;
  std::vector<float> x, kernel, recurrent, bias, peephole, norm, input_mask, recurrent_mask, y, h, c, dy, dx, dh0,
      dc0, dk, dr, db, dp, dn;
  rnnfast::Workspace<float> ws;
  rnnfast::SequenceInput<float> in;
  rnnfast::SequenceOptions opt;
  rnnfast::SequenceOutput<float> out;

  Problem(const CellInfo& cell, const Case& k) : rnn(cell.type, k.input, k.units, options_of(cell)) {
    ws.weights_version = 1;  // the weights never change: repeated calls reuse their packing, as a layer's do
    const CellType type = cell.type;
    const Index G = rnnfast::gate_count(type) * k.units, rows = k.batch * k.time;
    if (cell.peephole) {
      peephole = random_vector(3 * k.units, 6);
      dp.resize(peephole.size());
    }
    if (cell.layer_norm) {
      norm = random_vector(rnnfast::norm_size(type, k.units, options_of(cell)), 9, 1.0f);
      dn.resize(norm.size());
    }
    if (cell.dropout > 0) input_mask = dropout_mask(k.batch * k.input, cell.dropout, 7);
    if (cell.recurrent_dropout > 0) recurrent_mask = dropout_mask(k.batch * k.units, cell.recurrent_dropout, 8);
    x = random_vector(rows * k.input, 1, 1.0f);
    kernel = random_vector(k.input * G, 2);
    recurrent = random_vector(k.units * G, 3);
    bias = random_vector(rnnfast::bias_size(type, k.units), 4);
    y.resize(rows * k.units);
    h.resize(k.batch * k.units);
    c.resize(k.batch * k.units);
    dy = random_vector(rows * k.units, 5, 1.0f);
    dx.resize(rows * k.input);
    dh0.resize(h.size());
    dc0.resize(c.size());
    dk.resize(kernel.size());
    dr.resize(recurrent.size());
    db.resize(bias.size());
    in.batch = k.batch;
    in.time = k.time;
    in.input_size = k.input;
    in.x = x.data();
    in.input_mask = input_mask.empty() ? nullptr : input_mask.data();
    in.recurrent_mask = recurrent_mask.empty() ? nullptr : recurrent_mask.data();
    opt.return_sequences = true;
    out.y = y.data();
    out.h_final = h.data();
    out.c_final = c.data();
  }
  rnnfast::CellWeights<float> weights() const {
    return {kernel.data(), recurrent.data(), bias.data(), peephole.empty() ? nullptr : peephole.data(),
            norm.empty() ? nullptr : norm.data()};
  }
  void forward(bool training) { rnn.forward(in, opt, weights(), out, ws, training); }
  void backward() {
    rnnfast::SequenceGradIn<float> gin;
    gin.dy = dy.data();
    rnnfast::SequenceGradOut<float> gout;
    gout.dx = dx.data();
    gout.dh0 = dh0.data();
    gout.dc0 = dc0.data();
    gout.weights = {dk.data(), dr.data(), db.data(), dp.empty() ? nullptr : dp.data(), dn.empty() ? nullptr : dn.data()};
    rnn.backward(ws, weights(), gin, gout);
  }
};

double forward_flops(CellType type, const Case& k) {
  const double G = rnnfast::gate_count(type) * static_cast<double>(k.units);
  return 2.0 * k.batch * k.time * G * (k.input + k.units);
}

void add_rate(benchmark::State& st, double flops) {
  st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_forward(benchmark::State& st, CellInfo cell, Case k, int threads) {
  rnnfast::set_num_threads(threads);
  Problem p(cell, k);
  for (auto _ : st) {
    p.forward(false);
    benchmark::DoNotOptimize(p.y.data());
  }
  add_rate(st, forward_flops(cell.type, k));
}

void bm_train(benchmark::State& st, CellInfo cell, Case k, int threads) {
  rnnfast::set_num_threads(threads);
  Problem p(cell, k);
  for (auto _ : st) {
    p.forward(true);
    p.backward();
    benchmark::DoNotOptimize(p.dx.data());
  }
  add_rate(st, 3 * forward_flops(cell.type, k));  // backward: dA·Uᵀ per step, then dW, dU, dX
}

// The backward pass alone (each iteration's training forward untimed).
void bm_backward(benchmark::State& st, CellInfo cell, Case k) {
  rnnfast::set_num_threads(1);
  Problem p(cell, k);
  for (auto _ : st) {
    st.PauseTiming();
    p.forward(true);
    st.ResumeTiming();
    p.backward();
    benchmark::DoNotOptimize(p.dx.data());
  }
  add_rate(st, 2 * forward_flops(cell.type, k));
}

// The three products after an LSTM's backward loop: dW = Xᵀ·dA, dU = H_prevᵀ·dA, dX = dA·Wᵀ over every step.
void bm_weight_grads(benchmark::State& st, Case k) {
  rnnfast::set_num_threads(1);
  const Index H = k.units, G = 4 * H, D = k.input, rows = k.batch * k.time;
  auto x = random_vector(rows * D, 1), h = random_vector(rows * H, 2), da = random_vector(rows * G, 3);
  auto w = random_vector(D * G, 4);
  std::vector<float> dw(D * G), du(H * G), dx(rows * D);
  rnnfast::SequenceMatrices<float> m;
  m.rows = rows;
  m.x = x.data();
  m.h_prev = h.data();
  m.saved = da.data();
  m.dx = dx.data();
  rnnfast::CellWeights<float> weights{w.data(), nullptr, nullptr, nullptr, nullptr};
  rnnfast::CellGrads<float> grads{dw.data(), du.data(), nullptr, nullptr, nullptr};
  rnnfast::SpinBarrier barrier(1);
  const rnnfast::Team team(0, 1, &barrier);
  for (auto _ : st) {
    rnnfast::detail::dense_weight_grads(team, m, D, H, G, weights, grads);
    benchmark::DoNotOptimize(dx.data());
  }
  add_rate(st, 2.0 * rows * G * (D + H + D));
}

void bm_per_step(benchmark::State& st, CellInfo cell, Index units) {
  rnnfast::set_num_threads(1);
  const Case k{"stream", 1, 1000, 1, units};
  Problem p(cell, k);
  for (auto _ : st) {
    p.forward(false);
    benchmark::DoNotOptimize(p.y.data());
  }
  st.counters["per_step"] = benchmark::Counter(static_cast<double>(k.time),
                                               benchmark::Counter::kIsIterationInvariantRate |
                                                   benchmark::Counter::kInvert);
}

void bm_stream(benchmark::State& st, CellInfo cell, Index units) {
  const Case k{"stream", 1, 1, 1, units};
  Problem p(cell, k);  // its weights
  rnnfast::Stream<float> stream(cell.type, 1, units, p.weights(), options_of(cell));
  std::vector<float> y(static_cast<std::size_t>(units));
  float x = 0.5f;
  for (auto _ : st) {
    stream.step(&x, y.data());
    benchmark::DoNotOptimize(y.data());
    x = -x;
  }
}

// The same on bfloat16 weights and operands (Precision::bfloat16, the plain cells), on the given kernel
// (RNNFAST_BFLOAT16_KERNEL: the best this build has, or the portable one).
void bm_stream_bfloat16(benchmark::State& st, CellInfo cell, Index units, const char* kernel) {
  const Case k{"stream", 1, 1, 1, units};
  Problem p(cell, k);
  rnnfast::CellOptions options = options_of(cell);
  options.precision = rnnfast::Precision::bfloat16;
  setenv("RNNFAST_BFLOAT16_KERNEL", kernel, 1);
  rnnfast::Stream<float> stream(cell.type, 1, units, p.weights(), options);
  unsetenv("RNNFAST_BFLOAT16_KERNEL");
  std::vector<float> y(static_cast<std::size_t>(units));
  float x = 0.5f;
  for (auto _ : st) {
    stream.step(&x, y.data());
    benchmark::DoNotOptimize(y.data());
    x = -x;
  }
}

// The stacked-weights step alone (rnnfast::StackedStep), the kernel Stream uses for small hidden sizes.
void bm_stacked_step(benchmark::State& st, CellInfo cell, Index units) {
  const Case k{"stream", 1, 1, 1, units};
  Problem p(cell, k);
  rnnfast::StackedStep<float> stacked(cell.type, 1, units, p.weights(), cell.peephole);
  std::vector<float> h(2 * units), c(2 * units), scratch(std::max<Index>(1, stacked.scratch_width()));
  float x = 0.5f;
  int cur = 0;
  for (auto _ : st) {
    stacked.step(1, &x, h.data() + cur * units, c.data() + cur * units, h.data() + (1 - cur) * units,
                 c.data() + (1 - cur) * units, scratch.data(), cur == 1);  // alternating, as Stream does
    cur = 1 - cur;
    benchmark::DoNotOptimize(h.data());
    x = -x;
  }
}

void bm_input_product(benchmark::State& st, Case k) {
  rnnfast::set_num_threads(1);
  const Index G = 4 * k.units, rows = k.batch * k.time;
  auto x = random_vector(rows * k.input, 1), w = random_vector(k.input * G, 2);
  std::vector<float> out(static_cast<std::size_t>(rows * G));
  for (auto _ : st) {
    rnnfast::linalg::gemm(rnnfast::linalg::Op::none, rnnfast::linalg::Op::none, rows, G, k.input, 1.0f, x.data(),
                          k.input, w.data(), G, 0.0f, out.data(), G);
    benchmark::DoNotOptimize(out.data());
  }
  add_rate(st, 2.0 * rows * G * k.input);
}

// The per-step products of one LSTM forward pass: T × (B × H)·(H × 4H) on U packed once.
void bm_recurrent_product(benchmark::State& st, Case k) {
  const Index H = k.units, G = 4 * H;
  auto u = random_vector(H * G, 3);
  auto h = random_vector(k.batch * H, 4);
  std::vector<float, Eigen::aligned_allocator<float>> packed(rnnfast::PackedGates<float>::size(4, H, H));
  rnnfast::PackedGates<float> pr(packed.data(), 4, H, H);
  pr.pack(u.data(), false, {0, H});
  std::vector<float> out(static_cast<std::size_t>(k.batch * G));
  for (auto _ : st) {
    for (Index t = 0; t < k.time; ++t)
      for (int g = 0; g < 4; ++g)
        pr.multiply({0, H}, g, k.batch, h.data(), H, out.data() + g * H, G, false);
    benchmark::DoNotOptimize(out.data());
  }
  add_rate(st, 2.0 * k.batch * k.time * G * H);
}

int register_all() {
  for (const auto& k : kCases) {
    for (const auto& cell : kCells)
      for (int threads : {1, 2}) {
        const std::string suffix = std::string(cell.name) + "/" + k.name + "/threads:" + std::to_string(threads);
        if (!cell.training_only())
          benchmark::RegisterBenchmark(("Forward/" + suffix).c_str(), bm_forward, cell, k, threads)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        benchmark::RegisterBenchmark(("Train/" + suffix).c_str(), bm_train, cell, k, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    for (const auto& cell : kCells)
      if (!cell.training_only() && !cell.peephole)
        benchmark::RegisterBenchmark(("Backward/" + std::string(cell.name) + "/" + k.name).c_str(), bm_backward,
                                     cell, k)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("WeightGrads/") + k.name).c_str(), bm_weight_grads, k)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("InputProduct/") + k.name).c_str(), bm_input_product, k)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("RecurrentProduct/") + k.name).c_str(), bm_recurrent_product, k)
        ->Unit(benchmark::kMillisecond);
  }
  for (const auto& cell : kCells)
    if (!cell.training_only())
      for (Index units : {8, 16, 32, 64, 128})
        benchmark::RegisterBenchmark(("PerStep/" + std::string(cell.name) + "/H" + std::to_string(units)).c_str(),
                                     bm_per_step, cell, units)
            ->Unit(benchmark::kMicrosecond);
  for (const auto& cell : kCells)
    if (!cell.training_only())
      for (Index units : {8, 16, 32, 64, 128, 256})
        benchmark::RegisterBenchmark(("Stream/" + std::string(cell.name) + "/H" + std::to_string(units)).c_str(),
                                     bm_stream, cell, units)
            ->Unit(benchmark::kNanosecond);
  for (const auto& cell : kCells)
    if (!cell.training_only() && !cell.layer_norm)
      for (Index units : {8, 16, 32, 64, 128, 256})
        for (const char* kernel : {"avx512_bf16", "portable"}) {
#if !defined(RNNFAST_BFLOAT16_PAIRS)
          if (std::string(kernel) == "avx512_bf16") continue;  // the build has the portable kernel only
#endif
          const std::string family = std::string(kernel) == "portable" ? "StreamBfloat16Portable/" : "StreamBfloat16/";
          const std::string name = family + cell.name + "/H" + std::to_string(units);
          benchmark::RegisterBenchmark(name.c_str(), bm_stream_bfloat16, cell, units, kernel)
              ->Unit(benchmark::kNanosecond);
        }
  for (const auto& cell : kCells)
    if (!cell.training_only() && !cell.layer_norm)
      for (Index units : {8, 16, 32, 64, 128})
        benchmark::RegisterBenchmark(("StackedStep/" + std::string(cell.name) + "/H" + std::to_string(units)).c_str(),
                                     bm_stacked_step, cell, units)
            ->Unit(benchmark::kNanosecond);
  return 0;
}
const int registered = register_all();

}  // namespace
