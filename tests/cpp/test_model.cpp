// C++ tests of rnnfast::Model built in code: run() over a batch equals step() sequence by sequence and the
// layers computed by hand (the sequence engine, then a Dense product), for stacks of every cell type; state()
// and reset(state) restore a stream exactly (a warm start continues where the saved stream was); step()
// allocates nothing after warm-up; copies stream on threads as alone, and one model runs on threads at once as
// alone; the thread pool's teams and concurrent calls give what one thread gives; one sequence's inference
// reuses its packed weights exactly as Workspace::weights_version says; bad sizes throw std::invalid_argument.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rnnfast/rnnfast.hpp"

#include "test_support.hpp"

namespace {

using rnnfast::CellType;
using rnnfast::Index;

template <class T>
std::vector<T> random_vector(Index n, unsigned seed, double scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-scale, scale);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

// A recurrent layer's weights, kept alive for the test.
template <class T>
struct Weights {
  std::vector<T> kernel, recurrent, bias, peephole;
  Weights(CellType type, Index D, Index H, unsigned seed, bool with_peephole = false) {
    const Index G = rnnfast::gate_count(type) * H;
    kernel = random_vector<T>(D * G, seed, 0.5);
    recurrent = random_vector<T>(H * G, seed + 1, 1.0 / std::sqrt(double(H)));
    bias = random_vector<T>(rnnfast::bias_size(type, H), seed + 2, 0.3);
    if (with_peephole) peephole = random_vector<T>(3 * H, seed + 3, 0.3);
  }
  rnnfast::CellWeights<T> view() const {
    return {kernel.data(), recurrent.data(), bias.data(), peephole.empty() ? nullptr : peephole.data(), nullptr};
  }
};

// Batch-major sequences x (B × T × D) for the sequence engine.
template <class T>
rnnfast::SequenceInput<T> sequences(Index B, Index T_, Index D, const T* x) {
  rnnfast::SequenceInput<T> in;
  in.batch = B;
  in.time = T_;
  in.input_size = D;
  in.x = x;
  return in;
}

// SimpleRNN(7) → LSTM(12, peepholes) → GRU(9, reset_before) → GRU(6) → Dense(3, tanh) on 4 inputs.
template <class T>
struct Stack {
  Weights<T> a{CellType::simple_rnn_tanh, 4, 7, 10}, b{CellType::lstm, 7, 12, 20, true},
      c{CellType::gru_reset_before, 12, 9, 30}, d{CellType::gru, 9, 6, 40};
  std::vector<T> dense_kernel = random_vector<T>(6 * 3, 50, 0.5), dense_bias = random_vector<T>(3, 51, 0.2);
  rnnfast::Model<T> model;
  Stack() {
    rnnfast::CellOptions peephole;
    peephole.peephole = true;
    model.add_recurrent(CellType::simple_rnn_tanh, 4, 7, a.view())
        .add_recurrent(CellType::lstm, 7, 12, b.view(), peephole)
        .add_recurrent(CellType::gru_reset_before, 12, 9, c.view())
        .add_recurrent(CellType::gru, 9, 6, d.view())
        .add_dense(6, 3, dense_kernel.data(), dense_bias.data(), rnnfast::DenseActivation::tanh);
  }
};

template <class T>
void test_run_equals_steps_and_layers(double tol) {
  Stack<T> s;
  auto& m = s.model;
  check(m.input_size() == 4 && m.output_size() == 3 && m.layer_count() == 5, "sizes of the stack");
  check(m.state_size() == 7 + 2 * 12 + 9 + 6, "state size");
  const Index B = 3, T_ = 11;
  const auto x = random_vector<T>(B * T_ * 4, 60, 1.0);
  std::vector<T> y(B * T_ * 3);
  m.run(x.data(), B, T_, y.data());

  // step() sequence by sequence
  double worst_step = 0;
  std::vector<T> out(3);
  for (Index b = 0; b < B; ++b) {
    m.reset();
    for (Index t = 0; t < T_; ++t) {
      m.step(x.data() + (b * T_ + t) * 4, out.data());
      for (Index j = 0; j < 3; ++j)
        worst_step = std::max(worst_step, std::abs(double(out[j]) - double(y[(b * T_ + t) * 3 + j])));
    }
  }
  check(worst_step < tol, "run() and step() differ by " + std::to_string(worst_step));

  // the layers by hand: the sequence engine layer after layer, then the Dense product
  auto layer = [&](CellType type, Index D, Index H, const Weights<T>& w, rnnfast::CellOptions o,
                   const std::vector<T>& in) {
    rnnfast::Recurrent<T> rnn(type, D, H, o);
    const auto si = sequences(B, T_, D, in.data());
    rnnfast::SequenceOptions so;
    so.return_sequences = true;
    std::vector<T> ys(B * T_ * H), h(B * H), c(B * H);
    rnnfast::Workspace<T> ws;
    rnn.forward(si, so, w.view(), {ys.data(), h.data(), c.data()}, ws, false);
    return ys;
  };
  rnnfast::CellOptions peephole;
  peephole.peephole = true;
  auto h1 = layer(CellType::simple_rnn_tanh, 4, 7, s.a, {}, x);
  auto h2 = layer(CellType::lstm, 7, 12, s.b, peephole, h1);
  auto h3 = layer(CellType::gru_reset_before, 12, 9, s.c, {}, h2);
  auto h4 = layer(CellType::gru, 9, 6, s.d, {}, h3);
  double worst_layers = 0;
  for (Index r = 0; r < B * T_; ++r)
    for (Index j = 0; j < 3; ++j) {
      double v = s.dense_bias[j];
      for (Index i = 0; i < 6; ++i) v += double(h4[r * 6 + i]) * double(s.dense_kernel[i * 3 + j]);
      worst_layers = std::max(worst_layers, std::abs(std::tanh(v) - double(y[r * 3 + j])));
    }
  check(worst_layers < tol, "run() differs from the layers by hand by " + std::to_string(worst_layers));
}

template <class T>
void test_state_round_trip() {
  Stack<T> s;
  auto& m = s.model;
  const auto x = random_vector<T>(40 * 4, 70, 1.0);
  std::vector<T> y(3), saved(m.state_size()), after(3), resumed(3);
  for (int t = 0; t < 20; ++t) m.step(x.data() + t * 4, y.data());
  m.state(saved.data());
  for (int t = 20; t < 40; ++t) m.step(x.data() + t * 4, after.data());
  rnnfast::Model<T> other = s.model;  // a copy, reset to zeros, then warm-started from the saved state
  other.reset();
  other.reset(saved.data());
  for (int t = 20; t < 40; ++t) other.step(x.data() + t * 4, resumed.data());
  bool same = true;
  for (int j = 0; j < 3; ++j) same = same && after[j] == resumed[j];
  check(same, "a stream restarted from state() does not continue as the original");
  std::vector<T> zeros(m.state_size(), T(0)), read(m.state_size());
  other.reset();
  other.state(read.data());
  check(read == zeros, "reset() does not zero the state");
}

void test_step_allocates_nothing() {
  Stack<float> s;
  std::vector<float> x(4, 0.25f), y(3);
  for (int i = 0; i < 100; ++i) s.model.step(x.data(), y.data());
#ifdef RNNFAST_COUNTS_MALLOC
  const long long before = g_allocations;
#endif
  for (int i = 0; i < 100000; ++i) {
    x[0] = static_cast<float>(std::sin(0.01 * i));
    s.model.step(x.data(), y.data());
  }
#ifdef RNNFAST_COUNTS_MALLOC
  const long long allocations = g_allocations - before;
  check(allocations == 0, "Model::step allocated " + std::to_string(allocations) + " times");
#endif
  check(std::isfinite(y[0]), "non-finite outputs");
}

void test_copies_on_threads() {
  Stack<double> s;
  const double worst = serial_against_threads(4, [&](int k, std::vector<double>& last) {
    rnnfast::Model<double> m = s.model;
    std::vector<double> x(4), y(3);
    for (int t = 0; t < 3000; ++t) {
      for (int d = 0; d < 4; ++d) x[d] = std::sin(0.01 * (t * (k + 1) + d));
      m.step(x.data(), y.data());
    }
    last = y;
  });
  check(worst < 1e-9, "model copies on threads differ from alone by " + std::to_string(worst));
}

// One model, run() on four threads at once (the first takes the model's buffers, the others their own) and
// from the thread pool's team: each thread's batches give what they give alone.
void test_runs_on_threads() {
  Stack<double> s;
  const Index B = 5, T_ = 40;
  std::vector<std::vector<double>> inputs;
  for (int k = 0; k < 4; ++k) inputs.push_back(random_vector<double>(B * T_ * 4, 80 + k, 1.0));
  const double worst = serial_against_threads(4, [&](int k, std::vector<double>& y) {
    y.resize(B * T_ * 3);
    for (int round = 0; round < 20; ++round) s.model.run(inputs[k].data(), B, T_, y.data());
  });
  check(worst < 1e-12, "run() on threads differs from alone by " + std::to_string(worst));
}

// The thread pool: an LSTM large enough per step (batch 16, 128 units) to run as a team, forward and backward,
// gives what one thread gives; and several threads calling at once (the pool busy, so some calls run on their
// callers) give it too; so does one sequence's inference. Under ThreadSanitizer this covers the pool, its barrier
// and the shared packing.
void test_thread_pool_teams() {
  const Index B = 16, T_ = 12, D = 8, H = 128;
  Weights<double> w(CellType::lstm, D, H, 90);
  const auto x = random_vector<double>(B * T_ * D, 91, 1.0), dy = random_vector<double>(B * T_ * H, 92, 1.0);
  rnnfast::Recurrent<double> rnn(CellType::lstm, D, H);
  auto train = [&](int, std::vector<double>& result) {
    const auto in = sequences(B, T_, D, x.data());
    rnnfast::SequenceOptions opt;
    opt.return_sequences = true;
    std::vector<double> y(B * T_ * H), h(B * H), c(B * H), dx(B * T_ * D), dh0(B * H), dc0(B * H);
    std::vector<double> dk(w.kernel.size()), dr(w.recurrent.size()), db(w.bias.size());
    rnnfast::Workspace<double> ws;
    rnn.forward(in, opt, w.view(), {y.data(), h.data(), c.data()}, ws, true);
    rnnfast::SequenceGradIn<double> gin;
    gin.dy = dy.data();
    rnnfast::SequenceGradOut<double> gout;
    gout.dx = dx.data();
    gout.dh0 = dh0.data();
    gout.dc0 = dc0.data();
    gout.weights = {dk.data(), dr.data(), db.data(), nullptr, nullptr};
    rnn.backward(ws, w.view(), gin, gout);
    result = y;
    result.insert(result.end(), dx.begin(), dx.end());
    result.insert(result.end(), dr.begin(), dr.end());
  };
  const int threads = rnnfast::get_num_threads();
  rnnfast::set_num_threads(1);
  std::vector<double> one;
  train(0, one);
  rnnfast::set_num_threads(2);
  std::vector<double> team;
  train(0, team);
  double worst = 0;
  for (std::size_t i = 0; i < one.size(); ++i) worst = std::max(worst, std::abs(one[i] - team[i]));
  check(worst < 1e-12, "a team of 2 threads differs from one thread by " + std::to_string(worst));
  const double concurrent = serial_against_threads(3, train);
  check(concurrent < 1e-12, "calls at once differ from calls alone by " + std::to_string(concurrent));

  // One sequence's inference (the stacked-step kernels, each thread owning blocks of units), LSTM and GRU.
  for (CellType type : {CellType::lstm, CellType::gru}) {
    Weights<double> w1(type, D, H, 93);
    rnnfast::Recurrent<double> one_rnn(type, D, H);
    auto infer = [&](int, std::vector<double>& y) {
      rnnfast::SequenceOptions opt;
      opt.return_sequences = true;
      y.assign(T_ * H, 0.0);
      std::vector<double> h(H), c(H);
      rnnfast::Workspace<double> ws;
      one_rnn.forward(sequences(1, T_, D, x.data()), opt, w1.view(), {y.data(), h.data(), c.data()}, ws, false);
      y.insert(y.end(), c.begin(), c.end());
    };
    rnnfast::set_num_threads(1);
    infer(0, one);
    rnnfast::set_num_threads(2);
    infer(0, team);
    worst = 0;
    for (std::size_t i = 0; i < one.size(); ++i) worst = std::max(worst, std::abs(one[i] - team[i]));
    check(worst < 1e-12, "one sequence on 2 threads differs from one thread by " + std::to_string(worst));
    const double at_once = serial_against_threads(3, infer);
    check(at_once < 1e-12, "one-sequence calls at once differ from calls alone by " + std::to_string(at_once));
  }
  rnnfast::set_num_threads(threads);
}

// One sequence's inference packs U for the stacked steps only (ws.stacked); the engine's own packed U is sized
// only where its products run: batches, and training.
void test_workspace_of_one_sequence() {
  const Index T_ = 5, D = 3, H = 64;
  Weights<float> w(CellType::lstm, D, H, 94);
  rnnfast::Recurrent<float> rnn(CellType::lstm, D, H);
  const auto x = random_vector<float>(2 * T_ * D, 95, 1.0);
  std::vector<float> y(2 * T_ * H), h(2 * H), c(2 * H);
  rnnfast::SequenceOptions opt;
  auto packed_u_after = [&](Index batch, bool training) {
    rnnfast::Workspace<float> ws;
    rnn.forward(sequences(batch, T_, D, x.data()), opt, w.view(), {y.data(), h.data(), c.data()}, ws, training);
    return ws.packed_u.size();
  };
  check(packed_u_after(1, false) == 0, "one sequence's inference sizes the engine's packed U");
  if (rnnfast::kPackedKernels) {  // else the products multiply the unpacked weights, and nothing is packed
    check(packed_u_after(2, false) > 0, "a batch's inference does not size the packed U");
    check(packed_u_after(1, true) > 0, "training one sequence does not size the packed U");
  }
}

// Workspace::weights_version: with a nonzero version, one sequence's inference packs the weights once and reuses
// them while the addresses and the version stay (so a change in place under the same version is not seen: the
// packing really is skipped); a new version, other addresses, version 0, or a batch's call in between (whose
// products overwrite the packed W) pack again. Every cell the stacked steps cover, at 40 units (one thread) and
// 136 (a team of two when the pool has two threads).
void test_packed_weights_reuse() {
  const Index T_ = 4, D = 3;
  const auto x = random_vector<double>(2 * T_ * D, 96, 1.0);
  const int threads = rnnfast::get_num_threads();
  rnnfast::set_num_threads(2);
  for (Index H : {40, 136})
    for (CellType type : {CellType::simple_rnn_tanh, CellType::lstm, CellType::gru, CellType::gru_reset_before})
      for (bool peephole : {false, true}) {
        if (peephole && type != CellType::lstm) continue;
        rnnfast::CellOptions options;
        options.peephole = peephole;
        rnnfast::Recurrent<double> rnn(type, D, H, options);
        Weights<double> w(type, D, H, 97, peephole), other(type, D, H, 98, peephole);
        const std::string what = "cell " + std::to_string(static_cast<int>(type)) + (peephole ? " peephole" : "") +
                                 ", " + std::to_string(H) + " units: ";
        rnnfast::Workspace<double> ws;
        auto run = [&](const Weights<double>& weights, std::uint64_t version, Index batch = 1) {
          std::vector<double> y(batch * T_ * H), h(batch * H), c(batch * H);
          rnnfast::SequenceOptions opt;
          opt.return_sequences = true;
          ws.weights_version = version;
          rnn.forward(sequences(batch, T_, D, x.data()), opt, weights.view(), {y.data(), h.data(), c.data()}, ws,
                      false);
          return y;
        };
        auto fresh = [&](const Weights<double>& weights) {  // a new workspace packs
          rnnfast::Workspace<double> own;
          std::swap(own, ws);
          auto y = run(weights, 0);
          std::swap(own, ws);
          return y;
        };
        const auto first = run(w, 7);
        check(first == fresh(w), what + "the first call with a version differs from a fresh workspace");
        check(run(w, 7) == first, what + "a second call with the same version differs");
        const Weights<double> original = w;
        const double* at = w.recurrent.data();
        w.recurrent = other.recurrent;  // in place: same addresses
        w.kernel = other.kernel;
        w.bias = other.bias;
        w.peephole = other.peephole;
        check(w.recurrent.data() == at, "the test's weights moved");
        check(run(w, 7) == first, what + "the same version packed the weights again (no reuse)");
        check(run(w, 8) == fresh(w), what + "a new version did not pack the changed weights");
        w = original;
        check(run(w, 0) == first, what + "version 0 did not pack the weights");
        w.recurrent = other.recurrent;
        check(run(w, 0) == fresh(w), what + "version 0 did not pack the weights");
        check(run(other, 8) == fresh(other), what + "other addresses under the same version were not packed");
        run(w, 8, 2);  // a batch: the engine's own products, on the packed W's buffer
        check(run(other, 8) == fresh(other), what + "a batch's call in between left its packing in place");
      }
  rnnfast::set_num_threads(threads);
}

void test_bad_sizes() {
  Weights<float> w(CellType::lstm, 3, 5, 1);
  std::vector<float> k(4 * 2);
  auto throws = [](auto&& f) {
    try {
      f();
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  rnnfast::Model<float> m;
  m.add_recurrent(CellType::lstm, 3, 5, w.view());
  check(throws([&] { m.add_dense(4, 2, k.data(), nullptr); }), "a Dense of 4 inputs after 5 units was accepted");
  Weights<float> w4(CellType::lstm, 4, 5, 2);  // weights for 4 inputs, after a layer giving 5
  check(throws([&] { m.add_recurrent(CellType::lstm, 4, 5, w4.view()); }), "a mismatched recurrent layer was accepted");
  check(throws([&] { m.add_dense(5, 0, k.data(), nullptr); }), "a Dense of 0 units was accepted");
  check(m.layer_count() == 1 && m.output_size() == 5, "a refused layer changed the model");
  rnnfast::Model<float> empty;
  bool refused = false;
  try {
    std::vector<float> x(1), y(1);
    empty.run(x.data(), 1, 1, y.data());
  } catch (const std::logic_error&) {
    refused = true;
  }
  check(refused, "run() of an empty model did not throw");
}

}  // namespace

int main() {
  test_run_equals_steps_and_layers<double>(1e-12);
  test_run_equals_steps_and_layers<float>(2e-5);
  test_state_round_trip<float>();
  test_state_round_trip<double>();
  test_step_allocates_nothing();
  test_copies_on_threads();
  test_runs_on_threads();
  test_thread_pool_teams();
  test_workspace_of_one_sequence();
  test_packed_weights_reuse();
  test_bad_sizes();
  std::printf("%s\n", g_failures == 0 ? "all model tests passed" : "model tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
