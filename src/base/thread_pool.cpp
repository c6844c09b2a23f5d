// ThreadPool: static partition; hand-off by a bounded spin on atomics, then a
// condition variable (thread_pool.h explains the protocol).
#include "base/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "base/check.h"

namespace herd {
namespace {

// How long a waiting thread spins before it sleeps: long enough to cover the
// serial work between two parallel_for calls of a decode step (norms, RoPE,
// sampling: tens of microseconds), short enough not to burn a core when the
// pool is idle.
// HERD_SPIN_US overrides it (0: sleep at once). The default is decided by
// measurement (docs/kernels.md, "The thread pool"): on a quiet 2-core host a
// decode step's ~80 hand-offs through the futex cost 4-19% of 1B Q4_0 tg128
// (a wake-up of a halted virtual CPU is an IPI to the hypervisor); 300 and
// 2000 us measured alike. After 256 pauses a spinner yields, so a busy
// machine gets its core back.
constexpr long kDefaultSpinUs = 500;
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* e = std::getenv("HERD_SPIN_US");
    return std::chrono::microseconds(e && *e ? std::max(0L, std::strtol(e, nullptr, 10)) : kDefaultSpinUs);
  }();
  return t;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or kSpin has passed; true when done() became true. After
// a few pauses it yields instead: on a machine with more runnable threads
// than cores, the thread being waited for may need this core to run.
template <class Done>
bool spin_until(Done done) {
  const auto limit = spin_time();
  if (limit.count() == 0) return done();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (i < 256) {
      cpu_relax();
    } else {
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() - start > limit) return done();
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int w = 1; w < n_threads_; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

static void range_of(int64_t n, int parts, int i, int64_t* b, int64_t* e) {
  int64_t base = n / parts, rem = n % parts;
  *b = i * base + std::min<int64_t>(i, rem);
  *e = *b + base + (i < rem ? 1 : 0);
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  int parts = static_cast<int>(std::min<int64_t>(n_threads_, std::max<int64_t>(1, n / std::max<int64_t>(1, grain))));
  if (parts <= 1) {
    fn(0, n, 0);
    return;
  }
  generation_.fetch_add(1);  // odd: the fields are being written
  std::atomic_thread_fence(std::memory_order_release);
  fn_.store(&fn, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  active_.store(parts, std::memory_order_relaxed);
  pending_.store(parts - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // even, seq_cst: publishes them
  if (sleepers_.load() > 0) {
    // Taking the lock orders this notify after a sleeper's predicate check.
    std::lock_guard<std::mutex> lock(mu_);
    start_cv_.notify_all();
  }
  int64_t b, e;
  range_of(n, parts, 0, &b, &e);
  fn(b, e, 0);
  if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_.load() == 0; });
  }
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    auto ready = [&] {
      const uint64_t g = generation_.load();
      return stop_.load() || (g != seen && g % 2 == 0);
    };
    if (!spin_until(ready)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);  // seq_cst: the owner's later load of sleepers_ sees it, or we see its generation
      start_cv_.wait(lock, ready);
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    const uint64_t g = generation_.load();
    const RangeFn* fn = fn_.load(std::memory_order_relaxed);
    const int64_t n = n_.load(std::memory_order_relaxed);
    const int parts = active_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (g % 2 != 0 || generation_.load() != g) continue;  // the owner moved on meanwhile: look again
    seen = g;
    if (worker < parts) {
      int64_t b, e;
      range_of(n, parts, worker, &b, &e);
      (*fn)(b, e, worker);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);  // orders the notify after the owner's predicate check
        done_cv_.notify_one();
      }
    }
  }
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace herd
