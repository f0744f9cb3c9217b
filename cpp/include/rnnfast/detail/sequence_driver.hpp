// The sequence driver: forward over a whole sequence and backpropagation through time, for any cell.
//
// Forward:  X·W in chunks of ~128 rows (a few steps), each just before its steps, into the steps' saved slots;
//           then per step the cell's recurrent product(s) added on top and one fused pass over the gates. W and U
//           are packed once per call. Training keeps, per step and row, h_{t-1}, c_{t-1} and the cell's saved
//           activations. The inference of one sequence on a plain cell steps with StackedStep's kernels instead
//           (detail/one_sequence.hpp).
// Backward: per step in reverse, the fused gate-gradient pass and dh_{t-1} = dA_t·Uᵀ; after the loop, dW, dU and
//           dX as large GEMMs over all steps.
//
// Threads: a call runs as one job of the thread pool. Each thread packs and multiplies its own slice of the
// units (see detail/cells/common/products.hpp), input product included; the team meets once per step (GRU
// without reset_after: twice). The large products after the backward loop are shared by rows or columns.
// Row layouts and the copies of the caller's arrays: detail/sequence_layout.hpp.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "rnnfast/detail/cells/common.hpp"
#include "rnnfast/detail/one_sequence.hpp"
#include "rnnfast/detail/sequence_layout.hpp"
#include "rnnfast/detail/workspace.hpp"

namespace rnnfast {

namespace detail {
inline void check_gemm_dim(Index n, const char* what) {
  if (n > INT_MAX) throw std::length_error(std::string("rnnfast: ") + what + " is too large for one product");
}
}  // namespace detail

template <class T, class Cell>
class Sequence {
 public:
  explicit Sequence(const Cell& cell) : cell_(cell) {}

  void forward(const SequenceInput<T>& in, const SequenceOptions& opt, const CellWeights<T>& w,
               const SequenceOutput<T>& out, Workspace<T>& ws, bool training) const {
    const Index B = in.batch, T_ = in.time, D = in.input_size, H = cell_.units();
    detail::check_gemm_dim(B * T_, "batch * time");
    ws.batch = B;
    ws.time = T_;
    ws.input_size = D;
    ws.options = opt;
    ws.has_lengths = in.lengths != nullptr;
    ws.has_input_mask = in.input_mask != nullptr;
    ws.has_recurrent_mask = in.recurrent_mask != nullptr;
    ws.packed = ws.has_lengths || opt.go_backwards || ws.has_input_mask;  // the mask is applied while packing
    ws.trained = false;
    detail::set_activity(in, ws);
    if (ws.has_input_mask) ws.input_mask.assign(in.input_mask, in.input_mask + B * D);
    if (ws.has_recurrent_mask) ws.recurrent_mask.assign(in.recurrent_mask, in.recurrent_mask + B * H);

    const T* x = in.x;
    if (ws.packed) {
      detail::grow(ws.x_packed, B * T_ * D);
      detail::pack_input(in, opt, ws);
      x = ws.x_packed.data();
    }
    const StateLayout layout = state_layout(ws, training);
    reserve(ws, layout);
    // The initial state enters step 0; with no steps it is the final state.
    const Index ld0 = T_ > 0 ? layout.h_ld : H;
    detail::load_state(in.h0, T_ > 0 ? layout.h_entering(ws, 0) : ws.h_last.data(), ld0, B, H);
    if (Cell::has_cell_state)
      detail::load_state(in.c0, T_ > 0 ? layout.c_entering(ws, 0) : ws.c_last.data(), ld0, B, H);
    if (ws.has_recurrent_mask && T_ > 0)
      detail::mask_rows(ws, H, layout.h_entering(ws, 0), layout.h_ld, layout.block(ws.h_in.data(), 0), layout.h_ld,
                        {0, H});
    run_steps(ws, w, x, layout, opt.return_sequences ? out.y : nullptr);
    std::copy(ws.h_last.begin(), ws.h_last.begin() + B * H, out.h_final);
    if (Cell::has_cell_state && out.c_final != nullptr)
      std::copy(ws.c_last.begin(), ws.c_last.begin() + B * H, out.c_final);
    if (training) {
      ws.x = x;
      ws.trained = true;
      ws.saved_consumed = false;
    }
  }

