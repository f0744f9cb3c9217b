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

  // This thread's units: the product of their gate columns, then the fused pass over them.
  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    const Index u0 = ctx.units.begin, n = ctx.units.size();
    // The recurrent product adds to x·W in the saved rows; the fused pass below turns them into activations.
    recurrent_product(ctx, 0, 4, s.batch, s.h_prev, s.ld_h_prev, s.saved, s.ld_saved, true);
    const T* b = ctx.weights.bias + u0;
    for (Index r = 0; r < s.batch; ++r) {
      const T* c_prev = s.c_prev + r * s.ld_c_prev + u0;
      T* h = s.h + r * s.ld_h + u0;
      T* c = s.c + r * s.ld_c + u0;
      if (!row_active(s.active, r)) {
        copy_row(s.h_prev + r * s.ld_h_prev + u0, h, n);
        copy_row(c_prev, c, n);
        continue;
      }
      T* a = s.saved + r * s.ld_saved + u0;
      const Index done = fused_forward(n, a, b, c_prev, c, h);
      if (done < n) eigen_forward(n - done, a + done, b + done, c_prev + done, c + done, h + done);
    }
  }

  // The gate gradients of this thread's units; once the team has them all, dh_{t-1} for this thread's units.
  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, T* dbias) const {
    using namespace detail;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    for (Index r = 0; r < s.batch; ++r) {
      T* da = s.da + r * s.ld_da + u0;
      if (!row_active(s.active, r)) {
        for (int gate = 0; gate < 4; ++gate) Vec<T>(da + gate * H, n).setZero();
        continue;  // dc passes through unchanged
      }
      const T* a = s.saved + r * s.ld_saved + u0;
      const CVec<T> i(a, n), f(a + H, n), g(a + 2 * H, n), o(a + 3 * H, n);
      const CVec<T> c(s.c + r * s.ld_c + u0, n), c_prev(s.c_prev + r * s.ld_c_prev + u0, n), dh(s.dh + r * H + u0, n);
      Vec<T> da_i(da, n), da_f(da + H, n), da_g(da + 2 * H, n), da_o(da + 3 * H, n);
      Vec<T> dc(s.dc + r * H + u0, n);
      da_o = c.tanh();  // tanh(c_t), consumed at once
      dc += dh * o * (T(1) - da_o.square());
      da_o = dh * da_o * o * (T(1) - o);
      da_i = dc * g * i * (T(1) - i);
      da_f = dc * c_prev * f * (T(1) - f);
      da_g = dc * i * (T(1) - g.square());
      dc *= f;
      for (int gate = 0; gate < 4; ++gate) add_row(dbias + gate * H + u0, da + gate * H, n);
    }
    ctx.team.sync();  // the product reads every thread's gate gradients
    recurrent_product_backward(ctx, 0, 4, s.batch, s.da, s.ld_da, s.dh_prev);
    pass_inactive_gradient(s, H, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(team, m, input_size, units_, 4 * units_, w, g);
  }

 private:
  // One row's update of n units, all four gates of a unit in registers: a holds x·W + h·U of gate g at
  // a[g·H + j] and gets the activations; returns how many units it did (whole packets).
  Index fused_forward(Index n, T* a, const T* b, const T* c_prev, T* c, T* h) const {
    using P = detail::PacketMath<T>;
    if constexpr (!P::fused) {
      return 0;
    } else {
      using namespace Eigen::internal;
      const Index H = units_;
      Index j = 0;
      for (; j + P::lanes <= n; j += P::lanes) {
        const auto i = P::sigmoid(P::sum(a + j, b + j));
        const auto f = P::sigmoid(P::sum(a + H + j, b + H + j));
        const auto g = P::tanh(P::sum(a + 2 * H + j, b + 2 * H + j));
        const auto o = P::sigmoid(P::sum(a + 3 * H + j, b + 3 * H + j));
        const auto c_new = pmadd(f, P::load(c_prev + j), pmul(i, g));
        P::store(a + j, i);
        P::store(a + H + j, f);
        P::store(a + 2 * H + j, g);
        P::store(a + 3 * H + j, o);
        P::store(c + j, c_new);
        P::store(h + j, pmul(o, P::tanh(c_new)));
      }
      return j;
    }
  }

  // The same update with Eigen expressions (double, and the units after the last whole packet).
  void eigen_forward(Index n, T* a, const T* b, const T* c_prev, T* c, T* h) const {
    using namespace detail;
    const Index H = units_;
    Vec<T> i(a, n), f(a + H, n), g(a + 2 * H, n), o(a + 3 * H, n);
    i = (i + CVec<T>(b, n)).logistic();
    f = (f + CVec<T>(b + H, n)).logistic();
    g = (g + CVec<T>(b + 2 * H, n)).tanh();
    o = (o + CVec<T>(b + 3 * H, n)).logistic();
    Vec<T> c_new(c, n);
    c_new = f * CVec<T>(c_prev, n) + i * g;
    Vec<T>(h, n) = o * c_new.tanh();
  }

  Index units_;
};

}  // namespace rnnfast
