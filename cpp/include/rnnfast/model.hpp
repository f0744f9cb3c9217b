// A stack of recurrent layers with Dense heads, built in code or read from a model file saved in Python, that
// runs whole batches of sequences and streams one time step at a time.
//
//   // from a file saved by Sequential.save / rnnfast.save_model in Python (throws rnnfast::ModelFileError)
//   auto model = rnnfast::Model<float>::load("forecaster.safetensors");
//   // or from a model file's bytes in memory (the same checks; `name` stands for the file in messages)
//   auto model = rnnfast::Model<float>::from_memory(bytes, size, "forecaster");
//   // or from code, with weights in Keras' layouts (copied; std::invalid_argument when sizes do not chain)
//   rnnfast::Model<float> model;
//   model.add_recurrent(rnnfast::CellType::lstm, 1, 32, {kernel, recurrent_kernel, bias})
//        .add_dense(32, 1, dense_kernel, dense_bias, rnnfast::DenseActivation::linear);
//
//   model.run(x, batch, time, y);   // whole sequences: x (batch, time, input_size) → y (batch, time, output_size)
//   model.step(x_t, y_t);           // one step, batch 1, the state kept inside: noexcept, allocates nothing
//   model.reset();                  // every layer's state to zeros
//   model.state(saved);             // all states, state_size() values: each recurrent layer's h, then its c
//   model.reset(saved);             // ... and back (a warm start, or no click when a stream restarts)
//
// Layers: SimpleRNN, LSTM and GRU in every variant (CellType and CellOptions, as the sequence engine), and Dense
// (TimeDistributed(Dense) in a file) applied to every step. run() gives every step's output — what step()
// gives step by step — so a model whose Python form returns only the last step's output has it at t = time − 1.
// A file is checked whole against docs/model-file-format.md first (model_file.hpp); a valid file holding an
// Embedding, Bidirectional or go_backwards layer is then refused: those do not run one step at a time.
//
// Threads: run() uses rnnfast's thread pool as whole-sequence calls do, and one model may run() on several
// threads at once; step() runs on the caller's thread. Copies share the weights (read-only) and carry their own
// states: one copy per stream, each on any thread (one copy's step(), reset() and state() from one thread at a
// time).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "rnnfast/detail/shared_buffers.hpp"
#include "rnnfast/model_file.hpp"
#include "rnnfast/stream.hpp"

namespace rnnfast {

template <class T>
class Model {
 public:
  Model() = default;
  // Copies share the weights; each has its own streaming state and run() buffers.
  Model(const Model& other) : layers_(other.layers_), input_size_(other.input_size_), output_size_(other.output_size_) {}
  Model& operator=(const Model& other) {
    layers_ = other.layers_;
    input_size_ = other.input_size_;
    output_size_ = other.output_size_;
    return *this;
  }
  Model(Model&& other) noexcept
      : layers_(std::move(other.layers_)), input_size_(other.input_size_), output_size_(other.output_size_) {}
  Model& operator=(Model&& other) noexcept {
    layers_ = std::move(other.layers_);
    input_size_ = other.input_size_;
    output_size_ = other.output_size_;
    return *this;
  }

  // A model file saved in Python. Throws ModelFileError (with the file and the reason), and nothing else, for
  // any file it cannot run: missing, not a regular file, truncated, damaged, breaking any rule of the format, or
  // holding layers that do not stream.
  static Model load(const std::string& path);
  // The same from a model file's bytes in memory (copied); `name` stands for the file in messages.
  static Model from_memory(const void* data, std::size_t size, const std::string& name = "<memory>");
  // From a checked model file; ModelFileError (only) for one whose layers do not stream.
  static Model from_file(const ModelFile& file);

