// What the cells' stacked-step kernels (detail/cells/*/step.hpp) share: the view of StackedStep's packed
// weights, running sums of a block's gates in registers, and loads and stores of a packet of a row's units.
//
// The weights are packed into blocks of units (W = NB packets of L lanes), the gates side by side: for every
// input k of [x; h], block b holds gate 0's NB packets of M[k, units of b], then gate 1's, and so on. A kernel
// accumulates a block's gates in registers from the bias over every k, then applies its cell's equations
// (detail/cells/*/equations.hpp) to each packet, so only h (and c) reach memory.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/operand.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments (as inside Eigen)
#endif

namespace rnnfast::detail {

// StackedStep's packed weights, as its kernels read them. Per block: input D rows, recurrent H rows, of G gates ×
// NB packets (GRU reset_before: recurrent of z and r, candidate H rows of h̃); bias G × NB packets (GRU
// reset_after: 4, z and r with both biases summed, then h̃'s input and recurrent bias); peephole 3 × NB packets.
// Rows are stored in groups of Operand<T, O>::row_group (zero rows past D or H), input_rows and recurrent_rows
// of them per block.
template <class T, class O>
struct StackedWeights {
  const O* input = nullptr;
  const O* recurrent = nullptr;
  const O* candidate = nullptr;
  const T* bias = nullptr;
  const T* peephole = nullptr;
  Index input_size = 0, units = 0, blocks = 0, block_units = 0;
  Index input_rows = 0, recurrent_rows = 0;
  Index padded_units() const { return blocks * block_units; }
};

template <class P>
inline constexpr Index packet_lanes = Eigen::internal::unpacket_traits<P>::size;

// The j-th block of [b0, b1) in a step's order: every other step runs backwards (see StackedStep::step).
inline Index block_at(Index j, Index b0, Index b1, bool reverse) { return reverse ? b1 - 1 - (j - b0) : j; }

// Running sums of A accumulator packets (slot a = gate·NB + packet) over the rows of one or more row sets,
// starting from the bias, with S independent chains per slot so that at least ~8 FMAs are in flight.
template <class P, int A, class O = typename Eigen::internal::unpacket_traits<P>::type>
struct Sums {
  using T = typename Eigen::internal::unpacket_traits<P>::type;
  static constexpr Index L = packet_lanes<P>;
  static constexpr int S = A >= 8 ? 1 : A >= 4 ? 2 : 4;
  P part[S][A];

  explicit Sums(const T* start) {
    for (int a = 0; a < A; ++a) {
      part[0][a] = Eigen::internal::ploadu<P>(start + a * L);
      for (int s = 1; s < S; ++s) part[s][a] = Eigen::internal::pset1<P>(T(0));
    }
  }
  // n rows of v[k] · (the packets of row k), packet i of a row adding to slot Slots[i]. Row k at m + k·width.
  // v as Operand<T, O>::activations gives it (pairs, for weights in row pairs).
  template <int... Slots>
  void add(const T* v, Index n, const O* m, std::integer_sequence<int, Slots...> slots) {
    using namespace Eigen::internal;
    constexpr Index width = sizeof...(Slots) * L;
    if constexpr (Operand<T, O>::row_group == 2) {
      add_pairs(v, (n + 1) / 2, m, slots);
    } else {
      Index k = 0;
      for (; k + S <= n; k += S)
        for (int s = 0; s < S; ++s) {
          const P vk = pset1<P>(v[k + s]);
          const O* row = m + (k + s) * width;
          int i = 0;
          ((part[s][Slots] = pmadd(vk, Operand<T, O>::template load<P>(row + (i++) * L), part[s][Slots])), ...);
        }
      for (int s = 0; k < n; ++k, ++s) {  // the rest, one chain each
        const P vk = pset1<P>(v[k]);
        const O* row = m + k * width;
        int i = 0;
        ((part[s][Slots] = pmadd(vk, Operand<T, O>::template load<P>(row + (i++) * L), part[s][Slots])), ...);
      }
    }
  }
#if defined(RNNFAST_BFLOAT16_PAIRS)
  // Row pairs: pair p of v (two bfloat16 in a float's bits) · the pair's interleaved packets, one vdpbf16ps each.
  template <int... Slots>
  void add_pairs(const T* v, Index pairs, const O* m, std::integer_sequence<int, Slots...>) {
    constexpr Index width = sizeof...(Slots) * L;  // values of a row; a pair's storage is twice that
    auto dot = [](P acc, P pair, const O* row) {  // acc + the L lanes' pairs of products (row: aligned)
      if constexpr (L == 16)
        return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(pair), (__m512bh)_mm512_load_si512(row));
      else if constexpr (L == 8)
        return _mm256_dpbf16_ps(acc, (__m256bh)_mm256_castps_si256(pair),
                                (__m256bh)_mm256_load_si256(reinterpret_cast<const __m256i*>(row)));
      else
        return _mm_dpbf16_ps(acc, (__m128bh)_mm_castps_si128(pair),
                             (__m128bh)_mm_load_si128(reinterpret_cast<const __m128i*>(row)));
    };
    Index p = 0;
    for (; p + S <= pairs; p += S)
      for (int s = 0; s < S; ++s) {
        const P vp = Eigen::internal::pset1<P>(v[p + s]);
        const O* row = m + (p + s) * 2 * width;
        int i = 0;
        ((part[s][Slots] = dot(part[s][Slots], vp, row + (i++) * 2 * L)), ...);
      }
    for (int s = 0; p < pairs; ++p, ++s) {
      const P vp = Eigen::internal::pset1<P>(v[p]);
      const O* row = m + p * 2 * width;
      int i = 0;
      ((part[s][Slots] = dot(part[s][Slots], vp, row + (i++) * 2 * L)), ...);
    }
  }
#else
  template <class... Unused>
  void add_pairs(const Unused&...) {}
#endif
  // The step's x·W (gate g's H values at xw + g·H), packet i of the units from u0 adding to slot Slots[i]
  // (packet i: gate i / NB, lanes from u0 + (i % NB)·L).
  template <int NB, int... Slots>
  void add_product(const T* xw, Index H, Index u0, std::integer_sequence<int, Slots...>);
  P total(int a) const {
    P sum = part[0][a];
    for (int s = 1; s < S; ++s) sum = Eigen::internal::padd(sum, part[s][a]);
    return sum;
  }
};

