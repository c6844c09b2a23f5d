// LlamaConfig: the hyperparameters of a Llama 3.x model, read from GGUF
// metadata or a Hugging Face config.json, validated once.
//
// Vocabulary (docs/conventions.md): d_model (GGUF embedding_length, HF
// hidden_size, Meta dim), d_ff (feed_forward_length / intermediate_size),
// n_layers, n_heads, n_kv_heads, head_dim, vocab_size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernels/ops.h"

namespace herd::model {

// llama3 RoPE frequency scaling (spec §3): all four values come from the file.
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_context = 8192.0;
};

struct LlamaConfig {
  std::string name;
  int64_t d_model = 0;
  int64_t d_ff = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t n_ctx_train = 0;
  double rms_eps = 1e-5;
  double rope_theta = 500000.0;
  // FP8 checkpoints: quantization_config.activation_scale_ub (Meta's 1200), the
  // bound fc_dynamic puts on an activation row's max (LlamaModel::
  // use_fp8_dynamic_activations); 0 without FP8 weights.
  double fp8_activation_scale_ub = 0.0;
  bool tied_embeddings = false;
  // Pair layout of q/k rows: GGUF stores Meta order (interleaved pairs), HF
  // stores permuted rows (halves). Using the matching RoPE formula means the
  // weights are used as mapped, with no un-permuting copy.
  kernels::RopeStyle rope_style = kernels::RopeStyle::kInterleaved;
  // [head_dim / 2] inverse frequencies after llama3 scaling, in double.
  std::vector<double> inv_freq;
  int32_t bos_id = 128000;
  std::vector<int32_t> eos_ids = {128001, 128008, 128009};

  // Checks the relations between fields (heads divide, even head_dim, ...).
  Status validate() const;
};

// The llama3 divisor of pair i (1 = unchanged, factor = interpolated, blend
// between), as stored in GGUF rope_freqs.weight. f = theta^(-2i/hd).
double llama3_rope_divisor(double f, const Llama3RopeScaling& s);

// inv_freq[i] = theta^(-2i/hd) / divisors[i] (divisors empty: no scaling).
std::vector<double> rope_inv_freq(double theta, int64_t head_dim, const std::vector<double>& divisors);

// Divisors for all pairs of a head (what make-model writes as rope_freqs).
std::vector<double> llama3_rope_divisors(double theta, int64_t head_dim, const Llama3RopeScaling& s);

}  // namespace herd::model