  // Appends a recurrent layer: weights in Keras' layouts as for Stream (copied, so they may be freed after).
  Model& add_recurrent(CellType type, Index input_size, Index units, const CellWeights<T>& weights,
                       CellOptions options = {}) {
    if (options.precision != Precision::full)
      throw std::invalid_argument("rnnfast::Model: layers multiply at full precision (bfloat16 runs on a Stream)");
    chain(input_size);  // before the weights are read: their size follows from input_size
    layers_.emplace_back(RecurrentStage(type, input_size, units, weights, options));
    finish(input_size, units);
    return *this;
  }
  // Appends a Dense layer: kernel input_size × units (row-major), bias units values or nullptr (none).
  Model& add_dense(Index input_size, Index units, const T* kernel, const T* bias,
                   DenseActivation activation = DenseActivation::linear) {
    if (input_size < 1 || units < 1) throw std::invalid_argument("rnnfast::Model: Dense sizes must be >= 1");
    if (kernel == nullptr) throw std::invalid_argument("rnnfast::Model: a Dense layer needs its kernel");
    chain(input_size);
    DenseStage d;
    d.in = input_size;
    d.units = units;
    d.activation = activation;
    d.kernel = std::make_shared<const std::vector<T>>(
        kernel, kernel + detail::checked_mul(input_size, units, "rnnfast::Model: a Dense layer"));
    d.bias = std::make_shared<const std::vector<T>>(bias == nullptr ? std::vector<T>() : std::vector<T>(bias, bias + units));
    d.out.assign(static_cast<std::size_t>(units), T(0));
    layers_.emplace_back(std::move(d));
    finish(input_size, units);
    return *this;
  }

  Index input_size() const noexcept { return input_size_; }
  Index output_size() const noexcept { return output_size_; }
  std::size_t layer_count() const noexcept { return layers_.size(); }

  // Whole sequences from zero states: x (batch, time, input_size) row-major, y (batch, time, output_size). The
  // streaming state is left alone, and so is the model: several threads may run() one model at once (the first
  // reuses the model's buffers, sized at its first call; the others size their own for the call).
  void run(const T* x, Index batch, Index time, T* y) const {
    if (layers_.empty()) throw std::logic_error("rnnfast::Model: run() of a model with no layers");
    if (batch < 0 || time < 0) throw std::invalid_argument("rnnfast::Model: batch and time must be >= 0");
    const Index rows = detail::checked_mul(batch, time, "rnnfast::Model::run");
    for (const auto& layer : layers_)  // the sizes of every buffer run() takes
      std::visit(
          [&](const auto& l) { detail::check_layer_sizes(l.input_size(), l.units_out(), rows, "rnnfast::Model::run"); },
          layer);
    run_buffers_.use([&](RunBuffers& buffers) { run_with(buffers, x, batch, time, y); });
  }

  // One time step of every layer, batch 1: x has input_size() values, y gets output_size().
  void step(const T* x, T* y) noexcept {
    const T* in = x;
    for (auto& layer : layers_) {
      std::visit([&](auto& l) { l.step(in); }, layer);
      in = std::visit([](auto& l) -> const T* { return l.out.data(); }, layer);
    }
    std::copy(in, in + output_size_, y);
  }

  void reset() noexcept {
    for (auto& layer : layers_)
      if (auto* r = std::get_if<RecurrentStage>(&layer)) r->stream.reset();
  }
  // The streaming state, layer by layer: each recurrent layer's h (units values), then its c (LSTM only).
  Index state_size() const noexcept {
    Index n = 0;
    for (const auto& layer : layers_)
      if (const auto* r = std::get_if<RecurrentStage>(&layer)) n += r->state_size();
    return n;
  }
  void state(T* out) const noexcept {
    for (const auto& layer : layers_)
      if (const auto* r = std::get_if<RecurrentStage>(&layer)) {
        const Index H = r->stream.units();
        out = std::copy(r->stream.h(), r->stream.h() + H, out);
        if (r->stream.has_cell_state()) out = std::copy(r->stream.c(), r->stream.c() + H, out);
      }
  }
  void reset(const T* state) noexcept {
    for (auto& layer : layers_)
      if (auto* r = std::get_if<RecurrentStage>(&layer)) {
        const Index H = r->stream.units();
        r->stream.reset(state, r->stream.has_cell_state() ? state + H : nullptr);
        state += r->state_size();
      }
  }

 private:
  struct RecurrentStage {
    RecurrentStage(CellType type, Index input_size, Index units, const CellWeights<T>& w, const CellOptions& o)
        : stream(type, input_size, units, w, o), engine(type, input_size, units, o),
          out(static_cast<std::size_t>(units)) {}
    Stream<T> stream;   // the weights' copy, shared by copies of the model
    Recurrent<T> engine;
    std::vector<T> out;  // this step's output

