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
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace herd {

class ThreadPool {
 public:
  using RangeFn = std::function<void(int64_t begin, int64_t end, int worker)>;

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
