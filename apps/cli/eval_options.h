// What herd perplexity and herd imatrix share, with the options of
// llama-perplexity and llama-imatrix: -m, -f, -c (default 512), --chunks, -b
// (default: the chunk), -t, --isa, -ctk/-ctv, -q; then the model opened, its
// tokenizer loaded and the text read (at most 1 GiB) and tokenized with BOS in
// front, special-token texts as plain text (model/perplexity.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "model/perplexity.h"
#include "model/runtime.h"

namespace herd::cli {

void add_eval_options(ArgParser& p);

struct EvalRun {
  std::unique_ptr<model::Runtime> rt;
  std::vector<int32_t> ids;
  model::PerplexityOptions options;  // n_ctx, n_chunks, batch, bos_id, KV types
  std::string file;                  // the text's path
};

// Returns the exit code of a failure (after printing it), or 0 with `run` filled.
// need_text false: -f is not required, and not read if absent (herd perplexity
// --kl-divergence takes its tokens from the base file); ids stay empty.
int open_eval(const ArgParser& p, const char* command, EvalRun* run, bool need_text = true);

}  // namespace herd::cli
