// Per-sequence KV block bookkeeping (engine/seq_blocks.h).
#include "engine/seq_blocks.h"

#include <cstring>
#include <vector>

namespace herd::engine {
namespace {

// The chain starts from the request's adapter set and LoRA weights: the same
// tokens under another adapter or weight have other keys and values, so they
// never match (set 0 with the loaded weights: root 0, as before).
uint64_t chain_root(const GenerationRequest& r) {
  uint64_t root = static_cast<uint64_t>(static_cast<uint32_t>(r.adapter)) * 0x9E3779B97F4A7C15ull;
  if (!r.lora_weights.empty()) {
    std::vector<int32_t> bits(r.lora_weights.size());
    std::memcpy(bits.data(), r.lora_weights.data(), bits.size() * sizeof(int32_t));
    root = kv::BlockPool::chain_hash(root ^ 0x6C6F7261ull, bits.data(), static_cast<int64_t>(bits.size()));
  }
  return root;
}

}  // namespace

void SequenceBlocks::hashes_upto(Sequence& s, int64_t n) {
  while (static_cast<int64_t>(s.block_hashes.size()) < n) {
    const int64_t i = static_cast<int64_t>(s.block_hashes.size());
    const uint64_t parent = i == 0 ? chain_root(s.req) : s.block_hashes.back();
    s.block_hashes.push_back(kv::BlockPool::chain_hash(parent, s.tokens.data() + i * bs_, bs_));
  }
}

std::vector<int32_t> SequenceBlocks::prefix_match(Sequence& s) {
  std::vector<int32_t> m;
  const int64_t max_blocks = (static_cast<int64_t>(s.tokens.size()) - 1) / bs_;
  hashes_upto(s, max_blocks);
  for (int64_t i = 0; i < max_blocks; ++i) {
    const int32_t b = pool_.lookup(s.block_hashes[static_cast<size_t>(i)]);
    if (b < 0) break;
    m.push_back(b);
  }
  return m;
}

bool SequenceBlocks::admit(Sequence& s) {
  std::vector<int32_t> m = prefix_match(s);
  for (int32_t b : m) pool_.retain(b);
  s.blocks = m;
  const int64_t want = blocks_for(static_cast<int64_t>(s.tokens.size()));
  while (static_cast<int64_t>(s.blocks.size()) < want) {
    const int32_t b = pool_.allocate();
    if (b < 0) {
      release(s);
      return false;
    }
    s.blocks.push_back(b);
  }
  s.n_computed = static_cast<int64_t>(m.size()) * bs_;
  s.n_published = static_cast<int64_t>(m.size());
  return true;
}

bool SequenceBlocks::grow_for_decode(Sequence& s) {
  const int64_t want = blocks_for(s.n_computed + 1);
  while (static_cast<int64_t>(s.blocks.size()) < want) {
    const int32_t b = pool_.allocate();
    if (b < 0) return false;
    s.blocks.push_back(b);
  }
  return true;
}

void SequenceBlocks::publish_full(Sequence& s) {
  const int64_t full = s.n_computed / bs_;
  if (full <= s.n_published) return;
  hashes_upto(s, full);
  for (int64_t b = s.n_published; b < full; ++b)
    pool_.publish(s.blocks[static_cast<size_t>(b)], s.block_hashes[static_cast<size_t>(b)]);
  s.n_published = full;
}

void SequenceBlocks::release(Sequence& s) {
  for (int32_t b : s.blocks) pool_.release(b);
  s.blocks.clear();
  s.n_computed = 0;
}

int64_t SequenceBlocks::blocks_freed_by_release(const Sequence& s) const {
  int64_t n = 0;
  for (int32_t b : s.blocks) n += pool_.ref(b) == 1 ? 1 : 0;
  return n;
}

void SequenceBlocks::admission_cost(Sequence& s, int64_t* new_blocks, int64_t* cached_tokens) {
  const std::vector<int32_t> m = prefix_match(s);
  int64_t matched_free = 0;
  for (int32_t b : m) matched_free += pool_.ref(b) == 0 ? 1 : 0;
  *new_blocks = blocks_for(static_cast<int64_t>(s.tokens.size())) - static_cast<int64_t>(m.size()) + matched_free;
  *cached_tokens = static_cast<int64_t>(m.size()) * bs_;
}

}  // namespace herd::engine
