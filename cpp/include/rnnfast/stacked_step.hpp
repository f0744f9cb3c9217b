// One streaming step of a plain cell for a few rows, as one product over the stacked weights [W; U] with the
// gates' activations in registers: the fast path of rnnfast::Stream.
//
// The generic step writes x·W and h·U into the gate slots, then reads them back for the gate pass; at small H
// that traffic, a product call per gate and the padding of two-packet panels cost more than the arithmetic. Here
// the weights are packed once into blocks of units — NB packets of L lanes each (L: the narrowest packet that
// needs no more packets than the widest; NB: 2 where that fills the FMA pipes and divides the packets, unless
// one-packet blocks stay in L1 between steps where two-packet ones do not (one_packet_blocks_stay_in_l1); up to
// 8 for SimpleRNN's one gate) — with the gates side by side: for every input k of [x; h], block b holds gate 0's
// NB packets of M[k, units of b], then gate 1's, and so on. A block's gates accumulate in registers from the
// bias over every k, and its activations and state update follow at once; only h (and c) reach memory. A step
// is a chain of dependent operations (product, gates, tanh of the new cell state, the next step's product), so
// the activations are the engine's short-latency ones (activations.hpp) and the product runs on several
// independent FMA chains.
//
// Covers SimpleRNN (tanh, relu), LSTM (with or without peepholes) and GRU (reset_after and reset_before); not
// the layer-normalised cells, whose norms need whole rows before any gate.
//
// The sequence engine uses the same kernels for the inference of one sequence (sequence.hpp): x·W of many steps
// is one product there, so a step starts from its row of x·W (step_from_product) and only U is packed, each
// thread packing and stepping its own blocks of units.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/checked_size.hpp"
#include "rnnfast/cells/common.hpp"

#if defined(__linux__)
#include <unistd.h>
#endif

// Packet types (__m512 and the like) as template arguments: GCC notes that their attributes are not part of the
// type, which is harmless here (Eigen silences the same warning inside its own headers).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace rnnfast {

namespace detail {
// The packet Level halvings narrower than P (a packet with no narrower one is its own half).
template <class P, int Level>
struct NarrowerPacket {
  using type = typename NarrowerPacket<typename Eigen::internal::unpacket_traits<P>::half, Level - 1>::type;
};
template <class P>
struct NarrowerPacket<P, 0> {
  using type = P;
};

// Bytes of this CPU's level-1 data cache (asked once); 32 KB where the system does not tell.
inline std::ptrdiff_t l1_data_cache_bytes() {
  static const std::ptrdiff_t bytes = [] {
    long n = 0;
#if defined(__linux__) && defined(_SC_LEVEL1_DCACHE_SIZE)
    n = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
    return n > 0 ? static_cast<std::ptrdiff_t>(n) : std::ptrdiff_t(32 * 1024);
  }();
  return bytes;
}
}  // namespace detail

template <class T>
class StackedStep {
 public:
  static bool covers(const CellOptions& options) { return !options.layer_norm; }

  // weights as for the sequence engine (Keras layouts, row-major); peephole: 3 × H when `peephole`.
  StackedStep(CellType type, Index input_size, Index units, const CellWeights<T>& w, bool peephole = false) {
    if (input_size < 1) throw std::invalid_argument("rnnfast::StackedStep: sizes must be >= 1");
    shape(type, input_size, units, peephole);
    pack(w, 0, blocks_);
  }
  // Without packed weights, for the sequence engine: shape(type, 0, units, peephole), then pack_recurrent().
  StackedStep() = default;

  // Sizes the packed weights of a cell with input_size inputs (0: U only, for step_from_product), keeping the
  // buffers' capacity, so that reshaping for the same sizes allocates nothing. The blocks are then unset.
  void shape(CellType type, Index input_size, Index units, bool peephole) {
    if (input_size < 0 || units < 1) throw std::invalid_argument("rnnfast::StackedStep: sizes must be >= 1");
    if (peephole && type != CellType::lstm) throw std::invalid_argument("rnnfast: only an LSTM has peepholes");
    detail::check_layer_sizes(input_size, units, 1, "rnnfast::StackedStep");
    type_ = type;
    input_size_ = input_size;
    units_ = units;
    peephole_ = peephole;
    choose_kernel<Packet<0>, Packet<1>, Packet<2>>();
    const Index W = block_units(), panel = blocks_ * W;  // values of one gate's row, over every block
    const int G = gate_count(type_);
    const bool split = type_ == CellType::gru_reset_before;  // h̃'s recurrent rows are separate
    input_.resize(static_cast<std::size_t>(input_size * G * panel));
    recurrent_.resize(static_cast<std::size_t>(units * (split ? 2 : G) * panel));
    candidate_.resize(static_cast<std::size_t>(split ? units * panel : 0));
    bias_.resize(static_cast<std::size_t>((type_ == CellType::gru ? 4 : G) * panel));
    peephole_w_.resize(static_cast<std::size_t>(peephole ? 3 * panel : 0));
  }
  // Packs blocks [b0, b1) of U, the bias and the peepholes (threads may pack their own blocks side by side).
  void pack_recurrent(const CellWeights<T>& w, Index b0, Index b1) { pack_blocks(w, b0, b1, false); }

