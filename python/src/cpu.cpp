// rnnfast._cpu: which x86-64 instruction-set levels this CPU (and its OS) supports, so that a portable build
// imports the engine compiled for the best of them. Compiled for the baseline, like the portable engine.
#include <pybind11/pybind11.h>

#include <string>

namespace {
bool supports(const std::string& level) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (level == "x86-64-v3")  // AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE (and the OS saves the YMM registers)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("lzcnt") &&
           __builtin_cpu_supports("movbe");
  if (level == "x86-64-v4")  // and AVX-512 F, BW, CD, DQ, VL
    return supports("x86-64-v3") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
  (void)level;
#endif
  return false;
}
}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "CPU feature checks for rnnfast's portable builds.";
  m.def("supports", &supports, pybind11::arg("level"), "Whether this CPU runs code built for -march=<level>.");
}
