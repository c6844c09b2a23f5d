// herd guard --prompt-guard: Prompt Guard (or Prompt Guard 2) scores of texts,
// printed as JSON.
//
//   herd guard --prompt-guard DIR (TEXT | --file F | --jsonl F)
//              [--check jailbreak|injection] [--threshold 0.9] [--temperature 1]
//              [-t N] [--isa ISA]
//   herd guard --prompt-guard DIR --bench [--seconds S]
//
// DIR is the Hugging Face directory as released (config.json with
// DebertaV2ForSequenceClassification, model.safetensors, tokenizer.json).
// TEXT or --file F (its exact bytes) is one text; --jsonl F holds one JSON
// string per line, all scored in one batch, one JSON object per line out.
// Long texts are scanned in windows of 510 pieces (+ [CLS], [SEP]); each
// score is the maximum over the windows (model/deberta/prompt_guard.h).
// "flagged": the chosen check's score is above the threshold (Llama Stack's
// rule: jailbreak for user turns, injection for third-party text).
// --logits prints each window's ids and raw logits (the reference test's input,
// tests/reference/deberta_ref.py). --bench prints windows/s and the latency of one full 512-token window, with
// the share of the machine's f32 peak it reaches (FLOPs counted from the shape).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "base/mapped_file.h"
#include "commands.h"
#include "kernels/ops.h"
#include "model/deberta/prompt_guard.h"
#include "prompt_guard_model.h"

