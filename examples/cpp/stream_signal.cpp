// Streams a signal through an LSTM one sample at a time with rnnfast::Stream, as an audio callback would:
// after construction, each step is noexcept and allocates nothing. (Loading the weights from a model file saved
// in Python is the next step of the C++ API; here they are made up.)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "rnnfast/rnnfast.hpp"

int main() {
  const rnnfast::Index units = 32, gates = 4;
  std::mt19937 gen(0);
  std::uniform_real_distribution<float> u(-0.2f, 0.2f);
  std::vector<float> kernel(gates * units), recurrent(units * gates * units), bias(gates * units, 0.0f);
  for (auto& w : kernel) w = u(gen);
  for (auto& w : recurrent) w = u(gen);
  rnnfast::Stream<float> lstm(rnnfast::CellType::lstm, 1, units, {kernel.data(), recurrent.data(), bias.data()});

  std::vector<float> h(units);
  const int samples = 48000;  // one second at 48 kHz
  double energy = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < samples; ++i) {
    const float x = std::sin(2.0f * 3.14159265f * 440.0f * static_cast<float>(i) / 48000.0f);
    lstm.step(&x, h.data());
    energy += h[0] * h[0];
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("streamed %d samples through LSTM(%ld): %.0f ns per sample, mean h[0]^2 = %.4f\n", samples,
              static_cast<long>(units), seconds / samples * 1e9, energy / samples);
  return std::isfinite(energy) ? 0 : 1;
}
