// GRU, Keras gate order z (update), r (reset), h̃ (candidate); h_t = z⊙h_{t-1} + (1−z)⊙h̃.
//   reset_after=true  (Keras default; cuDNN/PyTorch form), bias 2 × 3H = [input bias; recurrent bias]:
//     [u_z u_r u_h] = h_{t-1}·U + b_rec,  z = σ(x_z + u_z), r = σ(x_r + u_r), h̃ = tanh(x_h + r⊙u_h)
//   reset_after=false (original GRU), bias 3H:
//     z = σ(x_z + h_{t-1}·U_z), r = σ(x_r + h_{t-1}·U_r), h̃ = tanh(x_h + (r⊙h_{t-1})·U_h)
// where [x_z x_r x_h] = x_t·W (+ input bias).
#pragma once

#include "rnnfast/cells/common.hpp"

namespace rnnfast {

template <class T>
class GruCell {
 public:
  static constexpr int gates = 3;
  static constexpr bool has_cell_state = false;

  GruCell(Index units, bool reset_after) : units_(units), reset_after_(reset_after) {}
  Index units() const { return units_; }
  bool reset_after() const { return reset_after_; }
  // z, r, h̃ and one more: u_h (reset_after) or r⊙h_{t-1} (reset_before), both needed by backward.
  Index saved_width() const { return 4 * units_; }
  // reset_after keeps [da_z, da_r, du_h] (feeds U) and da_h (feeds W) side by side.
  Index da_width() const { return (reset_after_ ? 4 : 3) * units_; }
  Index scratch_width() const { return reset_after_ ? 0 : units_; }
  Index bias_size() const { return (reset_after_ ? 6 : 3) * units_; }

  void forward_step(const StepForward<T>& s, const CellWeights<T>& w) const {
    if (reset_after_) forward_reset_after(s, w);
    else forward_reset_before(s, w);
  }
  void backward_step(const StepBackward<T>& s, const CellWeights<T>& w, T* dbias) const {
    if (reset_after_) backward_reset_after(s, w, dbias);
    else backward_reset_before(s, w, dbias);
  }
  void weight_grads(const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    if (reset_after_) weight_grads_reset_after(m, input_size, w, g);
    else weight_grads_reset_before(m, input_size, w, g);
  }

 private:
  // h = z⊙h_prev + (1−z)⊙h̃, or h_prev for a row past its length.
  void write_state(const StepForward<T>& s, Index r, const T* z, const T* hh) const {
    using namespace detail;
    const Index H = units_;
    const T* h_prev = s.h_prev + r * s.ld_h_prev;
    T* h = s.h + r * s.ld_h;
    if (!row_active(s.active, r)) {
      copy_row(h_prev, h, H);
      return;
    }
    const CVec<T> hh_v(hh, H);
    Vec<T>(h, H) = hh_v + CVec<T>(z, H) * (CVec<T>(h_prev, H) - hh_v);
  }

  void forward_reset_after(const StepForward<T>& s, const CellWeights<T>& w) const {
    using namespace detail;
    const Index H = units_;
    recurrent_product(s.batch, H, 3 * H, s.h_prev, s.ld_h_prev, w.recurrent_kernel, 3 * H, s.saved, s.ld_saved);
    const CVec<T> b_in(w.bias, 3 * H), b_rec(w.bias + 3 * H, 3 * H);
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved;
      if (row_active(s.active, r)) {
        const T* xw = s.xw + r * s.ld_xw;
        Vec<T> zr(a, 2 * H), hh(a + 2 * H, H), uh(a + 3 * H, H);
        uh = hh + b_rec.tail(H);  // u_h with its bias, before h̃ takes its slot
        zr = (zr + CVec<T>(xw, 2 * H) + b_in.head(2 * H) + b_rec.head(2 * H)).logistic();
        hh = (CVec<T>(xw + 2 * H, H) + b_in.tail(H) + CVec<T>(a + H, H) * uh).tanh();
      }
      write_state(s, r, a, a + 2 * H);
    }
  }

