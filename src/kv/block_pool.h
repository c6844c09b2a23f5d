// BlockPool: the KV memory of all sequences of an engine, in fixed-size
// blocks (paged attention, vLLM's block manager), with ref counts and a
// prefix cache of full blocks keyed by a chained hash of their tokens.
//
// Layout: for layer l, k(l) and v(l) are [n_blocks * block_size, kv_dim] rows
// of k_type() / v_type() elements (f32, f16 or q8_0, kv/kv_cache.h);
// block b holds rows b * block_size .. b * block_size + block_size - 1. A
// sequence's block table maps its cache index p to row
// table[p / block_size] * block_size + p % block_size. One allocation made up
// front; nothing allocates afterwards except the hash map.
//
// Ref counts: a block is used while ref > 0 (one per sequence holding it). A
// block whose ref drops to 0 goes on the free list; if it was published to the
// prefix cache it keeps its hash there until the block is reused, so a later
// request with the same prefix can take it back (retain) without recomputing.
// Free blocks without a hash are handed out first; hashed ones in LRU order.
//
// Complexity: allocate, retain, release, lookup, publish O(1) (expected).
// Hash collisions (64-bit chained hash) are not checked: probability ~2^-64
// per lookup.
//
// Thread safety: none; owned by the engine thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "kv/kv_view.h"
#include "tensor/dtype.h"

namespace herd::kv {

class BlockPool {
 public:
  // kt, vt: kernels::is_kv_type and kv_type_fits the head size (checked by
  // the caller).
  BlockPool(int64_t n_layers, int64_t n_blocks, int64_t block_size, int64_t kv_dim, DType kt = DType::kF32,
            DType vt = DType::kF32);

  int64_t n_blocks() const { return n_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t kv_dim() const { return kv_dim_; }
  DType k_type() const { return kt_; }
  DType v_type() const { return vt_; }
  uint64_t bytes() const { return storage_.size(); }

  // [n_blocks * block_size, kv_dim] rows of layer l.
  void* k(int64_t layer) { return storage_.data() + layer * layer_bytes(); }
  void* v(int64_t layer) { return storage_.data() + layer * layer_bytes() + k_bytes(); }
  const void* k(int64_t layer) const { return storage_.data() + layer * layer_bytes(); }
  const void* v(int64_t layer) const { return storage_.data() + layer * layer_bytes() + k_bytes(); }

  // The forward pass's view (rows through each sequence's block table).
  KvView view();

  // A free block (ref 1), evicting its cached hash if it had one; -1 if none.
  int32_t allocate();
  // ref + 1 (takes a cached free block back off the free list).
  void retain(int32_t b);
  // ref - 1; at 0 the block is free (and stays findable if published).
  void release(int32_t b);
  int32_t ref(int32_t b) const { return ref_[static_cast<size_t>(b)]; }

  // Blocks that allocate() can hand out (free, cached or not).
  int64_t free_blocks() const { return n_free_; }
  int64_t used_blocks() const { return n_blocks_ - n_free_; }
  // Free blocks that still hold a published prefix (a subset of free_blocks()):
  // memory the prefix cache keeps for reuse, not memory any sequence holds.
  int64_t cached_free_blocks() const { return n_free_cached_; }

  // Prefix cache: the block holding the full block whose chained hash is h, or -1.
  int32_t lookup(uint64_t h) const;
  // Records that block b (fully computed) has chained hash h. A hash already
  // held by another block keeps that block.
  void publish(int32_t b, uint64_t h);

  // Chained hash of a full block: parent hash and the block's tokens.
  static uint64_t chain_hash(uint64_t parent, const int32_t* tokens, int64_t n);

 private:
  int64_t k_bytes() const;
  int64_t layer_bytes() const;
  void unlink(int32_t b);
  void push_free(int32_t b, bool front);

  int64_t n_layers_, n_blocks_, block_size_, kv_dim_;
  DType kt_, vt_;
  std::vector<uint8_t> storage_;  // [n_layers] x (K, V [n_blocks * block_size, kv_dim] of kt_, vt_)
  std::vector<int32_t> ref_;
  // Free list, doubly linked through prev_/next_ (-1 ends); head = next out.
  std::vector<int32_t> prev_, next_;
  std::vector<uint8_t> in_free_;
  int32_t head_ = -1, tail_ = -1;
  int64_t n_free_ = 0;
  int64_t n_free_cached_ = 0;  // free blocks with has_hash_ set
  std::vector<uint64_t> hash_;
  std::vector<uint8_t> has_hash_;
  std::unordered_map<uint64_t, int32_t> by_hash_;
};

}  // namespace herd::kv
