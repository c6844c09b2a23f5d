// chat_template_info: the decision rule documented in the header.
#include "model/chat_template_info.h"

#include "base/mapped_file.h"
#include "formats/gguf.h"

namespace herd::model {

ChatTemplateInfo chat_template_info(const LlamaModel& model, const tokenizer::Tokenizer* tok) {
  ChatTemplateInfo info;
  std::string tmpl;
  if (const formats::GgufFile* g = model.gguf()) {
    if (g->find("tokenizer.chat_template")) {
      Result<std::string> s = g->get_string("tokenizer.chat_template");
      if (s.has_value()) tmpl = *s;
    }
  } else {
    Result<std::string> cfg = read_text_file(model.path() + "/tokenizer_config.json", 64u << 20);
    if (cfg.has_value() && cfg->find("\"chat_template\"") != std::string::npos) tmpl = "(in tokenizer_config.json)";
  }
  info.file_has_template = !tmpl.empty();
  bool tokens = tok != nullptr;
  if (tok) {
    for (const char* t : {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>"})
      tokens = tokens && tok->special_id(t) >= 0;
  }
  info.native_llama31 = tokens;
  if (!tok) {
    info.description = "unknown: the model carries no tokenizer";
  } else if (tokens) {
    info.description = std::string("Llama 3.1 (herd's native renderer; the vocabulary has the 3.1 control tokens)") +
                       (info.file_has_template ? "; the file's own template is not executed"
                                               : "; the file has no chat template (a base model?)");
  } else {
    info.description = "not Llama 3.1: the vocabulary lacks <|start_header_id|>/<|eot_id|>/<|eom_id|>/<|python_tag|>; "
                       "herd chat refuses it";
  }
  return info;
}

}  // namespace herd::model
