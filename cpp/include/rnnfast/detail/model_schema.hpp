// The meaning of a model file's metadata (docs/model-file-format.md): its architecture and compile settings,
// checked member by member against the format's tables, and the tensors they demand. ModelFile (model_file.hpp)
// applies these to a file; everything here throws ModelFileError saying what is wrong (without the file's name,
// which ModelFile adds).
#pragma once

// Part of model_file.hpp, which declares ModelFileError before it includes this schema.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/checked_size.hpp"
#include "rnnfast/detail/json.hpp"

namespace rnnfast {

enum class DenseActivation { linear, tanh, relu, sigmoid, softmax };

// The element types of the format's tensors.
enum class Dtype { f32, f64, i64 };
inline const char* dtype_name(Dtype d) { return d == Dtype::f32 ? "F32" : d == Dtype::f64 ? "F64" : "I64"; }
inline std::size_t dtype_bytes(Dtype d) { return d == Dtype::f32 ? 4 : 8; }

// A checked recurrent layer: SimpleRNN, LSTM or GRU (what the C++ model needs of its config).
struct RecurrentSpec {
  std::string cls;
  Index units = 0, input_size = 0;
  bool return_sequences = false, go_backwards = false, layer_norm = false;
  double layer_norm_epsilon = 0;
  bool relu = false;         // SimpleRNN's activation (else tanh)
  bool peephole = false;     // LSTM
  bool reset_after = false;  // GRU
  Dtype dtype = Dtype::f32;
};

struct DenseSpec {
  Index units = 0, input_size = 0;
  DenseActivation activation = DenseActivation::linear;
  bool use_bias = false;
  Dtype dtype = Dtype::f32;
};

// One checked layer of the architecture.
struct LayerSpec {
  std::string cls;           // the file's class: SimpleRNN, LSTM, GRU, Dense, Embedding, TimeDistributed, Bidirectional
  RecurrentSpec recurrent;   // SimpleRNN, LSTM, GRU; a Bidirectional's forward layer
  RecurrentSpec backward;    // a Bidirectional's backward layer
  DenseSpec dense;           // Dense, TimeDistributed's Dense
  Index input_dim = 0, output_dim = 0;  // Embedding
  Dtype embedding_dtype = Dtype::f32;
  std::string merge_mode;    // Bidirectional
  bool is_recurrent() const { return cls == "SimpleRNN" || cls == "LSTM" || cls == "GRU"; }
  bool is_dense() const { return cls == "Dense" || cls == "TimeDistributed"; }
};

// A weight the architecture demands: its name within the layer ("kernel", "forward/kernel"), shape and dtype.
struct WeightSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  Dtype dtype = Dtype::f32;
};

// The checked compile settings, as far as the file's tensors depend on them.
struct CompileSpec {
  std::string loss, optimizer;
  int slots = 0;  // the optimiser's slot tensors per stepped weight
};

namespace schema {

// An object's members against a table: each required, no other. Reads them typed and checked.
class Members {
 public:
  Members(Json::Value value, std::string where, std::vector<std::string_view> names)
      : value_(value), where_(std::move(where)) {
    if (!value.is(Json::Kind::object)) throw ModelFileError("has " + where_ + " that is not an object");
    for (std::string_view name : names)
      if (!value.find(name)) throw ModelFileError("has " + where_ + " without the member '" + std::string(name) + "'");
    for (const auto& member : value.members())
      if (std::find(names.begin(), names.end(), member.first) == names.end())
        throw ModelFileError("has " + where_ + " with an unknown member '" + std::string(member.first) + "'");
  }

  Json::Value operator[](std::string_view name) const { return *value_.find(name); }
  [[noreturn]] void fail(std::string_view name, const std::string& why) const {
    throw ModelFileError("has " + where_ + " whose '" + std::string(name) + "' " + why);
  }

