// LlamaConfig validation and the llama3 RoPE scaling (spec §3.2).
#include "model/llama_config.h"

#include <cmath>

namespace herd::model {

Status LlamaConfig::validate() const {
  auto bad = [&](const char* what, long long v) {
    return err(ErrorCode::kCorrupt, "model config: %s is %lld, which is not valid", what, v);
  };
  if (d_model <= 0) return bad("d_model", d_model);
  if (d_ff <= 0) return bad("d_ff", d_ff);
  if (n_layers <= 0 || n_layers > 4096) return bad("n_layers", n_layers);
  if (n_heads <= 0) return bad("n_heads", n_heads);
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
    return err(ErrorCode::kCorrupt, "model config: n_kv_heads %lld must be positive and divide n_heads %lld",
               static_cast<long long>(n_kv_heads), static_cast<long long>(n_heads));
  if (head_dim <= 0 || head_dim % 2 != 0 || head_dim > 1024)
    return err(ErrorCode::kCorrupt, "model config: head_dim %lld must be even and in 2..1024",
               static_cast<long long>(head_dim));
  if (vocab_size <= 0) return bad("vocab_size", vocab_size);
  if (static_cast<int64_t>(inv_freq.size()) != head_dim / 2)
    return err(ErrorCode::kCorrupt, "model config: %zu RoPE frequencies, expected head_dim/2 = %lld",
               inv_freq.size(), static_cast<long long>(head_dim / 2));
  if (!(rms_eps > 0 && rms_eps < 1)) return err(ErrorCode::kCorrupt, "model config: rms_eps %g not in (0, 1)", rms_eps);
  if (!(rope_theta > 0)) return err(ErrorCode::kCorrupt, "model config: rope_theta %g must be positive", rope_theta);
  return Ok{};
}

double llama3_rope_divisor(double f, const Llama3RopeScaling& s) {
  const double low_wl = s.original_context / s.low_freq_factor;    // 8192
  const double high_wl = s.original_context / s.high_freq_factor;  // 2048
  const double wl = 2.0 * M_PI / f;
  if (wl < high_wl) return 1.0;
  if (wl > low_wl) return s.factor;
  const double smooth = (s.original_context / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  const double scaled = (1.0 - smooth) * f / s.factor + smooth * f;
  return f / scaled;
}

std::vector<double> llama3_rope_divisors(double theta, int64_t head_dim, const Llama3RopeScaling& s) {
  std::vector<double> d(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i)
    d[i] = llama3_rope_divisor(std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim)), s);
  return d;
}

std::vector<double> rope_inv_freq(double theta, int64_t head_dim, const std::vector<double>& divisors) {
  std::vector<double> f(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    f[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
    if (!divisors.empty()) f[i] /= divisors[i];
  }
  return f;
}

}  // namespace herd::model
