// Streams a signal one sample at a time through a model trained and saved in Python, as an audio callback
// would: rnnfast::StreamingModel reads the file (checking it whole), then each step is noexcept and allocates
// nothing.
//
//   python examples/cpp/make_model.py model.safetensors     # trains a small forecaster, saves it
//   ./stream_signal model.safetensors                        # loads it here and streams a sine through it
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
  rnnfast::StreamingModel<float> model = [&] {
    try {
      return rnnfast::StreamingModel<float>::load(argv[1]);
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
  std::vector<float> y(static_cast<std::size_t>(model.output_size()));
  const int samples = 48000;  // one second at 48 kHz
  double squared_error = 0;
  float previous_prediction = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < samples; ++i) {
    const float x = 0.5f * std::sin(0.05f * static_cast<float>(i)) + 0.2f * std::sin(0.13f * static_cast<float>(i));
    if (i > 100) squared_error += (previous_prediction - x) * (previous_prediction - x);  // the forecast of x
    model.step(&x, y.data());
    previous_prediction = y[0];
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("streamed %d samples: %.0f ns per sample; next-value forecast MSE %.5f\n", samples,
              seconds / samples * 1e9, squared_error / (samples - 101));
  return std::isfinite(squared_error) ? 0 : 1;
}