  Index blocks() const noexcept { return blocks_; }
  // The units of blocks [b0, b1).
  std::pair<Index, Index> units_of_blocks(Index b0, Index b1) const noexcept {
    return {std::min(b0 * block_units(), units_), std::min(b1 * block_units(), units_)};
  }

  Index input_size() const noexcept { return input_size_; }
  Index units() const noexcept { return units_; }
  // Scratch the step needs per row (GRU with reset_before: z, x_h and r⊙h_{t-1} of every unit).
  Index scratch_width() const noexcept { return type_ == CellType::gru_reset_before ? 3 * padded_units() : 0; }

  // One step of `rows` rows: x (rows × D), h_prev and c_prev (rows × H; c for an LSTM only) in; h, c out (rows ×
  // H). h must not overlap h_prev (every block reads all of h_prev). scratch: rows × scratch_width().
  // reverse: the blocks in the opposite order, with the same results. Alternated from step to step, a step starts
  // on the blocks the previous one read last, still in L1 when U is a little larger than L1 (an LSTM of 56-64
  // units: ~25 % faster measured); a GRU with reset_before ignores it.
  void step(Index rows, const T* x, const T* h_prev, const T* c_prev, T* h, T* c, T* scratch,
            bool reverse = false) const noexcept {
    for (Index r = 0; r < rows; ++r)
      kernel_(*this, x + r * input_size_, h_prev + r * units_, c_prev == nullptr ? nullptr : c_prev + r * units_,
              h + r * units_, c == nullptr ? nullptr : c + r * units_, scratch + r * scratch_width(), 0, blocks_,
              reverse);
  }
  // One row's step for the units of blocks [b0, b1), from xw = x_t·W (G·H, the gate order of W, no bias)
  // instead of x: h and c of those units only. A GRU with reset_before needs every block at once (b0 = 0,
  // b1 = blocks()), since its candidate reads r⊙h_{t-1} of every unit. reverse: as for step().
  void step_from_product(const T* xw, const T* h_prev, const T* c_prev, T* h, T* c, T* scratch, Index b0,
                         Index b1, bool reverse = false) const noexcept {
    product_kernel_(*this, xw, h_prev, c_prev, h, c, scratch, b0, b1, reverse);
  }

 private:
  // The packets from the widest (level 0) down.
  template <int Level>
  using Packet = typename detail::NarrowerPacket<typename Eigen::internal::packet_traits<T>::type, Level>::type;

  template <class P>
  static constexpr Index lanes = Eigen::internal::unpacket_traits<P>::size;
  // float activations run per packet; double ones lane by lane, as the sequence engine computes them.
  template <class P>
  static constexpr bool packet_math = lanes<P> == 1 || std::is_same_v<T, float>;

  using Kernel = void (*)(const StackedStep&, const T*, const T*, const T*, T*, T*, T*, Index, Index, bool);

  Index block_units() const { return packets_per_block_ * lane_count_; }
  // The j-th block of [b0, b1) in the order of the step (see step()).
  static Index block_at(Index j, Index b0, Index b1, bool reverse) { return reverse ? b1 - 1 - (j - b0) : j; }
  Index padded_units() const { return blocks_ * block_units(); }

  // The narrowest packet that needs no more packets than the widest.
  template <class P0, class P1, class P2>
  void choose_kernel() {
    const auto packets = [&](Index L) { return (units_ + L - 1) / L; };
    if (lanes<P2> < lanes<P1> && packets(lanes<P2>) == packets(lanes<P0>)) return use<P2>();
    if (lanes<P1> < lanes<P0> && packets(lanes<P1>) == packets(lanes<P0>)) return use<P1>();
    use<P0>();
  }

