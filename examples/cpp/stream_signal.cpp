// Streams a signal one sample at a time through a model trained and saved in Python, as an audio callback
// would: rnnfast::Model reads the file (checking it whole), then each step is noexcept and allocates nothing.
// Then runs the whole signal as one sequence (Model::run) and checks it gives what the stream gave, and restarts
// a stream from a saved state (a warm start) to check it continues exactly.
//
//   python examples/cpp/make_model.py model.safetensors     # trains a small forecaster, saves it
//   ./stream_signal model.safetensors                        # loads it here and streams a sine through it
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "rnnfast/rnnfast.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s model.safetensors\n", argv[0]);
    return 2;
  }
  rnnfast::Model<float> model = [&] {
    try {
      return rnnfast::Model<float>::load(argv[1]);
    } catch (const rnnfast::ModelFileError& e) {
      std::fprintf(stderr, "cannot use the model: %s\n", e.what());
      std::exit(1);
    }
  }();
  if (model.input_size() != 1) {
    std::fprintf(stderr, "this example feeds one value per step; the model takes %ld\n",
                 static_cast<long>(model.input_size()));
    return 1;
  }
  const int samples = 48000;  // one second at 48 kHz
  const auto out = static_cast<std::size_t>(model.output_size());
  std::vector<float> signal(samples), streamed(samples * out), saved(static_cast<std::size_t>(model.state_size()));
  for (int i = 0; i < samples; ++i)
    signal[i] = 0.5f * std::sin(0.05f * static_cast<float>(i)) + 0.2f * std::sin(0.13f * static_cast<float>(i));
  double squared_error = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < samples; ++i) {
    if (i > 100) squared_error += std::pow(streamed[(i - 1) * out] - signal[i], 2);  // the forecast of this sample
    model.step(&signal[i], &streamed[i * out]);
    if (i == samples / 2) model.state(saved.data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("streamed %d samples: %.0f ns per sample; next-value forecast MSE %.5f\n", samples,
              seconds / samples * 1e9, squared_error / (samples - 101));

  std::vector<float> whole(samples * out), resumed(out);
  model.run(signal.data(), 1, samples, whole.data());  // the whole signal as one sequence
  double differs = 0;
  for (std::size_t i = 0; i < whole.size(); ++i) differs = std::max(differs, double(std::abs(whole[i] - streamed[i])));
  model.reset(saved.data());  // back to the state after sample samples/2, then on
  for (int i = samples / 2 + 1; i < samples; ++i) model.step(&signal[i], resumed.data());
  const bool same = std::equal(resumed.begin(), resumed.end(), streamed.end() - static_cast<long>(out));
  std::printf("the whole signal as one sequence differs from the stream by %.2g; a warm restart %s\n", differs,
              same ? "continues exactly" : "DIFFERS");
  return std::isfinite(squared_error) && differs < 1e-4 && same ? 0 : 1;
}
