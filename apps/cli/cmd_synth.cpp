// herd synth: synthetic data by rejection sampling, the data step of the
// SFT -> rejection sampling -> DPO loop (docs/training.md). For every prompt
// of a JSONL file, N completions are sampled through the engine (continuous
// batching: the completions of --parallel prompts share each step), each is
// scored by a judge (synth_judge.h), and the output folder gets
//   samples.jsonl  every distinct completion with its score, seed, stream and count (how
//                  many of the N samples gave it)
//   sft.jsonl      per prompt, the best completion scoring >= --min-score, as a chat
//                  example herd finetune reads (with its provenance)
//   prefs.jsonl    per prompt, best vs worst when their scores differ by >= --min-gap,
//                  as a pair herd dpo reads
//   progress.json  prompts done, and what shaped the run
// A completion's tokens depend only on the model, the prompt and its seed and
// stream (engine.h), so a run is the same for the same seed whatever
// --parallel is, and --resume continues a stopped run to the same files.
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "chat/llama3_format.h"
#include "train/sft_data.h"
#include "chat/messages.h"
#include "commands.h"
#include "engine/engine.h"
#include "guard_model.h"
#include "lora_option.h"
#include "model/model_tokenizer.h"
#include "model/runtime.h"
#include "synth_judge.h"
#include "train/jsonl_lines.h"

namespace herd::cli {
namespace {

struct PromptRow {
  nlohmann::json row;       // the line as given
  nlohmann::json messages;  // the conversation to continue
  std::vector<chat::Message> parsed;
  std::vector<int32_t> ids;
};

// {"messages": [...]} or {"prompt": "..."} (one user message), "tools" optional.
Result<std::vector<PromptRow>> load_prompts(const std::string& path, const tokenizer::Tokenizer& tok) {
  std::vector<PromptRow> out;
  HERD_TRY(train::for_each_jsonl_line(path, "prompts", [&](const std::string& line, int64_t n) -> Status {
    const std::string where = path + ":" + std::to_string(n);
    HERD_ASSIGN_OR_RETURN(nlohmann::json j, train::parse_jsonl_line(line, where));
    if (!j.is_object()) return train::line_error(where, "each line must be an object with \"messages\" or \"prompt\"");
    PromptRow r;
    if (j.contains("messages")) {
      r.messages = j["messages"];
    } else if (j.contains("prompt") && j["prompt"].is_string()) {
      r.messages = nlohmann::json::array({{{"role", "user"}, {"content", j["prompt"]}}});
    } else {
      return train::line_error(where, "no \"messages\" (a conversation) or \"prompt\" (a string)");
    }
    Result<std::vector<chat::Message>> msgs = chat::parse_messages_json(nlohmann::json{{"messages", r.messages}}.dump());
    if (!msgs.has_value()) return train::line_error(where, "field \"messages\": " + msgs.error().message());
    chat::ToolSet tools;
    if (j.contains("tools")) {
      Result<chat::ToolSet> t = chat::parse_tools_json(nlohmann::json{{"tools", j["tools"]}}.dump());
      if (!t.has_value()) return train::line_error(where, "field \"tools\": " + t.error().message());
      tools = *t;
    }
    // Rendered as training renders it, then the assistant header: the completions are
    // what herd finetune will train on.
    Result<chat::Prompt> p = chat::render_prompt(*msgs, tools, train::training_format(true));
    if (!p.has_value()) return train::line_error(where, p.error().message());
    Result<std::vector<int32_t>> ids = p->ids(tok);
    if (!ids.has_value()) return train::line_error(where, ids.error().message());
    r.ids = std::move(*ids);
    r.row = std::move(j);
    r.parsed = std::move(*msgs);
    out.push_back(std::move(r));
    return Ok{};
  }));
  if (out.empty()) return err(ErrorCode::kInvalidArgument, "%s: no prompt", path.c_str());
  return out;
}

// The KV pool of a --judge-model or --guard engine: this many of its longest
// requests (a group's checks are submitted together; shorter ones share the
// pool, and the engine admits what fits).
constexpr int kJudgeKvSequences = 4;

struct Sample {
  std::vector<int32_t> tokens;
  std::string finish;
  bool done = false;
};

// Keeps only the rows of `path` whose provenance/prompt_index is below `done`.
Status truncate_rows(const std::string& path, int64_t done) {
  std::ifstream in(path);
  if (!in) return Ok{};
  std::string line, kept;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    int64_t i = -1;
    if (j.is_object() && j.contains("prompt_index")) i = j["prompt_index"].get<int64_t>();
    if (j.is_object() && j.contains("provenance")) i = j["provenance"].value("prompt_index", int64_t{-1});
    if (i >= 0 && i < done) kept += line + "\n";
  }
  in.close();
  std::ofstream o(path, std::ios::trunc);
  o << kept;
  return o ? Status(Ok{}) : err(ErrorCode::kIo, "%s: cannot rewrite", path.c_str());
}

}  // namespace

