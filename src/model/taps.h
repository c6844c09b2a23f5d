// TapSink: an observer of named intermediate activations (llama.cpp's
// cb(cur, name, layer)), used to compare herd with the numpy reference layer
// by layer. Names match tests/reference/llama_ref.py: tok_embd,
// blk.{i}.attn_norm, blk.{i}.attn_out, blk.{i}.ffn_inp, blk.{i}.ffn_out,
// blk.{i}.out, result_norm, logits. Each call passes rows [T, cols] f32 of
// the tokens just evaluated (result_norm and logits: only the last row unless
// the caller asked eval() for all logits). A null sink costs one branch per tap.
//
// Matmul inputs (the importance matrix's statistics, model/imatrix.h): a sink
// whose wants_matmul_inputs() is true also gets, under each weight's GGUF name
// ("blk.{i}.attn_q.weight", ..., "output.weight"; not the embedding table when
// it doubles as the LM head), the rows that multiply it: [T, cols], except
// ffn_down's, which arrive in chunks of at most kFfnChunkTokens rows in token
// order (model/feed_forward.h), and output's: the rows eval() computes logits for.
#pragma once

#include <cstdint>
#include <string>

namespace herd::model {

class TapSink {
 public:
  virtual ~TapSink() = default;
  virtual void tap(const std::string& name, const float* data, int64_t rows, int64_t cols) = 0;
  virtual bool wants_matmul_inputs() const { return false; }
};

}  // namespace herd::model
