// bfloat16: the upper 16 bits of an IEEE float32 (sign, the 8 exponent bits, 7 mantissa bits). A float32 is
// rounded to it to nearest, ties to even (as PyTorch, oneDNN and the AVX512-BF16 instructions round); NaN stays
// a quiet NaN. Widening is exact: the 16 bits shifted back into the top of a float32.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

// Whether this build has the kernel of AVX512-BF16's dot products of pairs: the instructions at every packet width
// (AVX512-VL for the 256- and 128-bit ones) and Eigen's AVX-512 packets.
#if defined(__AVX512BF16__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(EIGEN_VECTORIZE_AVX512)
#define RNNFAST_BFLOAT16_PAIRS 1
#endif

namespace rnnfast::detail {

struct bfloat16 {
  std::uint16_t bits = 0;
};
static_assert(sizeof(bfloat16) == 2, "bfloat16 is 16 bits");

// bfloat16 values held as float32: weights rounded to bfloat16 once and multiplied at the float FMAs' speed, for
// weights small enough that their bytes do not bound a step.
struct rounded_float {
  float value = 0;
};
static_assert(sizeof(rounded_float) == sizeof(float), "rounded_float is a float");

// bfloat16 weights whose rows are stored in pairs for AVX512-BF16's dot products of pairs (vdpbf16ps): rows 2p
// and 2p + 1 interleaved, value j of row 2p at 2j and of row 2p + 1 at 2j + 1 of the pair's storage.
struct paired_bfloat16 {
  std::uint16_t bits = 0;
};
static_assert(sizeof(paired_bfloat16) == 2, "paired_bfloat16 is 16 bits");

inline bfloat16 to_bfloat16(float v) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((u >> 16) | 0x0040u)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // to nearest, ties to even; carries into the exponent (up to inf) as it must
  return {static_cast<std::uint16_t>(u >> 16)};
}

inline float to_float(bfloat16 b) noexcept {
  const std::uint32_t u = std::uint32_t(b.bits) << 16;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// v rounded to the nearest bfloat16, as a float32.
inline float round_to_bfloat16(float v) noexcept { return to_float(to_bfloat16(v)); }

// n values rounded to bfloat16, as float32, into out (which may be v): to_bfloat16's rule without branches, so
// that compilers may vectorise the loop.
inline void round_to_bfloat16(const float* v, std::ptrdiff_t n, float* out) noexcept {
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    std::uint32_t u;
    std::memcpy(&u, v + k, sizeof u);
    const std::uint32_t nearest = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    const std::uint32_t quiet_nan = (u | 0x00400000u) & 0xffff0000u;
    const std::uint32_t r = (u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : nearest;
    std::memcpy(out + k, &r, sizeof r);
  }
}

// The kernel of bfloat16 products: the widening loads and float FMAs of any CPU (portable), or AVX512-BF16's dot
// products of pairs where the build targets it (RNNFAST_BFLOAT16_PAIRS). The environment variable
// RNNFAST_BFLOAT16_KERNEL=portable caps the choice (so both can be tested on one machine); any other value than
// portable or avx512_bf16 is refused. It is read each time a bfloat16 Stream is built: set it before, not while
// other threads build Streams.
enum class BfloatKernel { portable, avx512_bf16 };

inline BfloatKernel bfloat16_kernel() {
#if defined(RNNFAST_BFLOAT16_PAIRS)
  constexpr BfloatKernel best = BfloatKernel::avx512_bf16;
#else
  constexpr BfloatKernel best = BfloatKernel::portable;
#endif
  const char* cap = std::getenv("RNNFAST_BFLOAT16_KERNEL");
  if (cap == nullptr || *cap == '\0') return best;
  const std::string value(cap);
  if (value == "portable") return BfloatKernel::portable;
  if (value == "avx512_bf16") return best;
  throw std::invalid_argument("rnnfast: RNNFAST_BFLOAT16_KERNEL must be portable or avx512_bf16, got '" + value +
                              "'");
}

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments (as inside Eigen)
#endif

// The L = unpacket_traits<P>::size bfloat16 values at p widened into a packet of floats (any alignment).
template <class P>
inline P load_bfloat16(const bfloat16* p) noexcept {
  using namespace Eigen::internal;
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<P, Packet16f>) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
  }
#endif
#if defined(EIGEN_VECTORIZE_AVX2)
  if constexpr (std::is_same_v<P, Packet8f>) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
  }
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
  if constexpr (std::is_same_v<P, Packet4f>) {  // each 16-bit value under 16 zero bits: the float's top half
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), b));
  }
#endif
  constexpr int L = unpacket_traits<P>::size;
  alignas(64) float wide[L];
  for (int i = 0; i < L; ++i) wide[i] = to_float(p[i]);
  return pload<P>(wide);
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

}  // namespace rnnfast::detail
