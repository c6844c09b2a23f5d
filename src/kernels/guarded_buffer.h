// Test support for kernel tests: a buffer whose last element ends exactly at
// an inaccessible page, with canary bytes in front, so that a kernel that
// reads or writes past either end of its operand is caught in any build, not
// only under AddressSanitizer:
//   * past the end: the next page is PROT_NONE, so the access faults at once
//     (the test dies with SIGSEGV, and gdb or the sanitizer build names the
//     instruction);
//   * before the start: kCanaryBytes bytes of a fixed pattern, checked by
//     canary_intact() after the call.
// A vector access whose lanes stray past the end only under a mask is not
// a fault (masked-out lanes do not fault), so such stores are caught only when
// they store an unmasked lane there.
//
// Not thread-safe; one mapping per object (page-granular: use it for the few
// buffers whose edges matter, not for every test vector).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/check.h"

namespace herd::kernels {

template <class T>
class GuardedBuffer {
 public:
  static constexpr size_t kCanaryBytes = 64;
  static constexpr uint8_t kCanary = 0xA5;

  // n elements (n >= 0), each set to `fill`.
  explicit GuardedBuffer(size_t n, T fill = T{}) : n_(n) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = n * sizeof(T) + kCanaryBytes;
    const size_t body = (bytes + page_ - 1) / page_ * page_;
    map_bytes_ = body + page_;
    void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    HERD_CHECK(p != MAP_FAILED, "GuardedBuffer: mmap of %zu bytes failed", map_bytes_);
    base_ = static_cast<uint8_t*>(p);
    HERD_CHECK(mprotect(base_ + body, page_, PROT_NONE) == 0, "GuardedBuffer: mprotect failed");
    data_ = reinterpret_cast<T*>(base_ + body - n * sizeof(T));
    std::memset(reinterpret_cast<uint8_t*>(data_) - kCanaryBytes, kCanary, kCanaryBytes);
    for (size_t i = 0; i < n; ++i) data_[i] = fill;
  }
  ~GuardedBuffer() { munmap(base_, map_bytes_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return data_[i]; }

  // False when anything wrote into the kCanaryBytes before data().
  bool canary_intact() const {
    const uint8_t* c = reinterpret_cast<const uint8_t*>(data_) - kCanaryBytes;
    for (size_t i = 0; i < kCanaryBytes; ++i)
      if (c[i] != kCanary) return false;
    return true;
  }

 private:
  size_t n_ = 0;
  size_t page_ = 0;
  size_t map_bytes_ = 0;
  uint8_t* base_ = nullptr;
  T* data_ = nullptr;
};

}  // namespace herd::kernels
