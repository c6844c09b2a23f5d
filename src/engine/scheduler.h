// Scheduler: pure planning of one engine step (no model, no pool, no
// callbacks; a function of its inputs, so it is tested on its own).
//
// Policy (vLLM's, simplified):
//  1. Every decoding sequence gets one token. A decode that crosses into a new
//     block needs a free block; when none is left, the most recently admitted
//     running sequence is preempted (its blocks freed, it goes back to the
//     front of the queue and is prefilled again later: recompute preemption).
//  2. Prefilling sequences share a budget of prefill_chunk prompt tokens per
//     step, oldest first, so a long prompt does not stall decoding.
//  3. Queued sequences are admitted in FIFO order while fewer than max_running
//     run and the head's admission blocks (its whole prompt, less prefix-cache
//     hits) fit in the free blocks; the head waits otherwise (no overtaking).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace herd::engine {

struct SchedSeq {
  uint64_t id = 0;
  bool decoding = false;      // running: decoding (else prefilling)
  int64_t n_tokens = 0;       // tokens that must be in the cache before the next sample
  int64_t n_computed = 0;     // tokens in the cache
  int64_t blocks_held = 0;    // blocks in its table
  int64_t blocks_freed = 0;   // blocks freed if it is preempted (held only by it)
  int64_t admit_blocks = 0;   // queued: free blocks admission takes
  int64_t admit_computed = 0; // queued: tokens already in the cache at admission (prefix hits)
};

struct SchedConfig {
  int max_running = 4;
  int64_t prefill_chunk = 256;
  int64_t block_size = 16;
};

struct StepPlan {
  struct Run {
    uint64_t id;
    int64_t n;  // tokens to compute this step
  };
  std::vector<uint64_t> preempt;  // running -> queued (front), latest first
  std::vector<uint64_t> admit;    // queued -> prefilling, in order
  std::vector<Run> run;           // chunks of this step (running and admitted)
  int64_t new_blocks = 0;         // blocks decodes will allocate this step
};

// running: in admission order; queued: FIFO; free_blocks: allocatable now.
StepPlan plan_step(std::span<const SchedSeq> running, std::span<const SchedSeq> queued, int64_t free_blocks,
                   const SchedConfig& cfg);

}  // namespace herd::engine
