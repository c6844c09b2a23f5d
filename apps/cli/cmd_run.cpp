// herd run: evaluate a prompt and stream generated text to stdout.
//
// The prompt (text, or ids with --tokens) is evaluated in batches of -b
// tokens; then tokens are sampled one at a time until -n tokens, an
// end-of-generation token (<|end_of_text|>, <|eom_id|>, <|eot_id|>) or the
// context limit. Timings and memory go to stderr, text to stdout, so stdout
// holds the generated text followed by one newline (token ids separated by
// spaces when the model carries no tokenizer).
#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "generation_loop.h"
#include "chat/llama3_format.h"
#include "chat/stop.h"
#include "grammar/json_constraint.h"
#include "grammar/json_grammar.h"
#include "commands.h"
#include "lora_option.h"
#include "base/mapped_file.h"
#include "formats/hf_config.h"
#include "formats/npy.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "model/llama_context.h"
#include "model/runtime.h"
#include "model/model_tokenizer.h"
#include "sampling/sampler.h"

namespace herd::cli {
namespace {

// Writes each tap of one evaluation as DIR/<name>.npy.
class NpyTapSink : public model::TapSink {
 public:
  explicit NpyTapSink(std::string dir) : dir_(std::move(dir)) {}
  void tap(const std::string& name, const float* data, int64_t rows, int64_t cols) override {
    Status s = formats::write_npy_f32(dir_ + "/" + name + ".npy", {rows, cols}, data);
    if (!s.has_value() && status_.has_value()) status_ = s;
  }
  Status status() const { return status_; }

 private:
  std::string dir_;
  Status status_;
};

// --run-json FILE, and DIR/run.json beside --taps-out: what herd computed with, for tests to read
// instead of parsing the log: the kernel table's ISA, the KV cache types, the
// threads, and each weight's dtype (as the file holds it: TensorView::file_dtype), matmul path (kernels/ops.h MatmulPath)
// and layout (interleave: 1 the file's, 8 r8, 16 r16),
// which decides the rounding a reference comparison must budget for.
Status write_run_json(const std::string& path, const model::LlamaModel& model, const kernels::KernelTable& table,
                      DType kv_k, DType kv_v, int threads) {
  auto weight = [&](const TensorView& w) {
    return nlohmann::json{{"dtype", dtype_name(w.file_dtype())},
                          {"path", kernels::matmul_path_name(kernels::matmul_path(table, w))},
                          {"interleave", w.interleave}};
  };
  nlohmann::json layers = nlohmann::json::array();
  nlohmann::json matmul = nlohmann::json::object();
  model.for_each_matmul_weight([&](int64_t il, model::LlamaTensor t, const TensorView& w) {
    const char* key = model::llama_tensor_info(t).field;
    if (il < 0) {
      matmul[key] = weight(w);
      return;
    }
    if (static_cast<size_t>(il) == layers.size()) layers.push_back(nlohmann::json::object());
    layers[static_cast<size_t>(il)][key] = weight(w);
  });
  matmul["layers"] = std::move(layers);
  const nlohmann::json j = {{"isa", table.isa},
                            {"kv_type", {{"k", dtype_name(kv_k)}, {"v", dtype_name(kv_v)}}},
                            {"threads", threads},
                            {"matmul", std::move(matmul)}};
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return err(ErrorCode::kIo, "cannot write %s: %s", path.c_str(), std::strerror(errno));
  const std::string text = j.dump(1) + "\n";
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return err(ErrorCode::kIo, "cannot write %s", path.c_str());
  return {};
}

Result<std::vector<int32_t>> parse_token_list(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > INT32_MAX)
      return err(ErrorCode::kInvalidArgument, "--tokens: '%s' is not a token id", item.c_str());
    out.push_back(static_cast<int32_t>(v));
  }
  if (out.empty()) return err(ErrorCode::kInvalidArgument, "--tokens: no ids given");
  return out;
}

double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// -n -1's context when -c is not given: the trained context, at most this.
constexpr int64_t kDefaultOpenEndedCtx = 8192;

std::atomic<bool> g_run_interrupt{false};

void on_run_sigint(int) {
  if (g_run_interrupt.exchange(true)) _exit(130);  // the second Ctrl-C: now
}

