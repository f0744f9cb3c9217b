// Streaming: one time step per call with the state kept inside — for an audio callback, a control loop, a
// service answering one event at a time.
//
//   rnnfast::Stream<float> lstm(rnnfast::CellType::lstm, /*input_size=*/1, /*units=*/32, weights);
//   for (each sample) lstm.step(&x, y);   // y: the new h (units values); noexcept, no allocation, no lock
//   lstm.reset();                         // zero state;  lstm.reset(h, c) sets it;  lstm.h(), lstm.c() read it
//
// The constructor copies and packs the weights and sizes every buffer, so the weights passed to it may be freed,
// and step() touches only memory the Stream owns or reads. A Stream serves one sequence (or a fixed batch of
// them) at a time, from one thread at a time. Copies of a Stream share its packed weights (read-only) and carry
// their own state: one model, many streams, on as many threads as you like. The steps are the engine's own
// (the same cells as whole-sequence calls), on the calling thread.
//
// With CellOptions::precision = Precision::bfloat16 (float only) the products take bfloat16 operands, weights and
// activations, and sum in float (cell_type.hpp): half the weight bytes to read at every step.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include "rnnfast/detail/checked_size.hpp"
#include "rnnfast/recurrent.hpp"
#include "rnnfast/detail/stacked_step.hpp"

namespace rnnfast {

template <class T>
class Stream {
  // The stacked step on weights stored as O, for T = float; for other T (where only StackedStep<T> runs) an
  // unused stand-in.
  template <class O>
  using FloatStep = std::conditional_t<std::is_same_v<T, float>, StackedStep<float, O>, StackedStep<T>>;
#if defined(RNNFAST_BFLOAT16_PAIRS)
  using PairedStep = FloatStep<detail::paired_bfloat16>;
#else
  using PairedStep = StackedStep<T>;  // never built: this build has no AVX512-BF16 kernel
#endif
  // The stacked steps (the fast path of the plain cells): full precision; bfloat16 held in float (small weights),
  // stored as bfloat16, or in row pairs for AVX512-BF16 (Precision::bfloat16); none: the generic step.
  enum StackedKind : std::size_t { none, full, bfloat16_in_float, bfloat16, bfloat16_pairs };
  using Stacked = std::variant<std::monostate, StackedStep<T>, FloatStep<detail::rounded_float>,
                               FloatStep<detail::bfloat16>, PairedStep>;

 public:
  // weights: kernel (input_size × G·units), recurrent_kernel (units × G·units), bias (bias_size(type, units)),
  // and peephole (3·units) or norm (norm_size(type, units, options)) when the options ask for them; batch: the
  // rows of every step. Throws std::invalid_argument on bad sizes or options.
  Stream(CellType type, Index input_size, Index units, const CellWeights<T>& weights, CellOptions options = {},
         Index batch = 1)
      : model_(make_model(type, input_size, units, weights, options, batch)), batch_(batch) {
    const Index scratch = std::visit(
        [&](const auto& stacked) {
          if constexpr (std::is_same_v<std::decay_t<decltype(stacked)>, std::monostate>) return model_->saved_width;
          else return stacked.scratch_width();
        },
        model_->stacked);
    saved_.assign(static_cast<std::size_t>(std::max<Index>(1, batch * scratch)), T(0));
    state_.assign(static_cast<std::size_t>(4 * batch * units), T(0));  // h, c, and the next h, c
  }

  // A copy shares the packed weights and copies the state; it allocates only its own state buffers.
  Stream(const Stream&) = default;
  Stream& operator=(const Stream&) = default;
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;

  Index input_size() const noexcept { return model_->input_size; }
  Index units() const noexcept { return model_->units; }
  Index batch() const noexcept { return batch_; }
  CellType type() const noexcept { return model_->type; }
  bool has_cell_state() const noexcept { return rnnfast::has_cell_state(model_->type); }
  // The Stream's copy of the weights (Keras layouts), e.g. for the sequence engine.
  // (With Precision::bfloat16 these are the weights as given; the products round them.)
  const CellWeights<T>& weights() const noexcept { return model_->weights; }
  // The step kernel this Stream runs, for diagnostics and tests: "generic" (the batched gate passes), "stacked"
  // (StackedStep, full precision), "stacked bfloat16 in float", "stacked bfloat16", "stacked bfloat16 pairs".
  const char* kernel() const noexcept {
    static constexpr const char* names[] = {"generic", "stacked", "stacked bfloat16 in float", "stacked bfloat16",
                                            "stacked bfloat16 pairs"};
    return names[model_->stacked.index()];
  }
  // A number no other copy of weights in this process has (copies of a Stream share theirs): a Workspace's
  // weights_version for calls with weights(), which never change.
  std::uint64_t weights_id() const noexcept { return model_->id; }

