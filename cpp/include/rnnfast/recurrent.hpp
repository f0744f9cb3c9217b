// A recurrent layer's engine chosen at run time: the cell type is dispatched once per call, then everything runs
// in the cell's own template code.
#pragma once

#include <stdexcept>
#include <string>
#include <variant>

#include "rnnfast/cells/gru.hpp"
#include "rnnfast/cells/layer_norm.hpp"
#include "rnnfast/cells/lstm.hpp"
#include "rnnfast/cells/simple_rnn.hpp"
#include "rnnfast/sequence.hpp"

namespace rnnfast {

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

// Variants of a cell type.
struct CellOptions {
  bool peephole = false;     // LSTM only: the gates see the cell state (CellWeights::peephole)
  bool layer_norm = false;   // layer-normalised cell (CellWeights::norm); a GRU needs reset_after
  double layer_norm_epsilon = 1e-3;
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

template <class T>
class Recurrent {
 public:
  Recurrent(CellType type, Index input_size, Index units, CellOptions options = {})
      : type_(type), options_(options), input_size_(input_size), units_(units), engine_(make(type, units, options)) {
    if (input_size < 1 || units < 1) throw std::invalid_argument("rnnfast: input_size and units must be >= 1");
  }

  CellType type() const { return type_; }
  const CellOptions& options() const { return options_; }
  Index input_size() const { return input_size_; }
  Index units() const { return units_; }

  void forward(const SequenceInput<T>& in, const SequenceOptions& opt, const CellWeights<T>& w,
               const SequenceOutput<T>& out, Workspace<T>& ws, bool training) const {
    std::visit([&](const auto& seq) { seq.forward(in, opt, w, out, ws, training); }, engine_);
  }
  void backward(Workspace<T>& ws, const CellWeights<T>& w, const SequenceGradIn<T>& gin,
                const SequenceGradOut<T>& gout) const {
    std::visit([&](const auto& seq) { seq.backward(ws, w, gin, gout); }, engine_);
  }

 private:
  using Engine = std::variant<Sequence<T, SimpleRnnCell<T, Activation::tanh>>,
                              Sequence<T, SimpleRnnCell<T, Activation::relu>>, Sequence<T, LstmCell<T>>,
                              Sequence<T, GruCell<T>>, Sequence<T, LayerNormSimpleRnnCell<T, Activation::tanh>>,
                              Sequence<T, LayerNormSimpleRnnCell<T, Activation::relu>>,
                              Sequence<T, LayerNormLstmCell<T>>, Sequence<T, LayerNormGruCell<T>>>;

  static Engine make(CellType type, Index units, CellOptions options) {
    if (options.peephole && type != CellType::lstm) throw std::invalid_argument("rnnfast: only an LSTM has peepholes");
    if (options.layer_norm) {
      const T eps = static_cast<T>(options.layer_norm_epsilon);
      if (!(options.layer_norm_epsilon > 0)) throw std::invalid_argument("rnnfast: layer_norm_epsilon must be > 0");
      switch (type) {
        case CellType::simple_rnn_tanh:
          return Sequence<T, LayerNormSimpleRnnCell<T, Activation::tanh>>(
              LayerNormSimpleRnnCell<T, Activation::tanh>(units, eps));
        case CellType::simple_rnn_relu:
          return Sequence<T, LayerNormSimpleRnnCell<T, Activation::relu>>(
              LayerNormSimpleRnnCell<T, Activation::relu>(units, eps));
        case CellType::lstm:
          return Sequence<T, LayerNormLstmCell<T>>(LayerNormLstmCell<T>(units, options.peephole, eps));
        case CellType::gru: return Sequence<T, LayerNormGruCell<T>>(LayerNormGruCell<T>(units, eps));
        case CellType::gru_reset_before:
          throw std::invalid_argument("rnnfast: a layer-normalised GRU needs reset_after");
      }
    }
    switch (type) {
      case CellType::simple_rnn_tanh: return Sequence<T, SimpleRnnCell<T, Activation::tanh>>(SimpleRnnCell<T, Activation::tanh>(units));
      case CellType::simple_rnn_relu: return Sequence<T, SimpleRnnCell<T, Activation::relu>>(SimpleRnnCell<T, Activation::relu>(units));
      case CellType::lstm: return Sequence<T, LstmCell<T>>(LstmCell<T>(units, options.peephole));
      case CellType::gru: return Sequence<T, GruCell<T>>(GruCell<T>(units, true));
      case CellType::gru_reset_before: return Sequence<T, GruCell<T>>(GruCell<T>(units, false));
    }
    throw std::invalid_argument("rnnfast: unknown cell type");
  }

  CellType type_;
  CellOptions options_;
  Index input_size_, units_;
  Engine engine_;
};

}  // namespace rnnfast
