// q/k row permutation: whole-row copies, one head at a time.
#include "formats/hf_permute.h"

#include <cstring>

#include "base/checked_math.h"

namespace herd::formats {

Status permute_qk_rows(QkOrder order, const uint8_t* src, uint8_t* dst, int64_t n_rows,
                       int64_t n_heads, uint64_t row_bytes) {
  if (n_heads <= 0 || n_rows <= 0 || n_rows % n_heads != 0) {
    return err(ErrorCode::kInvalidArgument,
               "permute_qk_rows: %lld rows is not a positive multiple of %lld heads",
               static_cast<long long>(n_rows), static_cast<long long>(n_heads));
  }
  const int64_t head_dim = n_rows / n_heads;
  if (head_dim % 2 != 0) {
    return err(ErrorCode::kInvalidArgument,
               "permute_qk_rows: head_dim %lld (= %lld rows / %lld heads) is odd; rotary pairs "
               "need an even head_dim",
               static_cast<long long>(head_dim), static_cast<long long>(n_rows),
               static_cast<long long>(n_heads));
  }
  uint64_t total;
  if (!checked_mul(static_cast<uint64_t>(n_rows), row_bytes, &total)) {
    return err(ErrorCode::kInvalidArgument, "permute_qk_rows: %lld rows of %llu bytes overflow",
               static_cast<long long>(n_rows), static_cast<unsigned long long>(row_bytes));
  }
  if (total > 0 && src < dst + total && dst < src + total) {
    return err(ErrorCode::kInvalidArgument, "permute_qk_rows: src and dst overlap");
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    const uint64_t base = static_cast<uint64_t>(h * head_dim);
    for (int64_t m = 0; m < head_dim; ++m) {
      const uint64_t hf = base + static_cast<uint64_t>(hf_row_of_meta_row(m, head_dim));
      const uint64_t meta = base + static_cast<uint64_t>(m);
      const uint64_t from = order == QkOrder::kMetaToHf ? meta : hf;
      const uint64_t to = order == QkOrder::kMetaToHf ? hf : meta;
      std::memcpy(dst + to * row_bytes, src + from * row_bytes, row_bytes);
    }
  }
  return Ok{};
}

}  // namespace herd::formats