  template <class P>
  void use() {
    lane_count_ = lanes<P>;
    const Index packets = (units_ + lane_count_ - 1) / lane_count_;
    // A SimpleRNN block has one gate: up to 8 packets (8 chains), so that each h_{t-1}[k] is broadcast once
    // per 8 packets rather than per 2.
    const bool one_gate = gate_count(type_) == 1;
    if (one_gate && packets % 8 == 0) use<P, 8>();
    else if (one_gate && packets % 4 == 0) use<P, 4>();
    else if (packets % 2 == 0 && !one_packet_blocks_stay_in_l1()) use<P, 2>();
    else use<P, 1>();
  }

  // Two-packet blocks broadcast each h_{t-1}[k] once per two packets, but where such a block is larger than L1
  // and a one-packet block is not, one-packet blocks are faster: the alternating block order (see step()) then
  // starts each step on a block the previous step left whole in L1, where a larger block's first rows are gone
  // by the time its last ones are read. Measured on Zen 5 (48 KB L1), steps interleaved with the other layout in
  // one process: LSTM 96-160 units 4-11 % faster, GRU 128-160 units 4-7 % (Stream, and one sequence's inference
  // from Python). Where a two-packet block fits (LSTM up to 86 units, GRU up to 115; at 64 units results differ
  // between programs, within ±6 %), or neither does (LSTM-192, GRU-256: two-packet blocks as fast or 10-20 %
  // faster), two it is. Only for 512-bit packets: with 256-bit ones (AVX2) one-packet blocks do half the work
  // per broadcast and row, and measured 7-16 % slower at every size. Depends on the units, not the inputs, so
  // that Stream and the sequence engine choose alike.
  bool one_packet_blocks_stay_in_l1() const {
    const Index packet_bytes = lane_count_ * static_cast<Index>(sizeof(T));
    const Index fits = detail::l1_data_cache_bytes() * 9 / 10;  // room for the state, x·W and the stack
    const Index block_bytes = units_ * gate_count(type_) * packet_bytes;  // one packet of units, every gate
    return packet_bytes >= 64 && block_bytes <= fits && 2 * block_bytes > fits;
  }

  template <class P, int NB>
  void use() {
    packets_per_block_ = NB;
    blocks_ = (units_ + block_units() - 1) / block_units();
    kernel_ = kernel_of<P, NB, false>();
    product_kernel_ = kernel_of<P, NB, true>();
  }
  // FromProduct: the step's x·W is given instead of x.
  template <class P, int NB, bool FromProduct>
  Kernel kernel_of() const {
    if constexpr (NB > 2) {  // SimpleRNN only (see use<P>())
      return type_ == CellType::simple_rnn_relu ? &simple_rnn<P, NB, true, FromProduct>
                                                : &simple_rnn<P, NB, false, FromProduct>;
    } else {
      switch (type_) {
        case CellType::simple_rnn_tanh: return &simple_rnn<P, NB, false, FromProduct>;
        case CellType::simple_rnn_relu: return &simple_rnn<P, NB, true, FromProduct>;
        case CellType::lstm: return peephole_ ? &lstm<P, NB, true, FromProduct> : &lstm<P, NB, false, FromProduct>;
        case CellType::gru: return &gru_reset_after<P, NB, FromProduct>;
        case CellType::gru_reset_before: return &gru_reset_before<P, NB, FromProduct>;
      }
      return nullptr;
    }
  }

  void pack(const CellWeights<T>& w, Index b0, Index b1) { pack_blocks(w, b0, b1, true); }

