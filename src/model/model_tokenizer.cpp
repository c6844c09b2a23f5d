// load_model_tokenizer: GGUF arrays, HF tokenizer.json or Meta tokenizer.model -> Tokenizer.
#include "model/model_tokenizer.h"

#include "base/mapped_file.h"
#include "formats/gguf.h"
#include "formats/hf_checkpoint.h"
#include "tokenizer/vocab.h"

namespace herd::model {

Result<tokenizer::Tokenizer> load_model_tokenizer(const LlamaModel& model) {
  tokenizer::Vocab vocab;
  if (const formats::GgufFile* g = model.gguf()) {
    const formats::GgufValue* toks = g->find("tokenizer.ggml.tokens");
    const formats::GgufValue* types = g->find("tokenizer.ggml.token_type");
    if (!toks || !types)
      return err(ErrorCode::kNotFound, "%s has no tokenizer.ggml.tokens / token_type; use --tokens to give ids",
                 model.path().c_str());
    HERD_ASSIGN_OR_RETURN(std::vector<std::string> t, toks->as_string_array());
    HERD_ASSIGN_OR_RETURN(std::vector<int64_t> ty, types->as_int_array());
    HERD_ASSIGN_OR_RETURN(vocab, tokenizer::vocab_from_gguf_tokens(t, ty));
    HERD_TRY(tokenizer::assign_llama3_special_ids(vocab));
    if (g->find("tokenizer.ggml.eos_token_id")) {
      HERD_ASSIGN_OR_RETURN(uint64_t eos, g->get_uint("tokenizer.ggml.eos_token_id"));
      vocab.eos_id = static_cast<int32_t>(eos);
    }
  } else if (model.format() == ModelFormat::kMeta) {
    const std::string path = model.path() + "/tokenizer.model";
    HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 64u << 20));
    Result<tokenizer::Vocab> v = tokenizer::vocab_from_tiktoken(text);
    if (!v.has_value()) return std::move(v.error().with_context(path));
    vocab = std::move(*v);
    HERD_TRY(tokenizer::assign_llama3_special_ids(vocab));
  } else {
    const std::string path = model.path() + "/tokenizer.json";
    HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(path, 256u << 20));
    Result<tokenizer::Vocab> v = tokenizer::vocab_from_hf_tokenizer_json(text);
    if (!v.has_value()) return std::move(v.error().with_context(path));
    vocab = std::move(*v);
    HERD_TRY(tokenizer::assign_llama3_special_ids(vocab));
  }
  if (vocab.size() != model.config().vocab_size)
    return err(ErrorCode::kCorrupt, "the tokenizer has %d tokens but the model's embedding has %lld rows",
               vocab.size(), static_cast<long long>(model.config().vocab_size));
  return tokenizer::Tokenizer::from_vocab(std::move(vocab));
}

}  // namespace herd::model