    Index units_out() const { return stream.units(); }
    Index input_size() const { return stream.input_size(); }
    Index state_size() const { return (stream.has_cell_state() ? 2 : 1) * stream.units(); }
    void step(const T* x) noexcept { stream.step(x, out.data()); }
    void run(const T* x, Index batch, Index time, T* y, Workspace<T>& ws,
             detail::AlignedVector<T>& final_states) const {
      SequenceInput<T> in;
      in.batch = batch;
      in.time = time;
      in.input_size = stream.input_size();
      in.x = x;
      SequenceOptions options;
      options.return_sequences = true;
      const Index n = batch * stream.units();
      detail::grow(final_states, 2 * n);
      ws.weights_version = stream.weights_id();  // one sequence's packed weights serve every run()
      engine.forward(in, options, stream.weights(), {y, final_states.data(), final_states.data() + n}, ws, false);
    }
  };

  struct DenseStage {
    std::shared_ptr<const std::vector<T>> kernel, bias;  // shared by copies of the model
    std::vector<T> out;
    Index in = 0, units = 0;
    DenseActivation activation = DenseActivation::linear;

    Index units_out() const { return units; }
    Index input_size() const { return in; }
    void step(const T* x) noexcept {
      affine(x, out.data());
      activate(out.data());
    }
    void run(const T* x, Index batch, Index time, T* y, Workspace<T>&, detail::AlignedVector<T>&) const {
      const Index rows = batch * time;
      for (Index r = 0; r < rows; ++r) {
        if (bias->empty()) std::fill(y + r * units, y + (r + 1) * units, T(0));
        else std::copy(bias->begin(), bias->end(), y + r * units);
      }
      linalg::gemm(linalg::Op::none, linalg::Op::none, rows, units, in, T(1), x, in, kernel->data(), units, T(1), y,
                   units);
      for (Index r = 0; r < rows; ++r) activate(y + r * units);
    }
    void affine(const T* x, T* o) const noexcept {
      for (Index j = 0; j < units; ++j) o[j] = bias->empty() ? T(0) : (*bias)[j];
      for (Index i = 0; i < in; ++i) {
        const T xi = x[i];
        const T* row = kernel->data() + i * units;
        for (Index j = 0; j < units; ++j) o[j] += xi * row[j];
      }
    }
    // The activations as NumPy computes them in Python's Dense (so a model gives the same outputs in both).
    void activate(T* o) const noexcept {
      switch (activation) {
        case DenseActivation::tanh: for (Index j = 0; j < units; ++j) o[j] = std::tanh(o[j]); break;
        case DenseActivation::relu: for (Index j = 0; j < units; ++j) o[j] = o[j] > T(0) ? o[j] : T(0); break;
        case DenseActivation::sigmoid:
          for (Index j = 0; j < units; ++j) o[j] = T(0.5) * (T(1) + std::tanh(T(0.5) * o[j]));
          break;
        case DenseActivation::softmax: {
          T top = o[0], sum = 0;
          for (Index j = 0; j < units; ++j) top = std::max(top, o[j]);
          for (Index j = 0; j < units; ++j) sum += (o[j] = std::exp(o[j] - top));
          for (Index j = 0; j < units; ++j) o[j] /= sum;
          break;
        }
        case DenseActivation::linear: break;
      }
    }
  };

  void chain(Index input_size) const {
    if (!layers_.empty() && input_size != output_size_)
      throw std::invalid_argument("takes " + std::to_string(input_size) + " features but the layer before gives " +
                                  std::to_string(output_size_));
  }
  // After a layer was added.
  void finish(Index input_size, Index units) {
    if (layers_.size() == 1) input_size_ = input_size;
    output_size_ = units;
  }

  // Appends layer `i` of a checked file: its weights converted to T.
  void add_from_file(const ModelFile& file, std::size_t i);
  static void append(std::vector<T>& to, const std::vector<T>& from) { to.insert(to.end(), from.begin(), from.end()); }

  // What run() writes besides y: the recurrent layers' workspaces and final states, the outputs of the layers
  // between the first and the last.
  struct RunBuffers {
    std::vector<Workspace<T>> workspaces;
    detail::AlignedVector<T> final_states, a, b;
  };
  void run_with(RunBuffers& buffers, const T* x, Index batch, Index time, T* y) const {
    const Index rows = batch * time;
    if (rows == 0) return;
    buffers.workspaces.resize(layers_.size());
    const T* in = x;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const Index units = std::visit([](const auto& l) { return l.units_out(); }, layers_[i]);
      T* out = y;
      if (i + 1 < layers_.size()) {
        auto& buffer = i % 2 == 0 ? buffers.a : buffers.b;
        detail::grow(buffer, rows * units);
        out = buffer.data();
      }
      std::visit([&](const auto& l) { l.run(in, batch, time, out, buffers.workspaces[i], buffers.final_states); },
                 layers_[i]);
      in = out;
    }
  }

