// KvCache allocation and sizes.
#include "kv/kv_cache.h"

#include "kernels/ops.h"

namespace herd::kv {

KvCache::KvCache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, DType kt, DType vt)
    : n_layers_(n_layers), n_ctx_(n_ctx), kv_dim_(kv_dim), kt_(kt), vt_(vt),
      storage_(static_cast<size_t>(bytes_for(n_layers, n_ctx, kv_dim, kt, vt)), 0) {}

uint64_t KvCache::bytes_for(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, DType kt, DType vt) {
  return static_cast<uint64_t>(n_layers) * static_cast<uint64_t>(n_ctx) *
         static_cast<uint64_t>(kernels::kv_row_bytes(kt, kv_dim) + kernels::kv_row_bytes(vt, kv_dim));
}

KvView KvCache::view() {
  return KvView{storage_.data(), layer_bytes(), k_bytes(), kv_dim_, 0, kt_, vt_};
}

int64_t KvCache::k_bytes() const { return n_ctx_ * kernels::kv_row_bytes(kt_, kv_dim_); }
int64_t KvCache::layer_bytes() const { return k_bytes() + n_ctx_ * kernels::kv_row_bytes(vt_, kv_dim_); }

}  // namespace herd::kv
