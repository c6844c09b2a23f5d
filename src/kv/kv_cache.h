// KvCache: the keys and values of one sequence, for every layer.
//
// Layout (docs/formats/kv-layout.md): for layer l, k(l) and v(l) are
// [n_ctx, n_kv_heads * head_dim] f32, row p holding the post-RoPE key (value)
// of the token at cache index p. Storage is one contiguous allocation made up
// front, so the decode loop never allocates. f32 keeps the cache exact with
// respect to the reference; a paged, lower-precision cache comes with serving.
//
// Thread safety: none; owned by one context. Attention reads rows [0, n)
// while the forward pass writes row n.. for new tokens (disjoint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace herd::kv {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  size_t bytes() const { return storage_.size() * sizeof(float); }

  float* k(int64_t layer) { return storage_.data() + (2 * layer) * layer_elems(); }
  float* v(int64_t layer) { return storage_.data() + (2 * layer + 1) * layer_elems(); }
  const float* k(int64_t layer) const { return storage_.data() + (2 * layer) * layer_elems(); }
  const float* v(int64_t layer) const { return storage_.data() + (2 * layer + 1) * layer_elems(); }

  // Bytes a cache of this shape takes (the memory plan uses it before allocating).
  static uint64_t bytes_for(int64_t n_layers, int64_t n_ctx, int64_t kv_dim) {
    return 2ull * static_cast<uint64_t>(n_layers) * static_cast<uint64_t>(n_ctx) *
           static_cast<uint64_t>(kv_dim) * sizeof(float);
  }

 private:
  int64_t layer_elems() const { return n_ctx_ * kv_dim_; }
  int64_t n_layers_ = 0;
  int64_t n_ctx_ = 0;
  int64_t kv_dim_ = 0;
  std::vector<float> storage_;  // [n_layers, 2, n_ctx, kv_dim]
};

}  // namespace herd::kv