  std::vector<std::variant<RecurrentStage, DenseStage>> layers_;
  Index input_size_ = 0, output_size_ = 0;
  detail::SharedBuffers<RunBuffers> run_buffers_;  // run() is const: it leaves the model as it was
};

template <class T>
Model<T> Model<T>::load(const std::string& path) {
  return from_file(ModelFile::read(path));
}

template <class T>
Model<T> Model<T>::from_memory(const void* data, std::size_t size, const std::string& name) {
  std::string bytes;
  try {
    bytes.assign(static_cast<const char*>(data), size);
  } catch (const std::exception&) {  // std::bad_alloc, std::length_error
    throw ModelFileError("'" + name + "' is too large to be read into memory");
  }
  return from_file(ModelFile::from_bytes(std::move(bytes), name));
}

template <class T>
Model<T> Model<T>::from_file(const ModelFile& file) {
  const auto& layers = file.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    const std::string layer = "has layer " + std::to_string(i) + " (" + l.cls + ")";
    if (l.cls == "Embedding" || l.cls == "Bidirectional")
      file.fail(layer + ", which cannot run one step at a time (rnnfast::Model runs SimpleRNN, LSTM, GRU, Dense and "
                        "TimeDistributed(Dense) layers)");
    if (l.is_recurrent() && l.recurrent.go_backwards)
      file.fail(layer + " with go_backwards, which cannot run one step at a time");
  }
  Model model;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    try {
      model.add_from_file(file, i);
    } catch (const ModelFileError&) {
      throw;
    } catch (const std::exception& e) {  // std::bad_alloc, std::length_error, or sizes add_*() refuse
      file.fail("has layer " + std::to_string(i) + ", which rnnfast cannot build: " + e.what());
    }
  }
  return model;
}

template <class T>
void Model<T>::add_from_file(const ModelFile& file, std::size_t i) {
  const LayerSpec& l = file.layers()[i];
  const std::string prefix = "layers." + std::to_string(i) + ".";
  if (l.is_dense()) {
    const DenseSpec& d = l.dense;
    const auto kernel = file.tensor<T>(prefix + "kernel");
    const auto bias = d.use_bias ? file.tensor<T>(prefix + "bias") : std::vector<T>();
    add_dense(d.input_size, d.units, kernel.data(), d.use_bias ? bias.data() : nullptr, d.activation);
    return;
  }
  const RecurrentSpec& r = l.recurrent;
  CellType type = CellType::lstm;
  if (r.cls == "SimpleRNN") type = r.relu ? CellType::simple_rnn_relu : CellType::simple_rnn_tanh;
  if (r.cls == "GRU") type = r.reset_after ? CellType::gru : CellType::gru_reset_before;
  CellOptions options;
  options.peephole = r.peephole;
  options.layer_norm = r.layer_norm;
  options.layer_norm_epsilon = r.layer_norm_epsilon;
  // The weights in the format's order: kernel, recurrent_kernel, bias, then the peepholes and the norms in
  // the order of CellWeights::peephole and CellWeights::norm.
  const auto kernel = file.tensor<T>(prefix + "kernel");
  const auto recurrent = file.tensor<T>(prefix + "recurrent_kernel");
  const auto bias = file.tensor<T>(prefix + "bias");
  std::vector<T> peephole, norm;
  for (const WeightSpec& w : schema::weights(l, "layer " + std::to_string(i))) {
    if (w.name.compare(0, 9, "peephole_") == 0) append(peephole, file.tensor<T>(prefix + w.name));
    if (w.name.compare(0, 3, "ln_") == 0) append(norm, file.tensor<T>(prefix + w.name));
  }
  add_recurrent(type, r.input_size, r.units,
                {kernel.data(), recurrent.data(), bias.data(), peephole.empty() ? nullptr : peephole.data(),
                 norm.empty() ? nullptr : norm.data()},
                options);
}

// The name of earlier releases, for models that stream.
template <class T>
using StreamingModel = Model<T>;

}  // namespace rnnfast
