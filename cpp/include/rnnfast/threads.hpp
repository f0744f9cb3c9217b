// How many threads rnnfast's whole-sequence calls may use (rnnfast.set_num_threads / get_num_threads in Python).
#pragma once

#include "rnnfast/detail/parallel.hpp"

namespace rnnfast {

// set_num_threads(n): the size of rnnfast's one process-wide pool, the calling thread included (n >= 1; 1 runs
// everything on the caller). The default is physical_core_count(). It waits for a running call to finish.
// A call takes the pool only if its time steps are large enough to repay a meeting per step; a call made while
// the pool is busy — from another thread of yours, or from inside another library's worker threads (OpenMP,
// TBB, a Python thread pool) — runs on its calling thread alone instead of waiting or starting threads. So
// nested or concurrent use never multiplies threads: at most n − 1 pool workers besides the callers' own
// threads, and under an outer pool that already uses every core, set_num_threads(1) keeps each call on its
// worker. OpenBLAS, used for the large products, is kept at one thread.
inline void set_num_threads(int n) { ThreadPool::global().resize(n); }
inline int get_num_threads() { return ThreadPool::global().size(); }

}  // namespace rnnfast