  // Gradients of the last training forward held in ws. Weight gradients are overwritten, not accumulated.
  // The backward loop writes dA over the saved activations; a second backward of the same forward first
  // recomputes them (the forward's input, initial state and weights are all still at hand).
  void backward(Workspace<T>& ws, const CellWeights<T>& w, const SequenceGradIn<T>& gin,
                const SequenceGradOut<T>& gout) const {
    if (!ws.trained) throw std::logic_error("rnnfast: backward needs a forward pass with training=true first");
    const Index B = ws.batch, T_ = ws.time, D = ws.input_size, H = cell_.units();
    const Index G = Cell::gates * H, SW = cell_.saved_width();
    const auto strides = detail::row_strides(ws);  // not a structured binding: C++17 lambdas cannot capture those
    const Index ts = strides.first, bs = strides.second;
    const Index rows = B * T_;
    if (ws.saved_consumed) run_steps(ws, w, ws.x, state_layout(ws, true), nullptr);
    ws.saved_consumed = true;

    detail::grow(ws.dh, B * H);
    detail::grow(ws.dh_next, B * H);
    detail::grow(ws.dc, B * H);
    detail::grow(ws.scratch, B * std::max<Index>(cell_.scratch_width(), 1));
    T* dh = ws.dh.data();
    detail::load_state(gin.dh_final, dh, H, B, H);
    if (!ws.options.return_sequences && gin.dy != nullptr)
      for (Index i = 0; i < B * H; ++i) dh[i] += gin.dy[i];
    if (Cell::has_cell_state) detail::load_state(gin.dc_final, ws.dc.data(), H, B, H);
    std::fill(gout.weights.bias, gout.weights.bias + cell_.bias_size(), T(0));
    detail::grow(ws.packed_u, PackedGates<T>::size(Cell::gates, H, H));

    if (gout.weights.peephole != nullptr) std::fill(gout.weights.peephole, gout.weights.peephole + 3 * H, T(0));
    if (gout.weights.norm != nullptr) std::fill(gout.weights.norm, gout.weights.norm + cell_.norm_size(), T(0));

    SequenceMatrices<T> m;
    m.rows = rows;
    m.x = ws.x;
    m.h_prev = ws.has_recurrent_mask ? ws.h_in.data() : ws.h_prev.data();
    m.saved = ws.saved.data();
    if (gout.dx != nullptr) {
      if (ws.packed) {
        detail::grow(ws.dx_packed, rows * D);
        m.dx = ws.dx_packed.data();
      } else {
        m.dx = gout.dx;
      }
    }

    ThreadPool::global().run(team_size(ws), [&](const Team& team) {
      const UnitSlice units = unit_slice<T>(team, H);
      PackedGates<T> packed(ws.packed_u.data(), Cell::gates, H, H);
      packed.pack(w.recurrent_kernel, true, units);  // Uᵀ: this thread's dh_{t-1} columns
      const StepContext<T> ctx{w, packed, units, team};
      T* dh_t = dh;
      T* dh_before = ws.dh_next.data();
      for (Index t = T_ - 1; t >= 0; --t) {
        StepBackward<T> s;
        s.batch = B;
        s.active = detail::step_activity(ws, t);
        if (ws.options.return_sequences && gin.dy != nullptr)
          detail::add_output_gradient(gin.dy, ws, H, t, s.active, units, dh_t);
        s.saved = ws.saved.data() + t * ts * SW;
        s.ld_saved = bs * SW;
        s.h_prev = ws.h_prev.data() + t * ts * H;
        s.ld_h_prev = bs * H;
        s.h_in = ws.has_recurrent_mask ? ws.h_in.data() + t * ts * H : s.h_prev;
        s.ld_h_in = bs * H;
        s.recurrent_mask = ws.has_recurrent_mask ? ws.recurrent_mask.data() : nullptr;
        if (Cell::has_cell_state) {
          s.c_prev = ws.c_prev.data() + t * ts * H;
          s.ld_c_prev = bs * H;
          const bool last = t + 1 == T_;
          s.c = last ? ws.c_last.data() : ws.c_prev.data() + (t + 1) * ts * H;
          s.ld_c = last ? H : bs * H;
        }
        s.dh = dh_t;
        s.dc = ws.dc.data();
        s.dh_prev = dh_before;
        s.scratch = ws.scratch.data();
        cell_.backward_step(s, ctx, gout.weights);
        std::swap(dh_t, dh_before);
      }
      if (team.rank() == 0) dh = dh_t;  // dL/dh_0: where the last step wrote (every thread swaps alike)
      // Every dA is complete: the last step's product ran after the team's last meeting.
      if (rows == 0) return;
      cell_.weight_grads(team, m, D, w, gout.weights);
    });
    if (gout.dh0 != nullptr) std::copy(dh, dh + B * H, gout.dh0);
    if (Cell::has_cell_state && gout.dc0 != nullptr) std::copy(ws.dc.begin(), ws.dc.begin() + B * H, gout.dc0);
    if (rows == 0) {
      std::fill(gout.weights.kernel, gout.weights.kernel + D * G, T(0));
      std::fill(gout.weights.recurrent_kernel, gout.weights.recurrent_kernel + H * G, T(0));
    }
    if (gout.dx != nullptr && ws.packed) detail::unpack_input_gradient(ws, gout.dx);
  }

