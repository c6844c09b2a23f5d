// make_model: random-weight Llama 3.x models in the exact formats of the
// real releases, for tests and benchmarks (no real weights can be fetched).
//
// A made model has the real tensor names, shapes, dtypes mix, metadata and
// the real Llama 3.1 tokenizer (Meta's tokenizer.model, embedded in the
// binary); only the numbers differ. Weights are drawn from a counter-based
// RNG keyed by (seed, tensor name, Meta-order element index), so the same seed
// gives the same model in GGUF and in HF form (HF q/k rows are the permuted
// Meta rows), in any dtype, on any thread count.
//
// Scales keep activations in a realistic range: embeddings N(0, 0.05^2);
// projections N(0, 1/in_features), with wo and w_down further scaled by
// 1/sqrt(2 n_layers) so the residual stream grows slowly with depth; norm
// weights 1 + N(0, 0.1^2); the LM head scaled so logits have a std of a few
// units, like a trained model's.
#pragma once

#include <cstdint>
#include <string>

#include "base/progress.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "model/model_writer.h"

namespace herd::model {


// Presets 8b, 70b, 405b, 3.2-1b, 3.2-3b, tiny (d_model 256, 2 layers), or a
// custom list "d_model=256,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=512[,tied=1][,rope_factor=32]
// [,rms_eps=1e-6][,rope_theta=100000]".
Result<ModelShape> parse_model_shape(const std::string& spec);

struct MakeModelOptions {
  ModelShape shape;
  std::string dtype = "f16";  // f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s q4_k_m q5_k_s q5_k_m q6_k
  std::string format = "gguf";  // gguf | hf
  std::string out;
  uint64_t seed = 0;
  bool instruct = true;          // eos <|eot_id|> (instruct) vs <|end_of_text|> (base)
  uint64_t max_shard_bytes = 5ull << 30;  // HF shard size (HF's default 5 GB)
  // "8b" or "1b": named as that Llama Guard 3 ("... Llama Guard 3 8B ..."), so
  // `herd guard` recognises it (the shape is the caller's).
  std::string guard;
  // Non-empty: a test fixture whose greedy answer to any prompt that ends with
  // "\n\n" (an assistant header's) is exactly this text, then <|eot_id|>.
  // Built, not trained: every wo and w_down is zero, so the residual stream at
  // a position is its token's embedding e_u; the final norm's weights are 1;
  // and the (untied) output row of each token v that follows u in the chain
  // "\n\n", the reply's tokens, <|eot_id|> is 30 e_u / (|e_u| sqrt(d_model)),
  // every other row zero. The logit of the next token is then 30, of the
  // others near 0 (random embeddings are nearly orthogonal): a bigram model
  // that writes the reply. A token that recurs in the chain must recur with
  // the same successor (else an error). The shape's tie is dropped.
  std::string reply;
};

// Writes the model, counting its bytes in `progress` (nullable; model_writer.h).
Status make_model(const MakeModelOptions& opt, ThreadPool& pool, Progress* progress);

}  // namespace herd::model
