// CausalLm and BatchRunner: what the engine needs of a decoder-only language
// model, whatever its architecture. The engine sizes its paged KV pool from
// the model's shape and steps every running sequence through one batched
// forward pass (BatchRunner::eval); it never sees the model's type, so it can
// hold several (a guard model beside the chat model, a draft model for
// speculative decoding). LlamaModel is a CausalLm and LlamaBatch its
// BatchRunner. An encoder classifier (Prompt Guard's DeBERTa) is not a
// CausalLm: it gets an interface of its own beside this one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"

namespace herd::kv {
class BlockPool;
}  // namespace herd::kv

namespace herd::model {

// One sequence's part of a step: tokens to append at cache indices
// n_past .. n_past + n - 1, whose KV lives in the pool through block_table.
struct BatchChunk {
  const int32_t* tokens = nullptr;       // [n]
  int64_t n = 0;
  int64_t n_past = 0;                    // cache index of tokens[0]
  const int32_t* block_table = nullptr;  // blocks covering indices 0 .. n_past + n - 1
  bool want_logits = false;              // logits of the chunk's last token
  int32_t adapter = 0;                   // its adapter set (0: the model's own adapters only; model/linear.h)
  // Its weights of the model's numbered --lora adapters, one per adapter in id
  // order (null: the weights they were loaded with; model/linear.h LoraRows).
  const float* lora_weights = nullptr;
  int32_t n_lora_weights = 0;
};

class BatchRunner {
 public:
  virtual ~BatchRunner() = default;
  // Evaluates the chunks; writes [n_with_logits, vocab] logits (in chunk
  // order) into `logits` (resized; reserve once). Errors: a token id out of
  // range, too many tokens, a chunk past the sequence limit.
  virtual Status eval(std::span<const BatchChunk> chunks, std::vector<float>* logits) = 0;
  virtual int64_t max_tokens() const = 0;
};

struct CausalLmShape {
  int64_t vocab_size = 0;
  int64_t kv_layers = 0;  // layers whose keys and values the pool holds
  int64_t kv_dim = 0;     // elements of one token's K (or V) row in a layer
  int64_t head_dim = 0;   // the KV cache types' constraint (kernels::kv_type_fits)
  int32_t n_lora_weights = 0;  // numbered --lora adapters a request may weigh (BatchChunk::lora_weights)
};

class CausalLm {
 public:
  virtual ~CausalLm() = default;
  virtual CausalLmShape lm_shape() const = 0;
  // A batched forward pass whose KV lives in `kv` (shaped by lm_shape()), up
  // to max_tokens tokens a step and max_seq_len cache indices a sequence.
  // Errors: the model cannot run on its own (it holds a layer range).
  virtual Result<std::unique_ptr<BatchRunner>> batch_runner(kv::BlockPool& kv, int64_t max_tokens,
                                                            int64_t max_seq_len, kernels::ExecContext exec) const = 0;
};

}  // namespace herd::model
