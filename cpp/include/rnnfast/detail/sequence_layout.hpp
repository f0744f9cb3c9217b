// Where a whole-sequence call's rows sit, and the copies between the caller's arrays and the engine's.
//
// Every whole-sequence array (X, dA, the saved arrays) is a contiguous (T·B) × width matrix whose rows are
// ordered like the input: row(t, b) = t·B + b (time-major) or b·T + t (batch-major). A step's B rows are then
// equally spaced, which is all a GEMM needs, so neither layout is ever transposed. With per-sequence lengths or
// go_backwards, X is first copied time-major in processing order with zero padding (one pass over X).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/workspace.hpp"

namespace rnnfast::detail {

// Where a forward keeps its states and activations. Training: the state entering every step (rows laid out
// like X) and every step's activations. Inference: two ping-pong state blocks and one input chunk's steps.
template <class T>
struct StateLayout {
  bool training = false;
  Index chunk = 1;       // steps per input chunk
  Index h_ld = 0;        // row stride of a state block
  Index h_step = 0;      // distance between the blocks of consecutive steps
  Index saved_ld = 0;    // row stride of a step's saved rows
  Index saved_step = 0;  // distance between consecutive steps' saved rows (inference: within a chunk)

  T* h_entering(Workspace<T>& ws, Index t) const { return block(ws.h_prev.data(), t); }
  T* c_entering(Workspace<T>& ws, Index t) const { return block(ws.c_prev.data(), t); }
  T* block(T* base, Index t) const { return base + (training ? t : t % 2) * h_step; }
  T* saved(Workspace<T>& ws, Index t, Index chunk_start) const {
    return ws.saved.data() + (training ? t : t - chunk_start) * saved_step;
  }
};

// Row strides of the whole-sequence arrays: row(t, b) = t·ts + b·bs (time-major when packed).
template <class T>
std::pair<Index, Index> row_strides(const Workspace<T>& ws) {
  const bool time_major = ws.packed || ws.options.time_major;
  return time_major ? std::pair<Index, Index>{ws.batch, 1} : std::pair<Index, Index>{1, ws.time};
}

// B rows of H values from `from` (nullptr: zeros) into a block of row stride ld.
template <class T>
void load_state(const T* from, T* to, Index ld, Index B, Index H) {
  for (Index r = 0; r < B; ++r) {
    if (from != nullptr) std::copy(from + r * H, from + (r + 1) * H, to + r * ld);
    else std::fill(to + r * ld, to + r * ld + H, T(0));
  }
}

// Which steps of which sequences run, from the call's lengths.
template <class T>
void set_activity(const SequenceInput<T>& in, Workspace<T>& ws) {
  const Index B = in.batch, T_ = in.time;
  if (in.lengths == nullptr) return;
  ws.lengths.assign(in.lengths, in.lengths + B);
  grow(ws.active, T_ * B);
  for (Index t = 0; t < T_; ++t)
    for (Index b = 0; b < B; ++b) ws.active[t * B + b] = t < in.lengths[b] ? 1 : 0;
}

// nullptr when every row runs at step t (the common, fast case).
template <class T>
const std::uint8_t* step_activity(const Workspace<T>& ws, Index t) {
  if (!ws.has_lengths) return nullptr;
  for (Index b = 0; b < ws.batch; ++b)
    if (t >= ws.lengths[b]) return ws.active.data() + t * ws.batch;
  return nullptr;
}

template <class T>
Index length_of(const Workspace<T>& ws, Index b) {
  return ws.has_lengths ? ws.lengths[b] : ws.time;
}

// Input element (t, b) of a user array in its layout.
inline Index user_row(const SequenceOptions& opt, Index B, Index T_, Index t, Index b) {
  return opt.time_major ? t * B + b : b * T_ + t;
}

// x into ws.x_packed: time-major in processing order (go_backwards: each sequence from its last valid step),
// zeros past each length, times the input mask.
template <class T>
void pack_input(const SequenceInput<T>& in, const SequenceOptions& opt, Workspace<T>& ws) {
  const Index B = in.batch, T_ = in.time, D = in.input_size;
  for (Index s = 0; s < T_; ++s)
    for (Index b = 0; b < B; ++b) {
      T* to = ws.x_packed.data() + (s * B + b) * D;
      if (s < length_of(ws, b)) {
        const Index step = ws.options.go_backwards ? length_of(ws, b) - 1 - s : s;
        const T* from = in.x + user_row(opt, B, T_, step, b) * D;
        if (ws.has_input_mask) {
          const T* mask = ws.input_mask.data() + b * D;
          for (Index d = 0; d < D; ++d) to[d] = from[d] * mask[d];
        } else {
          std::copy(from, from + D, to);
        }
      } else {
        std::fill(to, to + D, T(0));
      }
    }
}

// pack_input's backward: dx in the caller's layout from ws.dx_packed (the gradient of the packed input).
template <class T>
void unpack_input_gradient(const Workspace<T>& ws, T* dx) {
  const Index B = ws.batch, T_ = ws.time, D = ws.input_size;
  for (Index b = 0; b < B; ++b) {
    const Index len = length_of(ws, b);
    for (Index t = 0; t < T_; ++t) {
      T* to = dx + user_row(ws.options, B, T_, t, b) * D;
      if (t < len) {
        const Index s = ws.options.go_backwards ? len - 1 - t : t;
        const T* from = ws.dx_packed.data() + (s * B + b) * D;
        if (ws.has_input_mask) {  // x entered as x⊙mask
          const T* mask = ws.input_mask.data() + b * D;
          for (Index d = 0; d < D; ++d) to[d] = from[d] * mask[d];
        } else {
          std::copy(from, from + D, to);
        }
      } else {
        std::fill(to, to + D, T(0));
      }
    }
  }
}

// to[b][slice] = from[b][slice] ⊙ recurrent_mask[b][slice] for the B rows of a state block of H units.
template <class T>
void mask_rows(const Workspace<T>& ws, Index H, const T* from, Index ld_from, T* to, Index ld_to, UnitSlice u) {
  for (Index b = 0; b < ws.batch; ++b) {
    const T* mask = ws.recurrent_mask.data() + b * H;
    for (Index j = u.begin; j < u.end; ++j) to[b * ld_to + j] = from[b * ld_from + j] * mask[j];
  }
}

// This thread's units of step t's outputs into y (zeros for rows past their length).
template <class T>
void write_outputs(const StepForward<T>& s, const Workspace<T>& ws, Index H, Index t, UnitSlice u, T* y) {
  for (Index b = 0; b < s.batch; ++b) {
    T* to = y + user_row(ws.options, ws.batch, ws.time, t, b) * H + u.begin;
    const T* h = s.h + b * s.ld_h + u.begin;
    if (row_active(s.active, b)) std::copy(h, h + u.size(), to);
    else std::fill(to, to + u.size(), T(0));
  }
}

// dh += dy of step t on this thread's units, for rows that ran.
template <class T>
void add_output_gradient(const T* dy, const Workspace<T>& ws, Index H, Index t, const std::uint8_t* active,
                         UnitSlice u, T* dh) {
  for (Index b = 0; b < ws.batch; ++b) {
    if (!row_active(active, b)) continue;
    add_row(dh + b * H + u.begin, dy + user_row(ws.options, ws.batch, ws.time, t, b) * H + u.begin, u.size());
  }
}

}  // namespace rnnfast::detail
