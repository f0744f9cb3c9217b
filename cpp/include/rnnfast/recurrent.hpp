// A recurrent layer's engine chosen at run time: the cell type is dispatched once per call, then everything runs
// in the cell's own template code.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/cells/gru.hpp"
#include "rnnfast/cells/layer_norm.hpp"
#include "rnnfast/cells/lstm.hpp"
#include "rnnfast/cells/simple_rnn.hpp"
#include "rnnfast/sequence.hpp"

namespace rnnfast {

// Every cell the engine has, one type per cell and variant.
template <class T>
using AnyCell = std::variant<SimpleRnnCell<T, Activation::tanh>, SimpleRnnCell<T, Activation::relu>, LstmCell<T>,
                             GruCell<T>, LayerNormSimpleRnnCell<T, Activation::tanh>,
                             LayerNormSimpleRnnCell<T, Activation::relu>, LayerNormLstmCell<T>, LayerNormGruCell<T>>;

// The cell of a type and its options; std::invalid_argument for options the type does not have.
template <class T>
AnyCell<T> make_cell(CellType type, Index units, const CellOptions& options) {
  if (options.peephole && type != CellType::lstm) throw std::invalid_argument("rnnfast: only an LSTM has peepholes");
  if (options.layer_norm && !(options.layer_norm_epsilon > 0))
    throw std::invalid_argument("rnnfast: layer_norm_epsilon must be > 0");
  const T eps = static_cast<T>(options.layer_norm_epsilon);
  switch (type) {
    case CellType::simple_rnn_tanh:
      if (options.layer_norm) return LayerNormSimpleRnnCell<T, Activation::tanh>(units, eps);
      return SimpleRnnCell<T, Activation::tanh>(units);
    case CellType::simple_rnn_relu:
      if (options.layer_norm) return LayerNormSimpleRnnCell<T, Activation::relu>(units, eps);
      return SimpleRnnCell<T, Activation::relu>(units);
    case CellType::lstm:
      if (options.layer_norm) return LayerNormLstmCell<T>(units, options.peephole, eps);
      return LstmCell<T>(units, options.peephole);
    case CellType::gru:
      if (options.layer_norm) return LayerNormGruCell<T>(units, eps);
      return GruCell<T>(units, true);
    case CellType::gru_reset_before:
      if (options.layer_norm) throw std::invalid_argument("rnnfast: a layer-normalised GRU needs reset_after");
      return GruCell<T>(units, false);
  }
  throw std::invalid_argument("rnnfast: unknown cell type");
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

  // The sequence driver of the cell make_cell builds (the alternatives of Engine follow those of AnyCell).
  static Engine make(CellType type, Index units, const CellOptions& options) {
    return std::visit([](const auto& cell) -> Engine { return Sequence<T, std::decay_t<decltype(cell)>>(cell); },
                      make_cell<T>(type, units, options));
  }

  CellType type_;
  CellOptions options_;
  Index input_size_, units_;
  Engine engine_;
};

}  // namespace rnnfast
