// The engine's own buffers: 64-byte aligned (a cache line, and the widest SIMD register), so that where a
// buffer starts never depends on the allocator, and they only grow, so reuse for the same sizes allocates nothing.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace rnnfast::detail {

inline constexpr std::size_t kBufferAlignment = 64;

template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kBufferAlignment)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kBufferAlignment)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept { return false; }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

// Grows a buffer to at least n values; never shrinks it, so reusing it for the same sizes allocates nothing.
template <class V>
void grow(V& v, std::ptrdiff_t n) {
  if (static_cast<std::ptrdiff_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
}

}  // namespace rnnfast::detail