  void backward_reset_after(const StepBackward<T>& s, const CellWeights<T>& w, T* dbias) const {
    using namespace detail;
    const Index H = units_;
    for (Index r = 0; r < s.batch; ++r) {
      T* da = s.da + r * s.ld_da;
      if (!row_active(s.active, r)) {
        Vec<T>(da, 4 * H).setZero();
        continue;
      }
      const T* a = s.saved + r * s.ld_saved;
      const CVec<T> z(a, H), rg(a + H, H), hh(a + 2 * H, H), uh(a + 3 * H, H);
      const CVec<T> dh(s.dh + r * H, H), h_prev(s.h_prev + r * s.ld_h_prev, H);
      Vec<T> da_z(da, H), da_r(da + H, H), du_h(da + 2 * H, H), da_h(da + 3 * H, H);
      da_h = dh * (T(1) - z) * (T(1) - hh.square());
      du_h = da_h * rg;
      da_r = da_h * uh * rg * (T(1) - rg);
      da_z = dh * (h_prev - hh) * z * (T(1) - z);
      Vec<T> db_in(dbias, 3 * H), db_rec(dbias + 3 * H, 3 * H);
      db_in.head(2 * H) += CVec<T>(da, 2 * H);
      db_in.tail(H) += da_h;
      db_rec += CVec<T>(da, 3 * H);
    }
    recurrent_product_backward(s.batch, H, 3 * H, s.da, s.ld_da, w.recurrent_kernel, 3 * H, s.dh_prev);
    add_direct_gradient(s);
  }

  // dh_{t-1} gets dh⊙z besides the recurrent product; rows past their length pass dh through.
  void add_direct_gradient(const StepBackward<T>& s, const T* d_rh = nullptr) const {
    using namespace detail;
    const Index H = units_;
    for (Index r = 0; r < s.batch; ++r) {
      Vec<T> dh_prev(s.dh_prev + r * H, H);
      const CVec<T> dh(s.dh + r * H, H);
      if (!row_active(s.active, r)) {
        dh_prev = dh;
        continue;
      }
      const T* a = s.saved + r * s.ld_saved;
      dh_prev += dh * CVec<T>(a, H);
      if (d_rh != nullptr) dh_prev += CVec<T>(d_rh + r * H, H) * CVec<T>(a + H, H);
    }
  }

  void weight_grads_reset_after(const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                                const CellGrads<T>& g) const {
    using detail::accumulate_at_b;
    const Index H = units_, D = input_size, ld = 4 * H;
    // W sees [da_z, da_r, da_h]; U sees [da_z, da_r, du_h].
    accumulate_at_b(m.rows, D, 2 * H, m.x, D, m.da, ld, g.kernel, 3 * H);
    accumulate_at_b(m.rows, D, H, m.x, D, m.da + 3 * H, ld, g.kernel + 2 * H, 3 * H);
    accumulate_at_b(m.rows, H, 3 * H, m.h_prev, H, m.da, ld, g.recurrent_kernel, 3 * H);
    if (m.dx != nullptr) {
      linalg::gemm(linalg::Op::none, linalg::Op::transpose, m.rows, D, 2 * H, T(1), m.da, ld, w.kernel, 3 * H,
                   T(0), m.dx, D);
      linalg::gemm(linalg::Op::none, linalg::Op::transpose, m.rows, D, H, T(1), m.da + 3 * H, ld,
                   w.kernel + 2 * H, 3 * H, T(1), m.dx, D);
    }
  }

