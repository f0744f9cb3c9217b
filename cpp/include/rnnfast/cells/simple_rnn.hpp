// SimpleRNN: h_t = act(x_t·W + h_{t-1}·U + b), act = tanh or relu.
#pragma once

#include "rnnfast/cells/common.hpp"

namespace rnnfast {

enum class Activation { tanh, relu };

template <class T, Activation Act>
class SimpleRnnCell {
 public:
  static constexpr int gates = 1;
  static constexpr bool has_cell_state = false;

  explicit SimpleRnnCell(Index units) : units_(units) {}
  Index units() const { return units_; }
  Index saved_width() const { return units_; }  // h_t (the activation)
  Index da_width() const { return units_; }
  Index scratch_width() const { return 0; }
  Index bias_size() const { return units_; }

  void forward_step(const StepForward<T>& s, const CellWeights<T>& w) const {
    using namespace detail;
    const Index H = units_;
    recurrent_product(s.batch, H, H, s.h_prev, s.ld_h_prev, w.recurrent_kernel, H, s.saved, s.ld_saved);
    const CVec<T> b(w.bias, H);
    for (Index r = 0; r < s.batch; ++r) {
      T* h = s.h + r * s.ld_h;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev, h, H);
        continue;
      }
      Vec<T> a(s.saved + r * s.ld_saved, H);
      const CVec<T> xw(s.xw + r * s.ld_xw, H);
      if constexpr (Act == Activation::tanh) a = (a + xw + b).tanh();
      else a = (a + xw + b).max(T(0));
      copy_row(a.data(), h, H);
    }
  }

  void backward_step(const StepBackward<T>& s, const CellWeights<T>& w, T* dbias) const {
    using namespace detail;
    const Index H = units_;
    for (Index r = 0; r < s.batch; ++r) {
      Vec<T> da(s.da + r * s.ld_da, H);
      if (!row_active(s.active, r)) {
        da.setZero();
        continue;
      }
      const CVec<T> h(s.saved + r * s.ld_saved, H);
      const CVec<T> dh(s.dh + r * H, H);
      if constexpr (Act == Activation::tanh) da = dh * (T(1) - h.square());
      else da = (h > T(0)).select(dh, T(0));
      add_row(dbias, da.data(), H);
    }
    recurrent_product_backward(s.batch, H, H, s.da, s.ld_da, w.recurrent_kernel, H, s.dh_prev);
    pass_inactive_gradient(s, H);
  }

  void weight_grads(const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(m, input_size, units_, units_, w, g);
  }

 private:
  Index units_;
};

}  // namespace rnnfast
