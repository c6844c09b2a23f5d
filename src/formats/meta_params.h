// Meta's params.json (the native checkpoint's hyperparameters, llama31.md
// 1.1) read into the HfLlamaConfig that Hugging Face's converter writes for
// the same model, so that one config type serves both formats.
//
// Keys: dim, n_layers, n_heads, n_kv_heads (absent: n_heads), vocab_size
// (absent or -1, as older files have it: 0 here, and the loader takes the
// embedding's rows), multiple_of (256), ffn_dim_multiplier (absent: 1),
// norm_eps (1e-5), rope_theta (500000), use_scaled_rope (false), and an
// optional rope_scaling_factor (the llama3 scaling's factor; its other
// constants are Meta's fixed 1, 4 and 8192). Derived as Meta's model code does: head_dim =
// dim / n_heads; the FFN width int(ffn_dim_multiplier * int(8 * dim / 3))
// rounded up to multiple_of (or hidden_dim when given, as pruned models
// carry it). With use_scaled_rope the llama3 scaling is on, factor 8, except
// for the Llama 3.2 widths (dim 2048 and 3072) where it is 32 (Meta's code
// hard-codes 8; the 3.2 releases were trained with 32: llama31.md 10, item 1);
// the trained context is then 131072 tokens, otherwise 8192 (Llama 3.0).
// bos 128000 and the stop tokens <|end_of_text|>, <|eom_id|>, <|eot_id|>
// (llama31.md 10, item 4). tie_word_embeddings is false: the loader decides
// by whether the checkpoint holds output.weight.
//
// Refused with the reason: params of other model kinds herd does not run
// (vision_*, moe_args, quantization_args, lora_args: Meta's 3.2 Vision,
// Llama 4, and the SpinQuant/QLoRA ExecuTorch exports).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "formats/hf_config.h"

namespace herd::formats {

Result<HfLlamaConfig> hf_config_from_meta_params(std::string_view json_text);

}  // namespace herd::formats