int cmd_synth(int argc, char** argv) {
  ArgParser p("synth", "-m MODEL --prompts FILE.jsonl --judge JUDGE -o DIR [options]");
  p.add("-m,--model", "PATH", "the model that writes the completions (.gguf or a Hugging Face directory)");
  p.add("--lora", "PATH[:SCALE]", kLoraOptionHelp);
  p.add("--prompts", "FILE", "JSONL: {\"messages\": [...]} or {\"prompt\": \"...\"} per line (other fields, e.g. \"answer\", go to the judge)");
  p.add("-o,--output", "DIR", "where samples.jsonl, sft.jsonl, prefs.jsonl and progress.json go");
  p.add("--judge", "JUDGE", "regex:PATTERN, json, json-schema:FILE, exact (the row's \"answer\"), cmd:COMMAND, python[:TESTS_FILE] (the code passes the tests and the row's \"tests\" in the sandbox) or llm:RUBRIC_FILE");
  p.add("--judge-model", "PATH", "with --judge llm:RUBRIC_FILE: the judge model (default: the model itself, adapters included)");
  p.add("-n,--samples", "N", "completions per prompt (default 8)");
  p.add("--temp", "X", "sampling temperature (default 1.0)");
  p.add("--top-p", "X", "nucleus sampling (default 1.0: off)");
  p.add("--max-tokens", "N", "tokens per completion at most (default 256)");
  p.add("--seed", "N", "seed; completion j of prompt i uses stream i * N + j (default 0)");
  p.add("--min-score", "X", "a completion is kept for SFT when its score is at least X (default 1)");
  p.add("--min-gap", "X", "a preference pair needs best - worst >= X (default 0.5)");
  p.add("--guard", "PATH", "a Llama Guard 3 model: completions it flags unsafe are dropped (kept in samples.jsonl, marked)");
  p.add("--guard-threshold", "X", "P(unsafe) at or above which a completion is flagged (default 0.5)");
  p.add("--guard-variant", "V", "8b or 1b (default: from the guard model)");
  p.add("--parallel", "N", "prompts sampled together (default 4); does not change the output");
  p.add("--resume", "", "continue the run in DIR (same model, prompts and options)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  add_isa_option(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--model") || !p.has("--prompts") || !p.has("--output") || !p.has("--judge")) {
    std::fprintf(stderr, "herd synth: -m, --prompts, --judge and -o are required\n");
    p.print_usage(stderr);
    return kExitUsage;
  }
  auto n = p.get_int("--samples", 8, 1, 1024);
  auto max_tokens = p.get_int("--max-tokens", 256, 1, 131072);
  auto seed = p.get_int("--seed", 0, 0, INT64_MAX);
  auto parallel = p.get_int("--parallel", 4, 1, 256);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto temp = p.get_double("--temp", 1.0);
  auto top_p = p.get_double("--top-p", 1.0);
  auto min_score = p.get_double("--min-score", 1.0);
  auto min_gap = p.get_double("--min-gap", 0.5);
  auto guard_thr = p.get_double("--guard-threshold", 0.5);
  if (!guard_thr.has_value() || !(*guard_thr >= 0 && *guard_thr <= 1))
    return fail_usage("synth", err(ErrorCode::kInvalidArgument, "--guard-threshold must be a number in [0, 1]"));
  if (const Error* e = first_error(n, max_tokens, seed, parallel, threads)) return fail_usage("synth", *e);
  if (const Error* e = first_error(temp, top_p, min_score, min_gap)) return fail_usage("synth", *e);
  // An LLM judge needs its engine (made below); the others are made here.
  const bool llm_judge = p.get("--judge").rfind("llm:", 0) == 0;
  if (p.has("--judge-model") && !llm_judge)
    return fail_usage("synth", Error(ErrorCode::kInvalidArgument, "--judge-model goes with --judge llm:RUBRIC_FILE"));
  Result<std::unique_ptr<SynthJudge>> judge =
      llm_judge ? Result<std::unique_ptr<SynthJudge>>(std::unique_ptr<SynthJudge>()) : make_synth_judge(p.get("--judge"));
  if (!judge.has_value()) return fail_usage("synth", judge.error());

  const std::string dir = p.get("--output");
  const std::string progress_path = dir + "/progress.json";
  std::error_code ec;
  const bool resume = p.has("--resume");
  if (!resume && std::filesystem::exists(progress_path, ec))
    return fail_usage("synth", Error(ErrorCode::kInvalidArgument,
                                     dir + " holds a run: --resume continues it, or choose another -o"));
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail_run("synth", Error(ErrorCode::kIo, dir + ": " + ec.message()));

  catch_interrupts();
  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open({p.get("--model"), p.get("--isa", "auto"), static_cast<int>(*threads), stderr});
  if (!rt.has_value()) return fail_run("synth", rt.error());
  model::LlamaModel& m = (*rt)->model();
  Result<std::vector<std::unique_ptr<train::LoraSet>>> loras = attach_lora_options(p.get_all("--lora"), m);
  if (!loras.has_value()) return fail_run("synth", loras.error());
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok.has_value()) return fail_run("synth", tok.error());
  Result<std::vector<PromptRow>> prompts = load_prompts(p.get("--prompts"), *tok);
  if (!prompts.has_value()) return fail_run("synth", prompts.error());

  // What shapes the run: a resumed run must have the same.
  std::ostringstream fp;
  {
    std::ifstream pf(p.get("--prompts"), std::ios::binary);
    std::ostringstream all;
    all << pf.rdbuf();
    fp << "model=" << p.get("--model") << " judge_model=" << p.get("--judge-model", "") << " lora=";
    for (const std::string& l : p.get_all("--lora")) fp << l << ";";
    fp << " prompts=" << std::hash<std::string>{}(all.str()) << " judge=" << p.get("--judge") << " n=" << *n
       << " temp=" << *temp << " top_p=" << *top_p << " max_tokens=" << *max_tokens << " seed=" << *seed
       << " min_score=" << *min_score << " min_gap=" << *min_gap << " guard=" << p.get("--guard", "") << ":"
       << *guard_thr;
  }
  int64_t done = 0;
  if (resume) {
    std::ifstream pf(progress_path);
    nlohmann::json pj = nlohmann::json::parse(pf, nullptr, false);
    if (!pj.is_object() || !pj.contains("done") || !pj.contains("run"))
      return fail_run("synth", Error(ErrorCode::kInvalidArgument, progress_path + ": not a herd synth progress file"));
    if (pj["run"].get<std::string>() != fp.str())
      return fail_run("synth", Error(ErrorCode::kInvalidArgument,
                                     "--resume: " + dir + " was written with other options or prompts (" +
                                         pj["run"].get<std::string>() + ")"));
    done = pj["done"].get<int64_t>();
    for (const char* f : {"/samples.jsonl", "/sft.jsonl", "/prefs.jsonl"}) {
      Status s = truncate_rows(dir + f, done);
      if (!s.has_value()) return fail_run("synth", s.error());
    }
    std::fprintf(stderr, "herd synth: resuming after %lld of %zu prompts\n", static_cast<long long>(done), prompts->size());
  }
  std::ofstream samples_f(dir + "/samples.jsonl", resume ? std::ios::app : std::ios::trunc);
  std::ofstream sft_f(dir + "/sft.jsonl", resume ? std::ios::app : std::ios::trunc);
  std::ofstream prefs_f(dir + "/prefs.jsonl", resume ? std::ios::app : std::ios::trunc);
  if (!samples_f || !sft_f || !prefs_f) return fail_run("synth", Error(ErrorCode::kIo, dir + ": cannot write the outputs"));

  size_t longest = 0;
  for (const PromptRow& r : *prompts) longest = std::max(longest, r.ids.size());
  engine::EngineOptions eo;
  eo.threads = static_cast<int>(*threads);
  eo.max_running = static_cast<int>(std::min<int64_t>(*n * *parallel, 16));
  eo.max_queued = static_cast<int>(*n * *parallel);
  eo.max_seq_len = static_cast<int64_t>(longest) + *max_tokens + 1;
  // An LLM judge on this engine reads the rubric, the prompt and the completion: room for them.
  if (llm_judge && !p.has("--judge-model")) eo.max_seq_len += static_cast<int64_t>(longest) + 2048;
  if (eo.max_seq_len > m.config().n_ctx_train && !llm_judge)
    return fail_run("synth", err(ErrorCode::kInvalidArgument, "a prompt of %zu tokens + --max-tokens exceeds the context of %lld",
                                 longest, static_cast<long long>(m.config().n_ctx_train)));
  eo.max_seq_len = std::min<int64_t>(eo.max_seq_len, m.config().n_ctx_train);
  eo.n_ctx = eo.max_seq_len * eo.max_running;
  Result<std::unique_ptr<engine::Engine>> eng = engine::make_engine(m, (*rt)->table(), eo, &(*rt)->pool());
  if (!eng.has_value()) return fail_run("synth", eng.error());
  // The LLM judge: a model of its own (--judge-model) or the sampling engine, idle while judging.
  std::unique_ptr<model::Runtime> judge_rt;
  std::unique_ptr<tokenizer::Tokenizer> judge_tok;
  std::unique_ptr<engine::Engine> judge_eng;
  if (llm_judge) {
    engine::Engine* je = eng->get();
    const tokenizer::Tokenizer* jt = &*tok;
    if (p.has("--judge-model")) {
      Result<std::unique_ptr<model::Runtime>> jr =
          model::Runtime::open({p.get("--judge-model"), p.get("--isa", "auto"), static_cast<int>(*threads), stderr});
      if (!jr.has_value()) return fail_run("synth", jr.error().with_context("--judge-model"));
      judge_rt = std::move(*jr);
      Result<tokenizer::Tokenizer> t = model::load_model_tokenizer(judge_rt->model());
      if (!t.has_value()) return fail_run("synth", t.error().with_context("--judge-model"));
      judge_tok = std::make_unique<tokenizer::Tokenizer>(std::move(*t));
      engine::EngineOptions je_o;
      je_o.threads = static_cast<int>(*threads);
      // Sized as the sampling engine for running and queued requests (a group's judge
      // requests are submitted together), its KV pool for kJudgeKvSequences of the longest.
      je_o.max_running = eo.max_running;
      je_o.max_queued = eo.max_queued;
      je_o.max_seq_len = std::min<int64_t>(judge_rt->model().config().n_ctx_train, eo.max_seq_len + 2048);
      je_o.n_ctx = je_o.max_seq_len * std::min(eo.max_running, kJudgeKvSequences);
      Result<std::unique_ptr<engine::Engine>> e = engine::make_engine(judge_rt->model(), judge_rt->table(), je_o, &judge_rt->pool());
      if (!e.has_value()) return fail_run("synth", e.error().with_context("--judge-model"));
      judge_eng = std::move(*e);
      je = judge_eng.get();
      jt = judge_tok.get();
    }
    Result<std::unique_ptr<SynthJudge>> j =
        make_llm_judge(p.get("--judge").substr(4), *je, *jt, static_cast<size_t>(eo.max_queued));
    if (!j.has_value()) return fail_usage("synth", j.error());
    judge = std::move(*j);
  }
  std::unique_ptr<GuardModel> guard;
  if (p.has("--guard")) {
    GuardModelOptions gmo;
    gmo.path = p.get("--guard");
    gmo.isa = p.get("--isa", "auto");
    gmo.threads = static_cast<int>(*threads);
    gmo.variant = p.get("--guard-variant", "");
    gmo.threshold = *guard_thr;
    gmo.model_id = p.get("--guard");
    gmo.max_seq_len = eo.max_seq_len + 1024;  // the guard's prompt adds its categories
    gmo.max_running = eo.max_running;
    gmo.max_queued = eo.max_queued;
    gmo.kv_sequences = std::min(eo.max_running, kJudgeKvSequences);
    Result<std::unique_ptr<GuardModel>> g = open_guard_model(gmo);
    if (!g.has_value()) return fail_run("synth", g.error());
    guard = std::move(*g);
  }
  std::vector<int32_t> stops;
  for (const char* s : {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"})
    if (const int32_t id = tok->special_id(s); id >= 0) stops.push_back(id);

  std::set<std::pair<std::string, std::string>> seen;  // (prompt, completion) of kept rows: dedup
  int64_t n_samples = 0, n_pass = 0, n_sft = 0, n_prefs = 0, n_tokens = 0, n_unsafe = 0, n_unscored = 0, n_judged = 0;
  double judge_secs = 0, guard_secs = 0;  // the judge's and the guard's share of the time
  const auto t0 = std::chrono::steady_clock::now();
  const auto N = static_cast<size_t>(*n);
  for (auto g = static_cast<size_t>(done); g < prompts->size() && !interrupted(); g += static_cast<size_t>(*parallel)) {
    const size_t g_end = std::min(prompts->size(), g + static_cast<size_t>(*parallel));
    std::vector<Sample> out((g_end - g) * N);
    std::mutex mu;
    std::condition_variable cv;
    std::vector<engine::GenerationRequest> reqs;
    std::vector<engine::RequestCallbacks> cbs;
    for (size_t i = g; i < g_end; ++i)
      for (size_t j = 0; j < N; ++j) {
        engine::GenerationRequest r;
        r.prompt = (*prompts)[i].ids;
        r.max_tokens = static_cast<int32_t>(*max_tokens);
        r.stop_ids = stops;
        r.sampling.temperature = static_cast<float>(*temp);
        r.sampling.top_p = static_cast<float>(*top_p);
        r.sampling.seed = static_cast<uint64_t>(*seed);
        r.sampling.stream = i * N + j;
        Sample* s = &out[(i - g) * N + j];
        engine::RequestCallbacks cb;
        cb.on_token = [s](const engine::TokenEvent& e) {
          s->tokens.push_back(e.id);
          return true;
        };
        cb.on_done = [s, &mu, &cv](engine::FinishReason f, int32_t, const engine::Usage&, const Error*) {
          std::lock_guard<std::mutex> l(mu);
          s->finish = engine::finish_reason_name(f);
          s->done = true;
          cv.notify_all();
        };
        reqs.push_back(std::move(r));
        cbs.push_back(std::move(cb));
      }
    Result<std::vector<uint64_t>> ids = (*eng)->submit_all(std::move(reqs), std::move(cbs));
    if (!ids.has_value()) return fail_run("synth", ids.error());
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] {
        for (const Sample& s : out)
          if (!s.done) return false;
        return true;
      });
    }
    // The distinct completions of each prompt (duplicates are judged once), then every
    // judge and guard check of the group submitted together (the engines batch them),
    // then the rows, prompt by prompt, in order.
    struct Distinct {
      size_t prompt, first;  // first: the sample that gave it first
      std::string text;
    };
    std::vector<Distinct> distinct;
    std::vector<size_t> of_sample(out.size());     // sample -> distinct index
    std::vector<size_t> prompt_begin(g_end - g + 1); // each prompt's distinct range
    for (size_t i = g; i < g_end; ++i) {
      prompt_begin[i - g] = distinct.size();
      for (size_t j = 0; j < N; ++j) {
        const Sample& s = out[(i - g) * N + j];
        n_tokens += static_cast<int64_t>(s.tokens.size());
        ++n_samples;
        std::string text = tok->decode(s.tokens);
        size_t k = prompt_begin[i - g];
        while (k < distinct.size() && distinct[k].text != text) ++k;
        if (k == distinct.size()) distinct.push_back({i, j, std::move(text)});
        of_sample[(i - g) * N + j] = k;
      }
    }
    prompt_begin[g_end - g] = distinct.size();
    std::vector<JudgeItem> items;
    for (const Distinct& d : distinct) items.push_back({&(*prompts)[d.prompt].row, &d.text});
    const auto tj = std::chrono::steady_clock::now();
    std::vector<Result<double>> judged = (*judge)->score_all(items);
    judge_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - tj).count();
    n_judged += static_cast<int64_t>(items.size());
    std::vector<double> scores(distinct.size());
    for (size_t k = 0; k < distinct.size(); ++k) {
      if (!judged[k].has_value())
        return fail_run("synth", judged[k].error().with_context("prompt " + std::to_string(distinct[k].prompt + 1)));
      scores[k] = *judged[k];
      n_unscored += scores[k] == kUnscored ? 1 : 0;
    }
    std::vector<char> unsafe(distinct.size(), 0);  // flagged by --guard: dropped
    if (guard) {
      std::vector<std::vector<chat::Message>> convs;
      for (const Distinct& d : distinct)
        convs.push_back(server::guard_reply_conversation((*prompts)[d.prompt].parsed, d.text));
      const auto tg = std::chrono::steady_clock::now();
      std::vector<Result<server::GuardResult>> checked = guard->shield->check_all(convs);
      guard_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - tg).count();
      for (size_t k = 0; k < distinct.size(); ++k) {
        if (!checked[k].has_value()) return fail_run("synth", checked[k].error().with_context("--guard"));
        // Fails closed: a reply that is no verdict drops the completion too.
        unsafe[k] = checked[k]->flagged || !checked[k]->error.empty() ? 1 : 0;
        n_unsafe += unsafe[k];
      }
    }
    for (size_t i = g; i < g_end; ++i) {
      const PromptRow& pr = (*prompts)[i];
      const size_t k0 = prompt_begin[i - g], k1 = prompt_begin[i - g + 1];
      std::vector<nlohmann::json> rows;  // samples.jsonl's, one per distinct completion
      for (size_t k = k0; k < k1; ++k) {
        const Distinct& d = distinct[k];
        const Sample& s = out[(i - g) * N + d.first];
        nlohmann::json row = {{"prompt_index", i},         {"sample", d.first},   {"seed", *seed},
                              {"stream", i * N + d.first}, {"completion", d.text},
                              {"score", scores[k] == kUnscored ? nlohmann::json(nullptr) : nlohmann::json(scores[k])},
                              {"tokens", s.tokens.size()}, {"finish", s.finish}, {"count", 0}};
        if (guard) row["unsafe"] = unsafe[k] != 0;
        rows.push_back(std::move(row));
      }
      for (size_t j = 0; j < N; ++j) {
        const size_t k = of_sample[(i - g) * N + j];
        n_pass += scores[k] >= *min_score ? 1 : 0;
        rows[k - k0]["count"] = rows[k - k0]["count"].get<int64_t>() + 1;  // samples that gave this completion
      }
      for (const nlohmann::json& row : rows)
        samples_f << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      // Best and worst among the completions the guard did not flag and the judge scored.
      size_t best = k1, worst = k1;
      for (size_t k = k0; k < k1; ++k) {
        if (unsafe[k] || scores[k] == kUnscored) continue;
        if (best == k1 || scores[k] > scores[best]) best = k;
        if (worst == k1 || scores[k] < scores[worst]) worst = k;
      }
      if (best == k1) continue;  // every completion flagged
      auto provenance = [&](size_t k) {
        return nlohmann::json{{"model", p.get("--model")}, {"prompt_index", i}, {"sample", distinct[k].first},
                              {"seed", *seed},             {"stream", i * N + distinct[k].first}, {"score", scores[k]},
                              {"judge", p.get("--judge")}};
      };
      const std::string prompt_key = pr.messages.dump();
      if (scores[best] >= *min_score && seen.insert({prompt_key, distinct[best].text}).second) {
        nlohmann::json msgs = pr.messages;
        msgs.push_back({{"role", "assistant"}, {"content", distinct[best].text}});
        nlohmann::json row = {{"messages", msgs}};
        if (pr.row.contains("tools")) row["tools"] = pr.row["tools"];
        row["provenance"] = provenance(best);
        sft_f << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        ++n_sft;
      }
      if (scores[best] - scores[worst] >= *min_gap) {
        nlohmann::json row = {{"prompt", pr.messages},
                              {"chosen", nlohmann::json::array({{{"role", "assistant"}, {"content", distinct[best].text}}})},
                              {"rejected", nlohmann::json::array({{{"role", "assistant"}, {"content", distinct[worst].text}}})}};
        if (pr.row.contains("tools")) row["tools"] = pr.row["tools"];
        row["provenance"] = provenance(best);
        row["provenance"]["rejected_sample"] = distinct[worst].first;
        row["provenance"]["rejected_score"] = scores[worst];
        prefs_f << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        ++n_prefs;
      }
    }
    samples_f.flush();
    sft_f.flush();
    prefs_f.flush();
    if (!samples_f || !sft_f || !prefs_f) return fail_run("synth", Error(ErrorCode::kIo, dir + ": cannot write the outputs"));
    done = static_cast<int64_t>(g_end);
    {
      const std::string tmp = progress_path + ".tmp";
      std::ofstream pf(tmp, std::ios::trunc);
      pf << nlohmann::json{{"done", done}, {"total", prompts->size()}, {"run", fp.str()}}.dump() << "\n";
      pf.close();
      std::filesystem::rename(tmp, progress_path, ec);
      if (!pf || ec) return fail_run("synth", Error(ErrorCode::kIo, progress_path + ": cannot write"));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "prompts %lld/%zu  samples %lld  pass %.1f%%  sft %lld  prefs %lld  %.1f tok/s\n",
                 static_cast<long long>(done), prompts->size(), static_cast<long long>(n_samples),
                 n_samples ? 100.0 * static_cast<double>(n_pass) / static_cast<double>(n_samples) : 0.0,
                 static_cast<long long>(n_sft), static_cast<long long>(n_prefs), static_cast<double>(n_tokens) / std::max(secs, 1e-9));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string notes;
  char timing[160];
  std::snprintf(timing, sizeof timing, "; %lld distinct completions judged in %.2f s", static_cast<long long>(n_judged),
                judge_secs);
  notes += timing;
  if (guard) {
    std::snprintf(timing, sizeof timing, " and checked by the guard in %.2f s", guard_secs);
    notes += timing + ("; " + std::to_string(n_unsafe) + " flagged");
  }
  if (llm_judge) notes += "; " + std::to_string(n_unscored) + " left unscored by the judge";
  std::fprintf(stderr,
               "herd synth: %lld samples this run, %.1f%% scored >= %g%s; %lld SFT rows, %lld preference pairs; %lld "
               "tokens in %.1f s (%.1f tok/s)%s\n",
               static_cast<long long>(n_samples),
               n_samples ? 100.0 * static_cast<double>(n_pass) / static_cast<double>(n_samples) : 0.0, *min_score,
               notes.c_str(), static_cast<long long>(n_sft), static_cast<long long>(n_prefs),
               static_cast<long long>(n_tokens), secs, static_cast<double>(n_tokens) / std::max(secs, 1e-9),
               interrupted() ? " (interrupted: --resume continues)" : "");
  return interrupted() ? kExitInterrupted : 0;
}

}  // namespace herd::cli
