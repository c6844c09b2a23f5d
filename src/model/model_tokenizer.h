// The tokenizer a model file carries: GGUF tokenizer.ggml.* arrays, the
// tokenizer.json beside an HF checkpoint, or the tokenizer.model beside a
// Meta native checkpoint. The model layer extracts the plain
// data; the tokenizer layer knows nothing of file formats.
#pragma once

#include "base/result.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

namespace herd::model {

// Errors: kNotFound when the model has no tokenizer (e.g. a GGUF without
// tokenizer.ggml.tokens), or the vocab's own validation errors.
Result<tokenizer::Tokenizer> load_model_tokenizer(const LlamaModel& model);

}  // namespace herd::model
