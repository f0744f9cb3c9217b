// What the C++ tests share: a failure counter with check(), a serial-against-threads runner, and allocation
// counting. Include it in exactly one
// translation unit of a test executable: it replaces the global operator new (everywhere) and, on glibc, malloc
// and its kin (the real allocator stays reachable as __libc_malloc), all counted in g_allocations.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

static std::atomic<long long> g_allocations{0};  // atomic: the thread tests allocate on several threads

// Under AddressSanitizer or ThreadSanitizer malloc is theirs to intercept: there only operator new is counted.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}
extern "C" void* malloc(std::size_t n) {
  ++g_allocations;
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t m) {
  ++g_allocations;
  return __libc_calloc(n, m);
}
extern "C" void* realloc(void* p, std::size_t n) {
  ++g_allocations;
  return __libc_realloc(p, n);
}
extern "C" int posix_memalign(void** p, std::size_t alignment, std::size_t n) {
  ++g_allocations;
  *p = __libc_memalign(alignment, n);
  return *p ? 0 : 12;
}
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t n) {
  ++g_allocations;
  return __libc_memalign(alignment, n);
}
#define RNNFAST_COUNTS_MALLOC 1  // malloc is counted too, not only operator new
void* operator new(std::size_t n) {
  if (void* p = malloc(n)) return p;  // counted there
  throw std::bad_alloc();
}
#else
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n)) return p;
  throw std::bad_alloc();
}
#endif
// operator new above takes its memory from malloc, so free is the matching release (GCC cannot see that).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

// Runs run(k, result) for k = 0..n−1 one after another, then on n threads at once, and returns the largest
// difference between the two results of any k (result: a std::vector<double> the run fills).
template <class Run>
double serial_against_threads(int n, Run run) {
  std::vector<std::vector<double>> alone(n), together(n);
  for (int k = 0; k < n; ++k) run(k, alone[k]);
  std::vector<std::thread> threads;
  for (int k = 0; k < n; ++k) threads.emplace_back([&, k] { run(k, together[k]); });
  for (auto& t : threads) t.join();
  double worst = 0;
  for (int k = 0; k < n; ++k)
    for (std::size_t i = 0; i < alone[k].size(); ++i)
      worst = std::max(worst, std::abs(alone[k][i] - together[k][i]));
  return worst;
}

static int g_failures = 0;
inline void check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what.c_str());
    ++g_failures;
  }
}
