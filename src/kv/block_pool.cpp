#include "kv/block_pool.h"

#include "base/check.h"
#include "kernels/ops.h"

namespace herd::kv {

namespace {
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

uint64_t BlockPool::chain_hash(uint64_t parent, const int32_t* tokens, int64_t n) {
  uint64_t h = mix(parent ^ 0x51ed270b27a3c9f1ull);
  for (int64_t i = 0; i < n; ++i) h = mix(h ^ static_cast<uint32_t>(tokens[i]));
  return h;
}

BlockPool::BlockPool(int64_t n_layers, int64_t n_blocks, int64_t block_size, int64_t kv_dim, DType kt, DType vt)
    : n_layers_(n_layers), n_blocks_(n_blocks), block_size_(block_size), kv_dim_(kv_dim), kt_(kt), vt_(vt) {
  HERD_CHECK(n_blocks > 0 && block_size > 0, "BlockPool: %lld blocks of %lld", static_cast<long long>(n_blocks),
             static_cast<long long>(block_size));
  storage_.assign(static_cast<size_t>(n_layers * layer_bytes()), 0);
  const auto N = static_cast<size_t>(n_blocks);
  ref_.assign(N, 0);
  prev_.assign(N, -1);
  next_.assign(N, -1);
  in_free_.assign(N, 0);
  hash_.assign(N, 0);
  has_hash_.assign(N, 0);
  for (int32_t b = 0; b < static_cast<int32_t>(n_blocks); ++b) push_free(b, false);
}

KvView BlockPool::view() {
  return KvView{storage_.data(), layer_bytes(), k_bytes(), kv_dim_, block_size_, kt_, vt_};
}

int64_t BlockPool::k_bytes() const { return n_blocks_ * block_size_ * kernels::kv_row_bytes(kt_, kv_dim_); }
int64_t BlockPool::layer_bytes() const {
  return k_bytes() + n_blocks_ * block_size_ * kernels::kv_row_bytes(vt_, kv_dim_);
}

void BlockPool::unlink(int32_t b) {
  const auto i = static_cast<size_t>(b);
  HERD_CHECK(in_free_[i], "BlockPool: block %d is not free", b);
  if (prev_[i] >= 0) next_[static_cast<size_t>(prev_[i])] = next_[i]; else head_ = next_[i];
  if (next_[i] >= 0) prev_[static_cast<size_t>(next_[i])] = prev_[i]; else tail_ = prev_[i];
  prev_[i] = next_[i] = -1;
  in_free_[i] = 0;
  --n_free_;
  if (has_hash_[i]) --n_free_cached_;
}

void BlockPool::push_free(int32_t b, bool front) {
  const auto i = static_cast<size_t>(b);
  in_free_[i] = 1;
  ++n_free_;
  if (has_hash_[i]) ++n_free_cached_;
  if (front) {
    prev_[i] = -1;
    next_[i] = head_;
    if (head_ >= 0) prev_[static_cast<size_t>(head_)] = b; else tail_ = b;
    head_ = b;
  } else {
    next_[i] = -1;
    prev_[i] = tail_;
    if (tail_ >= 0) next_[static_cast<size_t>(tail_)] = b; else head_ = b;
    tail_ = b;
  }
}

int32_t BlockPool::allocate() {
  if (head_ < 0) return -1;
  const int32_t b = head_;
  unlink(b);
  const auto i = static_cast<size_t>(b);
  if (has_hash_[i]) {
    auto it = by_hash_.find(hash_[i]);
    if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
    has_hash_[i] = 0;
  }
  ref_[i] = 1;
  return b;
}

void BlockPool::retain(int32_t b) {
  const auto i = static_cast<size_t>(b);
  if (ref_[i] == 0) unlink(b);
  ++ref_[i];
}

void BlockPool::release(int32_t b) {
  const auto i = static_cast<size_t>(b);
  HERD_CHECK(ref_[i] > 0, "BlockPool: release of free block %d", b);
  if (--ref_[i] == 0) push_free(b, /*front=*/!has_hash_[i]);
}

int32_t BlockPool::lookup(uint64_t h) const {
  auto it = by_hash_.find(h);
  return it == by_hash_.end() ? -1 : it->second;
}

void BlockPool::publish(int32_t b, uint64_t h) {
  const auto i = static_cast<size_t>(b);
  if (has_hash_[i]) return;
  auto [it, inserted] = by_hash_.emplace(h, b);
  if (!inserted) return;
  hash_[i] = h;
  has_hash_[i] = 1;
  if (in_free_[i]) ++n_free_cached_;  // (the engine publishes held blocks only)
}

}  // namespace herd::kv
