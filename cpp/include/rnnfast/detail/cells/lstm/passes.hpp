// The LSTM's whole-sequence passes (the cell of the sequence driver): per step, the recurrent product on this
// thread's units, then one fused pass of the equations (equations.hpp) over each batch row; backward likewise.
#pragma once

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/cells/lstm/equations.hpp"

namespace rnnfast {

template <class T>
class LstmCell {
 public:
  static constexpr int gates = 4;
  static constexpr bool has_cell_state = true;
  static constexpr bool splits_units = true;  // threads may own slices of the units

  explicit LstmCell(Index units, bool peephole = false) : units_(units), peephole_(peephole) {}
  Index units() const { return units_; }
  bool peephole() const { return peephole_; }
  CellType stacked_type() const { return CellType::lstm; }  // its stacked-step kernel (step.hpp)
  // i, f, g, o after their activations; backward overwrites them with [da_i, da_f, da_g, da_o].
  Index saved_width() const { return 4 * units_; }
  Index scratch_width() const { return 0; }
  Index bias_size() const { return 4 * units_; }
  Index norm_size() const { return 0; }

  // This thread's units: the product of their gate columns, then one fused pass over them.
  void forward_step(const StepForward<T>& s, const StepContext<T>& ctx) const {
    // The recurrent product adds to x·W in the saved rows; the pass turns them into activations.
    detail::recurrent_product(ctx, 0, 4, s.batch, s.h_in, s.ld_h_in, s.saved, s.ld_saved, true);
    if (peephole_) forward_rows<true>(s, ctx);
    else forward_rows<false>(s, ctx);
  }

  // The gate gradients of this thread's units, over their activations; once the team has them all, dh_{t-1}
  // for this thread's units.
  void backward_step(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    if (peephole_) backward_rows<true>(s, ctx, grads);
    else backward_rows<false>(s, ctx, grads);
    ctx.team.sync();  // the product reads every thread's gate gradients
    detail::recurrent_product_backward(ctx, 0, 4, s.batch, s.saved, s.ld_saved, s.dh_prev);
    detail::finish_recurrent_gradient(s, units_, ctx.units);
  }

  void weight_grads(const Team& team, const SequenceMatrices<T>& m, Index input_size, const CellWeights<T>& w,
                    const CellGrads<T>& g) const {
    detail::dense_weight_grads(team, m, input_size, units_, 4 * units_, w, g);
  }

 private:
  template <bool Peephole>
  void forward_rows(const StepForward<T>& s, const StepContext<T>& ctx) const {
    using namespace detail;
    using Eigen::internal::padd;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    const T* b = ctx.weights.bias + u0;
    const T* p = Peephole ? ctx.weights.peephole + u0 : nullptr;
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
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        auto pre = [&](int gate) { return padd(load<V>(a + gate * H + j), load<V>(b + gate * H + j)); };
        const lstm::Peepholes<V> pp = lstm::load_peepholes<Peephole, V>(p, H, j);
        const lstm::Gates<V> g =
            lstm::gates<Peephole>(pre(0), pre(1), pre(2), pre(3), load<V>(c_prev + j), pp);
        store(a + j, g.i);
        store(a + H + j, g.f);
        store(a + 2 * H + j, g.g);
        store(a + 3 * H + j, g.o);
        store(c + j, g.c);
        store(h + j, lstm::output(g.o, g.c));
      });
    }
  }

  template <bool Peephole>
  void backward_rows(const StepBackward<T>& s, const StepContext<T>& ctx, const CellGrads<T>& grads) const {
    using namespace detail;
    using Eigen::internal::pmul;
    const Index H = units_, u0 = ctx.units.begin, n = ctx.units.size();
    const T* p = Peephole ? ctx.weights.peephole + u0 : nullptr;
    T* db = grads.bias + u0;
    T* dp = Peephole ? grads.peephole + u0 : nullptr;
    for (Index r = 0; r < s.batch; ++r) {
      T* a = s.saved + r * s.ld_saved + u0;
      if (!row_active(s.active, r)) {
        for (int gate = 0; gate < 4; ++gate) std::fill(a + gate * H, a + gate * H + n, T(0));
        continue;  // dc passes through unchanged
      }
      const T* c = s.c + r * s.ld_c + u0;
      const T* c_prev = s.c_prev + r * s.ld_c_prev + u0;
      const T* dh = s.dh + r * H + u0;
      T* dc = s.dc + r * H + u0;
      for_each_unit<T>(n, [&](auto v, Index j) {
        using V = decltype(v);
        const V i = load<V>(a + j), f = load<V>(a + H + j), g = load<V>(a + 2 * H + j), o = load<V>(a + 3 * H + j);
        const V c_j = load<V>(c + j), cp = load<V>(c_prev + j), tanh_c = tanh(c_j), dh_j = load<V>(dh + j);
        const lstm::Peepholes<V> pp = lstm::load_peepholes<Peephole, V>(p, H, j);
        const lstm::Gradients<V> d = lstm::gradients<Peephole>(
            i, f, g, o, cp, pmul(dh_j, tanh_c), lstm::cell_gradient(dh_j, o, tanh_c, load<V>(dc + j)), pp);
        const V da[4] = {d.da_i, d.da_f, d.da_g, d.da_o};
        for (int gate = 0; gate < 4; ++gate) {
          store(a + gate * H + j, da[gate]);
          accumulate(db + gate * H + j, da[gate]);
        }
        if constexpr (Peephole) {
          accumulate(dp + j, pmul(d.da_i, cp));
          accumulate(dp + H + j, pmul(d.da_f, cp));
          accumulate(dp + 2 * H + j, pmul(d.da_o, c_j));
        }
        store(dc + j, d.dc_prev);
      });
    }
  }

  Index units_;
  bool peephole_;
};

}  // namespace rnnfast
