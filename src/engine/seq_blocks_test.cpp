// SequenceBlocks (engine/seq_blocks.h) on its own: admission takes all blocks
// or none, decode growth adds a block at each block boundary, full blocks are
// published once and a later sequence with the same prefix is admitted onto
// them (all but the block holding its last prompt token), and release gives
// everything back.
#include "engine/seq_blocks.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace herd::engine {
namespace {

std::unique_ptr<Sequence> seq(uint64_t id, int n_tokens, int32_t first = 1) {
  auto s = std::make_unique<Sequence>(id, GenerationRequest{}, RequestCallbacks{});
  for (int i = 0; i < n_tokens; ++i) s->tokens.push_back(first + i);
  s->n_prompt = n_tokens;
  return s;
}

TEST(SequenceBlocks, AdmitGrowPublishMatchRelease) {
  kv::BlockPool pool(1, 6, 4, 8);
  SequenceBlocks blocks(pool, 4);
  auto a = seq(1, 10);  // 3 blocks: 4 + 4 + 2
  ASSERT_TRUE(blocks.admit(*a));
  EXPECT_EQ(a->blocks.size(), 3u);
  EXPECT_EQ(a->n_computed, 0);
  EXPECT_EQ(blocks.free_blocks(), 3);
  a->n_computed = 10;  // the prefill ran
  blocks.publish_full(*a);
  EXPECT_EQ(a->n_published, 2);
  // Decode: tokens 11 and 12 fit the third block, the 13th needs a fourth.
  a->tokens.push_back(99);
  a->n_computed = 11;
  ASSERT_TRUE(blocks.grow_for_decode(*a));
  EXPECT_EQ(a->blocks.size(), 3u);
  a->n_computed = 12;
  ASSERT_TRUE(blocks.grow_for_decode(*a));
  EXPECT_EQ(a->blocks.size(), 4u);

  // Same first 9 tokens: the two published blocks are shared.
  auto b = seq(2, 9);
  int64_t new_blocks = 0, cached = 0;
  blocks.admission_cost(*b, &new_blocks, &cached);
  EXPECT_EQ(cached, 8);
  EXPECT_EQ(new_blocks, 1);
  ASSERT_TRUE(blocks.admit(*b));
  EXPECT_EQ(b->n_computed, 8);
  EXPECT_EQ(b->blocks[0], a->blocks[0]);
  EXPECT_EQ(b->blocks[1], a->blocks[1]);
  EXPECT_EQ(pool.ref(a->blocks[0]), 2);
  EXPECT_EQ(blocks.blocks_freed_by_release(*a), 2);  // its own third and fourth

  // Too big for what is left: nothing is held afterwards.
  auto c = seq(3, 20, 500);
  const int64_t free_before = blocks.free_blocks();
  EXPECT_FALSE(blocks.admit(*c));
  EXPECT_TRUE(c->blocks.empty());
  EXPECT_EQ(blocks.free_blocks(), free_before);

  blocks.release(*a);
  blocks.release(*b);
  EXPECT_EQ(blocks.free_blocks(), 6);
  EXPECT_EQ(blocks.used_tokens(), 0);
  EXPECT_EQ(blocks.cached_tokens(), 8);  // the published prefix stays findable
}

}  // namespace
}  // namespace herd::engine
