// The GRU's stacked-step kernels (StackedStep, the streaming and one-sequence fast path): a block's gates summed
// in registers over [x; h], then the cell's equations on each packet.
#pragma once

#include "rnnfast/detail/cells/common/stacked_kernel.hpp"
#include "rnnfast/detail/cells/gru/equations.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments (as inside Eigen)
#endif

namespace rnnfast::detail::gru {

// Slots z, r (x·W + h·U + both biases), x_h (+ input bias) and u_h (+ recurrent bias): r multiplies u_h alone.
template <class P, int NB, bool FromProduct, class T, class O>
void reset_after_kernel(const StackedWeights<T, O>& w, const T* x, const T* h_prev, const T* h_product, const T*,
                        T* h, T*, T*, Index b0, Index b1, bool reverse) {
  constexpr Index L = packet_lanes<P>, W = NB * L;
  const Index H = w.units;
  for (Index j = b0; j < b1; ++j) {
    const Index b = block_at(j, b0, b1, reverse);
    Sums<P, 4 * NB, O> sums(w.bias + b * 4 * W);
    add_input<NB, FromProduct>(w, sums, x, b, 3, SlotsOf<NB, 0, 1, 2>{});
    sums.add(h_product, H, w.recurrent + b * w.recurrent_rows * 3 * W, SlotsOf<NB, 0, 1, 3>{});
    for (int n = 0; n < NB; ++n) {
      const Index u = b * W + n * L;
      const Gates<P> s = reset_after(sums.total(n), sums.total(NB + n), sums.total(2 * NB + n),
                                     sums.total(3 * NB + n), load_lanes<P>(h_prev, u, H));
      store_lanes<P>(h, u, H, s.h);
    }
  }
}

// Two passes: z, r and x_h of every block, then — once r⊙h_{t-1} is whole — the candidate's product. Every
// block in order (see StackedStep::step_from_product); scratch: z, x_h and r⊙h_{t-1} of every unit.
template <class P, int NB, bool FromProduct, class T, class O>
void reset_before_kernel(const StackedWeights<T, O>& w, const T* x, const T* h_prev, const T* h_product, const T*,
                         T* h, T*, T* scratch, Index, Index, bool) {
  using namespace Eigen::internal;
  constexpr Index L = packet_lanes<P>, W = NB * L;
  const Index H = w.units, Hp = w.padded_units();
  T* z_all = scratch;
  T* xh_all = scratch + Hp;
  T* rh = scratch + 2 * Hp;  // r⊙h_{t-1}, the candidate product's input (its H values; the rest unread)
  for (Index b = 0; b < w.blocks; ++b) {
    Sums<P, 3 * NB, O> sums(w.bias + b * 3 * W);
    add_input<NB, FromProduct>(w, sums, x, b, 3, SlotsOf<NB, 0, 1, 2>{});
    sums.add(h_product, H, w.recurrent + b * w.recurrent_rows * 2 * W, SlotsOf<NB, 0, 1>{});
    for (int n = 0; n < NB; ++n) {
      const Index u = b * W + n * L;
      const ResetGates<P> s = reset_gates(sums.total(n), sums.total(NB + n), load_lanes<P>(h_prev, u, H));
      pstoreu(z_all + u, s.z);
      pstoreu(xh_all + u, sums.total(2 * NB + n));
      pstoreu(rh + u, s.reset_h);
    }
  }
  Operand<T, O>::activations(rh, H, rh);  // r⊙h_{t-1} as the candidate's product reads it (its H values only)
  for (Index b = 0; b < w.blocks; ++b) {
    Sums<P, NB, O> sums(xh_all + b * W);
    sums.add(rh, H, w.candidate + b * w.recurrent_rows * W, SlotsOf<NB, 0>{});
    for (int n = 0; n < NB; ++n) {
      const Index u = b * W + n * L;
      store_lanes<P>(h, u, H, state(ploadu<P>(z_all + u), candidate(sums.total(n)), load_lanes<P>(h_prev, u, H)));
    }
  }
}

}  // namespace rnnfast::detail::gru

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
