// herd tokenize: print the Llama 3.1 token ids of a text.
//
//   herd tokenize [-m PATH] [--json] [--no-bos] [--special] (TEXT | --file F)
//   herd tokenize [-m PATH] [--no-bos] [--special] --jsonl F
//   herd tokenize [-m PATH] [--special] --bench F [--min-seconds S]
//
// PATH is a tokenizer.model (tiktoken ranks), a tokenizer.json, or a directory holding
// tokenizer.json (or tokenizer.model); without -m the tokenizer.model compiled into herd
// is used. --file reads F's exact bytes (no newline handling). --special lets special
// token text such as <|eot_id|> become control tokens (off by default: plain text).
// Output: the ids separated by spaces, or with --json {"ids":[...],"pieces":[...]} where
// each piece is the token's bytes as UTF-8 (bytes that are not valid UTF-8 on their own,
// e.g. part of an emoji, print as U+FFFD).
//
//
// --jsonl F is the batch mode the peer tests use (tests/e2e/test_tokenizer_peers.sh):
// every line of F is one JSON string (so a text may hold CR, LF or NUL as escapes),
// and each prints as one line {"ids":[...]}; a line that is not a JSON string is an
// error naming the line. --bench F encodes F's bytes as one text on this thread, again
// and again for at least S seconds (default 2), and prints the best run's throughput in
// MB/s (10^6 bytes of input per second) with the token count (bench/tokenizer_bench.sh).
//
// A .gguf model is opened with the model loader and its tokenizer.ggml.* arrays are used.
// A tokenizer.json whose model is "Unigram" (Prompt Guard's SentencePiece tokenizer,
// tokenizer/unigram.h) is encoded with SentencePiece's algorithm; there --no-bos leaves
// out the [CLS] ... [SEP] template and --special has no effect (special-token text is
// always text), and pieces print as the vocabulary spells them ("▁" for a space).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "base/json_depth.h"
#include "base/mapped_file.h"
#include "base/result.h"
#include "model/llama_model.h"
#include "model/model_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unigram.h"
#include "tokenizer/utf8.h"

namespace herd::cli {

int cmd_tokenize(int argc, char** argv);
Result<tokenizer::Tokenizer> load_tokenizer_for_cli(const std::string& path);

namespace {

namespace tk = herd::tokenizer;

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: herd tokenize [-m PATH] [--json] [--no-bos] [--special] (TEXT | --file F)\n"
               "       herd tokenize [-m PATH] [--no-bos] [--special] (--jsonl F | --bench F)\n"
               "  -m PATH     a .gguf model, tokenizer.model, tokenizer.json or a directory with one\n"
               "              (default: the Llama 3.1 tokenizer built into herd)\n"
               "  --file F    tokenize the exact bytes of file F\n"
               "  --json      print {\"ids\": [...], \"pieces\": [...]}\n"
               "  --no-bos    do not prepend <|begin_of_text|>\n"
               "  --special   match special-token text (<|eot_id|>) as control tokens\n"
               "  --jsonl F   batch: each line of F is a JSON string; print {\"ids\":[...]} per line\n"
               "  --bench F   print encode throughput (MB/s, one thread) on the bytes of F\n"
               "  --min-seconds S  how long --bench repeats the encode (default 2)\n");
}

// The tokenizer a path names: Llama 3's byte-level BPE or a SentencePiece unigram.
struct CliTokenizer {
  std::optional<tk::Tokenizer> bpe;
  std::optional<tk::UnigramTokenizer> unigram;

  std::vector<int32_t> encode(std::string_view text, bool bos, bool special) const {
    if (bpe) return bpe->encode(text, bos, special);
    std::vector<int32_t> ids;
    if (bos) ids = unigram->prefix_ids();
    const std::vector<int32_t> body = unigram->encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    if (bos) ids.insert(ids.end(), unigram->suffix_ids().begin(), unigram->suffix_ids().end());
    return ids;
  }
  std::string piece(int32_t id) const {
    std::string p;
    if (bpe) {
      tk::append_utf8_lossy(p, bpe->token_bytes(id));
    } else if (id >= 0 && id < unigram->vocab_size()) {
      p = unigram->piece(id);
    }
    return p;
  }
};

// A tokenizer.json whose model.type is "Unigram".
bool is_unigram_json(const std::string& file) {
  if (!ends_with(file, ".json")) return false;
  auto text = read_text_file(file, tk::UnigramTokenizer::kMaxFileBytes);
  if (!text || !json_depth_within(*text)) return false;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  auto m = j.find("model");
  if (m == j.end() || !m->is_object()) return false;
  auto t = m->find("type");
  return t != m->end() && *t == "Unigram";
}