// The slots of gates Gates..., NB packets each: g·NB, …, g·NB + NB − 1 for each g in turn.
template <int NB, int... Gates>
struct SlotList {
  static constexpr std::size_t count = NB * sizeof...(Gates);
  static constexpr std::array<int, count> values = [] {
    std::array<int, count> v{};
    const int gates[] = {Gates...};
    for (std::size_t i = 0; i < sizeof...(Gates); ++i)
      for (int n = 0; n < NB; ++n) v[i * NB + n] = gates[i] * NB + n;
    return v;
  }();
  template <std::size_t... I>
  static std::integer_sequence<int, values[I]...> make(std::index_sequence<I...>);
  using type = decltype(make(std::make_index_sequence<count>{}));
};
template <int NB, int... Gates>
using SlotsOf = typename SlotList<NB, Gates...>::type;

// Loads and stores of the L lanes of a row of H values from unit u; past H only on the last packet.
template <class P, class T>
inline P load_lanes(const T* row, Index u, Index H) {
  constexpr Index L = packet_lanes<P>;
  if (u + L <= H) return Eigen::internal::ploadu<P>(row + u);
  alignas(64) T tmp[L] = {};
  std::copy(row + u, row + H, tmp);
  return Eigen::internal::pload<P>(tmp);
}
template <class P, class T>
inline void store_lanes(T* row, Index u, Index H, const P& v) {
  constexpr Index L = packet_lanes<P>;
  if (u + L <= H) return Eigen::internal::pstoreu(row + u, v);
  alignas(64) T tmp[L];
  Eigen::internal::pstore(tmp, v);
  std::copy(tmp, tmp + (H - u), row + u);
}

template <class P, int A, class O>
template <int NB, int... Slots>
void Sums<P, A, O>::add_product(const T* xw, Index H, Index u0, std::integer_sequence<int, Slots...>) {
  int i = 0;
  ((part[0][Slots] = Eigen::internal::padd(part[0][Slots], load_lanes<P>(xw + (i / NB) * H, u0 + (i % NB) * L, H)),
    ++i),
   ...);
}

// The input part of block b's sums over `gates` gates: x·W over the packed input rows, or the given x·W
// (FromProduct: x is the step's row of x·W).
template <int NB, bool FromProduct, class T, class O, class S, class Slots>
inline void add_input(const StackedWeights<T, O>& w, S& sums, const T* x, Index b, int gates, Slots slots) {
  if constexpr (FromProduct) sums.template add_product<NB>(x, w.units, b * w.block_units, slots);
  else sums.add(x, w.input_size, w.input + b * w.input_rows * gates * w.block_units, slots);
}

// A stacked-step kernel: one row's step for blocks [b0, b1) (see StackedStep::step_from_product). h_product is
// h_prev as the recurrent product reads it (rounded as the weights are, see Operand::activations; else h_prev).
template <class T, class O>
using StackedKernel = void (*)(const StackedWeights<T, O>&, const T* x, const T* h_prev, const T* h_product,
                               const T* c_prev, T* h, T* c, T* scratch, Index b0, Index b1, bool reverse);

}  // namespace rnnfast::detail

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
