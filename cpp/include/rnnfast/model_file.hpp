// Models saved by rnnfast in Python (Sequential.save / rnnfast.save_model), read in C++ and streamed:
//
//   auto model = rnnfast::StreamingModel<float>::load("forecaster.safetensors");
//   model.step(x, y);   // one time step of every layer, batch 1: x has input_size() values, y output_size()
//   model.reset();      // every layer's state to zeros
//
// The file is safetensors (see python/rnnfast/saving.py): a JSON header with the tensors' dtypes, shapes and
// offsets, and metadata holding the architecture (JSON) and a SHA-256 of the tensors' bytes. Reading checks the
// layout, the checksum and every shape, and throws ModelFileError saying what is wrong: a damaged, truncated or
// mismatched file never loads. Streamable models are stacks of SimpleRNN, LSTM and GRU layers (any variant, not
// go_backwards) and Dense / TimeDistributed(Dense) layers; Embedding and Bidirectional layers are refused.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "rnnfast/json.hpp"
#include "rnnfast/stream.hpp"

namespace rnnfast {

namespace detail {

// SHA-256 (FIPS 180-4), for the checksum of the tensors' bytes.
inline std::string sha256_hex(const unsigned char* data, std::size_t size) {
  static const std::uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  std::uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const unsigned char* p) {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (std::uint32_t(p[4 * i]) << 24) | (std::uint32_t(p[4 * i + 1]) << 16) | (std::uint32_t(p[4 * i + 2]) << 8) |
             std::uint32_t(p[4 * i + 3]);
    for (int i = 16; i < 64; ++i) {
      const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const std::uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  };
  std::size_t i = 0;
  for (; i + 64 <= size; i += 64) block(data + i);
  unsigned char tail[128] = {};
  const std::size_t rest = size - i;
  std::memcpy(tail, data + i, rest);
  tail[rest] = 0x80;
  const std::size_t tail_size = rest + 9 <= 64 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(size) * 8;
  for (int j = 0; j < 8; ++j) tail[tail_size - 1 - j] = static_cast<unsigned char>(bits >> (8 * j));
  block(tail);
  if (tail_size == 128) block(tail + 64);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::uint32_t v : h)
    for (int j = 28; j >= 0; j -= 4) out += digits[(v >> j) & 0xF];
  return out;
}

}  // namespace detail

// A safetensors file in memory: its metadata and tensors, checked.
class ModelFile {
 public:
  static ModelFile read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ModelFileError("cannot open '" + path + "'");
    ModelFile f;
    f.path_ = path;
    f.bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    f.parse();
    return f;
  }

  const std::string& metadata(const std::string& key) const {
    const auto it = metadata_.find(key);
    if (it == metadata_.end()) fail("has no '" + key + "' in its metadata");
    return it->second;
  }
  bool has_tensor(const std::string& name) const { return tensors_.count(name) != 0; }

  // Tensor `name` converted to T, checked to have `shape`.
  template <class T>
  std::vector<T> tensor(const std::string& name, const std::vector<Index>& shape) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail("has no tensor '" + name + "'");
    const Entry& e = it->second;
    if (e.shape != shape) fail("tensor '" + name + "' has the wrong shape for the architecture");
    Index n = 1;
    for (Index d : shape) n *= d;
    std::vector<T> out(static_cast<std::size_t>(n));
    const unsigned char* p = body() + e.begin;
    for (Index i = 0; i < n; ++i) {
      if (e.dtype == "F32") {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        out[i] = static_cast<T>(v);
      } else if (e.dtype == "F64") {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<T>(v);
      } else {
        fail("tensor '" + name + "' is not floating point");
      }
    }
    return out;
  }

  [[noreturn]] void fail(const std::string& why) const { throw ModelFileError("'" + path_ + "' " + why); }

 private:
  struct Entry {
    std::string dtype;
    std::vector<Index> shape;
    std::size_t begin = 0, end = 0;
  };

  const unsigned char* body() const {
    return reinterpret_cast<const unsigned char*>(bytes_.data()) + 8 + header_size_;
  }

  void parse() {
    if (bytes_.size() < 8) fail("is too short to be a model file");
    std::uint64_t size = 0;
    for (int i = 7; i >= 0; --i) size = (size << 8) | static_cast<unsigned char>(bytes_[i]);
    if (size > bytes_.size() - 8) fail("is truncated or not a model file (its header runs past its end)");
    header_size_ = static_cast<std::size_t>(size);
    Json header;
    try {
      header = Json::parse(bytes_.substr(8, header_size_));
    } catch (const ModelFileError& e) {
      fail(std::string("has a damaged header: ") + e.what());
    }
    const std::size_t body_size = bytes_.size() - 8 - header_size_;
    for (const auto& [key, value] : header.as_object("the header")) {
      if (key == "__metadata__") {
        for (const auto& [k, v] : value.as_object("the metadata")) metadata_[k] = v.as_string("a metadata value");
        continue;
      }
      Entry e;
      e.dtype = value.at("dtype").as_string("a tensor's dtype");
      for (const Json& d : value.at("shape").as_array("a tensor's shape")) {
        const long long n = d.as_integer("a tensor's dimension");
        if (n < 0) fail("has a negative dimension");
        e.shape.push_back(static_cast<Index>(n));
      }
      const auto& offsets = value.at("data_offsets").as_array("a tensor's data_offsets");
      if (offsets.size() != 2) fail("has a damaged tensor entry '" + key + "'");
      const long long b = offsets[0].as_integer("an offset"), end = offsets[1].as_integer("an offset");
      std::size_t item = e.dtype == "F32" ? 4 : e.dtype == "F64" || e.dtype == "I64" ? 8 : 0;
      if (item == 0) fail("has tensor '" + key + "' of an unsupported dtype " + e.dtype);
      std::size_t count = 1;
      for (Index d : e.shape) count *= static_cast<std::size_t>(d);
      if (b < 0 || end < b || static_cast<std::size_t>(end) > body_size ||
          static_cast<std::size_t>(end - b) != count * item)
        fail("is truncated or damaged (tensor '" + key + "' does not fit)");
      e.begin = static_cast<std::size_t>(b);
      e.end = static_cast<std::size_t>(end);
      tensors_[key] = e;
    }
    if (const auto it = metadata_.find("data_sha256"); it != metadata_.end())
      if (detail::sha256_hex(body(), body_size) != it->second)
        fail("is damaged: its tensors' bytes do not match the checksum in its header");
  }

  std::string path_, bytes_;
  std::size_t header_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Entry> tensors_;
};