  // Fills blocks [b0, b1) of the buffers shape() sized; with_input: W too.
  void pack_blocks(const CellWeights<T>& w, Index b0, Index b1, bool with_input) {
    const Index D = input_size_, H = units_, W = block_units();
    const int G = gate_count(type_);
    // Row k of block b for gates [g0, g0 + n) of m (rows × G·H): n × W values of M[k, g·H + units of b], zero
    // past H. Blocks follow each other, rows × n × W values each.
    auto put_rows = [&](Packed& out, const T* m, Index rows, int g0, int n) {
      for (Index b = b0; b < b1; ++b) {
        const auto [u0, u1] = units_of_blocks(b, b + 1);
        T* to = out.data() + b * rows * n * W;
        for (Index k = 0; k < rows; ++k)
          for (int g = g0; g < g0 + n; ++g, to += W) {
            const T* from = m + k * G * H + g * H;
            std::copy(from + u0, from + u1, to);
            std::fill(to + (u1 - u0), to + W, T(0));
          }
      }
    };
    // A vector of n gates' values (bias, peepholes; v[g·H + j]) in the same order: block b, then its n × W values.
    auto put_vector = [&](Packed& out, const T* v, int n) {
      for (Index b = b0; b < b1; ++b) {
        const auto [u0, u1] = units_of_blocks(b, b + 1);
        T* to = out.data() + b * n * W;
        for (int g = 0; g < n; ++g, to += W) {
          std::copy(v + g * H + u0, v + g * H + u1, to);
          std::fill(to + (u1 - u0), to + W, T(0));
        }
      }
    };
    if (type_ == CellType::gru_reset_before) {  // z, r see h_{t-1}; h̃ sees r⊙h_{t-1}, a second product
      if (with_input) put_rows(input_, w.kernel, D, 0, 3);
      put_rows(recurrent_, w.recurrent_kernel, H, 0, 2);
      put_rows(candidate_, w.recurrent_kernel, H, 2, 1);
    } else {
      if (with_input) put_rows(input_, w.kernel, D, 0, G);
      put_rows(recurrent_, w.recurrent_kernel, H, 0, G);
    }
    if (type_ == CellType::gru) {  // z, r: both biases summed; h̃: the input bias, then the recurrent one
      for (Index b = b0; b < b1; ++b) {
        const auto [u0, u1] = units_of_blocks(b, b + 1);
        T* to = bias_.data() + b * 4 * W;
        for (int g = 0; g < 4; ++g, to += W) {
          for (Index j = u0; j < u1; ++j)
            to[j - u0] = g < 2 ? w.bias[g * H + j] + w.bias[(3 + g) * H + j] : w.bias[(g == 2 ? 2 : 5) * H + j];
          std::fill(to + (u1 - u0), to + W, T(0));
        }
      }
    } else {
      put_vector(bias_, w.bias, G);
    }
    if (peephole_) put_vector(peephole_w_, w.peephole, 3);
  }

  // Running sums of A accumulator packets (slot a = gate·NB + packet) over the rows of one or more row sets,
  // starting from the bias, with S independent chains per slot so that at least ~8 FMAs are in flight.
  template <class P, int A>
  struct Sums {
    static constexpr Index L = lanes<P>;
    static constexpr int S = A >= 8 ? 1 : A >= 4 ? 2 : 4;
    P part[S][A];

    explicit Sums(const T* start) {
      for (int a = 0; a < A; ++a) {
        part[0][a] = Eigen::internal::ploadu<P>(start + a * L);
        for (int s = 1; s < S; ++s) part[s][a] = Eigen::internal::pset1<P>(T(0));
      }
    }
    // n rows of v[k] · (the packets of row k), packet i of a row adding to slot Slots[i]. Row k at m + k·width.
    template <int... Slots>
    void add(const T* v, Index n, const T* m, std::integer_sequence<int, Slots...>) {
      using namespace Eigen::internal;
      constexpr Index width = sizeof...(Slots) * L;
      Index k = 0;
      for (; k + S <= n; k += S)
        for (int s = 0; s < S; ++s) {
          const P vk = pset1<P>(v[k + s]);
          const T* row = m + (k + s) * width;
          int i = 0;
          ((part[s][Slots] = pmadd(vk, pload<P>(row + (i++) * L), part[s][Slots])), ...);
        }
      for (int s = 0; k < n; ++k, ++s) {  // the rest, one chain each
        const P vk = pset1<P>(v[k]);
        const T* row = m + k * width;
        int i = 0;
        ((part[s][Slots] = pmadd(vk, pload<P>(row + (i++) * L), part[s][Slots])), ...);
      }
    }
    // The step's x·W (gate g's H values at xw + g·H), packet i of the units from u0 adding to slot Slots[i]
    // (packet i: gate i / NB, lanes from u0 + (i % NB)·L).
    template <int NB, int... Slots>
    void add_product(const T* xw, Index H, Index u0, std::integer_sequence<int, Slots...>) {
      int i = 0;
      ((part[0][Slots] = Eigen::internal::padd(part[0][Slots], load_lanes<P>(xw + (i / NB) * H, u0 + (i % NB) * L, H)),
        ++i),
       ...);
    }
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
  template <class P>
  static P load_lanes(const T* row, Index u, Index H) {
    constexpr Index L = lanes<P>;
    if (u + L <= H) return Eigen::internal::ploadu<P>(row + u);
    alignas(64) T tmp[L] = {};
    std::copy(row + u, row + H, tmp);
    return Eigen::internal::pload<P>(tmp);
  }
  template <class P>
  static void store_lanes(T* row, Index u, Index H, const P& v) {
    constexpr Index L = lanes<P>;
    if (u + L <= H) return Eigen::internal::pstoreu(row + u, v);
    alignas(64) T tmp[L];
    Eigen::internal::pstore(tmp, v);
    std::copy(tmp, tmp + (H - u), row + u);
  }