namespace herd::cli {
namespace {

namespace db = herd::model::deberta;

nlohmann::ordered_json result_json(const db::DebertaClassifier& m, const db::PromptGuardScores& s,
                                   db::PromptGuardCheck check, double threshold) {
  nlohmann::ordered_json out;
  const double score = db::prompt_guard_score(s, check);
  out["check"] = check == db::PromptGuardCheck::kJailbreak ? "jailbreak" : "injection";
  out["score"] = score;
  out["threshold"] = threshold;
  out["flagged"] = score > threshold;
  out["jailbreak_score"] = s.jailbreak;
  out["injection_score"] = s.injection;
  nlohmann::ordered_json probs;
  for (size_t i = 0; i < s.probs.size(); ++i) probs[m.config().labels[i]] = s.probs[i];
  out["probabilities"] = probs;
  out["windows"] = s.windows;
  out["tokens"] = s.tokens;
  return out;
}

// FLOPs of one window of n tokens (2 per multiply-add): the linear layers,
// the relative projections (unless made once at load: with_rel false), QK^T,
// the c2p and p2c products, PV, and the head.
double window_flops(const db::DebertaConfig& c, int64_t n, bool with_rel) {
  const double H = static_cast<double>(c.hidden_size), F = static_cast<double>(c.intermediate_size);
  const double N = static_cast<double>(n), R = std::min<double>(2.0 * c.att_span(), 2.0 * N - 1);
  const double per_layer =
      2 * N * (4 * H * H + 2 * H * F) + (with_rel ? 2 * R * 2 * H * H : 0.0) + 2 * N * N * H * 4;
  return per_layer * static_cast<double>(c.num_hidden_layers) + 2 * H * H + 2 * H * c.num_labels();
}

int run_bench(const db::DebertaClassifier& m, const kernels::ExecContext& ctx, double seconds, int threads) {
  // One window of max_window() tokens of ordinary pieces.
  std::vector<int32_t> win = m.tokenizer().prefix_ids();
  const int64_t room = m.max_window() - static_cast<int64_t>(win.size() + m.tokenizer().suffix_ids().size());
  for (int64_t i = 0; i < room; ++i) win.push_back(static_cast<int32_t>(5 + i % std::max<int64_t>(1, m.tokenizer().vocab_size() - 5)));
  win.insert(win.end(), m.tokenizer().suffix_ids().begin(), m.tokenizer().suffix_ids().end());
  using clock = std::chrono::steady_clock;
  const std::vector<std::vector<int32_t>> one = {win};
  std::vector<std::vector<int32_t>> batch(db::DebertaClassifier::kBatchWindows, win);
  double best_one = 1e30, best_batch = 1e30, total = 0;
  int runs = 0;
  while (total < seconds || runs < 2) {
    auto t0 = clock::now();
    if (!m.classify(ctx, one)) return 1;
    const double a = std::chrono::duration<double>(clock::now() - t0).count();
    t0 = clock::now();
    if (!m.classify(ctx, batch)) return 1;
    const double b = std::chrono::duration<double>(clock::now() - t0).count();
    best_one = std::min(best_one, a);
    best_batch = std::min(best_batch, b);
    total += a + b;
    ++runs;
  }
  const double flops = window_flops(m.config(), static_cast<int64_t>(win.size()), !m.relative_projections_cached());
  const TensorView& w = m.first_linear();
  std::printf("prompt guard: %lld layers, hidden %lld, window %zu tokens, %d threads, best of %d runs\n",
              static_cast<long long>(m.config().num_hidden_layers), static_cast<long long>(m.config().hidden_size),
              win.size(), threads, runs);
  std::printf("  linear layers: %s weights on the %s path, ISA %s\n", dtype_name(w.dtype),
              kernels::matmul_path_name(kernels::matmul_path(*ctx.table, w)), ctx.table->isa);
  std::printf("  one window:   %.1f ms  (%.1f GFLOP/s)\n", best_one * 1e3, flops / best_one / 1e9);
  std::printf("  batch of %lld: %.2f windows/s  (%.1f GFLOP/s)\n",
              static_cast<long long>(db::DebertaClassifier::kBatchWindows),
              static_cast<double>(db::DebertaClassifier::kBatchWindows) / best_batch,
              flops * db::DebertaClassifier::kBatchWindows / best_batch / 1e9);
  return 0;
}

}  // namespace

int cmd_prompt_guard(int argc, char** argv) {
  ArgParser p("guard", "--prompt-guard DIR (TEXT | --file F | --jsonl F) [options]");
  p.add("--prompt-guard", "DIR", "a Prompt Guard or Prompt Guard 2 directory (config.json, model.safetensors, tokenizer.json)");
  p.add("--file", "F", "score the exact bytes of file F as one text");
  p.add("--jsonl", "F", "score each line of F (a JSON string) in one batch; one JSON object per line");
  p.add("--check", "C", "jailbreak (user turns, default) or injection (tool results, retrieved text)");
  p.add("--threshold", "P", "flag when the check's score is above P (default 0.9, Llama Stack's)");
  p.add("--temperature", "T", "softmax temperature of the logits (default 1)");
  p.add("--logits", "", "print each window's token ids and raw logits instead ({\"ids\":[...],\"logits\":[...]} per line)");
  p.add("--bench", "", "print windows/s and the latency of one 512-token window");
  p.add("--seconds", "S", "with --bench: how long to repeat (default 3)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  add_prompt_guard_bf16_option(p);
  add_isa_option(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  Result<double> threshold = p.get_double("--threshold", db::kPromptGuardThreshold);
  Result<double> temperature = p.get_double("--temperature", 1.0);
  Result<double> seconds = p.get_double("--seconds", 3.0);
  if (const Error* e = first_error(threads, threshold, temperature, seconds)) return fail_usage("guard", *e);
  if (!(*threshold >= 0.0 && *threshold <= 1.0))
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--threshold must be in [0, 1]"));
  if (!(*temperature > 0))
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--temperature must be positive"));
  const std::string check_name = p.get("--check", "jailbreak");
  if (check_name != "jailbreak" && check_name != "injection")
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--check must be jailbreak or injection, got '%s'",
                                   check_name.c_str()));
  const auto check = check_name == "jailbreak" ? db::PromptGuardCheck::kJailbreak : db::PromptGuardCheck::kInjection;
  const int inputs = static_cast<int>(p.positionals().size()) + p.has("--file") + p.has("--jsonl") + p.has("--bench");
  if (inputs != 1)
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "give exactly one of TEXT, --file F, --jsonl F, --bench"));

  Result<std::unique_ptr<PromptGuardModel>> opened =
      PromptGuardModel::open(p.get("--prompt-guard"), p.get("--isa", "auto"), static_cast<int>(*threads), *threshold,
                             p.has("--prompt-guard-bf16"));
  if (!opened) return fail_run("guard", opened.error());
  const db::DebertaClassifier* m = &(*opened)->classifier();
  const kernels::ExecContext& ctx = (*opened)->ctx();
  if (p.has("--bench")) return run_bench(*m, ctx, *seconds, static_cast<int>(*threads));

  std::vector<std::string> texts;
  if (p.has("--jsonl")) {
    Result<std::vector<std::string>> in = read_json_string_lines(p.get("--jsonl"));
    if (!in) return fail_run("guard", in.error());
    texts = std::move(*in);
  } else if (p.has("--file")) {
    Result<std::string> in = read_text_file(p.get("--file"), size_t{256} << 20);
    if (!in) return fail_run("guard", in.error());
    texts.push_back(std::move(*in));
  } else {
    texts.push_back(p.positionals()[0]);
  }
  if (p.has("--logits")) {
    std::vector<std::vector<int32_t>> windows;
    for (const std::string& t : texts)
      for (auto& w : m->windows(t)) windows.push_back(std::move(w));
    Result<std::vector<std::vector<float>>> logits = m->classify(ctx, windows);
    if (!logits) return fail_run("guard", logits.error());
    for (size_t i = 0; i < windows.size(); ++i) {
      nlohmann::ordered_json j;
      j["ids"] = windows[i];
      j["logits"] = (*logits)[i];
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());
  Result<std::vector<db::PromptGuardScores>> scores = db::prompt_guard_scores(*m, ctx, views, *temperature);
  if (!scores) return fail_run("guard", scores.error());
  for (const db::PromptGuardScores& s : *scores) {
    const nlohmann::ordered_json j = result_json(*m, s, check, *threshold);
    std::printf("%s\n", j.dump(p.has("--jsonl") ? -1 : 2).c_str());
  }
  return 0;
}

}  // namespace herd::cli
