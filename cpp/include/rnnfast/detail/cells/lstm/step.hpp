// The LSTM's stacked-step kernel (StackedStep, the streaming and one-sequence fast path): a block's four gates
// summed in registers over [x; h], then the cell's equations on each packet.
#pragma once

#include "rnnfast/detail/cells/common/stacked_kernel.hpp"
#include "rnnfast/detail/cells/lstm/equations.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments (as inside Eigen)
#endif

namespace rnnfast::detail::lstm {

template <class P, int NB, bool Peephole, bool FromProduct, class T, class O>
void step_kernel(const StackedWeights<T, O>& w, const T* x, const T*, const T* h_product, const T* c_prev, T* h,
                 T* c, T*, Index b0, Index b1, bool reverse) {
  constexpr Index L = packet_lanes<P>, W = NB * L;
  const Index H = w.units;
  for (Index j = b0; j < b1; ++j) {
    const Index b = block_at(j, b0, b1, reverse);
    Sums<P, 4 * NB, O> sums(w.bias + b * 4 * W);
    add_input<NB, FromProduct>(w, sums, x, b, 4, SlotsOf<NB, 0, 1, 2, 3>{});
    sums.add(h_product, H, w.recurrent + b * w.recurrent_rows * 4 * W, SlotsOf<NB, 0, 1, 2, 3>{});
    const T* p = Peephole ? w.peephole + b * 3 * W : nullptr;
    for (int n = 0; n < NB; ++n) {
      const Index u = b * W + n * L;
      const Peepholes<P> pp = load_peepholes<Peephole, P>(p, W, n * L);
      const Gates<P> s = gates<Peephole>(sums.total(n), sums.total(NB + n), sums.total(2 * NB + n),
                                         sums.total(3 * NB + n), load_lanes<P>(c_prev, u, H), pp);
      store_lanes<P>(c, u, H, s.c);
      store_lanes<P>(h, u, H, output(s.o, s.c));
    }
  }
}

}  // namespace rnnfast::detail::lstm

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