  // The engine's activations (cells/common.hpp): per packet for float, lane by lane for double.
  template <class P, class F>
  static P per_lane(const P& x, F scalar) {
    alignas(64) T tmp[lanes<P>];
    Eigen::internal::pstore(tmp, x);
    for (auto& t : tmp) t = scalar(t);
    return Eigen::internal::pload<P>(tmp);
  }
  template <class P>
  static P sigmoid(const P& x) {
    if constexpr (packet_math<P>) return detail::sigmoid(x);
    else return per_lane(x, [](T v) { return detail::sigmoid(v); });
  }
  template <class P>
  static P tanh(const P& x) {
    if constexpr (packet_math<P>) return detail::tanh(x);
    else return per_lane(x, [](T v) { return detail::tanh(v); });
  }

  // The input part of a block's sums: x·W over the packed input rows, or the given x·W (FromProduct).
  template <int NB, bool FromProduct, class S, class Slots>
  void add_input(S& sums, const T* x, Index b, int gates, Slots slots) const {
    const Index W = block_units();
    if constexpr (FromProduct) sums.template add_product<NB>(x, units_, b * W, slots);
    else sums.add(x, input_size_, input_.data() + b * input_size_ * gates * W, slots);
  }

  template <class P, int NB, bool Relu, bool FromProduct>
  static void simple_rnn(const StackedStep& s, const T* x, const T* h_prev, const T*, T* h, T*, T*, Index b0,
                         Index b1, bool reverse) {
    using namespace Eigen::internal;
    constexpr Index L = lanes<P>, W = NB * L;
    const Index H = s.units_;
    for (Index j = b0; j < b1; ++j) {
      const Index b = block_at(j, b0, b1, reverse);
      Sums<P, NB> sums(s.bias_.data() + b * W);
      s.add_input<NB, FromProduct>(sums, x, b, 1, SlotsOf<NB, 0>{});
      sums.add(h_prev, H, s.recurrent_.data() + b * H * W, SlotsOf<NB, 0>{});
      for (int n = 0; n < NB; ++n) {
        const P a = sums.total(n);
        store_lanes<P>(h, b * W + n * L, H, Relu ? pmax(a, pset1<P>(T(0))) : tanh(a));
      }
    }
  }

  template <class P, int NB, bool Peephole, bool FromProduct>
  static void lstm(const StackedStep& s, const T* x, const T* h_prev, const T* c_prev, T* h, T* c, T*, Index b0,
                   Index b1, bool reverse) {
    using namespace Eigen::internal;
    constexpr Index L = lanes<P>, W = NB * L;
    const Index H = s.units_;
    for (Index j = b0; j < b1; ++j) {
      const Index b = block_at(j, b0, b1, reverse);
      Sums<P, 4 * NB> sums(s.bias_.data() + b * 4 * W);
      s.add_input<NB, FromProduct>(sums, x, b, 4, SlotsOf<NB, 0, 1, 2, 3>{});
      sums.add(h_prev, H, s.recurrent_.data() + b * H * 4 * W, SlotsOf<NB, 0, 1, 2, 3>{});
      const T* p = Peephole ? s.peephole_w_.data() + b * 3 * W : nullptr;
      for (int n = 0; n < NB; ++n) {
        const Index u = b * W + n * L;
        const P cp = load_lanes<P>(c_prev, u, H);
        P i, f, o;
        if constexpr (Peephole) {
          i = sigmoid(pmadd(pload<P>(p + n * L), cp, sums.total(n)));
          f = sigmoid(pmadd(pload<P>(p + W + n * L), cp, sums.total(NB + n)));
        } else {
          i = sigmoid(sums.total(n));
          f = sigmoid(sums.total(NB + n));
        }
        const P c_new = pmadd(f, cp, pmul(i, tanh(sums.total(2 * NB + n))));
        if constexpr (Peephole) o = sigmoid(pmadd(pload<P>(p + 2 * W + n * L), c_new, sums.total(3 * NB + n)));
        else o = sigmoid(sums.total(3 * NB + n));
        store_lanes<P>(c, u, H, c_new);
        store_lanes<P>(h, u, H, pmul(o, tanh(c_new)));
      }
    }
  }

