// The model file of rnnfast (docs/model-file-format.md, written by Sequential.save / rnnfast.save_model in
// Python), read and checked in C++; Model (model.hpp) builds a runnable model from it.
//
//   const auto file = rnnfast::ModelFile::read("model.safetensors");       // or ModelFile::from_bytes(bytes, name)
//   file.layers();                         // the checked architecture
//   file.tensor<float>("layers.0.kernel"); // a weight, converted
//
// Reading checks everything the specification demands, in an order that takes no memory beyond the file's own
// size before the file has passed: the header's length (at most 1 MiB) before the header is read; the header
// (strict JSON, the metadata, every tensor's entry and the tiling of the data), the architecture, the compile
// settings and the exact set of tensors with their shapes and dtypes before the data is read; then the checksum
// (version 2: of the whole file; version 1: of the data) and what needs the data (optimizer.iterations >= 0).
// Any failure throws ModelFileError naming the file and what is wrong; no other exception leaves read() or
// from_bytes().
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace rnnfast {
// Everything wrong with a model file: unreadable, truncated, damaged, or describing something rnnfast cannot build.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
}  // namespace rnnfast

// The reader and the schema throw ModelFileError, so they come after it.
#include "rnnfast/detail/checked_size.hpp"
#include "rnnfast/detail/json.hpp"
#include "rnnfast/detail/model_schema.hpp"

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

// A model file, checked whole: its metadata, architecture, compile settings and tensors.
class ModelFile {
 public:
  static constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t(1) << 20;
  // Version 2's header starts with these bytes, then the checksum's 64 hexadecimal digits and a '"'.
  static constexpr std::string_view kChecksumPrefix = "{\"__metadata__\":{\"file_sha256\":\"";
  static constexpr std::size_t kChecksumDigits = 64;
  static constexpr std::size_t kMaxDimensions = 8;

  // The file at `path`; ModelFileError for anything but a valid model file (also a missing or unreadable one).
  static ModelFile read(const std::string& path) {
    ModelFile f;
    f.name_ = path;
    f.guarded([&] { f.read_path(path); });
    return f;
  }

  // A model file's bytes, from memory; `name` stands for the file in messages.
  static ModelFile from_bytes(std::string bytes, std::string name) {
    ModelFile f;
    f.name_ = std::move(name);
    f.guarded([&] {
      const std::size_t size = bytes.size();
      f.bytes_ = std::move(bytes);
      f.parse(size, [](std::size_t, const char*) {});
    });
    return f;
  }

  const std::string& name() const noexcept { return name_; }
  const std::string& format_version() const noexcept { return version_; }
  const std::vector<LayerSpec>& layers() const noexcept { return layers_; }
  const std::optional<CompileSpec>& compile() const noexcept { return compile_; }

  // A metadata value; ModelFileError when the metadata has no `key`.
  const std::string& metadata(const std::string& key) const {
    const auto it = metadata_.find(key);
    if (it == metadata_.end()) fail("has no '" + key + "' in its metadata");
    return it->second;
  }
  bool has_tensor(const std::string& name) const { return tensors_.count(name) != 0; }
  std::vector<std::int64_t> shape(const std::string& name) const { return entry(name).shape; }

  // Floating-point tensor `name` (F32 or F64) converted to T, row-major.
  template <class T>
  std::vector<T> tensor(const std::string& name) const {
    const Entry& e = entry(name);
    if (e.dtype == Dtype::i64) fail("has tensor '" + name + "' of dtype I64 where a floating-point one is needed");
    std::vector<T> out(static_cast<std::size_t>((e.end - e.begin) / dtype_bytes(e.dtype)));
    const char* p = data() + e.begin;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (e.dtype == Dtype::f32) {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        out[i] = static_cast<T>(v);
      } else {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<T>(v);
      }
    }
    return out;
  }

  [[noreturn]] void fail(const std::string& why) const { throw ModelFileError("'" + name_ + "' " + why); }

 private:
  struct Entry {
    Dtype dtype = Dtype::f32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;
  };

  ModelFile() = default;

  // Runs `body`, turning what the standard library throws on hostile sizes into ModelFileError.
  template <class Body>
  void guarded(Body body) const {
    try {
      body();
    } catch (const std::bad_alloc&) {
      fail("is too large to be read into memory");
    } catch (const std::length_error&) {
      fail("is too large to be read into memory");
    } catch (const std::filesystem::filesystem_error& e) {
      fail(std::string("cannot be read: ") + e.what());
    }
  }

  [[noreturn]] void fail_truncated(const char* what) const {
    fail(std::string("is truncated (it ends inside ") + what + ")");
  }

