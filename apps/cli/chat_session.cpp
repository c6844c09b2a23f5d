// See chat_session.h.
#include "chat_session.h"

#include "generation_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "chat/tool_calls.h"
#include "sandbox.h"

namespace herd::cli {
namespace {

constexpr int kMaxToolRounds = 8;  // generation rounds per user turn (tool loop)

void out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void print_note(bool color, const std::string& text) {
  if (color) out("\033[33m" + text + "\033[0m\n");
  else out(text + "\n");
}

ChatSession::ChatSession(model::LlamaContext& ctx, const tokenizer::Tokenizer& tok, ChatOptions opts,
                         std::atomic<bool>* interrupt)
    : ctx_(ctx),
      tok_(tok),
      opts_(std::move(opts)),
      interrupt_(interrupt),
      sampler_(opts_.sampling),
      stops_(chat::StopTokens::for_model(&tok, ctx.model().config().eos_ids)) {
  if (opts_.allow_tools) tools_.builtin.push_back("code_interpreter");
}

std::vector<chat::Message> ChatSession::messages() const {
  std::vector<chat::Message> all;
  if (!system_.empty()) all.push_back({"system", system_, {}, "", ""});
  all.insert(all.end(), msgs_.begin(), msgs_.end());
  return all;
}

int64_t ChatSession::n_past() const { return ctx_.n_past(); }
int64_t ChatSession::n_ctx() const { return ctx_.n_ctx(); }

void ChatSession::set_system(std::string text) {
  system_ = std::move(text);
  cache_valid_ = false;
}

void ChatSession::set_tools(chat::ToolSet tools) {
  tools_ = std::move(tools);
  cache_valid_ = false;
}

void ChatSession::reset() {
  msgs_.clear();
  cache_ids_.clear();
  ctx_.reset();
  cache_valid_ = false;
}

void ChatSession::context_full_message(int64_t need) const {
  print_note(opts_.color,
             "[context full: the conversation holds " + std::to_string(cache_valid_ ? ctx_.n_past() : 0) + " of " +
                 std::to_string(ctx_.n_ctx()) + " tokens and this needs " + std::to_string(need) +
                 " more. Use /reset to start a new conversation (or /save FILE first), or restart herd chat with "
                 "a larger -c (up to the model's trained context).]");
}

Status ChatSession::prefill(const std::vector<int32_t>& ids) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t B = ctx_.max_batch();
  for (size_t i = 0; i < ids.size(); i += static_cast<size_t>(B)) {
    const size_t n = std::min(ids.size() - i, static_cast<size_t>(B));
    Status s = ctx_.eval(std::span<const int32_t>(ids.data() + i, n), false, &logits_);
    if (!s.has_value()) return s;
    cache_ids_.insert(cache_ids_.end(), ids.begin() + static_cast<std::ptrdiff_t>(i),
                      ids.begin() + static_cast<std::ptrdiff_t>(i + n));
  }
  last_prefill_ = static_cast<int64_t>(ids.size());
  if (opts_.verbose)
    std::fprintf(stderr, "[prefill %lld tokens in %.2f s, context %lld/%lld]\n", static_cast<long long>(ids.size()),
                 seconds_since(t0), static_cast<long long>(ctx_.n_past()), static_cast<long long>(ctx_.n_ctx()));
  return {};
}

// Renders and prefills `turn` (appending it to the conversation): the turn alone when
// the cache is valid, else the whole conversation from an empty cache.
Status ChatSession::prefill_turn(const std::vector<chat::Message>& turn, bool generation_prompt) {
  chat::FormatOptions f = opts_.format;
  f.add_generation_prompt = generation_prompt;
  const bool rebuild = !cache_valid_;
  Result<chat::Prompt> prompt = [&]() -> Result<chat::Prompt> {
    if (!rebuild) return chat::format_messages(turn, f, /*add_bos=*/false);
    std::vector<chat::Message> all = messages();
    all.insert(all.end(), turn.begin(), turn.end());
    return chat::render_prompt(all, tools_, f);
  }();
  if (!prompt.has_value()) return prompt.error();
  Result<std::vector<int32_t>> ids = prompt->ids(tok_);
  if (!ids.has_value()) return ids.error();
  const int64_t need = static_cast<int64_t>(ids->size());
  // Room for the turn plus at least one generated token and its closing token.
  const int64_t base = rebuild ? 0 : ctx_.n_past();
  if (base + need + (generation_prompt ? 2 : 0) > ctx_.n_ctx()) {
    context_full_message(need);
    return err(ErrorCode::kOutOfRange, "context full");
  }
  if (rebuild) {
    ctx_.reset();
    cache_ids_.clear();
    cache_valid_ = false;
  }
  Status s = prefill(*ids);
  if (!s.has_value()) {
    cache_valid_ = false;
    return s;
  }
  msgs_.insert(msgs_.end(), turn.begin(), turn.end());
  cache_valid_ = true;
  return {};
}

Result<ChatSession::GenEnd> ChatSession::generate_one() {
  GenEnd end;
  // --guard's output shield holds the reply back until it is judged.
  const bool hold = opts_.guard && opts_.guard_output;
  std::string held;
  const auto show_text = [&](const std::string& text) {
    if (hold) held += text;
    else out(text);
  };
  tokenizer::StreamDecoder dec(tok_);
  chat::StreamingToolParser parser;
  // User stop strings: text passes through the matcher before the tool parser,
  // which holds back a partial match until it is decided.
  chat::StopStringMatcher stop_matcher(opts_.stop_strings);
  bool stop_string_hit = false;
  std::string shown;  // what push() returned
  int32_t close_id = stops_.eot;
  const auto t0 = std::chrono::steady_clock::now();
  // The cache holds exactly the ids shown (a token completing a stop string
  // too: the message text ends before the stop string), with room for the
  // closing token.
  LoopOptions lo;
  lo.max_tokens = opts_.n_predict;
  lo.ignore_eos = opts_.ignore_eos;
  lo.keep_in_cache = true;
  lo.reserve = 1;
  lo.interrupt = interrupt_;
  Result<LoopEnd> loop = generation_loop(ctx_, sampler_, cache_ids_, logits_, stops_, lo, [&](int32_t id) {
    std::string text;
    if (tok_.is_special(id)) {
      text = dec.flush();
      text += tok_.token_bytes(id);
    } else {
      text = dec.push(id);
    }
    const chat::StopStringMatcher::Step step = stop_matcher.push(text);
    const std::string show = parser.push(step.text);
    shown += show;
    show_text(show);
    return !step.stopped;
  });
  if (!loop.has_value()) return loop.error();
  end.reason = loop->reason;
  end.interrupted = loop->interrupted;
  end.context_full = loop->context_full;
  if (loop->reason == chat::StopReason::kEndOfMessage) close_id = loop->stop_id;
  stop_string_hit = loop->reason == chat::StopReason::kStopString;
  const int64_t generated = loop->generated;
  {
    std::string rest;
    if (!stop_string_hit) {
      rest = stop_matcher.push(dec.flush()).text;
      rest += stop_matcher.flush();
    }
    const std::string show = parser.push(rest);
    shown += show;
    show_text(show);
  }
  chat::ParsedOutput po = parser.finish();
  show_text(po.content);
  po.content = shown + po.content;  // push() results then finish().content = the content
  // Close the message in the cache as the renderer would (eot, or eom for a call).
  if (close_id >= 0) {
    Status s = ctx_.eval(std::span<const int32_t>(&close_id, 1), false, &logits_);
    if (!s.has_value()) return s.error();
    cache_ids_.push_back(close_id);
  }
  chat::Message a{"assistant", po.content, po.tool_calls, "", ""};
  if (hold) {
    const std::string blocked = output_guard_verdict(a);
    if (blocked.empty()) {
      out(held);
    } else {
      // The reply never shows; the conversation keeps the refusal, so the
      // cache (which holds the reply's tokens) must be rebuilt.
      print_note(opts_.color, blocked);
      out(server::kGuardRefusal);
      a = chat::Message{"assistant", server::kGuardRefusal, {}, "", ""};
      cache_valid_ = false;
    }
  }
  std::printf("\n");
  for (const chat::ToolCall& c : a.tool_calls) {
    Result<std::string> call_text = chat::render_tool_call(c, opts_.format.tool_format);
    const std::string body = call_text.has_value() ? *call_text : c.name + " " + c.arguments;
    print_note(opts_.color, c.name == "code_interpreter" ? "[tool call] code_interpreter:\n" + body
                                                         : "[tool call] " + body);
  }
  if (end.interrupted) print_note(opts_.color, "[interrupted]");
  if (end.context_full) context_full_message(1);
  std::fflush(stdout);
  msgs_.push_back(std::move(a));
  if (opts_.verbose) {
    const double dt = seconds_since(t0);
    std::fprintf(stderr, "[generated %lld tokens in %.2f s (%.1f tok/s), stop: %s, context %lld/%lld]\n",
                 static_cast<long long>(generated), dt, static_cast<double>(generated) / std::max(dt, 1e-9),
                 end.interrupted ? "interrupted" : end.context_full ? "context full" : chat::stop_reason_name(end.reason),
                 static_cast<long long>(ctx_.n_past()), static_cast<long long>(ctx_.n_ctx()));
    if (!po.rejected.empty()) std::fprintf(stderr, "[tool-call parse: %s]\n", po.rejected.c_str());
  }
  return end;
}

std::vector<chat::Message> ChatSession::run_tool_calls(const chat::Message& assistant) {
  std::vector<chat::Message> results;
  for (const chat::ToolCall& c : assistant.tool_calls) {
    if (c.name != "code_interpreter") {
      print_note(opts_.color, "[not executed: herd has no executor for " + c.name + "]");
      continue;
    }
    if (!opts_.allow_tools) {
      print_note(opts_.color, "[not executed: code_interpreter runs only when herd chat is started with --allow-tools]");
      continue;
    }
    const nlohmann::json args = nlohmann::json::parse(c.arguments, nullptr, /*allow_exceptions=*/false);
    const std::string code = args.is_object() && args.contains("code") && args["code"].is_string()
                                 ? args["code"].get<std::string>()
                                 : std::string();
    SandboxLimits limits;
    limits.cancel = interrupt_;
    limits.cpu_seconds = opts_.tool_cpu_seconds;
    limits.wall_seconds = 3 * opts_.tool_cpu_seconds;
    SandboxResult r = run_python_sandboxed(code, limits);
    const std::string summary = r.summary();
    print_note(opts_.color, "[ipython]\n" + summary);
    results.push_back({"ipython", summary, {}, c.id, ""});
  }
  std::fflush(stdout);
  return results;
}

Status ChatSession::respond() {
  for (int round = 0; round < kMaxToolRounds; ++round) {
    Result<GenEnd> end = generate_one();
    if (!end.has_value()) return end.error();
    if (end->interrupted || end->context_full || end->reason == chat::StopReason::kLength) return {};
    std::vector<chat::Message> results = run_tool_calls(msgs_.back());
    if (results.empty()) return {};
    shield_tool_results(results);
    Status s = prefill_turn(results, /*generation_prompt=*/true);
    if (!s.has_value()) return s.error().code() == ErrorCode::kOutOfRange ? Status{} : s;
    if (interrupt_ && interrupt_->load()) return {};
  }
  print_note(opts_.color, "[stopped after " + std::to_string(kMaxToolRounds) + " tool rounds]");
  return {};
}

void ChatSession::shield_tool_results(std::vector<chat::Message>& results) {
  if (!opts_.prompt_guard || results.empty()) return;
  std::vector<std::string> texts;
  for (const chat::Message& m : results) texts.push_back(m.content);
  Result<std::vector<server::PromptShieldScores>> scores = opts_.prompt_guard->score(texts);
  for (size_t i = 0; i < results.size(); ++i) {
    if (scores && (*scores)[i].injection <= opts_.prompt_guard->threshold()) continue;
    char score[32] = "";
    if (scores) std::snprintf(score, sizeof score, " (injection score %.3f)", (*scores)[i].injection);
    const std::string why = scores ? std::string("Prompt Guard flagged it as a possible prompt injection") + score
                                   : "the Prompt Guard check failed: " + scores.error().to_string();
    print_note(opts_.color, "[tool output withheld: " + why + "]");
    results[i].content = "[tool output withheld: " + why + "]";
  }
}

std::string ChatSession::output_guard_verdict(const chat::Message& reply) {
  if (reply.content.empty()) return "";  // a bare tool call: nothing written to judge
  Result<server::GuardResult> r =
      opts_.guard->check(server::guard_reply_conversation(messages(), reply.content));
  if (r && !r->error.empty()) r = Error(ErrorCode::kInternal, "no verdict: " + r->error);
  if (!r) return "[reply withheld: the Llama Guard check failed: " + r.error().to_string() + "]";
  if (!r->flagged) return "";
  return guard_note("reply withheld", *r);
}

std::string ChatSession::guard_note(const char* what, const server::GuardResult& r) {
  std::string codes;
  for (const std::string& c : r.counted) codes += (codes.empty() ? "" : ",") + c;
  char score[32];
  std::snprintf(score, sizeof score, "%.3f", r.unsafe_score);
  return std::string("[") + what + ": Llama Guard says unsafe (" + codes + "), P(unsafe) " + score + "]";
}

Status ChatSession::user_turn(const std::string& text) {
  // Prompt Guard first, then Llama Guard, as herd serve runs them.
  if (opts_.prompt_guard) {
    Result<std::vector<server::PromptShieldScores>> r = opts_.prompt_guard->score({text});
    if (!r) {
      print_note(opts_.color, "[not sent: the Prompt Guard check failed: " + r.error().to_string() + "]");
      return {};
    }
    if ((*r)[0].jailbreak > opts_.prompt_guard->threshold()) {
      char note[160];
      std::snprintf(note, sizeof note,
                    "[blocked by Prompt Guard: jailbreak score %.3f > %.2f; the model did not see this turn]",
                    (*r)[0].jailbreak, opts_.prompt_guard->threshold());
      print_note(opts_.color, note);
      return {};
    }
  }
  if (opts_.guard && opts_.guard_input) {
    std::vector<chat::Message> convo = messages();
    convo.push_back({"user", text, {}, "", ""});
    Result<std::vector<chat::Message>> cut = server::guard_conversation(convo);
    if (cut) {
      Result<server::GuardResult> r = opts_.guard->check(*cut);
      if (r && !r->error.empty()) r = Error(ErrorCode::kInternal, "no verdict: " + r->error);
      if (!r) {
        print_note(opts_.color, "[not sent: the Llama Guard check failed: " + r.error().to_string() + "]");
        return {};
      }
      if (r->flagged) {
        print_note(opts_.color, guard_note("blocked; the model did not see this turn", *r));
        return {};
      }
    }
  }
  Status s = prefill_turn({{"user", text, {}, "", ""}}, /*generation_prompt=*/true);
  if (!s.has_value()) return s.error().code() == ErrorCode::kOutOfRange ? Status{} : s;
  return respond();
}

Status ChatSession::load(std::vector<chat::Message> messages) {
  reset();
  system_.clear();
  if (!messages.empty() && messages.front().role == "system") {
    system_ = messages.front().content;
    messages.erase(messages.begin());
  }
  if (messages.empty() && system_.empty()) return {};
  const bool pending_call = !messages.empty() && messages.back().role == "assistant" &&
                            !messages.back().tool_calls.empty();
  Status s = prefill_turn(messages, /*generation_prompt=*/false);
  if (!s.has_value()) {
    reset();
    return s.error().code() == ErrorCode::kOutOfRange ? Status{} : s;
  }
  if (!pending_call) return {};
  // A conversation that ends in a tool call: handle the call as if just generated.
  std::vector<chat::Message> results = run_tool_calls(msgs_.back());
  if (results.empty()) return {};
  shield_tool_results(results);
  s = prefill_turn(results, /*generation_prompt=*/true);
  if (!s.has_value()) return s.error().code() == ErrorCode::kOutOfRange ? Status{} : s;
  return respond();
}

}  // namespace herd::cli
