// One streaming step of a plain cell for a few rows, as one product over the stacked weights [W; U] with the
// gates' activations in registers: the fast path of rnnfast::Stream.
//
// The generic step writes x·W and h·U into the gate slots, then reads them back for the gate pass; at small H
// that traffic, a product call per gate and the padding of two-packet panels cost more than the arithmetic. Here
// the weights are packed once into blocks of units — NB packets of L lanes each (L: the narrowest packet that
// needs no more packets than the widest; NB: 2 where that fills the FMA pipes and divides the packets, unless
// one-packet blocks stay in L1 between steps where two-packet ones do not (one_packet_blocks_stay_in_l1); up to
// 8 for SimpleRNN's one gate) — with the gates side by side (detail/cells/common/stacked_kernel.hpp). Each cell's
// kernel (detail/cells/*/step.hpp) sums a block's gates in registers and applies the cell's equations at once;
// only h (and c) reach memory. A step is a chain of dependent operations (product, gates, tanh of the new cell
// state, the next step's product), so the activations are the engine's short-latency ones (activations.hpp) and
// the product runs on several independent FMA chains.
//
// Covers SimpleRNN (tanh, relu), LSTM (with or without peepholes) and GRU (reset_after and reset_before); not
// the layer-normalised cells, whose norms need whole rows before any gate.
//
// The sequence engine uses the same kernels for the inference of one sequence (detail/one_sequence.hpp): x·W of
// many steps is one product there, so a step starts from its row of x·W (step_from_product) and only U is
// packed, each thread packing and stepping its own blocks of units.
//
// O is the type the weight rows are stored in (detail/operand.hpp); the bias and the peepholes stay in T.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <utility>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/buffers.hpp"
#include "rnnfast/detail/cells/common/stacked_kernel.hpp"
#include "rnnfast/detail/cells/gru/step.hpp"
#include "rnnfast/detail/cells/lstm/step.hpp"
#include "rnnfast/detail/cells/simple_rnn/step.hpp"
#include "rnnfast/detail/checked_size.hpp"
#include "rnnfast/sequence_call.hpp"

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

template <class T, class O = T>
class StackedStep {
 public:
  static bool covers(const CellOptions& options) { return !options.layer_norm; }

