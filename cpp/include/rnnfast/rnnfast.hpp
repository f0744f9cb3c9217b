// rnnfast: recurrent networks on the CPU. Umbrella header of the C++ core (header-only, C++17, Eigen 3.4).
//
// The public headers, from the highest level down (each documents its own API):
//   model.hpp            rnnfast::Model<T>: a stack of SimpleRNN/LSTM/GRU layers with Dense heads, built in code
//                        (add_recurrent, add_dense) or loaded from a file saved in Python (load); run() over whole
//                        batches of sequences; step() one time step with the state inside (noexcept, no
//                        allocation), reset(), state()/reset(state) for warm starts.
//   model_file.hpp       rnnfast::ModelFile, the model file (safetensors with the architecture as JSON) read and
//                        checked, and rnnfast::ModelFileError, what every failure to read one throws.
//   stream.hpp           rnnfast::Stream<T>: one recurrent layer, one time step per call, any batch, state inside.
//   recurrent_layer.hpp  rnnfast::RecurrentLayer<T>: one layer over whole sequences that any number of threads may
//                        call at once (inference concurrently, training one call at a time), owning its buffers.
//   recurrent.hpp        rnnfast::Recurrent<T>: the engine of one layer over whole sequences, forward and backward
//                        (BPTT), with lengths, go_backwards, dropout masks, on a Workspace the caller owns.
//   sequence_call.hpp    what a whole-sequence call takes and gives: CellWeights, CellGrads, SequenceInput,
//                        SequenceOutput, SequenceGradIn, SequenceGradOut, SequenceOptions.
//   cell_type.hpp        CellType and CellOptions (which cell and variant), and the sizes of its weights.
//   optimizers.hpp       fused in-place SGD / RMSprop / Adam updates with Keras' gradient clipping.
//   threads.hpp          rnnfast::set_num_threads / get_num_threads: the thread pool of whole-sequence calls.
// Everything under rnnfast/detail/ is the engine's machinery (products, kernels, cells, the file reader), not API.
//
// Weights use Keras' layouts: kernel (inputs × G·units), recurrent_kernel (units × G·units), bias, gate blocks
// side by side (LSTM i, f, c̃, o; GRU z, r, h̃). Compile with -march=native (or an -march of the target) for
// the SIMD kernels; the CMake target rnnfast::core brings the include paths, Eigen and Threads (not -march).
#pragma once

#include "rnnfast/cell_type.hpp"
#include "rnnfast/model.hpp"
#include "rnnfast/model_file.hpp"
#include "rnnfast/optimizers.hpp"
#include "rnnfast/recurrent.hpp"
#include "rnnfast/recurrent_layer.hpp"
#include "rnnfast/sequence_call.hpp"
#include "rnnfast/stream.hpp"
#include "rnnfast/threads.hpp"
