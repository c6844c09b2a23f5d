// SequenceBlocks: the engine's KV bookkeeping per sequence (vLLM's block
// manager), apart from the step loop: a sequence's block table in the shared
// kv::BlockPool, prefix-cache matches of its full prompt blocks (chained
// hashes), admission (cached blocks retained, the rest allocated, all or
// nothing), growth by one token for a decode, publishing newly full blocks,
// and release. The scheduler's cost view of a sequence comes from here too.
//
// Thread safety: none; the engine thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/sequence.h"
#include "kv/block_pool.h"

namespace herd::engine {

class SequenceBlocks {
 public:
  SequenceBlocks(kv::BlockPool& pool, int64_t block_size) : pool_(pool), bs_(block_size) {}

  int64_t block_size() const { return bs_; }
  int64_t blocks_for(int64_t tokens) const { return (tokens + bs_ - 1) / bs_; }

  // Cached blocks holding a prefix of s.tokens (at least one token is left to
  // compute, so the sampler gets logits and no shared block is written).
  std::vector<int32_t> prefix_match(Sequence& s);
  // Takes cached and new blocks for all of s.tokens and sets s.n_computed to
  // the cached tokens; false (nothing held) when the pool is short.
  bool admit(Sequence& s);
  // Blocks for one more token of a decoding sequence; false when short (what
  // was taken stays held).
  bool grow_for_decode(Sequence& s);
  // Publishes the blocks that s.n_computed has filled since the last call.
  void publish_full(Sequence& s);
  // Gives all of s's blocks back (s.n_computed = 0).
  void release(Sequence& s);

  // The scheduler's view: blocks that releasing s would free, and, for a
  // queued s, the new blocks and cached tokens its admission would take.
  int64_t blocks_freed_by_release(const Sequence& s) const;
  void admission_cost(Sequence& s, int64_t* new_blocks, int64_t* cached_tokens);

  int64_t used_tokens() const { return pool_.used_blocks() * bs_; }
  int64_t cached_tokens() const { return pool_.cached_free_blocks() * bs_; }
  int64_t total_tokens() const { return pool_.n_blocks() * bs_; }
  int64_t free_blocks() const { return pool_.free_blocks(); }

 private:
  void hashes_upto(Sequence& s, int64_t n);
  kv::BlockPool& pool_;
  int64_t bs_;
};

}  // namespace herd::engine
