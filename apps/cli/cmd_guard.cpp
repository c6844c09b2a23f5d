// herd guard: classify a conversation's last user or assistant message with
// Llama Guard 3 and print the verdict as JSON.
//
//   herd guard -m LLAMA_GUARD --messages F.json [--role user|agent]
//              [--exclude S6,S7] [--categories F.json] [--variant 8b|1b]
//              [--threshold 0.5] [-t N] [--isa ISA]
//   herd guard [-m MODEL] --messages F.json --print-prompt [--ids] ...
//   herd guard --prompt-guard DIR (TEXT | --file F | --jsonl F)   (cmd_prompt_guard.cpp)
//
// The check is the one `herd serve --guard` runs (apps/server/guard_shield.h),
// on an engine of this command's own: the released template of the guard's
// variant (chat/llama_guard.h) plus the "\n\n" the template leaves for the
// model after the assistant header, so that the next position is the
// verdict's first token; P("unsafe") there over the whole vocabulary; greedy
// decoding until a stop token (48 tokens at most); and a strict parse:
// anything but "safe" or "unsafe" and a line of the model's category codes is
// an error (exit 1), never "safe". "flagged": the model wrote "unsafe" with a
// code that is not excluded and P(unsafe) >= --threshold (Meta's model cards:
// threshold P(unsafe) of the first token); "verdict" is what it wrote.
//
// The variant comes from the model's name (GGUF general.name, the HF
// directory's name) when it says "Llama Guard 3" and 8B or 1B, else from its
// shape (d_model 4096: 8b, 2048: 1b); --variant overrides. --print-prompt
// prints the template's text (or with --ids its token ids) without running
// the model, and without the header separator, as the template renders it.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "base/mapped_file.h"
#include "base/result.h"
#include "chat/llama_guard.h"
#include "chat/messages.h"
#include "commands.h"
#include "engine/engine.h"
#include "guard_shield.h"
#include "model/model_tokenizer.h"
#include "model/runtime.h"
#include "tokenizer/tokenizer.h"

