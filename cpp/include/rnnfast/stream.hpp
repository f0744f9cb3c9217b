// Streaming: one time step per call with the state kept inside — for an audio callback, a control loop, a
// service answering one event at a time.
//
//   rnnfast::Stream<float> lstm(rnnfast::CellType::lstm, /*input_size=*/1, /*units=*/32, weights);
//   for (each sample) lstm.step(&x, y);   // y: the new h (units values); noexcept, no allocation, no lock
//   lstm.reset();                         // zero state;  lstm.reset(h, c) sets it;  lstm.h(), lstm.c() read it
//
// The constructor copies and packs the weights and sizes every buffer, so the weights passed to it may be freed,
// and step() touches only memory the Stream owns. A Stream serves one sequence (or a fixed batch of them) at a
// time: use one Stream per stream of data, from one thread at a time; Streams share nothing and can run on
// many threads at once. The steps are the engine's own (the same cells as whole-sequence calls), on the calling
// thread.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include "rnnfast/recurrent.hpp"

namespace rnnfast {

template <class T>
class Stream {
 public:
  // weights: kernel (input_size × G·units), recurrent_kernel (units × G·units), bias (bias_size(type, units)),
  // and peephole (3·units) or norm (norm_size(type, units, options)) when the options ask for them; batch: the
  // rows of every step. Throws std::invalid_argument on bad sizes or options.
  Stream(CellType type, Index input_size, Index units, const CellWeights<T>& weights, CellOptions options = {},
         Index batch = 1)
      : type_(type),
        input_size_(input_size),
        units_(units),
        batch_(batch),
        cell_(make_cell(type, units, options)) {
    if (input_size < 1 || units < 1 || batch < 1)
      throw std::invalid_argument("rnnfast::Stream: input_size, units and batch must be >= 1");
    if (weights.kernel == nullptr || weights.recurrent_kernel == nullptr || weights.bias == nullptr)
      throw std::invalid_argument("rnnfast::Stream: kernel, recurrent_kernel and bias are required");
    const Index G = gate_count(type) * units;
    kernel_.assign(weights.kernel, weights.kernel + input_size * G);
    recurrent_.assign(weights.recurrent_kernel, weights.recurrent_kernel + units * G);
    bias_.assign(weights.bias, weights.bias + bias_size(type, units));
    if (options.peephole) {
      if (weights.peephole == nullptr) throw std::invalid_argument("rnnfast::Stream: peephole weights are required");
      peephole_.assign(weights.peephole, weights.peephole + 3 * units);
    }
    if (const Index n = norm_size(type, units, options); n > 0) {
      if (weights.norm == nullptr) throw std::invalid_argument("rnnfast::Stream: norm weights are required");
      norm_.assign(weights.norm, weights.norm + n);
    }
    std::visit([&](const auto& cell) { saved_width_ = cell.saved_width(); }, cell_);
    const int gates = gate_count(type);
    packed_u_.resize(static_cast<std::size_t>(PackedGates<T>::size(gates, units, units)));
    packed_w_.resize(static_cast<std::size_t>(PackedGates<T>::size(gates, input_size, units)));
    u_ = PackedGates<T>(packed_u_.data(), gates, units, units);
    u_.pack(recurrent_.data(), false, all_units());
    w_ = PackedGates<T>(packed_w_.data(), gates, input_size, units);
    w_.pack(kernel_.data(), false, all_units());
    weights_.kernel = kernel_.data();
    weights_.recurrent_kernel = recurrent_.data();
    weights_.bias = bias_.data();
    weights_.peephole = peephole_.empty() ? nullptr : peephole_.data();
    weights_.norm = norm_.empty() ? nullptr : norm_.data();
    saved_.assign(static_cast<std::size_t>(batch * saved_width_), T(0));
    state_.assign(static_cast<std::size_t>(4 * batch * units), T(0));  // h, c, and the next h, c
  }

  // The buffers and packed weights belong to this Stream: it moves, it does not copy.
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;

  Index input_size() const noexcept { return input_size_; }
  Index units() const noexcept { return units_; }
  Index batch() const noexcept { return batch_; }
  CellType type() const noexcept { return type_; }
  bool has_cell_state() const noexcept { return rnnfast::has_cell_state(type_); }

  // One time step: x is batch × input_size (row-major), y gets the new h, batch × units.
  void step(const T* x, T* y) noexcept {
    std::visit([&](const auto& cell) { step_with(cell, x); }, cell_);
    std::swap(current_, next_);
    std::copy(h_at(current_), h_at(current_) + batch_ * units_, y);
  }

