// Buffers that concurrent callers share without waiting for each other.
#pragma once

#include <mutex>
#include <utility>

namespace rnnfast::detail {

// The buffers of an object's calls, kept from call to call so that a caller who calls again allocates nothing.
// A call made while another uses them gets buffers of its own for that call instead of waiting: concurrent
// calls are as fast as one call each, less the allocation. A copy starts with empty buffers of its own.
template <class Buffers>
class SharedBuffers {
 public:
  SharedBuffers() = default;
  SharedBuffers(const SharedBuffers&) {}
  SharedBuffers& operator=(const SharedBuffers&) { return *this; }

  // use(buffers) on the kept buffers when they are free, else on new ones.
  template <class Use>
  void use(Use&& use) const {
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (lock.owns_lock()) {
      use(kept_);
    } else {
      Buffers own;
      use(own);
    }
  }

 private:
  mutable std::mutex mutex_;
  mutable Buffers kept_;
};

}  // namespace rnnfast::detail
