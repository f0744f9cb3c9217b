// The SimpleRNN's stacked-step kernel (StackedStep, the streaming and one-sequence fast path): a block's sums in
// registers over [x; h], then the activation on each packet.
#pragma once

#include "rnnfast/detail/cells/common/stacked_kernel.hpp"
#include "rnnfast/detail/cells/simple_rnn/equations.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments (as inside Eigen)
#endif

namespace rnnfast::detail::simple_rnn {

template <class P, int NB, Activation Act, bool FromProduct, class T, class O>
void step_kernel(const StackedWeights<T, O>& w, const T* x, const T*, const T* h_product, const T*, T* h, T*, T*,
                 Index b0, Index b1, bool reverse) {
  constexpr Index L = packet_lanes<P>, W = NB * L;
  const Index H = w.units;
  for (Index j = b0; j < b1; ++j) {
    const Index b = block_at(j, b0, b1, reverse);
    Sums<P, NB, O> sums(w.bias + b * W);
    add_input<NB, FromProduct>(w, sums, x, b, 1, SlotsOf<NB, 0>{});
    sums.add(h_product, H, w.recurrent + b * w.recurrent_rows * W, SlotsOf<NB, 0>{});
    for (int n = 0; n < NB; ++n) store_lanes<P>(h, b * W + n * L, H, activate<Act>(sums.total(n)));
  }
}

}  // namespace rnnfast::detail::simple_rnn

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