// A Sequential model read from a file, run one time step at a time (batch 1). step() is noexcept and allocates
// nothing; load() throws ModelFileError for any file it cannot run. Copies share the weights (read-only) and
// carry their own states: one copy per stream, each on any thread.
template <class T>
class StreamingModel {
 public:
  static StreamingModel load(const std::string& path) {
    const ModelFile file = ModelFile::read(path);
    if (file.metadata("format") != "rnnfast") file.fail("is not an rnnfast model");
    if (file.metadata("format_version") != "1") file.fail("has a format version this rnnfast cannot read");
    Json architecture;
    try {
      architecture = Json::parse(file.metadata("architecture"));
    } catch (const ModelFileError& e) {
      file.fail(std::string("has a damaged architecture: ") + e.what());
    }
    StreamingModel model;
    Index features = -1;
    const auto& layers = architecture.as_array("the architecture");
    for (std::size_t i = 0; i < layers.size(); ++i) {
      try {
        model.add(file, layers[i], "layers." + std::to_string(i) + ".", features);
      } catch (const ModelFileError& e) {
        throw ModelFileError("layer " + std::to_string(i) + " of '" + path + "': " + e.what());
      }
    }
    if (model.layers_.empty()) file.fail("has no layers");
    return model;
  }

  Index input_size() const noexcept { return input_size_; }
  Index output_size() const noexcept { return output_size_; }

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
      if (auto* r = std::get_if<RecurrentLayer>(&layer)) r->stream.reset();
  }

 private:
  struct RecurrentLayer {
    Stream<T> stream;
    std::vector<T> out;
    void step(const T* x) noexcept { stream.step(x, out.data()); }
  };
  struct DenseLayer {
    std::shared_ptr<const std::vector<T>> kernel, bias;  // shared by copies of the model
    std::vector<T> out;
    Index in = 0, units = 0;
    int act = 0;  // 0 linear, 1 tanh, 2 relu, 3 sigmoid, 4 softmax
    void step(const T* x) noexcept {
      for (Index j = 0; j < units; ++j) out[j] = bias->empty() ? T(0) : (*bias)[j];
      for (Index i = 0; i < in; ++i) {
        const T xi = x[i];
        const T* row = kernel->data() + i * units;
        for (Index j = 0; j < units; ++j) out[j] += xi * row[j];
      }
      switch (act) {
        case 1: for (auto& v : out) v = std::tanh(v); break;
        case 2: for (auto& v : out) v = v > T(0) ? v : T(0); break;
        case 3: for (auto& v : out) v = T(0.5) * (T(1) + std::tanh(T(0.5) * v)); break;
        case 4: {
          T top = out[0], sum = 0;
          for (auto v : out) top = std::max(top, v);
          for (auto& v : out) sum += (v = std::exp(v - top));
          for (auto& v : out) v /= sum;
          break;
        }
        default: break;
      }
    }
  };

  static bool flag(const Json& config, const char* key) {
    const Json* v = config.find(key);
    return v != nullptr && v->is(Json::Kind::boolean) && v->as_bool(key);
  }
  static Index positive(const Json& config, const char* key) {
    const long long n = config.at(key).as_integer(key);
    if (n < 1) throw ModelFileError(std::string(key) + " must be >= 1");
    return static_cast<Index>(n);
  }

  void add(const ModelFile& file, const Json& spec, const std::string& prefix, Index& features) {
    const std::string& cls = spec.at("class").as_string("a layer's class");
    const Json& config = spec.at("config");
    if (cls == "TimeDistributed") return add(file, config.at("layer"), prefix, features);
    if (cls == "Bidirectional" || cls == "Embedding")
      throw ModelFileError(cls + " layers cannot run one step at a time");
    if (cls == "Dense") {
      DenseLayer d;
      d.units = positive(config, "units");
      d.in = positive(config, "input_size");
      const std::string& act = config.at("activation").as_string("activation");
      const std::array<const char*, 5> names{"linear", "tanh", "relu", "sigmoid", "softmax"};
      d.act = -1;
      for (int a = 0; a < 5; ++a)
        if (act == names[a]) d.act = a;
      if (d.act < 0) throw ModelFileError("unknown activation '" + act + "'");
      d.kernel = std::make_shared<const std::vector<T>>(file.tensor<T>(prefix + "kernel", {d.in, d.units}));
      d.bias = std::make_shared<const std::vector<T>>(flag(config, "use_bias")
                                                          ? file.tensor<T>(prefix + "bias", {d.units})
                                                          : std::vector<T>());
      d.out.assign(static_cast<std::size_t>(d.units), T(0));
      connect(features, d.in, d.units);
      layers_.emplace_back(std::move(d));
      return;
    }
    CellType type;
    CellOptions options;
    options.peephole = flag(config, "peephole");
    options.layer_norm = flag(config, "layer_norm");
    if (options.layer_norm) options.layer_norm_epsilon = config.at("layer_norm_epsilon").as_number("epsilon");
    std::vector<std::string> norms;
    if (cls == "SimpleRNN") {
      const std::string& act = config.at("activation").as_string("activation");
      if (act != "tanh" && act != "relu") throw ModelFileError("unknown activation '" + act + "'");
      type = act == "tanh" ? CellType::simple_rnn_tanh : CellType::simple_rnn_relu;
      norms = {"ln"};
    } else if (cls == "LSTM") {
      type = CellType::lstm;
      norms = {"ln_x", "ln_h", "ln_c"};
    } else if (cls == "GRU") {
      type = flag(config, "reset_after") ? CellType::gru : CellType::gru_reset_before;
      norms = {"ln_x", "ln_h"};
    } else {
      throw ModelFileError("unknown layer class '" + cls + "'");
    }
    if (flag(config, "go_backwards")) throw ModelFileError("a go_backwards layer cannot run one step at a time");
    const Index units = positive(config, "units"), inputs = positive(config, "input_size");
    const Index G = gate_count(type) * units;
    const auto kernel = file.tensor<T>(prefix + "kernel", {inputs, G});
    const auto recurrent = file.tensor<T>(prefix + "recurrent_kernel", {units, G});
    const auto bias = file.tensor<T>(prefix + "bias", type == CellType::gru ? std::vector<Index>{2, G}
                                                                             : std::vector<Index>{G});
    std::vector<T> peephole, norm;
    if (options.peephole)
      for (const char* g : {"i", "f", "o"}) append(peephole, file.tensor<T>(prefix + "peephole_" + g, {units}));
    if (options.layer_norm)
      for (const auto& n : norms) {
        const Index width = n == "ln_c" || n == "ln" ? units : G;
        append(norm, file.tensor<T>(prefix + n + "_gamma", {width}));
        append(norm, file.tensor<T>(prefix + n + "_beta", {width}));
      }
    const CellWeights<T> w{kernel.data(), recurrent.data(), bias.data(), peephole.empty() ? nullptr : peephole.data(),
                           norm.empty() ? nullptr : norm.data()};
    try {
      layers_.emplace_back(RecurrentLayer{Stream<T>(type, inputs, units, w, options), std::vector<T>(units)});
    } catch (const std::invalid_argument& e) {
      throw ModelFileError(e.what());
    }
    connect(features, inputs, units);
  }

  void connect(Index& features, Index in, Index out) {
    if (features >= 0 && features != in)
      throw ModelFileError("takes " + std::to_string(in) + " features but the layer before gives " +
                           std::to_string(features));
    if (features < 0) input_size_ = in;
    features = out;
    output_size_ = out;
  }

  static void append(std::vector<T>& to, const std::vector<T>& from) { to.insert(to.end(), from.begin(), from.end()); }

  std::vector<std::variant<RecurrentLayer, DenseLayer>> layers_;
  Index input_size_ = 0, output_size_ = 0;
};

}  // namespace rnnfast