#if defined(__unix__) || defined(__APPLE__)
  // A file descriptor, closed on every path out of its scope.
  class Descriptor {
   public:
    explicit Descriptor(int fd) noexcept : fd_(fd) {}
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor() {
      if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }

   private:
    int fd_;
  };

  // Right after the failed call, before anything else can change errno.
  [[noreturn]] void fail_errno(const char* what) const {
    const int error = errno;
    fail(std::string(what) + ": " + std::generic_category().message(error));
  }

  // Up to `n` bytes into `to`, retrying on EINTR; 0 at the end of the file.
  std::size_t read_some(int fd, char* to, std::size_t n) const {
    constexpr std::size_t kMaxRead = std::size_t(1) << 30;  // some systems refuse reads above INT_MAX bytes
    for (;;) {
      const ssize_t got = ::read(fd, to, std::min(n, kMaxRead));
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) fail_errno("cannot be read");
    }
  }

  // The descriptor, not the path, is checked and read: a path swapped after the check cannot be read instead.
  void read_path(const std::string& path) {
    struct stat info;
    const auto require_regular = [&] {
      if (!S_ISREG(info.st_mode)) fail("is not a regular file");
    };
    // a device or FIFO is refused before it is opened; O_NONBLOCK: one swapped in meanwhile does not block open
    if (::stat(path.c_str(), &info) != 0) fail_errno("cannot open");
    require_regular();
    const Descriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) fail_errno("cannot open");
    if (::fstat(fd.get(), &info) != 0) fail_errno("cannot open");
    require_regular();
    parse(static_cast<std::uint64_t>(info.st_size), [&](std::size_t n, const char* what) {
      std::size_t have = bytes_.size();
      bytes_.resize(n);
      while (have < n) {
        const std::size_t got = read_some(fd.get(), &bytes_[have], n - have);
        if (got == 0) fail_truncated(what);
        have += got;
      }
    });
    char extra;
    if (read_some(fd.get(), &extra, 1) != 0) fail("changed while it was read (it grew)");
  }
#else
  void read_path(const std::string& path) {
    std::error_code error;
    const auto status = std::filesystem::status(path, error);
    if (error) fail("cannot open: " + error.message());
    if (!std::filesystem::is_regular_file(status)) fail("is not a regular file");
    const std::uintmax_t size = std::filesystem::file_size(path, error);
    if (error) fail("cannot open: " + error.message());
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open");
    parse(size, [&](std::size_t n, const char* what) {
      const std::size_t have = bytes_.size();
      bytes_.resize(n);
      in.read(&bytes_[have], static_cast<std::streamsize>(n - have));
      if (static_cast<std::size_t>(in.gcount()) != n - have) fail_truncated(what);
    });
    if (in.peek() != std::char_traits<char>::eof()) fail("changed while it was read (it grew)");
  }
