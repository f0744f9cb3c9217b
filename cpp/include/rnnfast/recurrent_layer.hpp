// One recurrent layer over whole sequences, for programs that call it from several threads: the layer owns its
// workspaces and applies one policy to concurrent calls.
//
//   rnnfast::RecurrentLayer<float> layer(rnnfast::CellType::lstm, /*input_size=*/8, /*units=*/64);
//   layer.infer(in, options, weights, out);           // any number of threads at once
//   auto training = layer.training();                  // this thread trains the layer until `training` ends
//   training.forward(in, options, weights, out);
//   training.backward(weights, grad_in, grad_out);
//
// Policy:
//   - Inference calls run concurrently. The first uses the layer's inference workspace, which keeps what can be
//     kept from call to call (buffers, and the packed weights of one sequence's inference while weights_version
//     holds, see Workspace); a call made while it is in use runs on a workspace of its own for that call.
//   - Training is one thread at a time: a training forward leaves in the training workspace what its backward
//     reads, so training() waits for any other thread's Training to end, and holds the workspace until its own
//     ends. Forward and backward within one Training belong together; a backward without a training forward
//     before it throws std::logic_error.
//   - The caller keeps the arrays of a training forward (x, the weights) alive and unchanged until its backward.
// Sizes are not checked against the arrays (they are pointers): the caller passes arrays of the sizes it states.
#pragma once

#include <cstdint>
#include <mutex>
#include <utility>

#include "rnnfast/recurrent.hpp"
#include "rnnfast/detail/shared_buffers.hpp"

namespace rnnfast {

template <class T>
class RecurrentLayer {
 public:
  RecurrentLayer(CellType type, Index input_size, Index units, CellOptions options = {})
      : engine_(type, input_size, units, options) {}
  RecurrentLayer(const RecurrentLayer&) = delete;
  RecurrentLayer& operator=(const RecurrentLayer&) = delete;

  const Recurrent<T>& engine() const noexcept { return engine_; }
  CellType type() const noexcept { return engine_.type(); }
  const CellOptions& options() const noexcept { return engine_.options(); }
  Index input_size() const noexcept { return engine_.input_size(); }
  Index units() const noexcept { return engine_.units(); }

  // How a call may run: max_threads caps its threads (0: the pool decides); weights_version, when not 0, is the
  // promise of Workspace::weights_version for the weights of inference calls.
  struct CallOptions {
    int max_threads = 0;
    std::uint64_t weights_version = 0;
  };

  // A forward without training, from any thread, concurrently with any other call.
  void infer(const SequenceInput<T>& in, const SequenceOptions& options, const CellWeights<T>& weights,
             const SequenceOutput<T>& out, const CallOptions& call = {}) const {
    inference_.use([&](Workspace<T>& ws) {
      ws.max_threads = call.max_threads;
      ws.weights_version = call.weights_version;
      engine_.forward(in, options, weights, out, ws, false);
    });
  }

  // Exclusive use of the layer's training workspace while it lives.
  class Training {
   public:
    Training(Training&&) = delete;  // it holds the lock for its own lifetime (training() returns it in place)
    Training& operator=(Training&&) = delete;
    // A forward that keeps what backward needs (it replaces what an earlier forward kept).
    void forward(const SequenceInput<T>& in, const SequenceOptions& options, const CellWeights<T>& weights,
                 const SequenceOutput<T>& out, int max_threads = 0) {
      ws().max_threads = max_threads;
      layer_->engine_.forward(in, options, weights, out, ws(), true);
    }
    // The gradients of the last training forward (of this or an earlier Training); the weights as given to it.
    void backward(const CellWeights<T>& weights, const SequenceGradIn<T>& grad_in, const SequenceGradOut<T>& grad_out,
                  int max_threads = 0) {
      ws().max_threads = max_threads;
      layer_->engine_.backward(ws(), weights, grad_in, grad_out);
    }
    // Whether a training forward ran, and its shape: what the gradients given to backward must match.
    bool trained() const noexcept { return layer_->training_ws_.trained; }
    Index batch() const noexcept { return layer_->training_ws_.batch; }
    Index time() const noexcept { return layer_->training_ws_.time; }
    const SequenceOptions& sequence_options() const noexcept { return layer_->training_ws_.options; }

   private:
    friend class RecurrentLayer;
    explicit Training(RecurrentLayer& layer) : layer_(&layer), lock_(layer.training_mutex_) {}
    Workspace<T>& ws() noexcept { return layer_->training_ws_; }
    RecurrentLayer* layer_;
    std::unique_lock<std::mutex> lock_;
  };

  // Waits until no other thread trains this layer.
  Training training() { return Training(*this); }

 private:
  Recurrent<T> engine_;
  detail::SharedBuffers<Workspace<T>> inference_;
  std::mutex training_mutex_;
  Workspace<T> training_ws_;
};

}  // namespace rnnfast
