// The sequence driver: forward over a whole sequence and backpropagation through time, for any cell.
//
// Forward:  X·W in chunks of ~128 rows (a few steps), each just before its steps, into the steps' saved slots;
//           then per step the cell's recurrent product(s) added on top and one fused pass over the gates. W and U
//           are packed once per call. Training keeps, per step and row, h_{t-1}, c_{t-1} and the cell's saved
//           activations. The inference of one sequence on a plain cell steps with StackedStep's kernels instead
//           (every gate of a block of units in registers, from its row of x·W): at batch 1 a step is a
//           matrix-vector product, bound by reading U, and the gate slots' round trip through memory is saved.
// Backward: per step in reverse, the fused gate-gradient pass and dh_{t-1} = dA_t·Uᵀ; after the loop, dW, dU and
//           dX as large GEMMs over all steps.
//
// Threads: a call runs as one job of the thread pool. Each thread packs and multiplies its own slice of the
// units (see cells/common.hpp), input product included; the team meets once per step (GRU without
// reset_after: twice). The large products after the backward loop are shared by rows or columns.
//
// Every whole-sequence array (X, dA, the saved arrays) is a contiguous (T·B) × width matrix whose rows are
// ordered like the input: row(t, b) = t·B + b (time-major) or b·T + t (batch-major). A step's B rows are then
// equally spaced, which is all a GEMM needs, so neither layout is ever transposed. With per-sequence lengths or
// go_backwards, X is first copied time-major in processing order with zero padding (one pass over X).
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rnnfast/cells/common.hpp"
#include "rnnfast/stacked_step.hpp"

namespace rnnfast {

struct SequenceOptions {
  bool time_major = false;        // x, y, dx, dy are (T, B, ·) instead of (B, T, ·)
  bool go_backwards = false;      // each sequence runs from its last valid step; outputs in processing order
  bool return_sequences = false;  // y holds every step's output, else only the final state is produced
};

template <class T>
struct SequenceInput {
  Index batch = 0, time = 0, input_size = 0;
  const T* x = nullptr;                  // (B, T, D) or (T, B, D)
  const std::int64_t* lengths = nullptr;  // B entries in [0, T]; nullptr = every sequence has T steps
  const T* h0 = nullptr;                 // B × H; nullptr = zeros
  const T* c0 = nullptr;                 // B × H (cells with a cell state); nullptr = zeros
  // Dropout masks, one per sequence, fixed across its steps (kept units scaled by 1/(1−rate), dropped ones 0);
  // nullptr = none. input_mask (B × D) multiplies x_t; recurrent_mask (B × H) multiplies h_{t-1} where the
  // recurrent product(s) read it (not in a GRU's carry z⊙h_{t-1}). Copied: backward uses them too.
  const T* input_mask = nullptr;
  const T* recurrent_mask = nullptr;
};

template <class T>
struct SequenceOutput {
  T* y = nullptr;        // return_sequences: (B, T, H) or (T, B, H); else unused
  T* h_final = nullptr;  // B × H: the state at each sequence's last valid step
  T* c_final = nullptr;  // B × H (cells with a cell state)
};

template <class T>
struct SequenceGradIn {
  const T* dy = nullptr;      // like y (return_sequences) or B × H (the last output); nullptr = zeros
  const T* dh_final = nullptr;  // B × H; nullptr = zeros
  const T* dc_final = nullptr;  // B × H; nullptr = zeros
};

template <class T>
struct SequenceGradOut {
  T* dx = nullptr;   // like x; nullptr = not wanted
  T* dh0 = nullptr;  // B × H
  T* dc0 = nullptr;  // B × H (cells with a cell state)
  CellGrads<T> weights;
};

// What a workspace's packed weights were packed from (Sequence::run_stacked), to skip packing them again.
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
  // Packed weights kept from call to call. The inference of one sequence (batch 1) packs U and W, ~8 µs per call
  // at 128 LSTM units, against ~2 µs per step. A caller that sets weights_version to a nonzero value promises that
  // weights passed again at the same addresses with the same version hold the values they held when packed, and
  // changes the version whenever they change; the packing is then skipped. 0 (the default): pack every call.
  std::uint64_t weights_version = 0;
  PackedWeightsKey packed_for;  // what ws.stacked and ws.packed_w hold
  std::vector<T> x_packed;  // time-major, processing order, zero padded (lengths or go_backwards)
  std::vector<T> saved;     // training: every step's activations, then backward's dA over them; inference: one
                            // input chunk's steps
  std::vector<T> h_prev, c_prev;  // training: the state entering every step; inference: two ping-pong blocks
  std::vector<T> h_in;            // recurrent dropout: h_prev⊙mask, laid out like h_prev
  std::vector<T> input_mask, recurrent_mask;
  std::vector<T> h_last, c_last;  // the final state, kept for backward
  std::vector<T> dh, dh_next, dc, scratch, dx_packed;
  std::vector<T, Eigen::aligned_allocator<T>> packed_u, packed_w;  // U and W packed for this call's products
  StackedStep<T> stacked;  // U packed for one-sequence inference (Sequence::run_stacked)
  std::vector<std::uint8_t> active;  // T × B: step t of sequence b runs
  std::vector<std::int64_t> lengths;
  Index batch = 0, time = 0, input_size = 0;
  SequenceOptions options;
  int max_threads = 0;  // the caller's cap on the threads of calls with this workspace (0: the pool decides)
  bool packed = false, has_lengths = false, trained = false, has_input_mask = false, has_recurrent_mask = false;
  bool saved_consumed = false;  // backward has written dA over the saved activations
  const T* x = nullptr;  // the input the training forward used (caller keeps it alive until backward)
};

