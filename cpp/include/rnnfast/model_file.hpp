// The model file of rnnfast (Sequential.save / rnnfast.save_model in Python), read and checked in C++; Model
// (model.hpp) builds a runnable model from it.
//
// The file is safetensors (see python/rnnfast/saving.py): a JSON header with the tensors' dtypes, shapes and
// offsets, and metadata holding the architecture (JSON) and a SHA-256 of the tensors' bytes. Reading checks the
// layout, the checksum and every shape, and throws ModelFileError saying what is wrong: a damaged, truncated or
// mismatched file never loads.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "rnnfast/json.hpp"
#include "rnnfast/recurrent.hpp"

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

}  // namespace rnnfast
