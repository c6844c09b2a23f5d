// The layer split of model/rank_plan.h: every layer in exactly one rank, in
// order; every rank within the budget; no contiguous split with fewer ranks
// (checked against an exhaustive search on small cases); the ends' extra
// bytes (embedding, head, a tied table counted once on one rank and twice
// on two) where they belong; and the refusals.
#include <gtest/gtest.h>

#include <random>

#include "model/rank_plan.h"

namespace herd::model {
namespace {

// The fewest ranks of any contiguous split under `budget` (exhaustive: 2^(n-1) cut sets).
int fewest_ranks(const RankPlanInput& in, uint64_t budget) {
  const int n = static_cast<int>(in.layer_bytes.size());
  int best = 1 << 30;
  for (uint32_t cuts = 0; cuts < (1u << (n - 1)); ++cuts) {
    int first = 0, count = 0;
    bool ok = true;
    for (int i = 1; i <= n && ok; ++i) {
      if (i < n && !((cuts >> (i - 1)) & 1)) continue;
      uint64_t b = in.rank_bytes;
      for (int j = first; j < i; ++j) b += in.layer_bytes[static_cast<size_t>(j)];
      if (first == 0) b += in.embedding_bytes;
      if (i == n) b += in.head_bytes;
      if (first == 0 && i == n && in.tied) b -= in.tied_bytes;
      ok = b <= budget;
      ++count;
      first = i;
    }
    if (ok) best = std::min(best, count);
  }
  return best;
}

TEST(RankPlan, OneRankWhenItFits) {
  RankPlanInput in{{10, 10, 10}, 5, 7, 3, false, 0};
  EXPECT_EQ(single_rank_bytes(in), 45u);
  Result<std::vector<RankSpan>> r = plan_ranks(in, 45);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].first, 0);
  EXPECT_EQ((*r)[0].last, 3);
  EXPECT_EQ((*r)[0].bytes, 45u);
  // One byte less: two ranks, the head's 7 bytes with the last layer.
  r = plan_ranks(in, 44);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].bytes, 3u + 5 + 10 + 10);
  EXPECT_EQ((*r)[1].bytes, 3u + 10 + 7);
}

TEST(RankPlan, TiedTableCountedOnceOnOneRankTwiceOnTwo) {
  // head_bytes 9 = norm 1 + the tied table 8.
  RankPlanInput in{{10, 10}, 8, 9, 0, true, 8};
  EXPECT_EQ(single_rank_bytes(in), 29u);
  Result<std::vector<RankSpan>> r = plan_ranks(in, 29);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 1u);
  r = plan_ranks(in, 28);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].bytes, 18u);
  EXPECT_EQ((*r)[1].bytes, 19u);
}

TEST(RankPlan, FewestRanksAndEveryRankInBudget) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    RankPlanInput in;
    const int n = 1 + static_cast<int>(rng() % 10);
    for (int i = 0; i < n; ++i) in.layer_bytes.push_back(1 + rng() % 50);
    in.embedding_bytes = rng() % 40;
    in.tied = rng() % 2;
    in.tied_bytes = in.tied ? in.embedding_bytes : 0;
    in.head_bytes = in.tied_bytes + rng() % 30;
    in.rank_bytes = rng() % 10;
    const uint64_t budget = 20 + rng() % 200;
    const int best = fewest_ranks(in, budget);
    Result<std::vector<RankSpan>> r = plan_ranks(in, budget);
    if (best == 1 << 30) {
      EXPECT_FALSE(r.has_value()) << trial;
      continue;
    }
    ASSERT_TRUE(r.has_value()) << trial << ": " << r.error().to_string();
    EXPECT_EQ(static_cast<int>(r->size()), best) << trial;
    int64_t next = 0;
    for (const RankSpan& s : *r) {
      EXPECT_EQ(s.first, next);
      EXPECT_GT(s.last, s.first);
      EXPECT_LE(s.bytes, budget);
      next = s.last;
    }
    EXPECT_EQ(next, n);
  }
}

TEST(RankPlan, Refusals) {
  EXPECT_FALSE(plan_ranks(RankPlanInput{}, 100).has_value());
  EXPECT_FALSE(plan_ranks(RankPlanInput{{1}, 0, 0, 0, false, 0}, 0).has_value());
  Result<std::vector<RankSpan>> r = plan_ranks(RankPlanInput{{10, 50, 10}, 0, 0, 5, false, 0}, 40);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().to_string().find("layer 1 alone needs 55 bytes"), std::string::npos) << r.error().to_string();
}

}  // namespace
}  // namespace herd::model
