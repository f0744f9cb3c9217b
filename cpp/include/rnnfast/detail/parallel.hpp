// rnnfast's own threads: a persistent pool that runs one job at a time on a team of threads, and the spinning
// barrier the team uses between time steps.
//
// A whole-sequence call is one job: every thread of the team runs the whole step loop on its own slice of the
// units and the team meets at a barrier once or twice per step. Threads are started once and sleep between
// jobs, so a call costs one wake-up, and a step costs one barrier, never a thread start.
//
// Oversubscription: the pool runs one job at a time. A call made while the pool is busy (another thread's call,
// or a call from inside a job) runs on its caller alone, so concurrent calls never start more threads than the
// pool has. OpenBLAS, when used, is kept at one thread per call: only this pool decides how many cores work.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace rnnfast {

namespace detail {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spin briefly, then yield: on a loaded machine the thread we wait for may need our core.
template <class Ready>
void spin_until(Ready ready) {
  for (int i = 0; !ready(); ++i) {
    if (i < 4096) cpu_relax();
    else std::this_thread::yield();
  }
}
}  // namespace detail

// Cores this process may use, counting each physical core once (SMT siblings share their core's FMA units, and
// GEMM-bound work gains nothing from them).
inline int physical_core_count() {
  int logical = static_cast<int>(std::thread::hardware_concurrency());
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    std::set<std::string> cores;
    int allowed = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      ++allowed;
      std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings_list");
      std::string siblings;
      if (f >> siblings) cores.insert(siblings);
      else cores.insert("cpu" + std::to_string(cpu));
    }
    if (allowed > 0) return static_cast<int>(cores.size());
  }
#endif
  return std::max(logical, 1);
}

// A sense-reversing barrier for a fixed number of threads; waiting spins (then yields).
class SpinBarrier {
 public:
  explicit SpinBarrier(int count = 1) : count_(count) {}
  void reset(int count) {
    count_ = count;
    arrived_.store(0, std::memory_order_relaxed);
  }
  void wait() {
    if (count_ <= 1) return;
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == count_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    } else {
      detail::spin_until([&] { return generation_.load(std::memory_order_acquire) != generation; });
    }
  }

 private:
  int count_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<unsigned> generation_{0};
};

// One thread's view of the job it runs: its rank in the team, the team's size, and the team's barrier.
class Team {
 public:
  Team(int rank, int size, SpinBarrier* barrier) : rank_(rank), size_(size), barrier_(barrier) {}
  int rank() const { return rank_; }
  int size() const { return size_; }
  void sync() const {
    if (size_ > 1) barrier_->wait();
  }
  // This thread's share [begin, end) of n items cut into `size` near-equal parts.
  std::pair<std::ptrdiff_t, std::ptrdiff_t> share(std::ptrdiff_t n) const {
    return {n * rank_ / size_, n * (rank_ + 1) / size_};
  }

 private:
  int rank_, size_;
  SpinBarrier* barrier_;
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { start(std::max(threads, 1)); }
  ~ThreadPool() { stop(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_.load(std::memory_order_relaxed); }

  // Waits for a running job, then restarts the workers with the new size.
  void resize(int threads) {
    threads = std::max(threads, 1);
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    if (threads == size()) return;
    stop();
    start(threads);
  }

  // Runs job(team) on `threads` threads (the caller is rank 0) and returns when all are done. If the pool is
  // busy, or threads <= 1, the caller runs it alone. The first exception a thread throws is rethrown here.
  template <class Job>
  void run(int threads, Job&& job) {
    threads = std::min(threads, size());
    std::unique_lock<std::mutex> job_lock(job_mutex_, std::defer_lock);
    if (threads <= 1 || !job_lock.try_lock()) {
      SpinBarrier solo(1);
      job(Team(0, 1, &solo));
      return;
    }
    barrier_.reset(threads);
    error_ = nullptr;
    invoke_ = [](void* f, const Team& team) { (*static_cast<std::remove_reference_t<Job>*>(f))(team); };
    job_ = &job;
    pending_.store(threads - 1, std::memory_order_relaxed);
    post(threads);
    execute(0, threads);
    detail::spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  // The process-wide pool, sized to the physical cores at first use.
  static ThreadPool& global() {
    static ThreadPool pool(physical_core_count());
    return pool;
  }

 private:
  void start(int threads) {
    size_.store(threads, std::memory_order_relaxed);
    // A worker must not miss a ticket posted before it first runs, so it starts from the current one.
    const unsigned long long current = ticket_.load(std::memory_order_acquire);
    for (int rank = 1; rank < threads; ++rank) workers_.emplace_back([this, rank, current] { work(rank, current); });
  }

  void stop() {
    post(0);
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // A job ticket: a new generation number with the job's team size (0 = stop) in its low bits, published at
  // once, so a worker never pairs one job's size with another's generation.
  static constexpr unsigned long long kSizeBits = 16;
  void post(int participants) {
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      const unsigned long long generation = (ticket_.load(std::memory_order_relaxed) >> kSizeBits) + 1;
      ticket_.store((generation << kSizeBits) | static_cast<unsigned long long>(participants),
                    std::memory_order_release);
    }
    wake_.notify_all();
  }

  void execute(int rank, int participants) {
    try {
      invoke_(job_, Team(rank, participants, &barrier_));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void work(int rank, unsigned long long seen) {
    for (;;) {
      // A short spin catches back-to-back calls (forward then backward) without a sleep and a wake-up.
      for (int i = 0; i < 20000 && ticket_.load(std::memory_order_acquire) == seen; ++i) detail::cpu_relax();
      if (ticket_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        wake_.wait(lock, [&] { return ticket_.load(std::memory_order_acquire) != seen; });
      }
      seen = ticket_.load(std::memory_order_acquire);
      const int participants = static_cast<int>(seen & ((1ull << kSizeBits) - 1));
      if (participants == 0) return;
      if (rank < participants) {
        execute(rank, participants);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<int> size_{1};
  std::mutex job_mutex_;  // held by the caller for the whole job
  std::mutex wake_mutex_, error_mutex_;
  std::condition_variable wake_;
  std::atomic<unsigned long long> ticket_{0};
  void (*invoke_)(void*, const Team&) = nullptr;
  void* job_ = nullptr;
  std::exception_ptr error_;
  std::atomic<int> pending_{0};
  SpinBarrier barrier_;
};

}  // namespace rnnfast