  bool boolean(std::string_view name) const {
    const Json::Value v = (*this)[name];
    if (!v.is(Json::Kind::boolean)) fail(name, "must be a boolean (true or false)");
    return v.boolean();
  }
  void is_false(std::string_view name) const {
    if (boolean(name)) fail(name, "must be false (a layer of a Sequential model)");
  }
  std::int64_t integer(std::string_view name, std::int64_t minimum) const {
    const Json::Value v = (*this)[name];
    if (!v.is_integer() || v.integer() < minimum)
      fail(name, "must be an integer (no fraction or exponent) >= " + std::to_string(minimum));
    return v.integer();
  }
  void seed(std::string_view name) const {
    if (!(*this)[name].is(Json::Kind::null)) integer(name, 0);
  }
  double number(std::string_view name) const {
    const Json::Value v = (*this)[name];
    if (!v.is(Json::Kind::number)) fail(name, "must be a number");
    return v.number();
  }
  double rate(std::string_view name) const {
    const double v = number(name);
    if (!(v >= 0 && v < 1)) fail(name, "must be a number >= 0 and < 1");
    return v;
  }
  double positive(std::string_view name) const {
    const double v = number(name);
    if (!(v > 0)) fail(name, "must be a number > 0");
    return v;
  }
  // A number in [minimum, maximum]; `rule` states the bounds for the message.
  double between(std::string_view name, double minimum, double maximum, const std::string& rule) const {
    const double v = number(name);
    if (!(v >= minimum && v <= maximum)) fail(name, rule);
    return v;
  }
  // Whether the member is a number (> 0) rather than null.
  bool positive_or_null(std::string_view name) const {
    const Json::Value v = (*this)[name];
    if (v.is(Json::Kind::null)) return false;
    if (!v.is(Json::Kind::number) || !(v.number() > 0)) fail(name, "must be a number > 0 or null");
    return true;
  }
  // The index of the member's string among `choices`.
  int choice(std::string_view name, std::initializer_list<std::string_view> choices) const {
    const Json::Value v = (*this)[name];
    int i = 0;
    if (v.is(Json::Kind::string))
      for (std::string_view c : choices) {
        if (v.string() == c) return i;
        ++i;
      }
    std::string list;
    for (std::string_view c : choices) list += (list.empty() ? "\"" : ", \"") + std::string(c) + "\"";
    fail(name, "must be one of " + list);
  }
  Dtype dtype(std::string_view name) const {
    return choice(name, {"float32", "float64"}) == 0 ? Dtype::f32 : Dtype::f64;
  }

