// DebertaConfig: the config.json of a Hugging Face DeBERTa-v2/v3 sequence
// classifier (DebertaV2ForSequenceClassification: Prompt Guard, Prompt Guard 2),
// read and validated once so the encoder can trust it.
//
// Read: the widths (hidden_size, intermediate_size, heads, layers, vocab,
// embedding_size), max_position_embeddings, the relative attention
// (relative_attention, position_buckets, max_relative_positions (< 1: the
// maximum position), pos_att_type ⊆ {c2p, p2c}, share_att_key,
// norm_rel_ebd), position_biased_input, type_vocab_size, layer_norm_eps, the
// pooler (pooler_hidden_size, pooler_hidden_act) and the labels (id2label;
// num_labels). Refused with kUnsupported, named: another model_type or
// architecture, an activation other than "gelu", a convolution layer
// (conv_kernel_size > 0), pos_att_type "p2p", attention_head_size that does
// not multiply out to hidden_size. HF's defaults fill absent keys, as
// DebertaV2Config does.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::model::deberta {

struct DebertaConfig {
  int64_t vocab_size = 128100;
  int64_t hidden_size = 1536;
  int64_t embedding_size = 0;  // 0: hidden_size
  int64_t num_hidden_layers = 24;
  int64_t num_attention_heads = 24;
  int64_t intermediate_size = 6144;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 0;
  double layer_norm_eps = 1e-7;
  bool relative_attention = false;
  int64_t max_relative_positions = -1;  // resolved: max_position_embeddings when < 1
  int64_t position_buckets = -1;
  bool position_biased_input = true;
  bool c2p = false, p2c = false;
  bool share_att_key = false;
  bool norm_rel_ebd_layer_norm = false;
  int64_t pooler_hidden_size = 0;  // 0: hidden_size
  std::vector<std::string> labels;   // id2label in id order

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t num_labels() const { return static_cast<int64_t>(labels.size()); }
  // Rows of rel_embeddings: 2 * position_buckets, or 2 * max_relative_positions.
  int64_t att_span() const { return position_buckets > 0 ? position_buckets : max_relative_positions; }
};

Result<DebertaConfig> parse_deberta_config(std::string_view json_text, const char* file = "config.json");
Result<DebertaConfig> load_deberta_config(const std::string& path);

// DeBERTa's relative position of query i to key j (i - j), log-bucketed
// beyond bucket_size / 2 (make_log_bucket_position; no buckets when
// bucket_size <= 0). Computed in double; for every |i - j| < 512 with 256
// buckets and 512 positions (Prompt Guard) it equals transformers' float32.
int64_t deberta_relative_position(int64_t i, int64_t j, int64_t bucket_size, int64_t max_position);

}  // namespace herd::model::deberta
