// KvCache: the keys and values of one sequence, for every layer.
//
// Layout (docs/formats/kv-layout.md): for layer l, k(l) and v(l) are
// [n_ctx, n_kv_heads * head_dim] rows of k_type() / v_type() elements (f32;
// f16 rounded to nearest even: half the memory and half the bytes attention
// reads; or q8_0 blocks: 0.53 of f16), row p holding the post-RoPE key (value) of the token at
// cache index p. Storage is one contiguous allocation made up front, so the
// decode loop never allocates. f32 keeps the cache exact with respect to the
// reference; f16 is llama.cpp's default and herd's (kernels/ops.h kv_store).
//
// Thread safety: none; owned by one context. Attention reads rows [0, n)
// while the forward pass writes row n.. for new tokens (disjoint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kv/kv_view.h"
#include "tensor/dtype.h"

namespace herd::kv {

class KvCache {
 public:
  KvCache() = default;
  // kt, vt: kernels::is_kv_type and kv_type_fits the head size (checked by
  // the caller).
  KvCache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, DType kt = DType::kF32, DType vt = DType::kF32);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  DType k_type() const { return kt_; }
  DType v_type() const { return vt_; }
  size_t bytes() const { return storage_.size(); }

  void* k(int64_t layer) { return storage_.data() + layer * layer_bytes(); }
  void* v(int64_t layer) { return storage_.data() + layer * layer_bytes() + k_bytes(); }
  const void* k(int64_t layer) const { return storage_.data() + layer * layer_bytes(); }
  const void* v(int64_t layer) const { return storage_.data() + layer * layer_bytes() + k_bytes(); }

  // The forward pass's view (contiguous: cache index p is row p).
  KvView view();

  // Bytes a cache of this shape takes (the memory plan uses it before allocating).
  static uint64_t bytes_for(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, DType kt = DType::kF32,
                            DType vt = DType::kF32);

 private:
  int64_t k_bytes() const;
  int64_t layer_bytes() const;
  int64_t n_layers_ = 0;
  int64_t n_ctx_ = 0;
  int64_t kv_dim_ = 0;
  DType kt_ = DType::kF32, vt_ = DType::kF32;
  std::vector<uint8_t> storage_;  // [n_layers] x (K [n_ctx, kv_dim] kt, V [n_ctx, kv_dim] vt)
};

}  // namespace herd::kv
