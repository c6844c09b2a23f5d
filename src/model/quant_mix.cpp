// See quant_mix.h.
#include "model/quant_mix.h"

namespace herd::model {

bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

namespace {

// llama.cpp's fallback for a row length the type's block does not divide.
Result<DType> fit_row(DType t, int64_t cols) {
  if (cols % dtype_info(t).block_elems == 0) return t;
  DType f;
  switch (t) {
    case DType::kQ4_K: f = DType::kQ5_0; break;
    case DType::kQ5_K: f = DType::kQ5_1; break;
    case DType::kQ6_K: f = DType::kQ8_0; break;
    default:
      return err(ErrorCode::kInvalidArgument, "rows of %lld elements cannot be stored as %s (blocks of %lld)",
                 static_cast<long long>(cols), dtype_name(t), static_cast<long long>(dtype_info(t).block_elems));
  }
  return cols % dtype_info(f).block_elems == 0 ? f : DType::kF16;
}

}  // namespace

Result<DType> quant_mix_dtype(const FileType& ft, LlamaTensor t, int64_t layer, int64_t cols, const QuantMixModel& m) {
  DType d = ft.base;
  if (!dtype_info(d).quantized) return d;
  const bool k_s = ft.gguf_ftype == 14;  // LLAMA_FTYPE_MOSTLY_Q4_K_S
  const bool is_70b = m.n_layers == 80 && m.n_heads != m.n_kv_heads;
  const bool head = t == LlamaTensor::kOutput || (!m.has_output && t == LlamaTensor::kTokEmbd);
  if (head) {
    if (cols % dtype_info(d).block_elems != 0) d = DType::kQ8_0;
    else if (d != DType::kQ8_0) d = DType::kQ6_K;
  } else if (t == LlamaTensor::kWv) {
    if (ft.k_m && use_more_bits(layer, m.n_layers)) d = DType::kQ6_K;
    else if (k_s && layer < 4) d = DType::kQ5_K;
    if (is_70b && d == DType::kQ4_K) d = DType::kQ5_K;
  } else if (t == LlamaTensor::kWDown) {
    if (ft.k_m && use_more_bits(layer, m.n_layers)) d = DType::kQ6_K;
    else if (k_s && layer < m.n_layers / 8) d = DType::kQ5_K;
    // With an importance matrix, Q4_0 / Q5_0 files keep the first eighth's ffn_down
    // in Q4_1 / Q5_1 (llama.cpp's guard against those layers going wrong).
    else if (m.has_imatrix && !ft.k_m && (d == DType::kQ4_0 || d == DType::kQ5_0) && layer < m.n_layers / 8)
      d = d == DType::kQ4_0 ? DType::kQ4_1 : DType::kQ5_1;
  }
  return fit_row(d, cols);
}

}  // namespace herd::model