 private:
  Json::Value value_;
  std::string where_;
};

inline std::string layer_where(const std::string& where, std::string_view cls) {
  return where + " (" + std::string(cls) + ")";
}

// A layer entry {"class", "config"}: its class and config.
inline std::pair<std::string, Json::Value> entry(Json::Value value, const std::string& where) {
  const Members m(value, where, {"class", "config"});
  if (!m["class"].is(Json::Kind::string)) m.fail("class", "must be a string");
  return {std::string(m["class"].string()), m["config"]};
}

inline RecurrentSpec recurrent(Json::Value value, const std::string& where) {
  const auto [cls, config] = entry(value, where);
  if (cls != "SimpleRNN" && cls != "LSTM" && cls != "GRU")
    throw ModelFileError("has " + where + " of class '" + cls + "' where SimpleRNN, LSTM or GRU was expected");
  std::vector<std::string_view> names = {
      "units",      "input_size", "return_sequences",  "return_state", "go_backwards", "stateful",
      "time_major", "dropout",    "recurrent_dropout", "seed",         "dtype",        "check_finite",
      "layer_norm", "layer_norm_epsilon"};
  if (cls == "SimpleRNN") names.push_back("activation");
  if (cls == "LSTM") names.insert(names.end(), {"peephole", "unit_forget_bias"});
  if (cls == "GRU") names.push_back("reset_after");
  const Members m(config, layer_where(where, cls) + " config", names);
  RecurrentSpec r;
  r.cls = cls;
  r.units = static_cast<Index>(m.integer("units", 1));
  r.input_size = static_cast<Index>(m.integer("input_size", 1));
  r.return_sequences = m.boolean("return_sequences");
  m.is_false("return_state");
  r.go_backwards = m.boolean("go_backwards");
  m.boolean("stateful");
  m.is_false("time_major");
  m.rate("dropout");
  m.rate("recurrent_dropout");
  m.seed("seed");
  r.dtype = m.dtype("dtype");
  m.boolean("check_finite");
  r.layer_norm = m.boolean("layer_norm");
  // float32 holds every value in this range as a normal number
  r.layer_norm_epsilon = m.between("layer_norm_epsilon", 1e-30, 1e30, "must be a number >= 1e-30 and <= 1e30");
  if (cls == "SimpleRNN") r.relu = m.choice("activation", {"tanh", "relu"}) == 1;
  if (cls == "LSTM") {
    r.peephole = m.boolean("peephole");
    m.boolean("unit_forget_bias");
  }
  if (cls == "GRU") {
    r.reset_after = m.boolean("reset_after");
    if (r.layer_norm && !r.reset_after) m.fail("reset_after", "must be true when layer_norm is true");
  }
  return r;
}

inline DenseSpec dense(Json::Value config, const std::string& where) {
  const Members m(config, where, {"units", "activation", "use_bias", "input_size", "seed", "dtype"});
  DenseSpec d;
  d.units = static_cast<Index>(m.integer("units", 1));
  d.activation = static_cast<DenseActivation>(m.choice("activation", {"linear", "tanh", "relu", "sigmoid", "softmax"}));
  d.use_bias = m.boolean("use_bias");
  d.input_size = static_cast<Index>(m.integer("input_size", 1));
  m.seed("seed");
  d.dtype = m.dtype("dtype");
  return d;
}

inline LayerSpec layer(Json::Value value, const std::string& where) {
  const auto [cls, config] = entry(value, where);
  LayerSpec l;
  l.cls = cls;
  const std::string here = layer_where(where, cls) + " config";
  if (l.is_recurrent()) {
    l.recurrent = recurrent(value, where);
  } else if (cls == "Dense") {
    l.dense = dense(config, here);
  } else if (cls == "TimeDistributed") {
    const Members m(config, here, {"layer"});
    const auto [inner, inner_config] = entry(m["layer"], where + "'s inner layer");
    if (inner != "Dense")
      throw ModelFileError("has " + where + " (TimeDistributed) wrapping '" + inner + "' where Dense was expected");
    l.dense = dense(inner_config, where + "'s inner layer (Dense) config");
  } else if (cls == "Embedding") {
    const Members m(config, here, {"input_dim", "output_dim", "seed", "dtype"});
    l.input_dim = static_cast<Index>(m.integer("input_dim", 1));
    l.output_dim = static_cast<Index>(m.integer("output_dim", 1));
    m.seed("seed");
    l.embedding_dtype = m.dtype("dtype");
  } else if (cls == "Bidirectional") {
    const Members m(config, here, {"layer", "backward_layer", "merge_mode"});
    l.merge_mode = std::string(m["merge_mode"].is(Json::Kind::string) ? m["merge_mode"].string() : "");
    m.choice("merge_mode", {"concat", "sum", "mul", "ave"});
    l.recurrent = recurrent(m["layer"], where + "'s forward layer");
    l.backward = recurrent(m["backward_layer"], where + "'s backward layer");
    const RecurrentSpec &f = l.recurrent, &b = l.backward;
    if (f.cls != b.cls || f.units != b.units || f.return_sequences != b.return_sequences || f.dtype != b.dtype ||
        f.go_backwards == b.go_backwards || f.input_size != b.input_size)
      throw ModelFileError("has " + where + " (Bidirectional) whose two layers are not of one class with equal "
                           "units, return_sequences, dtype and input_size and opposite go_backwards");
  } else {
    throw ModelFileError("has " + where + " of an unknown class '" + cls + "'");
  }
  return l;
}

// The features a layer takes (0: an Embedding's ids) and gives.
inline Index input_features(const LayerSpec& l) {
  return l.is_recurrent() || l.cls == "Bidirectional" ? l.recurrent.input_size : l.is_dense() ? l.dense.input_size : 0;
}
inline Index output_features(const LayerSpec& l) {
  if (l.is_recurrent()) return l.recurrent.units;
  if (l.is_dense()) return l.dense.units;
  if (l.cls == "Embedding") return l.output_dim;
  return l.merge_mode == "concat" ? detail::checked_mul(2, l.recurrent.units, "Bidirectional") : l.recurrent.units;
}

// Whether a layer takes only sequences: recurrent, Bidirectional and TimeDistributed layers.
inline bool needs_sequence(const LayerSpec& l) {
  return l.is_recurrent() || l.cls == "Bidirectional" || l.cls == "TimeDistributed";
}
// Whether a layer's output is a sequence, given whether its input is one.
inline bool gives_sequence(const LayerSpec& l, bool input_is_sequence) {
  if (l.cls == "Embedding") return true;
  if (l.is_recurrent() || l.cls == "Bidirectional") return l.recurrent.return_sequences;
  return input_is_sequence;
}

// The architecture: a non-empty array of layer entries that chain, each given a sequence where it needs one.
inline std::vector<LayerSpec> architecture(Json::Value value) {
  if (!value.is(Json::Kind::array) || value.size() == 0)
    throw ModelFileError("has an architecture that is not a non-empty array of layers");
  std::vector<LayerSpec> layers;
  bool sequence = true;            // whether the next layer's input is a sequence (the model's input is one)
  std::size_t sequence_ended = 0;  // when not: the layer whose return_sequences false ended it
  for (const Json::Value& v : value.elements()) {
    const std::string where = "layer " + std::to_string(layers.size());
    LayerSpec l = layer(v, where);
    if (!layers.empty()) {
      if (l.cls == "Embedding")
        throw ModelFileError("has an Embedding as " + where + "; an Embedding can only be the first layer");
      Index before = 0;
      try {
        before = output_features(layers.back());
      } catch (const std::invalid_argument&) {
        throw ModelFileError("has layer " + std::to_string(layers.size() - 1) + " giving too many features");
      }
      if (input_features(l) != before)
        throw ModelFileError("has " + where + " (" + l.cls + ") taking " + std::to_string(input_features(l)) +
                             " features where layer " + std::to_string(layers.size() - 1) + " gives " +
                             std::to_string(before));
    }
    if (needs_sequence(l) && !sequence)
      throw ModelFileError("has " + where + " (" + l.cls + ") whose input is not a sequence (layer " +
                           std::to_string(sequence_ended) + " has return_sequences false)");
    const bool output_is_sequence = gives_sequence(l, sequence);
    if (sequence && !output_is_sequence) sequence_ended = layers.size();
    sequence = output_is_sequence;
    layers.push_back(std::move(l));
  }
  return layers;
}

// The product of sizes for a shape: ModelFileError naming `where` when it does not fit an int64.
inline std::int64_t shape_product(std::int64_t a, std::int64_t b, const std::string& where) {
  const auto p = detail::multiply_exact(a, b);
  if (!p) throw ModelFileError("has " + where + " whose sizes make weight shapes that overflow 64 bits");
  return *p;
}

inline void add_recurrent_weights(const RecurrentSpec& r, const std::string& prefix, const std::string& where,
                                  std::vector<WeightSpec>& out) {
  const std::int64_t u = r.units, n = r.input_size;
  const std::int64_t G = shape_product(r.cls == "SimpleRNN" ? 1 : r.cls == "LSTM" ? 4 : 3, u, where);
  const auto add = [&](const std::string& name, std::vector<std::int64_t> shape) {
    out.push_back({prefix + name, std::move(shape), r.dtype});
  };
  add("kernel", {n, G});
  add("recurrent_kernel", {u, G});
  if (r.cls == "GRU" && r.reset_after) add("bias", {2, G});
  else add("bias", {G});
  if (r.peephole)
    for (const char* g : {"i", "f", "o"}) add(std::string("peephole_") + g, {u});
  if (!r.layer_norm) return;
  if (r.cls == "SimpleRNN") {
    add("ln_gamma", {u});
    add("ln_beta", {u});
    return;
  }
  for (const char* name : {"ln_x_gamma", "ln_x_beta", "ln_h_gamma", "ln_h_beta"}) add(name, {G});
  if (r.cls == "LSTM")
    for (const char* name : {"ln_c_gamma", "ln_c_beta"}) add(name, {u});
}

// The weights a layer demands, in the format's order.
inline std::vector<WeightSpec> weights(const LayerSpec& l, const std::string& where) {
  std::vector<WeightSpec> out;
  if (l.is_recurrent()) {
    add_recurrent_weights(l.recurrent, "", where, out);
  } else if (l.cls == "Bidirectional") {
    add_recurrent_weights(l.recurrent, "forward/", where, out);
    add_recurrent_weights(l.backward, "backward/", where, out);
  } else if (l.is_dense()) {
    out.push_back({"kernel", {l.dense.input_size, l.dense.units}, l.dense.dtype});
    if (l.dense.use_bias) out.push_back({"bias", {l.dense.units}, l.dense.dtype});
  } else {
    out.push_back({"embeddings", {l.input_dim, l.output_dim}, l.embedding_dtype});
  }
  return out;
}

// The compile settings (a JSON text's value).
inline CompileSpec compile(Json::Value value) {
  const Members top(value, "the compile settings", {"loss", "optimizer", "metrics"});
  CompileSpec c;
  const std::initializer_list<std::string_view> losses = {"mse", "mean_squared_error", "mae", "mean_absolute_error",
                                                          "binary_crossentropy", "bce",
                                                          "sparse_categorical_crossentropy"};
  const Members loss(top["loss"], "the compile settings' loss", {"name", "config"});
  const bool cross_entropy = loss.choice("name", losses) >= 4;
  c.loss = std::string(loss["name"].string());
  if (cross_entropy) {
    Members(loss["config"], "the loss '" + c.loss + "' config", {"from_logits"}).boolean("from_logits");
  } else {
    Members(loss["config"], "the loss '" + c.loss + "' config", {});
  }
  const Members optimizer(top["optimizer"], "the compile settings' optimizer", {"class", "config"});
  const int cls = optimizer.choice("class", {"SGD", "RMSprop", "Adam"});
  c.optimizer = std::string(optimizer["class"].string());
  const std::string where = "the optimizer " + c.optimizer + "'s config";
  const Json::Value config = optimizer["config"];
  std::initializer_list<std::string_view> names[] = {
      {"learning_rate", "clipnorm", "clipvalue", "global_clipnorm", "momentum", "nesterov"},
      {"learning_rate", "clipnorm", "clipvalue", "global_clipnorm", "rho", "momentum", "epsilon", "centered"},
      {"learning_rate", "clipnorm", "clipvalue", "global_clipnorm", "beta_1", "beta_2", "epsilon", "amsgrad"}};
  const Members m(config, where, names[cls]);
  m.positive("learning_rate");
  const bool clipnorm = m.positive_or_null("clipnorm");
  m.positive_or_null("clipvalue");
  const bool global_clipnorm = m.positive_or_null("global_clipnorm");
  if (clipnorm && global_clipnorm) throw ModelFileError("has " + where + " with both clipnorm and global_clipnorm");
  if (cls == 0) {
    const double momentum = m.rate("momentum");
    m.boolean("nesterov");
    c.slots = momentum > 0 ? 1 : 0;
  } else if (cls == 1) {
    m.rate("rho");
    const double momentum = m.rate("momentum");
    m.positive("epsilon");
    c.slots = 1 + (momentum > 0 ? 1 : 0) + (m.boolean("centered") ? 1 : 0);
  } else {
    m.rate("beta_1");
    m.rate("beta_2");
    m.positive("epsilon");
    c.slots = m.boolean("amsgrad") ? 3 : 2;
  }
  const Json::Value metrics = top["metrics"];
  const bool none = metrics.is(Json::Kind::array) && metrics.size() == 0;
  const bool accuracy = metrics.is(Json::Kind::array) && metrics.size() == 1 &&
                        metrics.elements()[0].is(Json::Kind::string) && metrics.elements()[0].string() == "accuracy";
  if (!none && !(accuracy && cross_entropy))
    throw ModelFileError("has compile settings whose metrics are not [] or [\"accuracy\"] with a cross-entropy loss");
  return c;
}

}  // namespace schema
}  // namespace rnnfast
