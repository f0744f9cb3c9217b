// A recurrent layer's engine chosen at run time: the cell type is dispatched once per call, then everything runs
// in the cell's own template code.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

#include "rnnfast/cell_type.hpp"
#include "rnnfast/detail/cells/all_cells.hpp"
#include "rnnfast/detail/sequence_driver.hpp"
#include "rnnfast/detail/workspace.hpp"
#include "rnnfast/sequence_call.hpp"

namespace rnnfast {

template <class T>
class Recurrent {
 public:
  Recurrent(CellType type, Index input_size, Index units, CellOptions options = {})
      : type_(type), options_(options), input_size_(input_size), units_(units), engine_(make(type, units, options)) {
    if (input_size < 1 || units < 1) throw std::invalid_argument("rnnfast: input_size and units must be >= 1");
    if (options.precision != Precision::full)
      throw std::invalid_argument("rnnfast: the sequence engine multiplies at full precision only");
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
