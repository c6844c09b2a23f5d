// Tests of BlockPool (kv/block_pool.h): allocation and ref counts, the prefix
// cache of published blocks (reuse, LRU eviction) and the counters the engine
// exports as metrics (used, free, cached-free).
#include <gtest/gtest.h>

#include <set>

#include "kv/block_pool.h"

namespace herd::kv {
namespace {

TEST(BlockPool, AllocateUntilEmptyThenRelease) {
  BlockPool p(1, 4, 16, 8);
  std::set<int32_t> got;
  for (int i = 0; i < 4; ++i) {
    const int32_t b = p.allocate();
    ASSERT_GE(b, 0);
    EXPECT_TRUE(got.insert(b).second) << "block " << b << " handed out twice";
    EXPECT_EQ(p.ref(b), 1);
  }
  EXPECT_EQ(p.allocate(), -1);
  EXPECT_EQ(p.free_blocks(), 0);
  EXPECT_EQ(p.used_blocks(), 4);
  for (int32_t b : got) p.release(b);
  EXPECT_EQ(p.free_blocks(), 4);
  EXPECT_EQ(p.used_blocks(), 0);
  EXPECT_EQ(p.cached_free_blocks(), 0);
}

TEST(BlockPool, SharedBlockIsFreedByItsLastHolder) {
  BlockPool p(1, 2, 16, 8);
  const int32_t b = p.allocate();
  p.retain(b);
  EXPECT_EQ(p.ref(b), 2);
  p.release(b);
  EXPECT_EQ(p.used_blocks(), 1);
  p.release(b);
  EXPECT_EQ(p.used_blocks(), 0);
}

// A published block keeps its prefix after release: lookup finds it, retain
// takes it back, and it counts as cached (free, reusable), never as used.
TEST(BlockPool, PublishedBlockStaysFindableAndCountsAsCached) {
  BlockPool p(1, 3, 16, 8);
  const int32_t tokens[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const uint64_t h = BlockPool::chain_hash(0, tokens, 16);
  const int32_t b = p.allocate();
  p.publish(b, h);
  EXPECT_EQ(p.cached_free_blocks(), 0) << "held blocks are not cached-free";
  p.release(b);
  EXPECT_EQ(p.used_blocks(), 0);
  EXPECT_EQ(p.cached_free_blocks(), 1);
  EXPECT_EQ(p.lookup(h), b);
  p.retain(b);
  EXPECT_EQ(p.ref(b), 1);
  EXPECT_EQ(p.cached_free_blocks(), 0);
  EXPECT_EQ(p.used_blocks(), 1);
  p.release(b);
  EXPECT_EQ(p.cached_free_blocks(), 1);
}

// Unhashed free blocks are handed out first; a cached block is evicted (its
// hash forgotten) only when nothing else is free.
TEST(BlockPool, CachedBlocksAreEvictedLast) {
  BlockPool p(1, 2, 16, 8);
  const int32_t t[16] = {};
  const uint64_t h = BlockPool::chain_hash(7, t, 16);
  const int32_t cached = p.allocate();
  p.publish(cached, h);
  p.release(cached);
  const int32_t first = p.allocate();
  EXPECT_NE(first, cached);
  EXPECT_EQ(p.lookup(h), cached);
  const int32_t second = p.allocate();
  EXPECT_EQ(second, cached);
  EXPECT_EQ(p.lookup(h), -1) << "reuse evicts the prefix";
  EXPECT_EQ(p.cached_free_blocks(), 0);
  p.release(first);
  p.release(second);
  EXPECT_EQ(p.cached_free_blocks(), 0);
  EXPECT_EQ(p.free_blocks(), 2);
}

TEST(BlockPool, ChainHashDependsOnParentAndEveryToken) {
  int32_t t[16] = {};
  const uint64_t a = BlockPool::chain_hash(0, t, 16);
  EXPECT_NE(a, BlockPool::chain_hash(1, t, 16));
  t[15] = 1;
  EXPECT_NE(a, BlockPool::chain_hash(0, t, 16));
}

}  // namespace
}  // namespace herd::kv
