// Every cell the engine has, one type per cell and variant, and the cell of a CellType and its options.
#pragma once

#include <stdexcept>
#include <variant>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/cells/gru/layer_norm_passes.hpp"
#include "rnnfast/detail/cells/gru/passes.hpp"
#include "rnnfast/detail/cells/lstm/layer_norm_passes.hpp"
#include "rnnfast/detail/cells/lstm/passes.hpp"
#include "rnnfast/detail/cells/simple_rnn/layer_norm_passes.hpp"
#include "rnnfast/detail/cells/simple_rnn/passes.hpp"

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

}  // namespace rnnfast