namespace detail {
// Whether a cell is one of StackedStep's (it names its kernels by stacked_type()).
template <class Cell, class = void>
struct has_stacked_kernels : std::false_type {};
template <class Cell>
struct has_stacked_kernels<Cell, std::void_t<decltype(std::declval<const Cell&>().stacked_type())>>
    : std::true_type {};

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
    set_activity(in, ws);
    if (ws.has_input_mask) ws.input_mask.assign(in.input_mask, in.input_mask + B * D);
    if (ws.has_recurrent_mask) ws.recurrent_mask.assign(in.recurrent_mask, in.recurrent_mask + B * H);

    const T* x = in.x;
    if (ws.packed) {
      detail::grow(ws.x_packed, B * T_ * D);
      pack(in, opt, ws);
      x = ws.x_packed.data();
    }
    const StateLayout layout = state_layout(ws, training);
    layout.reserve(ws, cell_);
    // The initial state enters step 0; with no steps it is the final state.
    const Index ld0 = T_ > 0 ? layout.h_ld : H;
    load_state(in.h0, T_ > 0 ? layout.h_entering(ws, 0) : ws.h_last.data(), ld0, B, H);
    if (Cell::has_cell_state) load_state(in.c0, T_ > 0 ? layout.c_entering(ws, 0) : ws.c_last.data(), ld0, B, H);
    if (ws.has_recurrent_mask && T_ > 0)
      mask_rows(ws, layout.h_entering(ws, 0), layout.h_ld, layout.block(ws.h_in.data(), 0), layout.h_ld, {0, H});
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
    const auto strides = row_strides(ws);  // not a structured binding: C++17 lambdas cannot capture those
    const Index ts = strides.first, bs = strides.second;
    const Index rows = B * T_;
    if (ws.saved_consumed) run_steps(ws, w, ws.x, state_layout(ws, true), nullptr);
    ws.saved_consumed = true;

