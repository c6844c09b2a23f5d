// TapSink: an observer of named intermediate activations (llama.cpp's
// cb(cur, name, layer)), used to compare herd with the numpy reference layer
// by layer. Names match tests/reference/llama_ref.py: tok_embd,
// blk.{i}.attn_norm, blk.{i}.attn_out, blk.{i}.ffn_inp, blk.{i}.ffn_out,
// blk.{i}.out, result_norm, logits. Each call passes rows [T, cols] f32 of
// the tokens just evaluated (result_norm and logits: only the last row unless
// the caller asked eval() for all logits). A null sink costs one branch per tap.
#pragma once

#include <cstdint>
#include <string>

namespace herd::model {

class TapSink {
 public:
  virtual ~TapSink() = default;
  virtual void tap(const std::string& name, const float* data, int64_t rows, int64_t cols) = 0;
};

}  // namespace herd::model