  // One time step: x is batch × input_size (row-major), y gets the new h, batch × units.
  void step(const T* x, T* y) noexcept {
    std::visit(
        [&](const auto& stacked) {
          if constexpr (std::is_same_v<std::decay_t<decltype(stacked)>, std::monostate>)
            std::visit([&](const auto& cell) { step_with(cell, x); }, model_->cell);
          else  // every other step runs over the blocks backwards (see StackedStep::step)
            stacked.step(batch_, x, h_at(current_), c_at(current_), h_at(next_), c_at(next_), saved_.data(),
                         current_ == 1);
        },
        model_->stacked);
    std::swap(current_, next_);
    std::copy(h_at(current_), h_at(current_) + batch_ * units(), y);
  }

  void reset() noexcept {
    std::fill(state_.begin(), state_.end(), T(0));
    current_ = 0;
    next_ = 1;
  }
  // Sets the state: h (and c, for an LSTM; nullptr = zeros), batch × units each.
  void reset(const T* h, const T* c = nullptr) noexcept {
    reset();
    std::copy(h, h + batch_ * units(), h_at(current_));
    if (c != nullptr) std::copy(c, c + batch_ * units(), c_at(current_));
  }
  const T* h() const noexcept { return h_at(current_); }
  const T* c() const noexcept { return c_at(current_); }  // zeros for cells without a cell state

 private:
  // What every copy shares, built once and never changed: the cell, the weights and their packed panels.
  struct Model {
    Model(CellType type_, Index input_size_, Index units_, const CellWeights<T>& w, const CellOptions& options,
          Index batch)
        : type(type_), input_size(input_size_), units(units_), cell(make_cell<T>(type_, units_, options)),
          id(next_id()) {
      if (w.kernel == nullptr || w.recurrent_kernel == nullptr || w.bias == nullptr)
        throw std::invalid_argument("rnnfast::Stream: kernel, recurrent_kernel and bias are required");
      const int gates = gate_count(type);
      const Index G = gates * units;
      kernel.assign(w.kernel, w.kernel + input_size * G);
      recurrent.assign(w.recurrent_kernel, w.recurrent_kernel + units * G);
      bias.assign(w.bias, w.bias + bias_size(type, units));
      if (options.peephole) {
        if (w.peephole == nullptr) throw std::invalid_argument("rnnfast::Stream: peephole weights are required");
        peephole.assign(w.peephole, w.peephole + 3 * units);
      }
      if (const Index n = norm_size(type, units, options); n > 0) {
        if (w.norm == nullptr) throw std::invalid_argument("rnnfast::Stream: norm weights are required");
        norm.assign(w.norm, w.norm + n);
      }
      std::visit([&](const auto& c) { saved_width = c.saved_width(); }, cell);
      weights = {kernel.data(), recurrent.data(), bias.data(), peephole.empty() ? nullptr : peephole.data(),
                 norm.empty() ? nullptr : norm.data()};
      const bool on_stacked =
          StackedStep<T>::covers(options) && (batch == 1 || batch * units <= kStackedMaxRowUnits);
      if (options.precision == Precision::bfloat16) {
        if constexpr (std::is_same_v<T, float>) {
          if (!on_stacked)
            throw std::invalid_argument("rnnfast::Stream: bfloat16 precision takes a plain cell (no layer norm) "
                                        "and one row, or batch × units up to " +
                                        std::to_string(kStackedMaxRowUnits));
          // Small weights are held in float (no widening at each load, dot-product chains as short as float's):
          // where their bytes do not bound a step. Larger ones are stored as bfloat16, half the bytes to read: past
          // L1 for AVX512-BF16's dot products, past twice L1 for the portable kernel, whose widening costs more
          // than reading float weights from L2 until then.
          const Index float_bytes = (input_size + units) * gates * units * Index(sizeof(float));
          const bool paired = detail::bfloat16_kernel() == detail::BfloatKernel::avx512_bf16;
          const Index l1 = detail::l1_data_cache_bytes();
          if (float_bytes <= (paired ? l1 * 9 / 10 : 2 * l1))
            stacked.template emplace<bfloat16_in_float>(type, input_size, units, weights, options.peephole);
#if defined(RNNFAST_BFLOAT16_PAIRS)
          else if (paired)
            stacked.template emplace<bfloat16_pairs>(type, input_size, units, weights, options.peephole);
#endif
          else
            stacked.template emplace<bfloat16>(type, input_size, units, weights, options.peephole);
          return;
        } else {
          throw std::invalid_argument("rnnfast::Stream: bfloat16 precision takes float weights");
        }
      }
      if (on_stacked) {
        stacked.template emplace<full>(type, input_size, units, weights, options.peephole);
        return;  // the generic step's packed weights are not needed
      }
      packed_u.resize(static_cast<std::size_t>(PackedGates<T>::size(gates, units, units)));
      packed_w.resize(static_cast<std::size_t>(PackedGates<T>::size(gates, input_size, units)));
      u = PackedGates<T>(packed_u.data(), gates, units, units);
      u.pack(recurrent.data(), false, {0, units});
      wk = PackedGates<T>(packed_w.data(), gates, input_size, units);
      wk.pack(kernel.data(), false, {0, units});
    }
    Model(const Model&) = delete;  // the views below point into this object's own vectors
    Model& operator=(const Model&) = delete;