#endif

  const Entry& entry(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail("has no tensor '" + name + "'");
    return it->second;
  }
  const char* data() const noexcept { return bytes_.data() + 8 + header_size_; }

  // The checks, in the order of the top of this file. ensure(n, what) makes bytes_ hold the file's first n bytes
  // (what: the part that ends there, for a message).
  template <class Ensure>
  void parse(std::uint64_t file_size, Ensure ensure) {
    if (file_size < 8) fail("is too short to be a model file (" + std::to_string(file_size) + " bytes)");
    ensure(8, "the header length");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes_[static_cast<std::size_t>(i)]);
    if (n < 2 || n > kMaxHeaderBytes)
      fail("declares a header of " + std::to_string(n) + " bytes; a model file's is 2 to " +
           std::to_string(kMaxHeaderBytes) + " bytes");
    if (n > file_size - 8)
      fail("is truncated or not a model file (a header of " + std::to_string(n) + " bytes in a file of " +
           std::to_string(file_size) + ")");
    header_size_ = static_cast<std::size_t>(n);
    ensure(8 + header_size_, "the header");
    const std::uint64_t data_size = check_header(file_size);
    check_model();
    ensure(static_cast<std::size_t>(8 + n + data_size), "the tensors' data");
    check_checksum(data_size);
    check_data();
  }

  // The header: metadata and tensor entries, the tiling of the data and the file's size. Gives the data's size.
  std::uint64_t check_header(std::uint64_t file_size) {
    const std::string_view text(bytes_.data() + 8, header_size_);
    Json header;
    try {
      header = Json::parse(text);
    } catch (const ModelFileError& e) {
      fail(std::string("has a damaged header: ") + e.what());
    }
    const Json::Value root = header.root();
    if (!root.is(Json::Kind::object) || !root.find("__metadata__"))
      fail("has a header that is not an object with __metadata__");
    check_metadata(*root.find("__metadata__"));
    std::vector<std::pair<std::pair<std::uint64_t, std::uint64_t>, const std::string*>> spans;
    for (const auto& [key, value] : root.members()) {
      if (key == "__metadata__") continue;
      const auto it = tensors_.emplace(std::string(key), tensor_entry(key, value)).first;
      spans.push_back({{it->second.begin, it->second.end}, &it->first});
    }
    std::sort(spans.begin(), spans.end());
    std::uint64_t end = 0;
    for (const auto& [span, key] : spans) {
      if (span.first != end)
        fail("has tensor '" + *key + "' at byte " + std::to_string(span.first) + " of the data where " +
             std::to_string(end) + " was expected (the tensors must tile the data without gaps or overlaps)");
      end = span.second;
    }
    const auto described = detail::add_exact<std::uint64_t>(8 + header_size_, end);
    if (!described || *described != file_size)
      fail("has " + std::to_string(file_size) + " bytes where its header describes " +
           (described ? std::to_string(*described) : std::string("more than 2^64")) + " (truncated or extended)");
    if (version_ == "2") {
      bool ok = text.substr(0, kChecksumPrefix.size()) == kChecksumPrefix &&
                text.size() > kChecksumPrefix.size() + kChecksumDigits &&
                text[kChecksumPrefix.size() + kChecksumDigits] == '"';
      for (std::size_t i = 0; ok && i < kChecksumDigits; ++i) ok = is_lower_hex(text[kChecksumPrefix.size() + i]);
      if (!ok)
        fail("does not begin its header with " + std::string(kChecksumPrefix) + " and 64 lowercase hex digits");
    }
    return end;
  }

  static bool is_lower_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

  void check_metadata(Json::Value metadata) {
    if (!metadata.is(Json::Kind::object)) fail("has metadata that is not an object of strings");
    for (const auto& [key, value] : metadata.members()) {
      if (!value.is(Json::Kind::string)) fail("has metadata that is not an object of strings");
      metadata_.emplace(std::string(key), std::string(value.string()));
    }
    const auto format = metadata_.find("format");
    if (format == metadata_.end() || format->second != "rnnfast")
      fail("is a safetensors file but not an rnnfast model (its metadata has no format \"rnnfast\")");
    const auto version = metadata_.find("format_version");
    if (version == metadata_.end() || (version->second != "1" && version->second != "2"))
      fail(std::string(version == metadata_.end() ? "has no format version"
                                                  : "has format version \"" + version->second + "\"") +
           "; this rnnfast reads versions 1 and 2");
    version_ = version->second;
    const std::vector<std::string_view> required =
        version_ == "2" ? std::vector<std::string_view>{"file_sha256", "format", "format_version", "architecture"}
                        : std::vector<std::string_view>{"data_sha256", "format", "format_version", "architecture"};
    for (std::string_view key : required)
      if (metadata_.count(std::string(key)) == 0)
        fail("has version " + version_ + " metadata without the member '" + std::string(key) + "'");
    for (const auto& [key, value] : metadata_)
      if (key != "compile" && std::find(required.begin(), required.end(), key) == required.end())
        fail("has version " + version_ + " metadata with an unknown member '" + key + "'");
  }

  Entry tensor_entry(std::string_view key, Json::Value value) const {
    const std::string name(key);
    const auto refuse = [&](const std::string& why) { fail("has tensor '" + name + "' " + why); };
    if (!value.is(Json::Kind::object) || value.size() != 3 || !value.find("dtype") || !value.find("shape") ||
        !value.find("data_offsets"))
      fail("has a tensor entry '" + name + "' without exactly the members dtype, shape, data_offsets");
    Entry e;
    const Json::Value dtype = *value.find("dtype");
    const std::string_view d = dtype.is(Json::Kind::string) ? dtype.string() : "";
    if (d == "F32") e.dtype = Dtype::f32;
    else if (d == "F64") e.dtype = Dtype::f64;
    else if (d == "I64") e.dtype = Dtype::i64;
    else refuse("of a dtype other than F32, F64 and I64");
    const Json::Value shape = *value.find("shape");
    if (!shape.is(Json::Kind::array)) refuse("whose shape is not an array of integers >= 0");
    if (shape.size() > kMaxDimensions)
      refuse("whose shape has more than " + std::to_string(kMaxDimensions) + " dimensions");
    std::optional<std::uint64_t> count = 1;  // nothing: more elements than 2^64
    bool empty = false;
    for (const Json::Value& dim : shape.elements()) {
      if (!dim.is_integer() || dim.integer() < 0) refuse("whose shape is not an array of integers >= 0");
      e.shape.push_back(dim.integer());
      empty = empty || dim.integer() == 0;
      if (count) count = detail::multiply_exact<std::uint64_t>(*count, static_cast<std::uint64_t>(dim.integer()));
    }
    const Json::Value offsets = *value.find("data_offsets");
    if (!offsets.is(Json::Kind::array) || offsets.size() != 2 || !offsets.elements()[0].is_integer() ||
        !offsets.elements()[1].is_integer() || offsets.elements()[0].integer() < 0 ||
        offsets.elements()[1].integer() < offsets.elements()[0].integer())
      refuse("whose data_offsets are not two integers 0 <= begin <= end");
    e.begin = static_cast<std::uint64_t>(offsets.elements()[0].integer());
    e.end = static_cast<std::uint64_t>(offsets.elements()[1].integer());
    const auto bytes = empty ? std::optional<std::uint64_t>(0)
                     : count ? detail::multiply_exact<std::uint64_t>(*count, dtype_bytes(e.dtype))
                             : std::nullopt;
    if (!bytes || *bytes != e.end - e.begin)
      refuse("whose shape does not fit its " + std::to_string(e.end - e.begin) + " bytes");
    return e;
  }

  void check_checksum(std::uint64_t data_size) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(bytes_.data());
    if (version_ == "2") {
      const std::size_t at = 8 + kChecksumPrefix.size();
      const std::string digits = bytes_.substr(at, kChecksumDigits);
      bytes_.replace(at, kChecksumDigits, kChecksumDigits, '0');  // the checksum covers the file with zeros there
      const std::string sum = detail::sha256_hex(bytes, bytes_.size());
      bytes_.replace(at, kChecksumDigits, digits);
      if (sum != digits) fail("is damaged: its bytes do not match the checksum in its header");
    } else if (detail::sha256_hex(bytes + 8 + header_size_, static_cast<std::size_t>(data_size)) !=
               metadata_.at("data_sha256")) {
      fail("is damaged: its tensors' bytes do not match the checksum in its header");
    }
  }

  // A JSON text of the metadata, parsed; ModelFileError without the file's name.
  Json metadata_json(const std::string& key, const char* what) const {
    try {
      return Json::parse(metadata_.at(key));
    } catch (const ModelFileError& e) {
      throw ModelFileError(std::string("has ") + what + " that is malformed JSON: " + e.what());
    }
  }

  // The architecture, the compile settings and the exact set of tensors they demand: all but the data.
  void check_model() {
    std::vector<std::vector<WeightSpec>> weights;
    try {
      layers_ = schema::architecture(metadata_json("architecture", "an architecture").root());
      if (metadata_.count("compile")) compile_ = schema::compile(metadata_json("compile", "compile settings").root());
      for (std::size_t i = 0; i < layers_.size(); ++i)
        weights.push_back(schema::weights(layers_[i], "layer " + std::to_string(i) + " (" + layers_[i].cls + ")"));
    } catch (const ModelFileError& e) {
      fail(e.what());
    }
    std::map<std::string, const WeightSpec*> parameters;  // every weight by its optimiser parameter name
    std::set<std::string> names;
    for (std::size_t i = 0; i < layers_.size(); ++i)
      for (const WeightSpec& w : weights[i]) {
        const std::string name = "layers." + std::to_string(i) + "." + w.name;
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) fail("has no tensor '" + name + "', which the architecture needs");
        if (it->second.shape != w.shape || it->second.dtype != w.dtype)
          fail("has tensor '" + name + "' of the wrong shape or dtype: " +
               describe(it->second.shape, it->second.dtype) + " where the architecture needs " +
               describe(w.shape, w.dtype));
        parameters.emplace(std::to_string(i) + "/" + w.name, &w);
        names.insert(name);
      }
    for (const auto& [name, e] : tensors_)
      if (!is_optimizer_state(name) && !names.count(name))
        fail("has a tensor the architecture does not name: '" + name + "'");
    check_optimizer_state(parameters);
  }

  static bool is_optimizer_state(const std::string& name) { return name.compare(0, 10, "optimizer.") == 0; }
  // optimizer.iterations, and for each weight none or all of its slots optimizer.<parameter>/<k>, as the weight.
  void check_optimizer_state(const std::map<std::string, const WeightSpec*>& parameters) {
    const auto first = tensors_.lower_bound("optimizer.");
    const bool any = first != tensors_.end() && is_optimizer_state(first->first);
    if (!compile_) {
      if (any) fail("has optimizer tensors ('" + first->first + "', ...) but no compile settings");
      return;
    }
    const auto iterations = tensors_.find("optimizer.iterations");
    if (iterations == tensors_.end() || iterations->second.dtype != Dtype::i64 || !iterations->second.shape.empty())
      fail_iterations();
    std::map<std::string, int> slots;  // the slots found of each parameter
    for (auto it = first; it != tensors_.end() && is_optimizer_state(it->first); ++it) {
      if (it == iterations) continue;
      const std::string& name = it->first;
      const std::size_t slash = name.rfind('/');
      const std::string parameter = slash == std::string::npos ? "" : name.substr(10, slash - 10);
      const auto weight = parameters.find(parameter);
      bool slot = false;
      for (int k = 0; k < compile_->slots && !slot; ++k)
        slot = name.compare(slash + 1, std::string::npos, std::to_string(k)) == 0;
      if (weight == parameters.end() || !slot)
        fail("has an optimizer tensor that belongs to no weight: '" + name + "'");
      if (it->second.shape != weight->second->shape || it->second.dtype != weight->second->dtype)
        fail("has optimizer slot '" + name + "' of " + describe(it->second.shape, it->second.dtype) +
             " where its weight has " + describe(weight->second->shape, weight->second->dtype));
      ++slots[parameter];
    }
    for (const auto& [parameter, found] : slots)
      if (found != compile_->slots)
        fail("has some but not all " + std::to_string(compile_->slots) + " optimizer slots of '" + parameter + "'");
  }

  [[noreturn]] void fail_iterations() const {
    fail("has no optimizer.iterations (an I64 scalar >= 0) for its compile settings");
  }

  // What check_model() could not check before the data was read.
  void check_data() const {
    if (compile_ && integer_at(tensors_.at("optimizer.iterations").begin) < 0) fail_iterations();
  }

  std::int64_t integer_at(std::uint64_t offset) const {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(data()[offset + static_cast<unsigned>(i)]);
    return static_cast<std::int64_t>(v);
  }

  static std::string describe(const std::vector<std::int64_t>& shape, Dtype dtype) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "] " + dtype_name(dtype);
  }

  std::string name_, bytes_, version_;
  std::size_t header_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Entry> tensors_;
  std::vector<LayerSpec> layers_;
  std::optional<CompileSpec> compile_;
};

}  // namespace rnnfast
