// What a whole-sequence call takes and gives (Recurrent<T>::forward and backward): the weights and their
// gradients, the input sequences with their optional lengths, initial states and dropout masks, and where the
// outputs go. Every array is row-major and owned by the caller; nullptr marks what a call does without.
//
// Weight layouts (Keras): kernel D × G·H, recurrent_kernel H × G·H, bias G·H (GRU with reset_after: 2 × 3H,
// input row then recurrent row), gate blocks side by side (LSTM i, f, c̃, o; GRU z, r, h̃).
#pragma once

#include <cstdint>

#include "rnnfast/cell_type.hpp"

namespace rnnfast {

template <class T>
struct CellWeights {
  const T* kernel = nullptr;            // D × G·H
  const T* recurrent_kernel = nullptr;  // H × G·H
  const T* bias = nullptr;              // G·H (GRU reset_after: 2 × 3H)
  const T* peephole = nullptr;          // LSTM with peepholes: 3 × H, the weights of c on the gates i, f, o
  const T* norm = nullptr;              // layer-normalised cells: their norms' γ and β (detail/cells/common/layer_norm.hpp)
};

template <class T>
struct CellGrads {
  T* kernel = nullptr;
  T* recurrent_kernel = nullptr;
  T* bias = nullptr;      // accumulated by the backward steps; zeroed by the driver
  T* peephole = nullptr;  // likewise (LSTM with peepholes)
  T* norm = nullptr;      // likewise (layer-normalised cells)
};

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

}  // namespace rnnfast