  // h = h̃ + z⊙(h_{t-1} − h̃) on L lanes from unit u.
  template <class P>
  static void store_gru_state(const T* h_prev, T* h, Index u, Index H, const P& z, const P& hh) {
    using namespace Eigen::internal;
    store_lanes<P>(h, u, H, pmadd(z, psub(load_lanes<P>(h_prev, u, H), hh), hh));
  }

  template <class P, int NB, bool FromProduct>
  static void gru_reset_after(const StackedStep& s, const T* x, const T* h_prev, const T*, T* h, T*, T*, Index b0,
                              Index b1, bool reverse) {
    using namespace Eigen::internal;
    constexpr Index L = lanes<P>, W = NB * L;
    const Index H = s.units_;
    for (Index j = b0; j < b1; ++j) {
      const Index b = block_at(j, b0, b1, reverse);
      // Slots z, r (x·W + h·U + both biases), x_h (+ input bias) and u_h (+ recurrent bias): r multiplies u_h alone.
      Sums<P, 4 * NB> sums(s.bias_.data() + b * 4 * W);
      s.add_input<NB, FromProduct>(sums, x, b, 3, SlotsOf<NB, 0, 1, 2>{});
      sums.add(h_prev, H, s.recurrent_.data() + b * H * 3 * W, SlotsOf<NB, 0, 1, 3>{});
      for (int n = 0; n < NB; ++n) {
        const P z = sigmoid(sums.total(n)), r = sigmoid(sums.total(NB + n));
        const P hh = tanh(pmadd(r, sums.total(3 * NB + n), sums.total(2 * NB + n)));
        store_gru_state(h_prev, h, b * W + n * L, H, z, hh);
      }
    }
  }

  // Two passes: z, r and x_h of every block, then — once r⊙h_{t-1} is whole — the candidate's product.
  template <class P, int NB, bool FromProduct>
  static void gru_reset_before(const StackedStep& s, const T* x, const T* h_prev, const T*, T* h, T*, T* scratch,
                               Index, Index, bool) {  // every block in order (see step_from_product)
    using namespace Eigen::internal;
    constexpr Index L = lanes<P>, W = NB * L;
    const Index H = s.units_, Hp = s.padded_units();
    T* z_all = scratch;
    T* xh_all = scratch + Hp;
    T* rh = scratch + 2 * Hp;  // r⊙h_{t-1}, the candidate product's input (zero past H)
    for (Index b = 0; b < s.blocks_; ++b) {
      Sums<P, 3 * NB> sums(s.bias_.data() + b * 3 * W);
      s.add_input<NB, FromProduct>(sums, x, b, 3, SlotsOf<NB, 0, 1, 2>{});
      sums.add(h_prev, H, s.recurrent_.data() + b * H * 2 * W, SlotsOf<NB, 0, 1>{});
      for (int n = 0; n < NB; ++n) {
        const Index u = b * W + n * L;
        pstoreu(z_all + u, sigmoid(sums.total(n)));
        pstoreu(xh_all + u, sums.total(2 * NB + n));
        pstoreu(rh + u, pmul(sigmoid(sums.total(NB + n)), load_lanes<P>(h_prev, u, H)));
      }
    }
    for (Index b = 0; b < s.blocks_; ++b) {
      Sums<P, NB> sums(xh_all + b * W);
      sums.add(rh, H, s.candidate_.data() + b * H * W, SlotsOf<NB, 0>{});
      for (int n = 0; n < NB; ++n) {
        const Index u = b * W + n * L;
        store_gru_state(h_prev, h, u, H, ploadu<P>(z_all + u), tanh(sums.total(n)));
      }
    }
  }

  using Packed = std::vector<T, Eigen::aligned_allocator<T>>;

  CellType type_ = CellType::lstm;
  Index input_size_ = 0, units_ = 0;
  bool peephole_ = false;
  Index lane_count_ = 1, packets_per_block_ = 1, blocks_ = 0;
  Kernel kernel_ = nullptr, product_kernel_ = nullptr;  // from x; from x·W
  // Per block: input_ D rows, recurrent_ H rows, of G gates × NB packets (reset_before: recurrent_ of z and r,
  // candidate_ H rows of h̃); bias_ G × NB packets (GRU reset_after: 4, z and r with both biases summed, then h̃'s
  // input and recurrent bias); peephole_w_ 3 × NB packets.
  Packed input_, recurrent_, candidate_, bias_, peephole_w_;
};

}  // namespace rnnfast

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