 private:
  // Rows of x·W computed at once, just before their steps: enough rows to reuse each panel of W, few enough that
  // the result is still in cache when the steps read it.
  static constexpr Index kInputChunkRows = 128;

  using StateLayout = detail::StateLayout<T>;

  // Buffers of a forward with this layout.
  void reserve(Workspace<T>& ws, const StateLayout& layout) const {
    const Index B = ws.batch, H = cell_.units(), D = ws.input_size, SW = cell_.saved_width();
    const Index blocks = layout.training ? ws.time : 2;
    detail::grow(ws.h_prev, blocks * B * H);
    if (ws.has_recurrent_mask) detail::grow(ws.h_in, blocks * B * H);
    if (Cell::has_cell_state) detail::grow(ws.c_prev, blocks * B * H);
    detail::grow(ws.h_last, B * H);
    if (Cell::has_cell_state) detail::grow(ws.c_last, B * H);
    detail::grow(ws.saved, (layout.training ? ws.time : layout.chunk) * B * SW);
    // The stacked steps pack U into ws.stacked instead.
    if (!detail::steps_stacked<Cell>(ws, layout.training))
      detail::grow(ws.packed_u, PackedGates<T>::size(Cell::gates, H, H));
    detail::grow(ws.packed_w, PackedGates<T>::size(Cell::gates, D, H));
  }

  StateLayout state_layout(const Workspace<T>& ws, bool training) const {
    const Index B = ws.batch, H = cell_.units(), SW = cell_.saved_width();
    const auto strides = detail::row_strides(ws);  // not a structured binding: C++17 lambdas cannot capture those
    const Index ts = strides.first, bs = strides.second;
    StateLayout l;
    l.training = training;
    l.chunk = std::min<Index>(ws.time, std::max<Index>(1, kInputChunkRows / std::max<Index>(B, 1)));
    l.h_ld = training ? bs * H : H;
    l.h_step = training ? ts * H : B * H;
    l.saved_ld = training ? bs * SW : SW;
    l.saved_step = training ? ts * SW : B * SW;
    return l;
  }