  void forward_reset_before(const StepForward<T>& s, const CellWeights<T>& w) const {
    using namespace detail;
    const Index H = units_;
    const CVec<T> b(w.bias, 3 * H);
    recurrent_product(s.batch, H, 2 * H, s.h_prev, s.ld_h_prev, w.recurrent_kernel, 3 * H, s.saved, s.ld_saved);
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved;
      Vec<T> zr(a, 2 * H), rh(a + 3 * H, H);
      if (!row_active(s.active, r)) {
        rh.setZero();  // keeps the second product finite for rows that do not run
        continue;
      }
      zr = (zr + CVec<T>(s.xw + r * s.ld_xw, 2 * H) + b.head(2 * H)).logistic();
      rh = CVec<T>(a + H, H) * CVec<T>(s.h_prev + r * s.ld_h_prev, H);
    }
    // (r⊙h_{t-1})·U_h can only start once r is known: the second product of the step.
    recurrent_product(s.batch, H, H, s.saved + 3 * H, s.ld_saved, w.recurrent_kernel + 2 * H, 3 * H,
                      s.saved + 2 * H, s.ld_saved);
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved;
      if (row_active(s.active, r)) {
        Vec<T> hh(a + 2 * H, H);
        hh = (hh + CVec<T>(s.xw + r * s.ld_xw + 2 * H, H) + b.tail(H)).tanh();
      }
      write_state(s, r, a, a + 2 * H);
    }
  }

  void backward_reset_before(const StepBackward<T>& s, const CellWeights<T>& w, T* dbias) const {
    using namespace detail;
    const Index H = units_;
    for (Index r = 0; r < s.batch; ++r) {
      T* da = s.da + r * s.ld_da;
      if (!row_active(s.active, r)) {
        Vec<T>(da, 3 * H).setZero();
        continue;
      }
      const T* a = s.saved + r * s.ld_saved;
      const CVec<T> z(a, H), hh(a + 2 * H, H);
      const CVec<T> dh(s.dh + r * H, H), h_prev(s.h_prev + r * s.ld_h_prev, H);
      Vec<T>(da + 2 * H, H) = dh * (T(1) - z) * (T(1) - hh.square());
      Vec<T>(da, H) = dh * (h_prev - hh) * z * (T(1) - z);
    }
    // d(r⊙h_{t-1}) = da_h·U_hᵀ, then r's gradient, then the product for z and r.
    T* d_rh = s.scratch;
    recurrent_product_backward(s.batch, H, H, s.da + 2 * H, s.ld_da, w.recurrent_kernel + 2 * H, 3 * H, d_rh);
    for (Index r = 0; r < s.batch; ++r) {
      if (!row_active(s.active, r)) continue;
      T* da = s.da + r * s.ld_da;
      const CVec<T> rg(s.saved + r * s.ld_saved + H, H);
      Vec<T>(da + H, H) = CVec<T>(d_rh + r * H, H) * CVec<T>(s.h_prev + r * s.ld_h_prev, H) * rg * (T(1) - rg);
      add_row(dbias, da, 3 * H);
    }
    recurrent_product_backward(s.batch, H, 2 * H, s.da, s.ld_da, w.recurrent_kernel, 3 * H, s.dh_prev);
    add_direct_gradient(s, d_rh);
  }

  void weight_grads_reset_before(const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                                 const CellGrads<T>& g) const {
    using detail::accumulate_at_b;
    const Index H = units_, D = input_size;
    accumulate_at_b(m.rows, D, 3 * H, m.x, D, m.da, 3 * H, g.kernel, 3 * H);
    accumulate_at_b(m.rows, H, 2 * H, m.h_prev, H, m.da, 3 * H, g.recurrent_kernel, 3 * H);
    accumulate_at_b(m.rows, H, H, m.saved + 3 * H, 4 * H, m.da + 2 * H, 3 * H, g.recurrent_kernel + 2 * H, 3 * H);
    if (m.dx != nullptr)
      linalg::gemm(linalg::Op::none, linalg::Op::transpose, m.rows, D, 3 * H, T(1), m.da, 3 * H, w.kernel, 3 * H,
                   T(0), m.dx, D);
  }

  Index units_;
  bool reset_after_;
};

}  // namespace rnnfast
