// A writer of model files as docs/model-file-format.md specifies them, for the C++ tests: the architecture and
// compile settings as JSON texts, tensors in data order, version 2 with its checksum (or version 1). Tests build
// valid files with it, then break them one rule at a time (seal() recomputes a version 2 checksum after an edit).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rnnfast/model_file.hpp"

namespace test_files {

// A JSON string literal of s.
inline std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// s with the first `from` replaced by `to` (the test fails loudly if `from` is not there).
inline std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const std::size_t at = s.find(from);
  if (at == std::string::npos) {
    std::printf("FAILED: the test's edit found no '%s'\n", from.c_str());
    std::exit(1);
  }
  return s.replace(at, from.size(), to);
}

struct Tensor {
  std::string name, dtype;  // dtype: F32, F64 or I64
  std::vector<std::int64_t> shape;
  std::string bytes;
};

inline std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

// A weight of `shape` with deterministic values, stored as F32 or F64.
inline Tensor weight(const std::string& name, std::vector<std::int64_t> shape, bool f64 = false, int seed = 0) {
  Tensor t{name, f64 ? "F64" : "F32", std::move(shape), {}};
  const std::int64_t n = element_count(t.shape);
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = 0.1 * static_cast<double>((i * 7 + n + seed) % 11) - 0.5;
    if (f64) {
      t.bytes.append(reinterpret_cast<const char*>(&v), 8);
    } else {
      const float f = static_cast<float>(v);
      t.bytes.append(reinterpret_cast<const char*>(&f), 4);
    }
  }
  return t;
}

inline Tensor int64_scalar(const std::string& name, std::int64_t value) {
  return {name, "I64", {}, std::string(reinterpret_cast<const char*>(&value), 8)};
}

// A recurrent layer entry with every member of the format; `extra`: the class's own members (",..." JSON).
inline std::string recurrent_entry(const std::string& cls, int units, int input_size, const std::string& extra,
                                   bool go_backwards = false, const std::string& dtype = "float32") {
  return "{\"class\":\"" + cls + "\",\"config\":{\"units\":" + std::to_string(units) +
         ",\"input_size\":" + std::to_string(input_size) +
         ",\"return_sequences\":true,\"return_state\":false,\"go_backwards\":" + (go_backwards ? "true" : "false") +
         ",\"stateful\":false,\"time_major\":false,\"dropout\":0.0,\"recurrent_dropout\":0.0,\"seed\":null,"
         "\"dtype\":\"" + dtype + "\",\"check_finite\":false,\"layer_norm\":false,\"layer_norm_epsilon\":0.001" +
         extra + "}}";
}
inline std::string lstm_entry(int units, int input_size, bool go_backwards = false) {
  return recurrent_entry("LSTM", units, input_size, ",\"peephole\":false,\"unit_forget_bias\":true", go_backwards);
}
inline std::string dense_entry(int units, int input_size, const std::string& activation = "tanh",
                               bool use_bias = true) {
  return "{\"class\":\"Dense\",\"config\":{\"units\":" + std::to_string(units) + ",\"activation\":\"" + activation +
         "\",\"use_bias\":" + (use_bias ? "true" : "false") + ",\"input_size\":" + std::to_string(input_size) +
         ",\"seed\":null,\"dtype\":\"float32\"}}";
}

// The parts of a file.
struct Parts {
  std::string architecture;  // a JSON text
  std::string compile;       // a JSON text; empty: none
  std::vector<Tensor> tensors;
  std::string version = "2";
};

inline std::string data_of(const Parts& p) {
  std::string data;
  for (const Tensor& t : p.tensors) data += t.bytes;
  return data;
}

// The header's JSON (version 2: the checksum's digits all '0', for seal()).
inline std::string header_of(const Parts& p) {
  std::string h = "{\"__metadata__\":{";
  if (p.version == "2") h += "\"file_sha256\":\"" + std::string(64, '0') + "\",";
  h += "\"format\":\"rnnfast\",\"format_version\":" + quoted(p.version) + ",\"architecture\":" +
       quoted(p.architecture);
  if (!p.compile.empty()) h += ",\"compile\":" + quoted(p.compile);
  if (p.version == "1") {
    const std::string data = data_of(p);
    h += ",\"data_sha256\":\"" +
         rnnfast::detail::sha256_hex(reinterpret_cast<const unsigned char*>(data.data()), data.size()) + "\"";
  }
  h += "}";
  std::size_t offset = 0;
  for (const Tensor& t : p.tensors) {
    h += "," + quoted(t.name) + ":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  return h + "}";
}

// Writes a version 2 file's checksum into its bytes (over the file with the digits as '0').
inline std::string seal(std::string file) {
  const std::size_t at = 8 + rnnfast::ModelFile::kChecksumPrefix.size();
  file.replace(at, 64, 64, '0');
  const std::string sum = rnnfast::detail::sha256_hex(reinterpret_cast<const unsigned char*>(file.data()), file.size());
  return file.replace(at, 64, sum);
}

// The length, the header padded with spaces to a multiple of 8, the data; sealed when `version2`.
inline std::string assemble(std::string header, const std::string& data, bool version2) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<std::uint64_t>(header.size()) >> (8 * i)) & 0xFF);
  out += header + data;
  return version2 ? seal(out) : out;
}

inline std::string file_of(const Parts& p) { return assemble(header_of(p), data_of(p), p.version == "2"); }

// The weights of LSTM(units) on `input_size` inputs (no peepholes, no norm) as layer i's tensors.
inline void add_lstm_weights(std::vector<Tensor>& to, int i, int units, int input_size, const std::string& side = "") {
  const std::string p = "layers." + std::to_string(i) + "." + side;
  to.push_back(weight(p + "kernel", {input_size, 4 * units}, false, 1));
  to.push_back(weight(p + "recurrent_kernel", {units, 4 * units}, false, 2));
  to.push_back(weight(p + "bias", {4 * units}, false, 3));
}
inline void add_dense_weights(std::vector<Tensor>& to, int i, int units, int input_size, bool use_bias = true) {
  const std::string p = "layers." + std::to_string(i) + ".";
  to.push_back(weight(p + "kernel", {input_size, units}, false, 4));
  if (use_bias) to.push_back(weight(p + "bias", {units}, false, 5));
}

// LSTM(4) on 1 input, then Dense(2, tanh): the parts of the tests' reference model.
inline Parts lstm_dense(const std::string& version = "2") {
  Parts p;
  p.version = version;
  p.architecture = "[" + lstm_entry(4, 1) + "," + dense_entry(2, 4) + "]";
  add_lstm_weights(p.tensors, 0, 4, 1);
  add_dense_weights(p.tensors, 1, 2, 4);
  return p;
}

}  // namespace test_files
