// C++ tests of the model-file loader: a file written here the way Python writes it loads and streams without
// allocating; truncated, corrupted and mismatched files throw ModelFileError. (tests/test_streaming_model.py
// checks files saved by Python against Python's outputs.)
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "rnnfast/rnnfast.hpp"

#include "test_support.hpp"

namespace {

// A JSON string literal of s.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// LSTM(4) on 1 input, then Dense(2): the tensors and metadata Python's save_model writes for it.
std::string model_bytes(int units_in_architecture = 4) {
  const int H = 4, G = 16;
  struct T {
    std::string name;
    std::vector<long> shape;
    std::vector<float> values;
  };
  std::vector<T> tensors = {{"layers.0.kernel", {1, G}, {}}, {"layers.0.recurrent_kernel", {H, G}, {}},
                            {"layers.0.bias", {G}, {}},      {"layers.1.kernel", {H, 2}, {}},
                            {"layers.1.bias", {2}, {}}};
  for (auto& t : tensors) {
    long n = 1;
    for (long d : t.shape) n *= d;
    for (long i = 0; i < n; ++i) t.values.push_back(0.1f * static_cast<float>((i * 7 + n) % 11) - 0.5f);
  }
  std::string data;
  std::string header = "{";
  for (const auto& t : tensors) {
    const std::size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
    header += quoted(t.name) + ":{\"dtype\":\"F32\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]},";
  }
  const std::string architecture =
      "[{\"class\":\"LSTM\",\"config\":{\"units\":" + std::to_string(units_in_architecture) +
      ",\"input_size\":1,\"go_backwards\":false,\"peephole\":false,\"layer_norm\":false}},"
      "{\"class\":\"Dense\",\"config\":{\"units\":2,\"input_size\":4,\"activation\":\"tanh\",\"use_bias\":true}}]";
  const std::string sha = rnnfast::detail::sha256_hex(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  header += "\"__metadata__\":{\"format\":\"rnnfast\",\"format_version\":\"1\",\"architecture\":" +
            quoted(architecture) + ",\"data_sha256\":\"" + sha + "\"}}";
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

// Into the system's temporary directory, so that running the test from a source tree leaves no files there.
std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

bool refused(const std::string& path, const std::string& expected) {
  try {
    rnnfast::Model<float>::load(path);
  } catch (const rnnfast::ModelFileError& e) {
    const bool ok = std::string(e.what()).find(expected) != std::string::npos;
    if (!ok) std::printf("  message was: %s\n", e.what());
    return ok;
  }
  return false;
}

}  // namespace

int main() {
  check(rnnfast::detail::sha256_hex(reinterpret_cast<const unsigned char*>("abc"), 3) ==
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA-256 of 'abc'");
  const std::string good = model_bytes();
  auto model = rnnfast::Model<float>::load(write("model_ok.safetensors", good));
  check(model.input_size() == 1 && model.output_size() == 2, "sizes");
  float x = 0.3f, y[2];
  for (int i = 0; i < 10; ++i) model.step(&x, y);
  const long long before = g_allocations;
  for (int i = 0; i < 100000; ++i) {
    x = 0.001f * static_cast<float>(i % 100);
    model.step(&x, y);
  }
  const long long allocations = g_allocations - before;  // read before the message below allocates
  check(allocations == 0, "Model::step allocated " + std::to_string(allocations) + " times");
  check(std::abs(y[0]) <= 1 && std::abs(y[1]) <= 1, "tanh outputs in [-1, 1]");

  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x10;
  std::string bad_header = good;
  bad_header[8] = '[';
  check(refused(write("model_truncated.safetensors", good.substr(0, good.size() - 20)), "truncated"), "truncated");
  check(refused(write("model_tiny.safetensors", good.substr(0, 5)), "too short"), "tiny");
  check(refused(write("model_flipped.safetensors", flipped), "checksum"), "flipped byte");
  check(refused(write("model_header.safetensors", bad_header), "damaged header"), "damaged header");
  check(refused(write("model_mismatch.safetensors", model_bytes(5)), "wrong shape"), "mismatched architecture");
  check(refused("no_such_file.safetensors", "cannot open"), "missing file");
  std::printf("%s\n", g_failures == 0 ? "all model-file tests passed" : "model-file tests FAILED");
  return g_failures == 0 ? 0 : 1;
}