    static std::uint64_t next_id() noexcept {
      static std::atomic<std::uint64_t> last{0};
      return ++last;
    }

    CellType type;
    Index input_size, units;
    AnyCell<T> cell;
    std::uint64_t id;
    Index saved_width = 0;
    std::vector<T> kernel, recurrent, bias, peephole, norm;
    detail::AlignedVector<T> packed_u, packed_w;
    PackedGates<T> u{nullptr, 1, 1, 1}, wk{nullptr, 1, 1, 1};  // views of the packed weights
    CellWeights<T> weights;                                    // views of the copies above
    Stacked stacked;                                           // the fast path of the plain cells
  };
  // The sizes checked before anything is sized from them.
  static std::shared_ptr<const Model> make_model(CellType type, Index input_size, Index units,
                                                 const CellWeights<T>& weights, const CellOptions& options,
                                                 Index batch) {
    if (batch < 1) throw std::invalid_argument("rnnfast::Stream: batch must be >= 1");
    if (input_size < 1 || units < 1) throw std::invalid_argument("rnnfast::Stream: input_size and units must be >= 1");
    detail::check_layer_sizes(input_size, units, batch, "rnnfast::Stream");
    return std::make_shared<const Model>(type, input_size, units, weights, options, batch);
  }

  // A step of one row runs on the stacked weights (registers instead of the gate slots' round trip), and so do a
  // few rows of small ones (batch × units up to this); larger batches reuse each weight across rows in the packed
  // products.
  static constexpr Index kStackedMaxRowUnits = 64;

  T* h_at(int k) noexcept { return state_.data() + (2 * k) * batch_ * units(); }
  T* c_at(int k) noexcept { return state_.data() + (2 * k + 1) * batch_ * units(); }
  const T* h_at(int k) const noexcept { return state_.data() + (2 * k) * batch_ * units(); }
  const T* c_at(int k) const noexcept { return state_.data() + (2 * k + 1) * batch_ * units(); }

  template <class Cell>
  void step_with(const Cell& cell, const T* x) noexcept {
    const Model& m = *model_;
    const Index H = m.units;
    const UnitSlice all{0, H};
    const Team solo(0, 1, nullptr);
    const StepContext<T> ctx{m.weights, m.u, all, solo};
    // x·W_g into the gate slots the step reads
    if (!m.wk.multiply_gates(all, 0, Cell::gates, batch_, x, m.input_size, saved_.data(), m.saved_width, false))
      for (int g = 0; g < Cell::gates; ++g)
        m.wk.multiply(all, g, batch_, x, m.input_size, saved_.data() + g * H, m.saved_width, false);
    StepForward<T> s;
    s.batch = batch_;
    s.h_prev = s.h_in = h_at(current_);
    s.ld_h_prev = s.ld_h_in = H;
    s.h = h_at(next_);
    s.ld_h = H;
    s.c_prev = c_at(current_);
    s.ld_c_prev = H;
    s.c = c_at(next_);
    s.ld_c = H;
    s.saved = saved_.data();
    s.ld_saved = m.saved_width;
    cell.forward_step(s, ctx);
  }

  std::shared_ptr<const Model> model_;
  Index batch_;
  detail::AlignedVector<T> saved_, state_;
  int current_ = 0, next_ = 1;
};

}  // namespace rnnfast
