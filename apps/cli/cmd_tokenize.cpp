// herd tokenize: print the Llama 3.1 token ids of a text.
//
//   herd tokenize [-m PATH] [--json] [--no-bos] [--special] (TEXT | --file F)
//
// PATH is a tokenizer.model (tiktoken ranks), a tokenizer.json, or a directory holding
// tokenizer.json (or tokenizer.model); without -m the tokenizer.model compiled into herd
// is used. --file reads F's exact bytes (no newline handling). --special lets special
// token text such as <|eot_id|> become control tokens (off by default: plain text).
// Output: the ids separated by spaces, or with --json {"ids":[...],"pieces":[...]} where
// each piece is the token's bytes as UTF-8 (bytes that are not valid UTF-8 on their own,
// e.g. part of an emoji, print as U+FFFD).
//
// A .gguf model is opened with the model loader and its tokenizer.ggml.* arrays are used.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "base/result.h"
#include "model/llama_model.h"
#include "model/model_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace herd::cli {

int cmd_tokenize(int argc, char** argv);

namespace {

namespace tk = herd::tokenizer;

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: herd tokenize [-m PATH] [--json] [--no-bos] [--special] (TEXT | --file F)\n"
               "  -m PATH     a .gguf model, tokenizer.model, tokenizer.json or a directory with one\n"
               "              (default: the Llama 3.1 tokenizer built into herd)\n"
               "  --file F    tokenize the exact bytes of file F\n"
               "  --json      print {\"ids\": [...], \"pieces\": [...]}\n"
               "  --no-bos    do not prepend <|begin_of_text|>\n"
               "  --special   match special-token text (<|eot_id|>) as control tokens\n");
}

}  // namespace

// Loads a tokenizer from a path the user gave on the command line: a .gguf model,
// tokenizer.model, tokenizer.json, or a directory (an HF model) holding one.
Result<tk::Tokenizer> load_tokenizer_for_cli(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (std::filesystem::is_directory(path, ec)) {
    const std::string json = (std::filesystem::path(path) / "tokenizer.json").string();
    const std::string model = (std::filesystem::path(path) / "tokenizer.model").string();
    if (std::filesystem::exists(json, ec)) {
      file = json;
    } else if (std::filesystem::exists(model, ec)) {
      file = model;
    } else {
      return err(ErrorCode::kNotFound, "directory %s has no tokenizer.json or tokenizer.model",
                 path.c_str());
    }
  }
  if (ends_with(file, ".gguf")) {
    HERD_ASSIGN_OR_RETURN(model::LlamaModel m, model::LlamaModel::load(file));
    return model::load_model_tokenizer(m);
  }
  HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(file, size_t{256} << 20));
  Result<tk::Vocab> vocab = ends_with(file, ".json") ? tk::vocab_from_hf_tokenizer_json(text)
                                                     : tk::vocab_from_tiktoken(text);
  if (!vocab) return std::move(vocab.error()).with_context("loading tokenizer " + file);
  return tk::Tokenizer::from_vocab(std::move(*vocab));
}

int cmd_tokenize(int argc, char** argv) {
  std::string model_path, file_path, text;
  bool have_text = false, json = false, bos = true, special = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if ((a == "-m" || a == "--model") && i + 1 < argc) {
      model_path = argv[++i];
    } else if (a == "--file" && i + 1 < argc) {
      file_path = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else if (a == "--no-bos") {
      bos = false;
    } else if (a == "--special") {
      special = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "--") {
      std::fprintf(stderr, "herd tokenize: unknown or incomplete option '%s'\n", a.c_str());
      usage();
      return 2;
    } else if (!have_text) {
      if (a == "--" && i + 1 < argc) {
        text = argv[++i];
      } else {
        text = a;
      }
      have_text = true;
    } else {
      std::fprintf(stderr, "herd tokenize: more than one TEXT argument (quote the text)\n");
      return 2;
    }
  }
  if (have_text == !file_path.empty()) {
    std::fprintf(stderr, "herd tokenize: give exactly one of TEXT or --file F\n");
    usage();
    return 2;
  }
  if (!file_path.empty()) {
    auto bytes = read_text_file(file_path);
    if (!bytes) {
      std::fprintf(stderr, "herd tokenize: %s\n", bytes.error().to_string().c_str());
      return 1;
    }
    text = std::move(*bytes);
  }
  auto tok = model_path.empty() ? tk::Tokenizer::llama3() : load_tokenizer_for_cli(model_path);
  if (!tok) {
    std::fprintf(stderr, "herd tokenize: %s\n", tok.error().to_string().c_str());
    return 1;
  }
  const std::vector<int32_t> ids = tok->encode(text, bos, special);
  if (json) {
    nlohmann::json out;
    out["ids"] = ids;
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) {
      std::string piece;
      tk::append_utf8_lossy(piece, tok->token_bytes(id));
      pieces.push_back(std::move(piece));
    }
    out["pieces"] = std::move(pieces);
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(ids[i]);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace herd::cli