  // weights as for the sequence engine (Keras layouts, row-major); peephole: 3 × H when `peephole`.
  StackedStep(CellType type, Index input_size, Index units, const CellWeights<T>& w, bool peephole = false) {
    if (input_size < 1) throw std::invalid_argument("rnnfast::StackedStep: sizes must be >= 1");
    shape(type, input_size, units, peephole);
    pack_blocks(w, 0, blocks_, true);
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
    input_.resize(static_cast<std::size_t>(stored_rows(input_size) * G * panel));
    recurrent_.resize(static_cast<std::size_t>(stored_rows(units) * (split ? 2 : G) * panel));
    candidate_.resize(static_cast<std::size_t>(split ? stored_rows(units) * panel : 0));
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
  // Scratch the step needs per row: GRU with reset_before z, x_h and r⊙h_{t-1} of every unit; weights that round
  // the activations entering their products (Operand::rounds_activations), x and h_{t-1} rounded.
  Index scratch_width() const noexcept {
    return kernel_scratch_width() +
           (Rows::rounds_activations ? Rows::activation_slots(input_size_) + Rows::activation_slots(units_) : 0);
  }

  // One step of `rows` rows: x (rows × D), h_prev and c_prev (rows × H; c for an LSTM only) in; h, c out (rows ×
  // H). h must not overlap h_prev (every block reads all of h_prev). scratch: rows × scratch_width().
  // reverse: the blocks in the opposite order, with the same results. Alternated from step to step, a step starts
  // on the blocks the previous one read last, still in L1 when U is a little larger than L1; a GRU with
  // reset_before ignores it.
  void step(Index rows, const T* x, const T* h_prev, const T* c_prev, T* h, T* c, T* scratch,
            bool reverse = false) const noexcept {
    const detail::StackedWeights<T, O> w = weights();
    for (Index r = 0; r < rows; ++r) {
      T* row_scratch = scratch + r * scratch_width();
      const T* x_row = x + r * input_size_;
      const T* h_row = h_prev + r * units_;
      const T* x_product = x_row;
      const T* h_product = h_row;
      if constexpr (Rows::rounds_activations) {  // the products' operands, once for every block
        T* rounded = row_scratch + kernel_scratch_width();
        x_product = Rows::activations(x_row, input_size_, rounded);
        h_product = Rows::activations(h_row, units_, rounded + Rows::activation_slots(input_size_));
      }
      kernel_(w, x_product, h_row, h_product, c_prev == nullptr ? nullptr : c_prev + r * units_, h + r * units_,
              c == nullptr ? nullptr : c + r * units_, row_scratch, 0, blocks_, reverse);
    }
  }
  // One row's step for the units of blocks [b0, b1), from xw = x_t·W (G·H, the gate order of W, no bias)
  // instead of x: h and c of those units only. A GRU with reset_before needs every block at once (b0 = 0,
  // b1 = blocks()), since its candidate reads r⊙h_{t-1} of every unit. reverse: as for step().
  void step_from_product(const T* xw, const T* h_prev, const T* c_prev, T* h, T* c, T* scratch, Index b0,
                         Index b1, bool reverse = false) const noexcept {
    // Threads share h_{t-1} here; weights that round it would each need a rounded copy first.
    static_assert(!Rows::rounds_activations, "step_from_product takes weights that do not round activations");
    product_kernel_(weights(), xw, h_prev, h_prev, c_prev, h, c, scratch, b0, b1, reverse);
  }

 private:
  // The packets from the widest (level 0) down.
  template <int Level>
  using Packet = typename detail::NarrowerPacket<typename Eigen::internal::packet_traits<T>::type, Level>::type;
  template <class P>
  static constexpr Index lanes = detail::packet_lanes<P>;
  using Kernel = detail::StackedKernel<T, O>;
  using Rows = detail::Operand<T, O>;

  // Rows as stored: a multiple of the operand's row group, zero rows past the last.
  static Index stored_rows(Index rows) noexcept {
    return (rows + Rows::row_group - 1) / Rows::row_group * Rows::row_group;
  }
  Index kernel_scratch_width() const noexcept {
    return type_ == CellType::gru_reset_before ? 3 * padded_units() : 0;
  }

  detail::StackedWeights<T, O> weights() const noexcept {
    return {input_.data(), recurrent_.data(), candidate_.data(), bias_.data(), peephole_w_.data(),
            input_size_,   units_,            blocks_,           block_units(), stored_rows(input_size_),
            stored_rows(units_)};
  }
  Index block_units() const noexcept { return packets_per_block_ * lane_count_; }
  Index padded_units() const noexcept { return blocks_ * block_units(); }

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
  // by the time its last ones are read. Where a two-packet block fits, or neither does, two it is. Only for
  // 512-bit packets: with narrower ones a one-packet block does too little work per broadcast and row. Depends
  // on the units, not the inputs, so that Stream and the sequence engine choose alike. Weights widened at each
  // load (Operand::widens) spend more per row than a broadcast saves: two-packet blocks for them always.
  bool one_packet_blocks_stay_in_l1() const {
    if constexpr (Rows::widens) return false;
    const Index packet_bytes = lane_count_ * static_cast<Index>(sizeof(T));
    const Index fits = detail::l1_data_cache_bytes() * 9 / 10;  // room for the state, x·W and the stack
    // one packet of units, every gate, stored as O
    const Index block_bytes = units_ * gate_count(type_) * lane_count_ * static_cast<Index>(sizeof(O));
    return packet_bytes >= 64 && block_bytes <= fits && 2 * block_bytes > fits;
  }

  template <class P, int NB>
  void use() {
    packets_per_block_ = NB;
    blocks_ = (units_ + block_units() - 1) / block_units();
    kernel_ = kernel_of<P, NB, false>();
    if constexpr (!Rows::rounds_activations) product_kernel_ = kernel_of<P, NB, true>();  // see step_from_product
  }
  // FromProduct: the step's x·W is given instead of x.
  template <class P, int NB, bool FromProduct>
  Kernel kernel_of() const {
    using Act = Activation;
    namespace simple_rnn = detail::simple_rnn;
    namespace lstm = detail::lstm;
    namespace gru = detail::gru;
    if constexpr (NB > 2) {  // SimpleRNN only (see use<P>())
      return type_ == CellType::simple_rnn_relu ? &simple_rnn::step_kernel<P, NB, Act::relu, FromProduct, T, O>
                                                : &simple_rnn::step_kernel<P, NB, Act::tanh, FromProduct, T, O>;
    } else {
      switch (type_) {
        case CellType::simple_rnn_tanh: return &simple_rnn::step_kernel<P, NB, Act::tanh, FromProduct, T, O>;
        case CellType::simple_rnn_relu: return &simple_rnn::step_kernel<P, NB, Act::relu, FromProduct, T, O>;
        case CellType::lstm:
          return peephole_ ? &lstm::step_kernel<P, NB, true, FromProduct, T, O>
                           : &lstm::step_kernel<P, NB, false, FromProduct, T, O>;
        case CellType::gru: return &gru::reset_after_kernel<P, NB, FromProduct, T, O>;
        case CellType::gru_reset_before: return &gru::reset_before_kernel<P, NB, FromProduct, T, O>;
      }
      return nullptr;
    }
  }

  // Fills blocks [b0, b1) of the buffers shape() sized; with_input: W too.
  void pack_blocks(const CellWeights<T>& w, Index b0, Index b1, bool with_input) {
    const Index D = input_size_, H = units_, W = block_units();
    const int G = gate_count(type_);
    // Row k of block b for gates [g0, g0 + n) of m (rows × G·H): n × W values of M[k, g·H + units of b], zero
    // past H. Blocks follow each other, stored_rows(rows) × n × W values each; rows in groups of the operand's
    // row_group, interleaved (value j of row k of a group at j·row_group + k % row_group), zero rows past the
    // last.
    auto put_rows = [&](WeightRows& out, const T* m, Index rows, int g0, int n) {
      constexpr Index group = Rows::row_group;
      const Index width = n * W;
      for (Index b = b0; b < b1; ++b) {
        const auto [u0, u1] = units_of_blocks(b, b + 1);
        O* block = out.data() + b * stored_rows(rows) * width;
        for (Index k = 0; k < stored_rows(rows); ++k) {
          O* row = block + (k / group) * group * width + k % group;
          for (int g = g0; g < g0 + n; ++g)
            for (Index j = 0; j < W; ++j) {
              const bool value = k < rows && u0 + j < u1;
              row[((g - g0) * W + j) * group] = Rows::pack_one(value ? m[k * G * H + g * H + u0 + j] : T(0));
            }
        }
      }
    };
    // A vector of n gates' values (bias, peepholes; v[g·H + j]) in the same order: block b, then its n × W values.
    auto put_vector = [&](Values& out, const T* v, int n) {
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

  using WeightRows = detail::AlignedVector<O>;
  using Values = detail::AlignedVector<T>;

  CellType type_ = CellType::lstm;
  Index input_size_ = 0, units_ = 0;
  bool peephole_ = false;
  Index lane_count_ = 1, packets_per_block_ = 1, blocks_ = 0;
  Kernel kernel_ = nullptr, product_kernel_ = nullptr;  // from x; from x·W
  WeightRows input_, recurrent_, candidate_;             // laid out as detail::StackedWeights describes
  Values bias_, peephole_w_;
};

}  // namespace rnnfast

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