namespace herd::cli {

Result<tokenizer::Tokenizer> load_tokenizer_for_cli(const std::string& path);  // cmd_tokenize.cpp

namespace {

std::string ids_line(const std::vector<int32_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  return line;
}

}  // namespace

int cmd_guard(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--prompt-guard") return cmd_prompt_guard(argc, argv);  // cmd_prompt_guard.cpp
  ArgParser p("guard", "-m LLAMA_GUARD --messages FILE.json [options]");
  p.add("-m,--model", "PATH", "a Llama Guard 3 model (GGUF or HF directory)");
  p.add("--prompt-guard", "DIR", "instead: Prompt Guard scores of a text (see herd guard --prompt-guard DIR --help)");
  p.add("--messages", "FILE", "the conversation: a JSON array of OpenAI-shaped user/assistant messages");
  p.add("--role", "ROLE", "classify the last 'user' message (a prompt) or the last 'agent' message (a reply); "
                          "default: the role of the last message");
  p.add("--exclude", "CODES", "categories left out of the prompt, e.g. S6,S7");
  p.add("--categories", "FILE", "a custom category list: {\"S1\": \"Name.\", ...}");
  p.add("--variant", "V", "8b (S1-S14) or 1b (S1-S13); default: from the model's name or shape");
  p.add("--threshold", "P", "flag when P(unsafe) of the verdict's first token is at least P (default 0.5)");
  p.add("--print-prompt", "", "print the prompt the template renders and exit (no model run)");
  p.add("--ids", "", "with --print-prompt: print token ids instead of text");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--isa", "ISA", "kernel ISA: auto (default), avx512bf16, avx512vnni, avx512, avx2, ref");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.positionals().empty() || !p.has("--messages"))
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "give --messages FILE.json (and no positional arguments)"));
  if (!p.has("--print-prompt") && !p.has("--model"))
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "give -m LLAMA_GUARD (or --print-prompt)"));
  if (p.has("--ids") && !p.has("--print-prompt"))
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--ids goes with --print-prompt"));
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  Result<double> threshold = p.get_double("--threshold", 0.5);
  if (const Error* e = first_error(threads, threshold)) return fail_usage("guard", *e);
  if (!(*threshold >= 0.0 && *threshold <= 1.0))
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--threshold must be in [0, 1]"));

  Result<std::string> text = read_text_file(p.get("--messages"), size_t{64} << 20);
  if (!text) return fail_run("guard", text.error());
  Result<std::vector<chat::Message>> messages = chat::parse_messages_json(*text);
  if (!messages) return fail_run("guard", messages.error().with_context(p.get("--messages")));
  if (p.has("--role")) {
    const std::string r = p.get("--role");
    if (r != "user" && r != "agent" && r != "assistant")
      return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--role must be user or agent, got '%s'", r.c_str()));
    auto cut = chat::guard_conversation_for(*messages, r == "user" ? chat::GuardRole::kUser : chat::GuardRole::kAgent);
    if (!cut) return fail_run("guard", cut.error());
    messages = std::move(*cut);
  }

  // The model (unless only the prompt is asked for), then the variant.
  std::unique_ptr<model::Runtime> rt;
  if (p.has("--model") && !p.has("--print-prompt")) {
    Result<std::unique_ptr<model::Runtime>> opened =
        model::Runtime::open({p.get("--model"), p.get("--isa", "auto"), static_cast<int>(*threads), nullptr});
    if (!opened) return fail_run("guard", opened.error());
    rt = std::move(*opened);
  }
  chat::GuardPromptOptions opts;
  if (p.has("--variant")) {
    const std::string v = p.get("--variant");
    if (v != "8b" && v != "1b")
      return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--variant must be 8b or 1b, got '%s'", v.c_str()));
    opts.variant = v == "8b" ? chat::GuardVariant::k8B : chat::GuardVariant::k1B;
  } else if (rt) {
    Result<chat::GuardVariant> v = chat::guard_variant_for(rt->model().config().name, rt->model().config().d_model);
    if (!v) return fail_usage("guard", err(ErrorCode::kInvalidArgument, "%s (--variant)", v.error().message().c_str()));
    opts.variant = *v;
  } else {
    return fail_usage("guard", err(ErrorCode::kInvalidArgument, "--print-prompt without -m needs --variant 8b or 1b"));
  }
  if (p.has("--categories")) {
    Result<std::string> ct = read_text_file(p.get("--categories"), size_t{1} << 20);
    if (!ct) return fail_run("guard", ct.error());
    Result<std::vector<chat::GuardCategory>> cats = chat::parse_guard_categories_json(*ct);
    if (!cats) return fail_run("guard", cats.error().with_context(p.get("--categories")));
    opts.categories = std::move(*cats);
  }
  const std::vector<chat::GuardCategory> cats =
      opts.categories.empty() ? chat::guard_categories(opts.variant) : opts.categories;
  if (p.has("--exclude")) {
    Result<std::vector<std::string>> ex = chat::parse_guard_codes(p.get("--exclude"), cats);
    if (!ex) return fail_usage("guard", ex.error().with_context("--exclude"));
    opts.excluded = std::move(*ex);
  }
  opts.header_separator = !p.has("--print-prompt");
  Result<chat::GuardPrompt> prompt = chat::render_guard_prompt(*messages, opts);
  if (!prompt) return fail_run("guard", prompt.error().with_context(p.get("--messages")));

  if (p.has("--print-prompt")) {
    if (!p.has("--ids")) {
      const std::string out = prompt->prompt.text();
      std::fwrite(out.data(), 1, out.size(), stdout);
      return 0;
    }
    Result<tokenizer::Tokenizer> tok = p.has("--model") ? load_tokenizer_for_cli(p.get("--model")) : tokenizer::Tokenizer::llama3();
    if (!tok) return fail_run("guard", tok.error());
    Result<std::vector<int32_t>> ids = prompt->prompt.ids(*tok);
    if (!ids) return fail_run("guard", ids.error());
    std::printf("%s\n", ids_line(*ids).c_str());
    return 0;
  }

  // The check itself is the server's shield (apps/server/guard_shield.h) on an
  // engine of this command's own: one place decides what a verdict is.
  model::LlamaModel& m = rt->model();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok) return fail_run("guard", tok.error());
  engine::EngineOptions eo;
  eo.threads = static_cast<int>(*threads);
  eo.max_running = 1;
  // The KV cache holds this one check: the prompt (as the shield renders it,
  // header separator included) and the longest reply, not the trained context
  // (128K tokens of an 8B's cache would be 17 GB).
  Result<std::vector<int32_t>> ids = prompt->prompt.ids(*tok);
  if (!ids) return fail_run("guard", ids.error());
  eo.max_seq_len = static_cast<int64_t>(ids->size()) + server::kGuardMaxReplyTokens + 1;
  if (eo.max_seq_len > m.config().n_ctx_train)
    return fail_run("guard", err(ErrorCode::kInvalidArgument, "the guard prompt has %zu tokens; the model's context is %lld",
                                 ids->size(), static_cast<long long>(m.config().n_ctx_train)));
  eo.n_ctx = eo.max_seq_len;
  Result<std::unique_ptr<engine::Engine>> eng = engine::make_engine(m, rt->table(), eo, &rt->pool());
  if (!eng) return fail_run("guard", eng.error());
  server::GuardOptions go;
  go.variant = opts.variant;
  go.categories = opts.categories;
  go.excluded = opts.excluded;
  go.threshold = *threshold;
  Result<server::GuardShield> shield = server::GuardShield::make(**eng, *tok, go);
  if (!shield) return fail_run("guard", shield.error());
  Result<server::GuardResult> r = shield->check(*messages);
  if (!r) return fail_run("guard", r.error());

  nlohmann::ordered_json out;
  out["model"] = m.config().name;
  out["variant"] = chat::guard_variant_name(opts.variant);
  out["role"] = chat::guard_role_name(prompt->role);
  out["reply"] = r->reply;
  out["reply_tokens"] = r->reply_tokens;
  out["unsafe_score"] = r->unsafe_score;
  out["threshold"] = *threshold;
  out["flagged"] = r->flagged;
  const auto dump = [](const nlohmann::ordered_json& j) {
    return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  };
  if (!r->error.empty()) {
    out["error"] = r->error;
    std::printf("%s\n", dump(out).c_str());
    std::fprintf(stderr, "herd guard: %s\n", r->error.c_str());
    return kExitFailure;
  }
  out["verdict"] = r->safe ? "safe" : "unsafe";
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const std::string& c : r->codes) {
    const auto it = std::find_if(cats.begin(), cats.end(), [&](const chat::GuardCategory& g) { return g.code == c; });
    std::string name = it->name;
    if (!name.empty() && name.back() == '.') name.pop_back();
    // A violation that lies wholly in excluded categories is not flagged (Llama Stack).
    const bool excluded = std::find(r->counted.begin(), r->counted.end(), c) == r->counted.end();
    list.push_back({{"code", c}, {"name", name}, {"excluded", excluded}});
  }
  out["categories"] = list;
  std::printf("%s\n", dump(out).c_str());
  return 0;
}

}  // namespace herd::cli
