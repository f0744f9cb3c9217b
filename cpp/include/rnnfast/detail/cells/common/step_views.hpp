// The views the sequence driver hands to a cell for one time step, forward or backward, and the whole-sequence
// matrices of the products after the backward loop.
//
// A "block" is the B rows of one time step: row r of a block starts at data + r * ld, so a step's rows may be
// strided inside a whole-sequence array.
#pragma once

#include <cstdint>

#include "rnnfast/detail/cells/common/packed_gates.hpp"
#include "rnnfast/detail/parallel.hpp"
#include "rnnfast/sequence_call.hpp"

namespace rnnfast {

// What a cell's step needs besides the step's arrays.
template <class T>
struct StepContext {
  const CellWeights<T>& weights;
  const PackedGates<T>& packed;  // U_g (forward step) or U_gᵀ (backward step)
  UnitSlice units;                   // this thread's units
  const Team& team;
};

// One forward time step. The cell computes the recurrent product(s) itself (some cells need two per step).
template <class T>
struct StepForward {
  Index batch = 0;
  const T* h_prev = nullptr;
  Index ld_h_prev = 0;
  // What the recurrent product multiplies: h_{t-1}, or h_{t-1}⊙mask with recurrent dropout (the driver keeps it).
  const T* h_in = nullptr;
  Index ld_h_in = 0;
  const T* c_prev = nullptr;  // cells with a cell state only
  Index ld_c_prev = 0;
  T* h = nullptr;  // new state, written for every row (rows past their length copy h_prev)
  Index ld_h = 0;
  T* c = nullptr;
  Index ld_c = 0;
  // What backward needs, Cell::saved_width() per row (at inference: scratch). On entry gate g's slot
  // [g·H, (g+1)·H) holds x_t·W_g (without bias); the cell adds its recurrent product and activates.
  T* saved = nullptr;
  Index ld_saved = 0;
  const std::uint8_t* active = nullptr;  // per row: 1 while the sequence runs; nullptr = all rows active
};

// One backward time step, in reverse order.
template <class T>
struct StepBackward {
  Index batch = 0;
  // In: the step's saved activations. Out: its pre-activation gradients dA, written in place over them (zeros
  // for inactive rows), so training needs no second whole-sequence array; the cell documents its dA layout.
  T* saved = nullptr;
  Index ld_saved = 0;
  const T* h_prev = nullptr;
  Index ld_h_prev = 0;
  const T* h_in = nullptr;  // as in StepForward
  Index ld_h_in = 0;
  // Recurrent dropout: batch × H (row stride H), kept units 1/(1−rate), dropped 0; nullptr = none. The gradient
  // reaching h_{t-1} through the recurrent product(s) is multiplied by it.
  const T* recurrent_mask = nullptr;
  const T* c_prev = nullptr;
  Index ld_c_prev = 0;
  const T* c = nullptr;  // c_t, the cell state this step produced
  Index ld_c = 0;
  const T* dh = nullptr;  // batch × H, dL/dh_t (contiguous)
  T* dc = nullptr;        // batch × H, in: dL/dc_t, out: dL/dc_{t-1}
  T* dh_prev = nullptr;   // batch × H, out: dL/dh_{t-1}
  T* scratch = nullptr;  // batch × Cell::scratch_width()
  const std::uint8_t* active = nullptr;
};

// Everything the post-loop products need: whole-sequence matrices of n_rows rows, each in the same row order.
template <class T>
struct SequenceMatrices {
  Index rows = 0;
  const T* x = nullptr;       // rows × D
  const T* h_prev = nullptr;  // rows × H: the recurrent products' inputs (h_in)
  const T* saved = nullptr;   // rows × saved_width: after the backward loop, dA (and what the cell kept beside it)
  T* dx = nullptr;            // rows × D (nullptr: not wanted)
};

}  // namespace rnnfast