  // The forward steps from the initial state in the layout's first block; y (when not null) gets every step's
  // output. x is the input in row order (packed when ws.packed).
  void run_steps(Workspace<T>& ws, const CellWeights<T>& w, const T* x, const StateLayout& layout, T* y) const {
    if constexpr (detail::has_stacked_kernels<Cell>::value) {
      if (detail::steps_stacked<Cell>(ws, layout.training))
        return detail::run_stacked(cell_, ws, w, x, layout, y, team_size(ws));
    }
    ws.packed_for = {};  // packed_w is about to hold this call's panels
    const Index B = ws.batch, T_ = ws.time, D = ws.input_size, H = cell_.units();
    const auto strides = detail::row_strides(ws);  // not a structured binding: C++17 lambdas cannot capture those
    const Index ts = strides.first, bs = strides.second;
    ThreadPool::global().run(team_size(ws), [&](const Team& team) {
      const UnitSlice units = unit_slice<T>(team, H);
      // Only this thread multiplies its panels, so no one waits for anyone's packing.
      PackedGates<T> u(ws.packed_u.data(), Cell::gates, H, H), wk(ws.packed_w.data(), Cell::gates, D, H);
      u.pack(w.recurrent_kernel, false, units);
      wk.pack(w.kernel, false, units);
      const StepContext<T> ctx{w, u, units, team};

      // x·W of steps [t0, t1) into their saved slots, this thread's columns. The rows are equally spaced when
      // time-major or with one sequence: one product; else one product per step.
      auto input_product = [&](Index t0, Index t1) {
        const bool uniform = B == 1 || (bs == 1 && ts == B);
        const Index x_stride = (B == 1 ? ts : 1) * D, out_stride = B == 1 ? layout.saved_step : layout.saved_ld;
        for (int g = 0; g < Cell::gates; ++g) {
          if (uniform) {
            wk.multiply(units, g, (t1 - t0) * B, x + t0 * ts * D, x_stride, layout.saved(ws, t0, t0) + g * H,
                        out_stride, false);
          } else {
            for (Index t = t0; t < t1; ++t)
              wk.multiply(units, g, B, x + t * ts * D, bs * D, layout.saved(ws, t, t0) + g * H, layout.saved_ld,
                          false);
          }
        }
      };

      for (Index t0 = 0; t0 < T_; t0 += layout.chunk) {
        const Index t1 = std::min(T_, t0 + layout.chunk);
        input_product(t0, t1);
        for (Index t = t0; t < t1; ++t) {
          StepForward<T> s;
          s.batch = B;
          s.h_prev = layout.h_entering(ws, t);
          s.ld_h_prev = layout.h_ld;
          s.h_in = ws.has_recurrent_mask ? layout.block(ws.h_in.data(), t) : s.h_prev;
          s.ld_h_in = layout.h_ld;
          const bool last = t + 1 == T_;
          s.h = last ? ws.h_last.data() : layout.h_entering(ws, t + 1);
          s.ld_h = last ? H : layout.h_ld;
          if (Cell::has_cell_state) {
            s.c_prev = layout.c_entering(ws, t);
            s.ld_c_prev = layout.h_ld;
            s.c = last ? ws.c_last.data() : layout.c_entering(ws, t + 1);
            s.ld_c = last ? H : layout.h_ld;
          }
          s.saved = layout.saved(ws, t, t0);
          s.ld_saved = layout.saved_ld;
          s.active = detail::step_activity(ws, t);
          cell_.forward_step(s, ctx);
          if (y != nullptr) detail::write_outputs(s, ws, H, t, units, y);
          if (ws.has_recurrent_mask && !last)
            detail::mask_rows(ws, H, s.h, s.ld_h, layout.block(ws.h_in.data(), t + 1), layout.h_ld, units);
          team.sync();  // h_t complete before anyone multiplies it
        }
      }
    });
  }

  // Threads for a call: one unless a step has enough work to pay for the team meeting once per step, and never
  // more than there are panels of units to share, or than the caller allows (Workspace::max_threads).
  int team_size(const Workspace<T>& ws) const {
    if constexpr (!Cell::splits_units) return 1;
    const Index H = cell_.units(), batch = ws.batch;
    const double step_flops = 2.0 * static_cast<double>(batch) * Cell::gates * H * H;
    // Below this a step is so short that the barrier per step costs more than the second core saves.
    if (step_flops < 6e4) return 1;
    Index threads = std::min<Index>(ThreadPool::global().size(), linalg::PanelShape<T>::panels(H));
    if (ws.max_threads > 0) threads = std::min<Index>(threads, ws.max_threads);
    return static_cast<int>(threads);
  }

  Cell cell_;
};

}  // namespace rnnfast