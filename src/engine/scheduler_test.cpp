// Tests of the pure step planner (engine/scheduler.h).
#include <gtest/gtest.h>

#include "engine/scheduler.h"

namespace herd::engine {
namespace {

SchedSeq decoding(uint64_t id, int64_t computed, int64_t held) {
  SchedSeq s;
  s.id = id;
  s.decoding = true;
  s.n_tokens = computed + 1;
  s.n_computed = computed;
  s.blocks_held = held;
  s.blocks_freed = held;
  return s;
}

SchedSeq queued(uint64_t id, int64_t tokens, int64_t blocks) {
  SchedSeq s;
  s.id = id;
  s.n_tokens = tokens;
  s.admit_blocks = blocks;
  return s;
}

TEST(Scheduler, DecodesAndChunkedAdmission) {
  SchedConfig cfg{4, 32, 16};
  std::vector<SchedSeq> run = {decoding(1, 20, 2)};
  std::vector<SchedSeq> q = {queued(2, 50, 4), queued(3, 10, 1)};
  StepPlan p = plan_step(run, q, 10, cfg);
  EXPECT_TRUE(p.preempt.empty());
  ASSERT_EQ(p.admit.size(), 2u);
  ASSERT_EQ(p.run.size(), 2u);  // 32-token budget: all of it to seq 2
  EXPECT_EQ(p.run[0].id, 1u);
  EXPECT_EQ(p.run[0].n, 1);
  EXPECT_EQ(p.run[1].id, 2u);
  EXPECT_EQ(p.run[1].n, 32);
}

TEST(Scheduler, HeadWaitsWhenBlocksShort) {
  SchedConfig cfg{4, 64, 16};
  std::vector<SchedSeq> q = {queued(1, 100, 7), queued(2, 10, 1)};
  StepPlan p = plan_step({}, q, 5, cfg);
  EXPECT_TRUE(p.admit.empty());  // FIFO: 2 does not overtake 1
  EXPECT_TRUE(p.run.empty());
}

TEST(Scheduler, PreemptsNewestWhenDecodeNeedsBlock) {
  SchedConfig cfg{4, 64, 16};
  // Seq 1 crosses a block boundary (32 computed, 2 held); no free block.
  std::vector<SchedSeq> run = {decoding(1, 32, 2), decoding(2, 5, 1)};
  StepPlan p = plan_step(run, {}, 0, cfg);
  ASSERT_EQ(p.preempt.size(), 1u);
  EXPECT_EQ(p.preempt[0], 2u);
  ASSERT_EQ(p.run.size(), 1u);
  EXPECT_EQ(p.run[0].id, 1u);
  EXPECT_EQ(p.new_blocks, 1);
}

TEST(Scheduler, MaxRunning) {
  SchedConfig cfg{1, 64, 16};
  std::vector<SchedSeq> run = {decoding(1, 5, 1)};
  StepPlan p = plan_step(run, std::vector<SchedSeq>{queued(2, 10, 1)}, 10, cfg);
  EXPECT_TRUE(p.admit.empty());
}

}  // namespace
}  // namespace herd::engine
