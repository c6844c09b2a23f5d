// Which chat format a model file implies, from its metadata (never from
// template substrings alone): herd renders the Llama 3.1 format natively
// (src/chat) and uses it when the vocabulary has the Llama 3.1 control tokens.
// The file's own Jinja template (GGUF tokenizer.chat_template, HF
// tokenizer_config.json chat_template) is reported but never executed.
#pragma once

#include <string>

#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

namespace herd::model {

struct ChatTemplateInfo {
  bool native_llama31 = false;   // herd's renderer applies
  bool file_has_template = false;
  std::string description;       // one line for `herd inspect` and `herd chat`
};

ChatTemplateInfo chat_template_info(const LlamaModel& model, const tokenizer::Tokenizer* tok);

}  // namespace herd::model
