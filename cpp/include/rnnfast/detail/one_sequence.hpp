// The inference of one sequence on a plain cell: the steps run on StackedStep's kernels (every gate of a block
// of units in registers, from its row of x·W) instead of the cell's sequence passes. At batch 1 a step is a
// matrix-vector product, bound by reading U, and the gate slots' round trip through memory is saved.
#pragma once

#include <algorithm>
#include <type_traits>
#include <utility>

#include "rnnfast/detail/sequence_layout.hpp"
#include "rnnfast/detail/stacked_step.hpp"
#include "rnnfast/detail/workspace.hpp"

namespace rnnfast::detail {

// Whether a cell is one of StackedStep's (it names its kernels by stacked_type()).
template <class Cell, class = void>
struct has_stacked_kernels : std::false_type {};
template <class Cell>
struct has_stacked_kernels<Cell, std::void_t<decltype(std::declval<const Cell&>().stacked_type())>>
    : std::true_type {};

// Whether a forward steps on StackedStep's kernels: the inference of one sequence on a plain cell, with no
// lengths and no recurrent mask.
template <class Cell, class T>
bool steps_stacked(const Workspace<T>& ws, bool training) {
  if constexpr (has_stacked_kernels<Cell>::value)
    return !training && ws.batch == 1 && !ws.has_lengths && !ws.has_recurrent_mask;
  else
    return false;
}

// The forward of one sequence from the initial state in the layout's first block, on up to max_threads threads.
// Each thread packs U for its blocks of units and steps them, a chunk of steps at a time after x·W of the chunk;
// the team meets once per step. h_t goes straight into y (when not null) when every output is wanted.
template <class T, class Cell>
void run_stacked(const Cell& cell, Workspace<T>& ws, const CellWeights<T>& w, const T* x,
                 const StateLayout<T>& layout, T* y, int max_threads) {
  const Index T_ = ws.time, D = ws.input_size, H = cell.units();
  if (T_ == 0) return;  // the initial state is already the final one
  const Index ld = cell.saved_width();  // the rows of x·W in ws.saved (saved_width ≥ G·H)
  const CellType type = cell.stacked_type();
  bool peephole = false;
  if constexpr (Cell::has_cell_state) peephole = cell.peephole();
  StackedStep<T>& stacked = ws.stacked;
  stacked.shape(type, 0, H, peephole);
  grow(ws.scratch, std::max<Index>(stacked.scratch_width(), 1));
  const bool whole_steps = type == CellType::gru_reset_before;  // its candidate needs all of r⊙h_{t-1}
  const int threads = whole_steps ? 1 : static_cast<int>(std::min<Index>(max_threads, stacked.blocks()));
  const PackedWeightsKey key{w.kernel, w.recurrent_kernel, w.bias, w.peephole, ws.weights_version,
                             static_cast<int>(type), peephole, D, H, threads};
  const bool packed = ws.weights_version != 0 && ws.packed_for == key;
  ws.packed_for = {};  // until this call's packing is done
  ThreadPool::global().run(threads, [&](const Team& team) {
    const auto [b0, b1] = team.share(stacked.blocks());
    const auto [u0, u1] = stacked.units_of_blocks(b0, b1);
    if (!packed) stacked.pack_recurrent(w, b0, b1);
    // x·W by the engine's packed products, in panels of units (not the blocks): the team meets before the
    // steps read it.
    const UnitSlice panels = unit_slice<T>(team, H);
    PackedGates<T> wk(ws.packed_w.data(), Cell::gates, D, H);
    if (!packed || !kPackedKernels) wk.pack(w.kernel, false, panels);  // without packed kernels: binds W only
    const T* h_prev = layout.h_entering(ws, 0);
    for (Index t0 = 0; t0 < T_; t0 += layout.chunk) {
      const Index t1 = std::min(T_, t0 + layout.chunk);
      for (int g = 0; g < Cell::gates; ++g)
        wk.multiply(panels, g, t1 - t0, x + t0 * D, D, ws.saved.data() + g * H, ld, false);
      team.sync();
      for (Index t = t0; t < t1; ++t) {
        T* h = y != nullptr ? y + t * H : layout.h_entering(ws, t + 1);
        T* c_prev = Cell::has_cell_state ? layout.c_entering(ws, t) : nullptr;
        T* c = Cell::has_cell_state ? layout.c_entering(ws, t + 1) : nullptr;
        // every other step backwards over the blocks, as Stream does (see StackedStep::step)
        stacked.step_from_product(ws.saved.data() + (t - t0) * ld, h_prev, c_prev, h, c, ws.scratch.data(), b0,
                                  b1, t % 2 == 1);
        team.sync();  // h_t complete before anyone multiplies it
        h_prev = h;
      }
    }
    // The final state of this thread's units (h_prev: where the last step wrote, or the initial state).
    std::copy(h_prev + u0, h_prev + u1, ws.h_last.data() + u0);
    if constexpr (Cell::has_cell_state) {
      const T* c_final = layout.c_entering(ws, T_);
      std::copy(c_final + u0, c_final + u1, ws.c_last.data() + u0);
    }
  });
  if (ws.weights_version != 0) ws.packed_for = key;
}

}  // namespace rnnfast::detail
