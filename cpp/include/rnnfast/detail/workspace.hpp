// The buffers of a whole-sequence call, and the packed weights a workspace keeps from call to call.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "rnnfast/detail/buffers.hpp"
#include "rnnfast/detail/stacked_step.hpp"
#include "rnnfast/sequence_call.hpp"

namespace rnnfast {

// What a workspace's packed weights were packed from (detail/one_sequence.hpp), to skip packing them again.
struct PackedWeightsKey {
  const void* kernel = nullptr;
  const void* recurrent_kernel = nullptr;
  const void* bias = nullptr;
  const void* peephole = nullptr;
  std::uint64_t version = 0;  // 0: nothing reusable
  int cell = -1;              // CellType
  bool has_peephole = false;
  Index input_size = 0, units = 0;
  int threads = 0;
  bool operator==(const PackedWeightsKey& o) const {
    return kernel == o.kernel && recurrent_kernel == o.recurrent_kernel && bias == o.bias &&
           peephole == o.peephole && version == o.version && cell == o.cell && has_peephole == o.has_peephole &&
           input_size == o.input_size && units == o.units && threads == o.threads;
  }
};

// Buffers for one call, sized once at its start (they only grow, so a layer reusing its workspace allocates
// nothing after the first call). After a training forward they hold what backward needs.
template <class T>
struct Workspace {
  // Packed weights kept from call to call: packing U and W costs as much as several steps of one sequence's
  // inference (batch 1). A caller that sets weights_version to a nonzero value promises that
  // weights passed again at the same addresses with the same version hold the values they held when packed, and
  // changes the version whenever they change; the packing is then skipped. 0 (the default): pack every call.
  std::uint64_t weights_version = 0;
  PackedWeightsKey packed_for;              // what stacked and packed_w hold
  detail::AlignedVector<T> x_packed;        // time-major, processing order, zero padded (lengths or go_backwards)
  // Training: every step's activations, then backward's dA over them; inference: one input chunk's steps.
  detail::AlignedVector<T> saved;
  detail::AlignedVector<T> h_prev, c_prev;  // training: the state entering every step; inference: two ping-pong blocks
  detail::AlignedVector<T> h_in;            // recurrent dropout: h_prev⊙mask, laid out like h_prev
  detail::AlignedVector<T> input_mask, recurrent_mask;
  detail::AlignedVector<T> h_last, c_last;  // the final state, kept for backward
  detail::AlignedVector<T> dh, dh_next, dc, scratch, dx_packed;
  detail::AlignedVector<T> packed_u, packed_w;  // U and W packed for this call's products
  StackedStep<T> stacked;                       // U packed for one-sequence inference (detail/one_sequence.hpp)
  detail::AlignedVector<std::uint8_t> active;   // T × B: step t of sequence b runs
  detail::AlignedVector<std::int64_t> lengths;
  Index batch = 0, time = 0, input_size = 0;
  SequenceOptions options;
  int max_threads = 0;  // the caller's cap on the threads of calls with this workspace (0: the pool decides)
  bool packed = false, has_lengths = false, trained = false, has_input_mask = false, has_recurrent_mask = false;
  bool saved_consumed = false;  // backward has written dA over the saved activations
  const T* x = nullptr;  // the input the training forward used (caller keeps it alive until backward)
};

}  // namespace rnnfast
