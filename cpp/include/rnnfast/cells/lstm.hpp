// LSTM, Keras gate order i, f, c̃ (written g here), o:
//   [i f g o] = [σ σ tanh σ](x_t·W + h_{t-1}·U + b),  c_t = f⊙c_{t-1} + i⊙g,  h_t = o⊙tanh(c_t).
#pragma once

#include "rnnfast/cells/common.hpp"

namespace rnnfast {

template <class T>
class LstmCell {
 public:
  static constexpr int gates = 4;
  static constexpr bool has_cell_state = true;

  explicit LstmCell(Index units) : units_(units) {}
  Index units() const { return units_; }
  Index saved_width() const { return 4 * units_; }  // i, f, g, o after their activations
  Index da_width() const { return 4 * units_; }
  Index scratch_width() const { return 0; }
  Index bias_size() const { return 4 * units_; }

  void forward_step(const StepForward<T>& s, const CellWeights<T>& w) const {
    using namespace detail;
    const Index H = units_;
    // The recurrent product lands in the saved rows; the fused pass below turns it into gate activations.
    recurrent_product(s.batch, H, 4 * H, s.h_prev, s.ld_h_prev, w.recurrent_kernel, 4 * H, s.saved, s.ld_saved);
    const CVec<T> b(w.bias, 4 * H);
    for (Index r = 0; r < s.batch; ++r) {
      const T* c_prev = s.c_prev + r * s.ld_c_prev;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev, s.h + r * s.ld_h, H);
        copy_row(c_prev, s.c + r * s.ld_c, H);
        continue;
      }
      T* a = s.saved + r * s.ld_saved;
      const T* xw = s.xw + r * s.ld_xw;
      Vec<T> if_gates(a, 2 * H), g(a + 2 * H, H), o(a + 3 * H, H);
      if_gates = (if_gates + CVec<T>(xw, 2 * H) + b.head(2 * H)).logistic();
      g = (g + CVec<T>(xw + 2 * H, H) + b.segment(2 * H, H)).tanh();
      o = (o + CVec<T>(xw + 3 * H, H) + b.tail(H)).logistic();
      Vec<T> c(s.c + r * s.ld_c, H);
      c = CVec<T>(a + H, H) * CVec<T>(c_prev, H) + CVec<T>(a, H) * g;
      Vec<T>(s.h + r * s.ld_h, H) = o * c.tanh();
    }
  }

  void backward_step(const StepBackward<T>& s, const CellWeights<T>& w, T* dbias) const {
    using namespace detail;
    const Index H = units_;
    for (Index r = 0; r < s.batch; ++r) {
      T* da = s.da + r * s.ld_da;
      if (!row_active(s.active, r)) {
        Vec<T>(da, 4 * H).setZero();
        continue;  // dc passes through unchanged
      }
      const T* a = s.saved + r * s.ld_saved;
      const CVec<T> i(a, H), f(a + H, H), g(a + 2 * H, H), o(a + 3 * H, H);
      const CVec<T> c(s.c + r * s.ld_c, H), c_prev(s.c_prev + r * s.ld_c_prev, H), dh(s.dh + r * H, H);
      Vec<T> da_i(da, H), da_f(da + H, H), da_g(da + 2 * H, H), da_o(da + 3 * H, H);
      Vec<T> dc(s.dc + r * H, H);
      da_o = c.tanh();  // tanh(c_t), consumed at once
      dc += dh * o * (T(1) - da_o.square());
      da_o = dh * da_o * o * (T(1) - o);
      da_i = dc * g * i * (T(1) - i);
      da_f = dc * c_prev * f * (T(1) - f);
      da_g = dc * i * (T(1) - g.square());
      dc *= f;
      add_row(dbias, da, 4 * H);
    }
    recurrent_product_backward(s.batch, H, 4 * H, s.da, s.ld_da, w.recurrent_kernel, 4 * H, s.dh_prev);
    pass_inactive_gradient(s, H);
  }

  void weight_grads(const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(m, input_size, units_, 4 * units_, w, g);
  }

 private:
  Index units_;
};

}  // namespace rnnfast