  void reset() noexcept {
    std::fill(state_.begin(), state_.end(), T(0));
    current_ = 0;
    next_ = 1;
  }
  // Sets the state: h (and c, for an LSTM; nullptr = zeros), batch × units each.
  void reset(const T* h, const T* c = nullptr) noexcept {
    reset();
    std::copy(h, h + batch_ * units_, h_at(current_));
    if (c != nullptr) std::copy(c, c + batch_ * units_, c_at(current_));
  }
  const T* h() const noexcept { return h_at(current_); }
  const T* c() const noexcept { return c_at(current_); }  // zeros for cells without a cell state

 private:
  using AnyCell = std::variant<SimpleRnnCell<T, Activation::tanh>, SimpleRnnCell<T, Activation::relu>, LstmCell<T>,
                               GruCell<T>, LayerNormSimpleRnnCell<T, Activation::tanh>,
                               LayerNormSimpleRnnCell<T, Activation::relu>, LayerNormLstmCell<T>, LayerNormGruCell<T>>;

  static AnyCell make_cell(CellType type, Index units, const CellOptions& o) {
    if (o.peephole && type != CellType::lstm) throw std::invalid_argument("rnnfast: only an LSTM has peepholes");
    const T eps = static_cast<T>(o.layer_norm_epsilon);
    if (o.layer_norm && !(o.layer_norm_epsilon > 0)) throw std::invalid_argument("rnnfast: layer_norm_epsilon must be > 0");
    switch (type) {
      case CellType::simple_rnn_tanh:
        if (o.layer_norm) return LayerNormSimpleRnnCell<T, Activation::tanh>(units, eps);
        return SimpleRnnCell<T, Activation::tanh>(units);
      case CellType::simple_rnn_relu:
        if (o.layer_norm) return LayerNormSimpleRnnCell<T, Activation::relu>(units, eps);
        return SimpleRnnCell<T, Activation::relu>(units);
      case CellType::lstm:
        if (o.layer_norm) return LayerNormLstmCell<T>(units, o.peephole, eps);
        return LstmCell<T>(units, o.peephole);
      case CellType::gru:
        if (o.layer_norm) return LayerNormGruCell<T>(units, eps);
        return GruCell<T>(units, true);
      case CellType::gru_reset_before:
        if (o.layer_norm) throw std::invalid_argument("rnnfast: a layer-normalised GRU needs reset_after");
        return GruCell<T>(units, false);
    }
    throw std::invalid_argument("rnnfast: unknown cell type");
  }

  UnitSlice all_units() const { return {0, units_}; }
  T* h_at(int k) noexcept { return state_.data() + (2 * k) * batch_ * units_; }
  T* c_at(int k) noexcept { return state_.data() + (2 * k + 1) * batch_ * units_; }
  const T* h_at(int k) const noexcept { return state_.data() + (2 * k) * batch_ * units_; }
  const T* c_at(int k) const noexcept { return state_.data() + (2 * k + 1) * batch_ * units_; }

  template <class Cell>
  void step_with(const Cell& cell, const T* x) noexcept {
    const Index H = units_;
    const Team solo(0, 1, nullptr);
    const StepContext<T> ctx{weights_, u_, all_units(), solo};
    // x·W_g into the gate slots the step reads
    if (!w_.multiply_gates(all_units(), 0, Cell::gates, batch_, x, input_size_, saved_.data(), saved_width_, false))
      for (int g = 0; g < Cell::gates; ++g)
        w_.multiply(all_units(), g, batch_, x, input_size_, saved_.data() + g * H, saved_width_, false);
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
    s.ld_saved = saved_width_;
    cell.forward_step(s, ctx);
  }

  CellType type_;
  Index input_size_, units_, batch_;
  AnyCell cell_;
  Index saved_width_ = 0;
  std::vector<T> kernel_, recurrent_, bias_, peephole_, norm_, saved_, state_;
  std::vector<T, Eigen::aligned_allocator<T>> packed_u_, packed_w_;
  PackedGates<T> u_{nullptr, 1, 1, 1}, w_{nullptr, 1, 1, 1};  // views of the packed weights
  CellWeights<T> weights_;                                    // views of the copies above
  int current_ = 0, next_ = 1;
};

}  // namespace rnnfast
