// KvCache allocation.
#include "kv/kv_cache.h"

namespace herd::kv {

KvCache::KvCache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim)
    : n_layers_(n_layers), n_ctx_(n_ctx), kv_dim_(kv_dim),
      storage_(static_cast<size_t>(2 * n_layers * n_ctx * kv_dim), 0.0f) {}

}  // namespace herd::kv
