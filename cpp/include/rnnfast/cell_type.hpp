// The cell types and their options, as the engines name them (recurrent.hpp, stacked_step.hpp, stream.hpp).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace rnnfast {

using Index = std::ptrdiff_t;

enum class CellType { simple_rnn_tanh, simple_rnn_relu, lstm, gru, gru_reset_before };

inline int gate_count(CellType type) {
  switch (type) {
    case CellType::simple_rnn_tanh:
    case CellType::simple_rnn_relu: return 1;
    case CellType::lstm: return 4;
    default: return 3;
  }
}
inline bool has_cell_state(CellType type) { return type == CellType::lstm; }

// The cell type of a name: simple_rnn_tanh, simple_rnn_relu, lstm, gru (reset_after), gru_reset_before.
inline CellType cell_type(const std::string& name) {
  if (name == "simple_rnn_tanh") return CellType::simple_rnn_tanh;
  if (name == "simple_rnn_relu") return CellType::simple_rnn_relu;
  if (name == "lstm") return CellType::lstm;
  if (name == "gru") return CellType::gru;
  if (name == "gru_reset_before") return CellType::gru_reset_before;
  throw std::invalid_argument("rnnfast: unknown cell type '" + name + "'");
}

// How a cell's products multiply. full: in the engine's type T. bfloat16 (T = float; Keras' mixed_bfloat16):
// the weights and the activations entering each product (the inputs, h_{t-1}, a GRU's r⊙h_{t-1}) rounded to
// bfloat16, to nearest even, the sums accumulated in float; the gates and states stay float. A Stream's, for the
// plain cells (its stacked kernel: one row, or batch × units up to 64); the sequence engine, and so Model and
// RecurrentLayer, multiply at full precision only and refuse it.
enum class Precision { full, bfloat16 };

// Variants of a cell type.
struct CellOptions {
  bool peephole = false;     // LSTM only: the gates see the cell state (CellWeights::peephole)
  bool layer_norm = false;   // layer-normalised cell (CellWeights::norm); a GRU needs reset_after
  double layer_norm_epsilon = 1e-3;
  Precision precision = Precision::full;
};

// Size of CellWeights::norm: SimpleRNN 2H (γ, β), LSTM 18H (γ_x, β_x, γ_h, β_h of 4H; γ_c, β_c of H), GRU 12H.
inline Index norm_size(CellType type, Index units, const CellOptions& options) {
  if (!options.layer_norm) return 0;
  return type == CellType::lstm ? 18 * units : type == CellType::gru ? 12 * units : 2 * units;
}
// Number of bias entries: G·H, or 2 × 3H for a GRU with reset_after.
inline Index bias_size(CellType type, Index units) {
  return (type == CellType::gru ? 2 : 1) * gate_count(type) * units;
}

}  // namespace rnnfast
