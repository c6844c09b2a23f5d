#include "engine/scheduler.h"

#include <algorithm>

namespace herd::engine {

StepPlan plan_step(std::span<const SchedSeq> running, std::span<const SchedSeq> queued, int64_t free_blocks,
                   const SchedConfig& cfg) {
  StepPlan plan;
  const int64_t bs = cfg.block_size;
  auto blocks_for = [bs](int64_t tokens) { return (tokens + bs - 1) / bs; };
  int64_t free = free_blocks;

  // 1. Decodes, oldest first; preempt from the newest end when out of blocks.
  size_t n_run = running.size();  // running[0, n_run) stay
  std::vector<int64_t> need(running.size(), 0);
  for (size_t i = 0; i < n_run; ++i) {
    const SchedSeq& s = running[i];
    if (!s.decoding) continue;
    const int64_t want = std::max<int64_t>(0, blocks_for(s.n_computed + 1) - s.blocks_held);
    while (want > free && n_run > i + 1) {
      --n_run;
      plan.preempt.push_back(running[n_run].id);
      free += running[n_run].blocks_freed;
      free += need[n_run];  // a later decode's reservation comes back too
      need[n_run] = 0;
    }
    if (want > free) {  // not even alone: it waits in the queue
      plan.preempt.push_back(s.id);
      free += s.blocks_freed;
      n_run = i;
      break;
    }
    free -= want;
    need[i] = want;
    plan.new_blocks += want;
  }
  for (size_t i = 0; i < n_run; ++i)
    if (running[i].decoding) plan.run.push_back({running[i].id, 1});

  // 2. Prefill chunks of running sequences (their blocks were reserved at admission).
  int64_t budget = cfg.prefill_chunk;
  for (size_t i = 0; i < n_run && budget > 0; ++i) {
    const SchedSeq& s = running[i];
    if (s.decoding) continue;
    const int64_t n = std::min(s.n_tokens - s.n_computed, budget);
    if (n <= 0) continue;
    plan.run.push_back({s.id, n});
    budget -= n;
  }

  // 3. Admission, FIFO, only when nothing was preempted this step.
  if (plan.preempt.empty()) {
    auto active = static_cast<int64_t>(n_run);
    for (const SchedSeq& q : queued) {
      if (active >= cfg.max_running || q.admit_blocks > free) break;
      free -= q.admit_blocks;
      ++active;
      plan.admit.push_back(q.id);
      const int64_t n = std::min(q.n_tokens - q.admit_computed, budget);
      if (n > 0) {
        plan.run.push_back({q.id, n});
        budget -= n;
      }
    }
  }
  return plan;
}

}  // namespace herd::engine