    detail::grow(ws.dh, B * H);
    detail::grow(ws.dh_next, B * H);
    detail::grow(ws.dc, B * H);
    detail::grow(ws.scratch, B * std::max<Index>(cell_.scratch_width(), 1));
    T* dh = ws.dh.data();
    load_state(gin.dh_final, dh, H, B, H);
    if (!ws.options.return_sequences && gin.dy != nullptr)
      for (Index i = 0; i < B * H; ++i) dh[i] += gin.dy[i];
    if (Cell::has_cell_state) load_state(gin.dc_final, ws.dc.data(), H, B, H);
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
        s.active = step_activity(ws, t);
        if (ws.options.return_sequences && gin.dy != nullptr)
          add_output_gradient(gin.dy, ws, t, s.active, units, dh_t);
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
    if (gout.dx != nullptr && ws.packed) unpack(ws, gout.dx);
  }

 private:
  // Rows of x·W computed at once, just before their steps: enough rows to reuse each panel of W, few enough that
  // the result is still in cache when the steps read it.
  static constexpr Index kInputChunkRows = 128;

  // Where a forward keeps its states and activations. Training: the state entering every step (rows laid out
  // like X) and every step's activations. Inference: two ping-pong state blocks and one input chunk's steps.
  struct StateLayout {
    bool training = false;
    Index chunk = 1;      // steps per input chunk
    Index h_ld = 0;       // row stride of a state block
    Index h_step = 0;     // distance between the blocks of consecutive steps
    Index saved_ld = 0;   // row stride of a step's saved rows
    Index saved_step = 0; // distance between consecutive steps' saved rows (inference: within a chunk)

    T* h_entering(Workspace<T>& ws, Index t) const { return block(ws.h_prev.data(), t); }
    T* c_entering(Workspace<T>& ws, Index t) const { return block(ws.c_prev.data(), t); }
    T* block(T* base, Index t) const { return base + (training ? t : t % 2) * h_step; }
    T* saved(Workspace<T>& ws, Index t, Index chunk_start) const {
      return ws.saved.data() + (training ? t : t - chunk_start) * saved_step;
    }

    void reserve(Workspace<T>& ws, const Cell& cell) const {
      const Index B = ws.batch, H = cell.units(), D = ws.input_size, SW = cell.saved_width();
      const Index blocks = training ? ws.time : 2;
      detail::grow(ws.h_prev, blocks * B * H);
      if (ws.has_recurrent_mask) detail::grow(ws.h_in, blocks * B * H);
      if (Cell::has_cell_state) detail::grow(ws.c_prev, blocks * B * H);
      detail::grow(ws.h_last, B * H);
      if (Cell::has_cell_state) detail::grow(ws.c_last, B * H);
      detail::grow(ws.saved, (training ? ws.time : chunk) * B * SW);
      // The stacked steps pack U into ws.stacked instead.
      if (!steps_stacked(ws, training)) detail::grow(ws.packed_u, PackedGates<T>::size(Cell::gates, H, H));
      detail::grow(ws.packed_w, PackedGates<T>::size(Cell::gates, D, H));
    }
  };

  // Whether a forward steps on StackedStep's kernels (run_stacked): the inference of one sequence on a plain
  // cell, with no lengths and no recurrent mask.
  static bool steps_stacked(const Workspace<T>& ws, bool training) {
    if constexpr (detail::has_stacked_kernels<Cell>::value)
      return !training && ws.batch == 1 && !ws.has_lengths && !ws.has_recurrent_mask;
    else
      return false;
  }

  StateLayout state_layout(const Workspace<T>& ws, bool training) const {
    const Index B = ws.batch, H = cell_.units(), SW = cell_.saved_width();
    const auto strides = row_strides(ws);  // not a structured binding: C++17 lambdas cannot capture those
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
      if (steps_stacked(ws, layout.training)) return run_stacked(ws, w, x, layout, y);
    }
    ws.packed_for = {};  // packed_w is about to hold this call's panels
    const Index B = ws.batch, T_ = ws.time, D = ws.input_size, H = cell_.units();
    const auto strides = row_strides(ws);  // not a structured binding: C++17 lambdas cannot capture those
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
          s.active = step_activity(ws, t);
          cell_.forward_step(s, ctx);
          if (y != nullptr) write_outputs(s, ws, t, units, y);
          if (ws.has_recurrent_mask && !last)
            mask_rows(ws, s.h, s.ld_h, layout.block(ws.h_in.data(), t + 1), layout.h_ld, units);
          team.sync();  // h_t complete before anyone multiplies it
        }
      }
    });
  }

  // run_steps for the inference of one sequence (batch 1, no lengths) on StackedStep's kernels. Each thread
  // packs U for its blocks of units and steps them, a chunk of steps at a time after x·W of the chunk; the team
  // meets once per step. h_t goes straight into y when every output is wanted.
  void run_stacked(Workspace<T>& ws, const CellWeights<T>& w, const T* x, const StateLayout& layout, T* y) const {
    const Index T_ = ws.time, D = ws.input_size, H = cell_.units();
    if (T_ == 0) return;  // the initial state is already the final one
    const Index ld = cell_.saved_width();  // the rows of x·W in ws.saved (saved_width ≥ G·H)
    const CellType type = cell_.stacked_type();
    bool peephole = false;
    if constexpr (Cell::has_cell_state) peephole = cell_.peephole();
    StackedStep<T>& stacked = ws.stacked;
    stacked.shape(type, 0, H, peephole);
    detail::grow(ws.scratch, std::max<Index>(stacked.scratch_width(), 1));
    const bool whole_steps = type == CellType::gru_reset_before;  // its candidate needs all of r⊙h_{t-1}
    const int threads =
        whole_steps ? 1 : static_cast<int>(std::min<Index>(team_size(ws), stacked.blocks()));
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

  // Threads for a call: one unless a step has enough work to pay for the team meeting once per step, and never
  // more than there are panels of units to share, or than the caller allows (Workspace::max_threads).
  int team_size(const Workspace<T>& ws) const {
    if constexpr (!Cell::splits_units) return 1;
    const Index H = cell_.units(), batch = ws.batch;
    const double step_flops = 2.0 * static_cast<double>(batch) * Cell::gates * H * H;
    // Below ~6·10⁴ FLOPs a step takes about a microsecond or less (batch 1: LSTM under 88 units, GRU under 100),
    // and a barrier per step (0.1-0.5 µs) costs more than the second core saves.
    if (step_flops < 6e4) return 1;
    Index threads = std::min<Index>(ThreadPool::global().size(), linalg::PanelShape<T>::panels(H));
    if (ws.max_threads > 0) threads = std::min<Index>(threads, ws.max_threads);
    return static_cast<int>(threads);
  }

  // Row strides of the whole-sequence arrays: row(t, b) = t·ts + b·bs (time-major when packed).
  static std::pair<Index, Index> row_strides(const Workspace<T>& ws) {
    const bool time_major = ws.packed || ws.options.time_major;
    return time_major ? std::pair<Index, Index>{ws.batch, 1} : std::pair<Index, Index>{1, ws.time};
  }

  static void load_state(const T* from, T* to, Index ld, Index B, Index H) {
    for (Index r = 0; r < B; ++r) {
      if (from != nullptr) std::copy(from + r * H, from + (r + 1) * H, to + r * ld);
      else std::fill(to + r * ld, to + r * ld + H, T(0));
    }
  }

  static void set_activity(const SequenceInput<T>& in, Workspace<T>& ws) {
    const Index B = in.batch, T_ = in.time;
    if (in.lengths == nullptr) return;
    ws.lengths.assign(in.lengths, in.lengths + B);
    detail::grow(ws.active, T_ * B);
    for (Index t = 0; t < T_; ++t)
      for (Index b = 0; b < B; ++b) ws.active[t * B + b] = t < in.lengths[b] ? 1 : 0;
  }

  // nullptr when every row runs at step t (the common, fast case).
  static const std::uint8_t* step_activity(const Workspace<T>& ws, Index t) {
    if (!ws.has_lengths) return nullptr;
    for (Index b = 0; b < ws.batch; ++b)
      if (t >= ws.lengths[b]) return ws.active.data() + t * ws.batch;
    return nullptr;
  }

  static Index length_of(const Workspace<T>& ws, Index b) { return ws.has_lengths ? ws.lengths[b] : ws.time; }

  // Input element (t, b) of a user array in its layout.
  static Index user_row(const SequenceOptions& opt, Index B, Index T_, Index t, Index b) {
    return opt.time_major ? t * B + b : b * T_ + t;
  }

  // Processing step s of sequence b reads input step s, or len-1-s with go_backwards.
  static Index source_step(const Workspace<T>& ws, Index b, Index s) {
    return ws.options.go_backwards ? length_of(ws, b) - 1 - s : s;
  }

  void pack(const SequenceInput<T>& in, const SequenceOptions& opt, Workspace<T>& ws) const {
    const Index B = in.batch, T_ = in.time, D = in.input_size;
    for (Index s = 0; s < T_; ++s)
      for (Index b = 0; b < B; ++b) {
        T* to = ws.x_packed.data() + (s * B + b) * D;
        if (s < length_of(ws, b)) {
          const T* from = in.x + user_row(opt, B, T_, source_step(ws, b, s), b) * D;
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

  void unpack(const Workspace<T>& ws, T* dx) const {
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

  // to[b][slice] = from[b][slice] ⊙ recurrent_mask[b][slice] for the B rows of a state block.
  void mask_rows(const Workspace<T>& ws, const T* from, Index ld_from, T* to, Index ld_to, UnitSlice u) const {
    const Index H = cell_.units();
    for (Index b = 0; b < ws.batch; ++b) {
      const T* mask = ws.recurrent_mask.data() + b * H;
      for (Index j = u.begin; j < u.end; ++j) to[b * ld_to + j] = from[b * ld_from + j] * mask[j];
    }
  }

  // This thread's units of step t's outputs.
  void write_outputs(const StepForward<T>& s, const Workspace<T>& ws, Index t, UnitSlice u, T* y) const {
    const Index H = cell_.units();
    for (Index b = 0; b < s.batch; ++b) {
      T* to = y + user_row(ws.options, ws.batch, ws.time, t, b) * H + u.begin;
      const T* h = s.h + b * s.ld_h + u.begin;
      if (detail::row_active(s.active, b)) std::copy(h, h + u.size(), to);
      else std::fill(to, to + u.size(), T(0));
    }
  }

  void add_output_gradient(const T* dy, const Workspace<T>& ws, Index t, const std::uint8_t* active, UnitSlice u,
                           T* dh) const {
    const Index H = cell_.units();
    for (Index b = 0; b < ws.batch; ++b) {
      if (!detail::row_active(active, b)) continue;
      detail::add_row(dh + b * H + u.begin, dy + user_row(ws.options, ws.batch, ws.time, t, b) * H + u.begin,
                      u.size());
    }
  }

  Cell cell_;
};

}  // namespace rnnfast
