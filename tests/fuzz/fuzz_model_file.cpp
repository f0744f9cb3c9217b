// libFuzzer target of the model-file loader: any bytes either load or throw rnnfast::ModelFileError, and a
// model that loads streams a few steps, restores its state and runs a tiny batch. Any other exception aborts,
// and so does anything the sanitizers report. A version 2 input is tried a second time with its checksum
// recomputed, so that mutations of the header and data reach the checks behind the checksum.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "rnnfast/model.hpp"

namespace {

// Larger inputs load but do not run: a step's work grows with the weights, at most a quarter of the bytes.
constexpr std::size_t kMaxBytesToRun = 4 << 20;

void run(rnnfast::Model<float>& model, std::size_t size) {
  if (size > kMaxBytesToRun) return;
  const auto in = static_cast<std::size_t>(model.input_size()), out = static_cast<std::size_t>(model.output_size());
  std::vector<float> x(in, 0.5f), y(out);
  for (int t = 0; t < 3; ++t) model.step(x.data(), y.data());
  std::vector<float> state(static_cast<std::size_t>(model.state_size()));
  model.state(state.data());
  model.reset(state.data());
  model.step(x.data(), y.data());
  const rnnfast::Index batch = 2, time = 3;
  std::vector<float> xs(batch * time * in, 0.25f), ys(batch * time * out);
  model.run(xs.data(), batch, time, ys.data());
}

void load_and_run(const std::string& bytes) {
  try {
    auto model = rnnfast::Model<float>::from_memory(bytes.data(), bytes.size(), "fuzz input");
    run(model, bytes.size());
  } catch (const rnnfast::ModelFileError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "an exception other than ModelFileError: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "an exception other than ModelFileError\n");
    std::abort();
  }
}

// The bytes with a version 2 checksum written into them, or "" when they are not long enough for one.
std::string sealed(std::string bytes) {
  const std::size_t at = 8 + rnnfast::ModelFile::kChecksumPrefix.size(), digits = rnnfast::ModelFile::kChecksumDigits;
  if (bytes.size() < at + digits || bytes.compare(8, at - 8, rnnfast::ModelFile::kChecksumPrefix) != 0) return "";
  bytes.replace(at, digits, digits, '0');
  const std::string sum =
      rnnfast::detail::sha256_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return bytes.replace(at, digits, sum);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  load_and_run(bytes);
  const std::string resealed = sealed(bytes);
  if (!resealed.empty() && resealed != bytes) load_and_run(resealed);
  return 0;
}
