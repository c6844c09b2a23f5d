// ThreadPool: a fixed set of workers for data-parallel loops.
//
// parallel_for(n, fn) splits [0, n) into one contiguous static range per
// worker (worker 0 is the calling thread) and calls fn(begin, end, worker).
// The split depends only on n and the thread count, and each output element is
// computed by exactly one call, so results do not depend on timing; kernels
// are written so they do not depend on the thread count either (each output
// is reduced in a fixed order). There are no globals: the pool is owned by
// whoever runs the model and passed down explicitly.
//
// Thread safety: parallel_for must be called from one thread at a time (the
// owner); it returns after every range has finished.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace herd {

// The threads a pool uses when the user names none: the hardware's, at least 1.
int hardware_threads();

class ThreadPool {
 public:
  // What parallel_for runs: a non-owning reference to any callable
  // fn(begin, end, worker). parallel_for returns only after every range has
  // run, so the callable (usually a lambda temporary at the call site) outlives
  // every use, and nothing needs owning it: unlike std::function, which puts a
  // lambda capturing more than two pointers on the heap, building one never
  // allocates, so a decode step allocates nothing (decode_alloc_test.cpp).
  class RangeFn {
   public:
    template <class F>
      requires(!std::is_same_v<std::remove_cvref_t<F>, RangeFn> &&
               std::is_invocable_v<const std::remove_reference_t<F>&, int64_t, int64_t, int>)
    RangeFn(F&& f)  // NOLINT(google-explicit-constructor): lambdas convert implicitly, as to std::function
        : obj_(static_cast<const void*>(std::addressof(f))),
          call_([](const void* o, int64_t b, int64_t e, int w) {
            (*static_cast<const std::remove_reference_t<F>*>(o))(b, e, w);
          }) {}
    void operator()(int64_t begin, int64_t end, int worker) const { call_(obj_, begin, end, worker); }

   private:
    const void* obj_;
    void (*call_)(const void*, int64_t, int64_t, int);
  };

  // n_threads >= 1 (1 means "run on the caller only").
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn over a static partition of [0, n); ranges may be empty and are
  // then skipped. `grain` is the smallest range worth a thread.
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);

 private:
  void worker_loop(int worker);

  int n_threads_;
  std::vector<std::thread> threads_;
  // Hand-off, a seqlock: the owner makes generation_ odd, writes fn_/n_/active_,
  // sets pending_ and makes generation_ even again. Workers wait for an even
  // generation they have not seen, read the fields and take them only if the
  // generation is unchanged after the read (a worker left out of the previous
  // call may race with the owner's next writes). Waiting spins for a short
  // while (a decode step issues a parallel_for every few tens of
  // microseconds, less than a futex sleep/wake round trip) and then sleeps on
  // start_cv_; completion likewise spins on pending_ before done_cv_.
  // sleepers_ lets the owner skip the notify syscall when nobody sleeps.
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<const RangeFn*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<int> active_{0};  // workers taking part in this generation
};

}  // namespace herd