Result<CliTokenizer> load_cli_tokenizer(const std::string& path);

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string s = "{\"ids\":[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  return s + "]}";
}

// --jsonl: one JSON string per line in, one {"ids":[...]} per line out.
int run_jsonl(const CliTokenizer& tok, const std::string& path, bool bos, bool special) {
  Result<std::vector<std::string>> texts = read_json_string_lines(path);
  if (!texts) {
    std::fprintf(stderr, "herd tokenize: %s\n", texts.error().to_string().c_str());
    return 1;
  }
  std::string out;
  for (const std::string& text : *texts) {
    out += ids_json(tok.encode(text, bos, special));
    out += '\n';
    if (out.size() > (1u << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

// --bench: best-of-N single-thread encode throughput over the whole file as one text.
int run_bench(const CliTokenizer& tok, const std::string& path, bool special, double min_s) {
  auto bytes = read_text_file(path);
  if (!bytes) {
    std::fprintf(stderr, "herd tokenize: %s\n", bytes.error().to_string().c_str());
    return 1;
  }
  using clock = std::chrono::steady_clock;
  double best = 1e30, total = 0;
  size_t n_tokens = 0;
  int runs = 0;
  while (total < min_s || runs < 3) {
    const auto t0 = clock::now();
    const std::vector<int32_t> ids = tok.encode(*bytes, false, special);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    n_tokens = ids.size();
    ++runs;
  }
  std::printf("herd: %zu bytes, %zu tokens, best of %d runs %.3f s, %.2f MB/s (1 thread)\n",
              bytes->size(), n_tokens, runs, best, bytes->size() / best / 1e6);
  return 0;
}


}  // namespace

// The tokenizer file a path names: itself, or a directory's tokenizer.json or
// tokenizer.model.
Result<std::string> tokenizer_file(const std::string& path) {
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
  return file;
}

namespace {

Result<CliTokenizer> load_cli_tokenizer(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string file, tokenizer_file(path));
  CliTokenizer t;
  if (is_unigram_json(file)) {
    HERD_ASSIGN_OR_RETURN(t.unigram, tk::UnigramTokenizer::load(file));
  } else {
    HERD_ASSIGN_OR_RETURN(t.bpe, load_tokenizer_for_cli(path));
  }
  return t;
}

}  // namespace

// Loads a tokenizer from a path the user gave on the command line: a .gguf model,
// tokenizer.model, tokenizer.json, or a directory (an HF model) holding one.
Result<tk::Tokenizer> load_tokenizer_for_cli(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string file, tokenizer_file(path));
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
  std::string model_path, file_path, jsonl_path, bench_path, text;
  double min_seconds = 2.0;
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
    } else if (a == "--jsonl" && i + 1 < argc) {
      jsonl_path = argv[++i];
    } else if (a == "--bench" && i + 1 < argc) {
      bench_path = argv[++i];
    } else if (a == "--min-seconds" && i + 1 < argc) {
      min_seconds = std::atof(argv[++i]);
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
  const int n_inputs = int(have_text) + int(!file_path.empty()) + int(!jsonl_path.empty()) +
                       int(!bench_path.empty());
  if (n_inputs != 1) {
    std::fprintf(stderr, "herd tokenize: give exactly one of TEXT, --file F, --jsonl F or --bench F\n");
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
  Result<CliTokenizer> tok = CliTokenizer{};
  if (model_path.empty()) {
    Result<tk::Tokenizer> llama3 = tk::Tokenizer::llama3();
    if (llama3) {
      tok->bpe = std::move(*llama3);
    } else {
      tok = std::move(llama3.error());
    }
  } else {
    tok = load_cli_tokenizer(model_path);
  }
  if (!tok) {
    std::fprintf(stderr, "herd tokenize: %s\n", tok.error().to_string().c_str());
    return 1;
  }
  if (!jsonl_path.empty()) return run_jsonl(*tok, jsonl_path, bos, special);
  if (!bench_path.empty()) return run_bench(*tok, bench_path, special, min_seconds);
  const std::vector<int32_t> ids = tok->encode(text, bos, special);
  if (json) {
    nlohmann::json out;
    out["ids"] = ids;
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) pieces.push_back(tok->piece(id));
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
