// rnnfast: recurrent networks on the CPU. Umbrella header of the C++ core (header-only, C++17, Eigen 3.4).
//
// What a C++ program uses, from the highest level down (each header documents its own API):
//   model.hpp       rnnfast::Model<T>: a stack of SimpleRNN/LSTM/GRU layers with Dense heads, built in code
//                   (add_recurrent, add_dense) or loaded from a file saved in Python (load); run() over whole
//                   batches of sequences; step() one time step with the state inside (noexcept, no allocation),
//                   reset(), state()/reset(state) for warm starts.
//   stream.hpp      rnnfast::Stream<T>: one recurrent layer, one time step per call, any batch, state inside.
//   recurrent.hpp   rnnfast::Recurrent<T>: one layer over whole sequences, forward and backward (BPTT), with
//                   lengths, go_backwards, dropout masks; CellType and CellOptions choose the cell.
//   model_file.hpp  the model file (safetensors with the architecture as JSON), read and checked.
//   optimizers.hpp  fused in-place SGD / RMSprop / Adam updates with Keras' gradient clipping.
//   parallel.hpp    rnnfast::set_num_threads / get_num_threads: the thread pool of whole-sequence calls.
// Weights use Keras' layouts: kernel (inputs × G·units), recurrent_kernel (units × G·units), bias, gate blocks
// side by side (LSTM i, f, c̃, o; GRU z, r, h̃). Compile with -march=native (or an -march of the target) for
// the SIMD kernels; the CMake target rnnfast::core brings the include paths, Eigen and Threads (not -march).
#pragma once

#include "rnnfast/gemm.hpp"
#include "rnnfast/model.hpp"
#include "rnnfast/model_file.hpp"
#include "rnnfast/optimizers.hpp"
#include "rnnfast/recurrent.hpp"
#include "rnnfast/sequence.hpp"
#include "rnnfast/stacked_step.hpp"
#include "rnnfast/stream.hpp"