Result<std::string> read_stdin() {
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    text.append(buf, n);
    if (text.size() > (size_t{1} << 30)) return err(ErrorCode::kInvalidArgument, "-f -: standard input over 1 GiB");
  }
  if (std::ferror(stdin)) return err(ErrorCode::kIo, "-f -: reading standard input failed");
  return text;
}

}  // namespace

int cmd_run(int argc, char** argv) {
  ArgParser p("run", "-m MODEL (-p PROMPT | --tokens ID,ID,...) [options]");
  p.add("-m,--model", "PATH", "model: a .gguf file or a Hugging Face directory");
  p.add("--lora", "PATH[:SCALE]", kLoraOptionHelp);
  p.add("-p,--prompt", "TEXT", "prompt text (tokenized with the model's tokenizer, BOS added)");
  p.add("-f,--file", "PATH", "read the prompt text from a file ('-': standard input)");
  p.add("-cnv,--conversation", "", "an instruct model's one-off answer: the prompt (and -sys) in the Llama 3.1 chat "
        "format as one user turn; the output ends with the turn");
  p.add("-sys,--system-prompt", "TEXT", "with -cnv: the system message");
  p.add("--date", "DATE", "with -cnv: the 'Today Date:' of the system lines (default: today)");
  p.add("-e,--escape", "", "process escapes (\\n \\t \\\\ \\\" \\xHH ...) in -p and -sys");
  p.add("--stop", "TEXT", "end the output before TEXT (repeatable); the stop string is not printed");
  p.add("-j,--json-schema", "SCHEMA", "constrain the output to JSON matching SCHEMA (herd serve's grammar engine; "
        "'{}' for any JSON object)");
  p.add("-jf,--json-schema-file", "FILE", "the same, the schema read from FILE");
  p.add("--grammar-file", "FILE", "llama.cpp's GBNF grammars are not supported: use --json-schema");
  p.add("--tokens", "IDS", "prompt as comma-separated token ids instead of text (no BOS added)");
  p.add("--no-bos", "", "do not prepend <|begin_of_text|> to a text prompt");
  p.add("-n,--n-predict", "N", "tokens to generate (default 128; 0 = only process the prompt; -1 = until the end "
        "of the turn or the context)");
  p.add("-c,--ctx-size", "N", "context size (default: prompt + n, at most the model's trained context)");
  p.add("-b,--batch-size", "N", "prompt tokens evaluated per forward pass (default 64)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--temp", "T", "temperature (default 0.6, Meta's, or generation_config.json's; 0 = greedy)");
  p.add("--top-k", "K", "keep the K most likely tokens (default 0 = off)");
  p.add("--top-p", "P", "nucleus sampling mass (default 0.9)");
  p.add("--min-p", "P", "drop tokens below P x the top probability (default 0 = off)");
  p.add("--repeat-penalty", "R", "repetition penalty (default 1.0 = off)");
  p.add("--repeat-last-n", "N", "tokens the penalties look back over (default 64, -1 = all)");
  p.add("--frequency-penalty", "F", "subtract F x count (default 0)");
  p.add("--presence-penalty", "P", "subtract P if present (default 0)");
  p.add("--seed", "N", "sampling seed (default: random, printed)");
  p.add("--ignore-eos", "", "keep generating past end-of-generation tokens");
  p.add("--logits-out", "FILE.npy", "write float32 logits of every prompt position, [n_positions, vocab]");
  p.add("--logits-last", "N", "with --logits-out: only the last N prompt positions, [N, vocab] (default: all)");
  p.add("--taps-out", "DIR", "write named activations of the prompt pass as DIR/<name>.npy (one batch), and DIR/run.json");
  p.add("--run-json", "FILE", "write what the run computed with as JSON: ISA, KV types, threads, each weight's dtype and matmul path");
  p.add("--pos-offset", "N", "debug: give the first token absolute position N with an empty prefix");
  add_isa_option(p);
  add_cache_type_options(p);
  add_fp8_activation_option(p);
  add_llama_cpp_compat_options(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--model")) {
    std::fprintf(stderr, "herd run: -m MODEL is required\n");
    p.print_usage(stderr);
    return 2;
  }
  note_ignored_options(p, "run");
  if (p.has("--grammar-file")) {
    std::fprintf(stderr, "herd run: --grammar-file: GBNF grammars are not supported; constrain the output with "
                         "--json-schema (JSON Schema, as herd serve's response_format)\n");
    return 2;
  }
  if (p.has("--json-schema") && p.has("--json-schema-file")) {
    std::fprintf(stderr, "herd run: give --json-schema or --json-schema-file, not both\n");
    return 2;
  }
  if ((p.has("--system-prompt") || p.has("--date")) && !p.has("--conversation")) {
    std::fprintf(stderr, "herd run: -sys and --date need -cnv (the chat format)\n");
    return 2;
  }
  if (p.has("--conversation") && p.has("--tokens")) {
    std::fprintf(stderr, "herd run: -cnv renders a text prompt; --tokens gives ids\n");
    return 2;
  }
  int given = p.has("--prompt") + p.has("--file") + p.has("--tokens");
  if (given != 1) {
    std::fprintf(stderr, "herd run: give exactly one of -p, -f or --tokens\n");
    return 2;
  }

  auto n_predict = p.get_int("--n-predict", 128, -2, 1 << 30);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto batch = p.get_int("--batch-size", 64, 1, 1 << 16);
  auto ctx_arg = p.get_int("--ctx-size", 0, 0, 1 << 30);
  auto pos_offset = p.get_int("--pos-offset", 0, 0, int64_t{1} << 40);
  auto top_k = p.get_int("--top-k", 0, 0, 1 << 30);
  auto last_n = p.get_int("--repeat-last-n", 64, -1, 1 << 30);
  auto temp = p.get_double("--temp", 0.6);
  auto top_p = p.get_double("--top-p", 0.9);
  auto min_p = p.get_double("--min-p", 0.0);
  auto rep = p.get_double("--repeat-penalty", 1.0);
  auto freq = p.get_double("--frequency-penalty", 0.0);
  auto pres = p.get_double("--presence-penalty", 0.0);
  auto seed_arg = p.get_int("--seed", -1, -1, INT64_MAX);
  auto logits_last = p.get_int("--logits-last", INT64_MAX, 1, INT64_MAX);
  auto cache_types = get_cache_types(p);
  if (const Error* e = first_error(n_predict, threads, batch, ctx_arg, pos_offset, top_k, last_n, temp, top_p,
                                   min_p, rep, freq, pres, seed_arg, logits_last, cache_types))
    return fail_usage("run", *e);
  if (p.has("--logits-last") && !p.has("--logits-out")) {
    std::fprintf(stderr, "herd run: --logits-last needs --logits-out\n");
    return 2;
  }

  sampling::SamplingParams sp;
  sp.temperature = static_cast<float>(*temp);
  sp.top_k = static_cast<int32_t>(*top_k);
  sp.top_p = static_cast<float>(*top_p);
  sp.min_p = static_cast<float>(*min_p);
  sp.repetition_penalty = static_cast<float>(*rep);
  sp.frequency_penalty = static_cast<float>(*freq);
  sp.presence_penalty = static_cast<float>(*pres);
  sp.penalty_last_n = static_cast<int32_t>(*last_n);
  sp.seed = *seed_arg >= 0 ? static_cast<uint64_t>(*seed_arg) : std::random_device{}();

  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open(runtime_options(p, *threads, stderr));
  if (!rt.has_value()) return fail_run("run", rt.error());
  model::LlamaModel* model = &(*rt)->model();
  Result<std::vector<std::unique_ptr<train::LoraSet>>> loras = attach_lora_options(p.get_all("--lora"), *model);
  if (!loras.has_value()) return fail_run("run", loras.error());
  const kernels::KernelTable* table = &(*rt)->table();
  const model::LlamaConfig& cfg = model->config();
  if (Status s = cache_types_fit(*cache_types, cfg.head_dim); !s.has_value()) return fail_usage("run", s.error());
  // An HF checkpoint's generation_config.json supplies the sampling defaults
  // (as transformers does); options on the command line win.
  std::vector<int32_t> extra_stop_ids;
  if (model->format() == model::ModelFormat::kHf) {
    const std::string gpath = p.get("--model") + "/generation_config.json";
    if (Result<std::string> text = read_text_file(gpath, 1u << 20); text.has_value()) {
      Result<formats::HfGenerationConfig> g = formats::parse_generation_config(*text);
      if (!g.has_value()) return fail_run("run", g.error().with_context(gpath));
      if (!g->do_sample && !p.has("--temp")) sp.temperature = 0.0f;
      if (g->temperature && !p.has("--temp") && g->do_sample) sp.temperature = static_cast<float>(*g->temperature);
      if (g->top_p && !p.has("--top-p")) sp.top_p = static_cast<float>(*g->top_p);
      if (g->top_k && !p.has("--top-k")) sp.top_k = static_cast<int32_t>(*g->top_k);
      if (g->repetition_penalty && !p.has("--repeat-penalty"))
        sp.repetition_penalty = static_cast<float>(*g->repetition_penalty);
      for (int64_t id : g->eos_token_ids) extra_stop_ids.push_back(static_cast<int32_t>(id));
      std::fprintf(stderr, "herd run: sampling defaults from %s (temperature %g, top_p %g)\n", gpath.c_str(),
                   static_cast<double>(sp.temperature), static_cast<double>(sp.top_p));
    }
  }
  if (Status s = sp.validate(); !s.has_value()) return fail_usage("run", s.error());

  // The tokenizer is needed for text prompts and for printing output.
  std::unique_ptr<tokenizer::Tokenizer> tok;
  if (Result<tokenizer::Tokenizer> t = model::load_model_tokenizer(*model); t.has_value()) {
    tok = std::make_unique<tokenizer::Tokenizer>(std::move(*t));
  } else if (!p.has("--tokens")) {
    return fail_run("run", t.error());
  } else {
    std::fprintf(stderr, "herd run: no usable tokenizer (%s); printing token ids\n", t.error().to_string().c_str());
  }

  std::vector<int32_t> prompt;
  if (p.has("--tokens")) {
    Result<std::vector<int32_t>> ids = parse_token_list(p.get("--tokens"));
    if (!ids.has_value()) return fail_usage("run", ids.error());
    prompt = std::move(*ids);
    for (size_t i = 0; i < prompt.size(); ++i)
      if (prompt[i] < 0 || prompt[i] >= cfg.vocab_size)
        return fail_usage("run", err(ErrorCode::kInvalidArgument, "--tokens: token %d at index %zu is outside the vocabulary [0, %lld)",
                                     prompt[i], i, static_cast<long long>(cfg.vocab_size)));
  } else {
    std::string text = p.get("--prompt");
    if (p.has("--file")) {
      Result<std::string> f = p.get("--file") == "-" ? read_stdin() : read_text_file(p.get("--file"));
      if (!f.has_value()) return fail_run("run", f.error());
      text = std::move(*f);
    }
    std::string system = p.get("--system-prompt");
    if (p.has("--escape")) {
      text = process_escapes(text);
      system = process_escapes(system);
    }
    if (p.has("--conversation")) {
      // The Llama 3.1 chat format, as herd chat and herd serve render it.
      std::vector<chat::Message> msgs;
      if (!system.empty()) msgs.push_back({"system", system, {}, "", ""});
      msgs.push_back({"user", text, {}, "", ""});
      chat::FormatOptions fo;
      fo.today = p.get("--date");
      Result<chat::Prompt> rendered = chat::render_prompt(msgs, {}, fo);
      if (!rendered.has_value()) return fail_run("run", rendered.error());
      Result<std::vector<int32_t>> ids = rendered->ids(*tok);
      if (!ids.has_value()) return fail_run("run", ids.error());
      prompt = std::move(*ids);
    } else {
      prompt = tok->encode(text, !p.has("--no-bos"));
    }
    if (prompt.empty()) return fail_usage("run", err(ErrorCode::kInvalidArgument, "the prompt is empty"));
  }
  // --json-schema: the grammar every generated token must follow.
  std::unique_ptr<grammar::JsonSchemaConstraint> constraint;
  if (p.has("--json-schema") || p.has("--json-schema-file")) {
    if (!tok) return fail_usage("run", err(ErrorCode::kInvalidArgument, "--json-schema needs the model's tokenizer"));
    std::string text = p.get("--json-schema");
    if (p.has("--json-schema-file")) {
      Result<std::string> f = read_text_file(p.get("--json-schema-file"), 4u << 20);
      if (!f.has_value()) return fail_run("run", f.error());
      text = std::move(*f);
    }
    nlohmann::json schema = nlohmann::json::parse(text, nullptr, false);
    if (schema.is_discarded() || !(schema.is_object() || schema.is_boolean()))
      return fail_usage("run", err(ErrorCode::kInvalidArgument, "--json-schema: not a JSON Schema object"));
    std::string path;
    Result<std::shared_ptr<const grammar::Grammar>> g = grammar::Grammar::from_schema(schema, {}, &path);
    if (!g.has_value()) return fail_usage("run", g.error().with_context("--json-schema"));
    constraint = std::make_unique<grammar::JsonSchemaConstraint>(*g, grammar::VocabIndex::build(*tok));
  }

  const int64_t T = static_cast<int64_t>(prompt.size());
  // -n -1 (or llama.cpp's -2): until the end of the turn or of the context, which is
  // then -c or the trained context up to 8192 (a 128K cache would be many GB).
  const bool until_end = *n_predict < 0;
  int64_t n_ctx = *ctx_arg > 0 ? *ctx_arg
                  : until_end  ? std::max<int64_t>(T + 1, std::min<int64_t>(cfg.n_ctx_train, kDefaultOpenEndedCtx))
                               : std::min<int64_t>(T + *n_predict, std::max<int64_t>(cfg.n_ctx_train, T + 1));
  if (T > n_ctx)
    return fail_usage("run", err(ErrorCode::kInvalidArgument, "the prompt has %lld tokens but the context is %lld",
                    static_cast<long long>(T), static_cast<long long>(n_ctx)));
  const bool want_taps = p.has("--taps-out");
  const int64_t B = want_taps ? T : std::min<int64_t>(*batch, T);

  ThreadPool& pool = (*rt)->pool();
  model::LlamaContext ctx(*model, n_ctx, B, (*rt)->exec(), cache_types->k, cache_types->v);
  ctx.set_pos_offset(*pos_offset);
  const double load_s = (*rt)->startup_s();
  std::fprintf(stderr,
               "herd run: %s (%s, %lld layers, d_model %lld), %lld prompt tokens, ctx %lld, %d threads, kernels %s, "
               "KV %s/%s\n",
               cfg.name.c_str(), model::model_format_name(model->format()),
               static_cast<long long>(cfg.n_layers), static_cast<long long>(cfg.d_model), static_cast<long long>(T),
               static_cast<long long>(n_ctx), pool.size(), table->isa, dtype_name(cache_types->k),
               dtype_name(cache_types->v));
  if (*seed_arg < 0) std::fprintf(stderr, "herd run: seed %llu\n", static_cast<unsigned long long>(sp.seed));

  // Prompt pass. --logits-out writes positions [first_logit, T): all of them, or the last
  // --logits-last N; only batches overlapping that range compute every position's logits.
  formats::NpyWriter logits_out;
  const bool want_logits = p.has("--logits-out");
  const int64_t first_logit = T - std::min<int64_t>(*logits_last, T);
  if (want_logits) {
    if (Status s = logits_out.open(p.get("--logits-out"), {T - first_logit, cfg.vocab_size}); !s.has_value())
      return fail_run("run", s.error());
  }
  if (p.has("--run-json")) {
    if (Status s = write_run_json(p.get("--run-json"), *model, *table, cache_types->k, cache_types->v, pool.size());
        !s.has_value())
      return fail_run("run", s.error());
  }
  std::unique_ptr<NpyTapSink> taps;
  if (want_taps) {
    mkdir(p.get("--taps-out").c_str(), 0755);
    taps = std::make_unique<NpyTapSink>(p.get("--taps-out"));
    if (Status s = write_run_json(p.get("--taps-out") + "/run.json", *model, *table, cache_types->k,
                                  cache_types->v, pool.size());
        !s.has_value())
      return fail_run("run", s.error());
  }
  std::vector<float> logits;
  logits.reserve(static_cast<size_t>(B * cfg.vocab_size));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < T; i += B) {
    const int64_t n = std::min(B, T - i);
    const bool batch_logits = want_logits && i + n > first_logit;  // overlaps the positions written
    Status s = ctx.eval(std::span<const int32_t>(prompt.data() + i, static_cast<size_t>(n)), batch_logits || want_taps,
                        &logits, taps.get());
    if (!s.has_value()) return fail_run("run", s.error());
    if (batch_logits) {
      const int64_t skip = std::max<int64_t>(0, first_logit - i);  // rows of this batch before the range
      if (Status w = logits_out.append(logits.data() + skip * cfg.vocab_size, (n - skip) * cfg.vocab_size);
          !w.has_value())
        return fail_run("run", w.error());
    }
  }
  const double prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (want_logits) {
    if (Status s = logits_out.close(); !s.has_value()) return fail_run("run", s.error());
  }
  if (taps && !taps->status().has_value()) return fail_run("run", taps->status().error());
  if (want_logits || want_taps) {
    // Keep only the last position's logits for sampling.
    std::copy(logits.end() - cfg.vocab_size, logits.end(), logits.begin());
    logits.resize(static_cast<size_t>(cfg.vocab_size));
  }

  // Generation.
  sampling::Sampler sampler(sp);
  std::vector<int32_t> history = prompt;
  history.reserve(static_cast<size_t>(T + *n_predict));
  std::unique_ptr<tokenizer::StreamDecoder> dec;
  if (tok) dec = std::make_unique<tokenizer::StreamDecoder>(*tok);
  std::vector<int32_t> model_eos = cfg.eos_ids;
  model_eos.insert(model_eos.end(), extra_stop_ids.begin(), extra_stop_ids.end());
  const chat::StopTokens stops = chat::StopTokens::for_model(tok.get(), model_eos);
  LoopOptions lo;
  lo.max_tokens = until_end ? n_ctx : *n_predict;
  lo.ignore_eos = p.has("--ignore-eos");
  lo.interrupt = &g_run_interrupt;
  lo.constraint = constraint.get();
  chat::StopStringMatcher stop_strings(p.get_all("--stop"));
  bool stopped_by_string = false;
  // Ctrl-C ends the generation and the stats are still printed; a second one exits.
  struct sigaction sa {};
  sa.sa_handler = on_run_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  const auto t1 = std::chrono::steady_clock::now();
  Result<LoopEnd> end = generation_loop(ctx, sampler, history, logits, stops, lo, [&](int32_t id) {
    if (dec) {
      const std::string piece = dec->push_text(id);
      const chat::StopStringMatcher::Step st = stop_strings.push(piece);
      std::fwrite(st.text.data(), 1, st.text.size(), stdout);
      stopped_by_string = st.stopped;
    } else {
      std::fprintf(stdout, "%d ", id);
    }
    std::fflush(stdout);
    return !stopped_by_string;
  });
  signal(SIGINT, SIG_DFL);
  if (!end.has_value()) return fail_run("run", end.error());
  const int64_t generated = end->generated;
  std::string stop_reason = *n_predict == 0 ? "prompt only" : end->context_full ? "context full" : "length";
  if (end->stop_id >= 0) stop_reason = tok ? std::string(tok->token_bytes(end->stop_id)) : std::to_string(end->stop_id);
  if (stopped_by_string) stop_reason = "stop string";
  if (end->constraint_complete) stop_reason = "JSON complete";
  if (end->interrupted) stop_reason = "interrupted";
  if (dec && !stopped_by_string) {
    std::string rest = stop_strings.push(dec->flush()).text + stop_strings.flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  if (generated > 0) std::fputc('\n', stdout);
  std::fflush(stdout);
  const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const double decode_evals = static_cast<double>(end->evaluated);
  std::fprintf(stderr,
               "herd run: load %.2f s | prompt %lld tokens in %.2f s (%.2f tok/s) | generated %lld tokens in %.2f s "
               "(%.2f tok/s) | stop: %s | peak RSS %.0f MiB\n",
               load_s, static_cast<long long>(T), prefill_s, static_cast<double>(T) / std::max(prefill_s, 1e-9),
               static_cast<long long>(generated), decode_s, decode_evals / std::max(decode_s, 1e-9), stop_reason.c_str(),
               peak_rss_mib());
  return end->interrupted ? 130 : 0;
}

}  // namespace herd::cli
