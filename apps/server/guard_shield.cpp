// See guard_shield.h.
#include "guard_shield.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace herd::server {

Result<GuardShield> GuardShield::make(engine::Engine& engine, const tokenizer::Tokenizer& tok, GuardOptions options) {
  GuardShield s(engine, tok, std::move(options));
  s.cats_ = s.opts_.categories.empty() ? chat::guard_categories(s.opts_.variant) : s.opts_.categories;
  for (const std::string& x : s.opts_.excluded)
    if (std::none_of(s.cats_.begin(), s.cats_.end(), [&](const chat::GuardCategory& c) { return c.code == x; }))
      return err(ErrorCode::kInvalidArgument, "guard: excluded category '%s' is not in the category list", x.c_str());
  std::vector<int32_t> ids;
  tok.encode_ordinary("unsafe", ids);
  if (ids.size() != 1) return err(ErrorCode::kInvalidArgument, "guard: the vocabulary has no single token \"unsafe\"");
  s.unsafe_id_ = ids[0];
  for (const char* name : {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"})
    if (int32_t id = tok.special_id(name); id >= 0) s.stop_ids_.push_back(id);
  return s;
}

Result<GuardResult> GuardShield::check(const std::vector<chat::Message>& conversation) const {
  std::vector<Result<GuardResult>> r = check_all({conversation});
  return std::move(r[0]);
}

std::vector<Result<GuardResult>> GuardShield::check_all(const std::vector<std::vector<chat::Message>>& conversations) const {
  struct State {
    std::vector<int32_t> reply;
    double p_unsafe = -1;
    bool done = false, stopped = false;
    std::string error;
  };
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;
  };
  const size_t n = conversations.size();
  std::vector<Result<GuardResult>> out(n, Result<GuardResult>(GuardResult{}));
  auto sh = std::make_shared<Shared>();
  std::vector<std::shared_ptr<State>> st(n);
  std::vector<engine::GenerationRequest> reqs;
  std::vector<engine::RequestCallbacks> cbs;
  std::vector<size_t> submitted;  // the conversations whose prompt rendered
  for (size_t i = 0; i < n; ++i) {
    chat::GuardPromptOptions po;
    po.variant = opts_.variant;
    po.categories = opts_.categories;
    po.excluded = opts_.excluded;
    po.header_separator = true;
    Result<chat::GuardPrompt> prompt = chat::render_guard_prompt(conversations[i], po);
    Result<std::vector<int32_t>> ids = prompt.has_value() ? prompt->prompt.ids(*tok_) : Result<std::vector<int32_t>>(prompt.error());
    if (!ids.has_value()) {
      out[i] = ids.error();
      continue;
    }
    engine::GenerationRequest req;
    req.prompt = std::move(*ids);
    req.sampling.temperature = 0.0f;
    req.max_tokens = kGuardMaxReplyTokens;
    req.stop_ids = stop_ids_;
    req.watch_ids = {unsafe_id_};
    auto s = st[i] = std::make_shared<State>();
    engine::RequestCallbacks cb;
    cb.on_token = [s, sh](const engine::TokenEvent& ev) {
      std::lock_guard<std::mutex> lk(sh->mu);
      if (s->p_unsafe < 0 && !ev.watched.empty()) s->p_unsafe = std::exp(static_cast<double>(ev.watched[0]));
      s->reply.push_back(ev.id);
      return true;
    };
    cb.on_done = [s, sh](engine::FinishReason r, int32_t stop_id, const engine::Usage&, const Error* e) {
      std::lock_guard<std::mutex> lk(sh->mu);
      s->done = true;
      s->stopped = r == engine::FinishReason::kStop && stop_id >= 0;
      if (e) s->error = e->to_string();
      else if (r != engine::FinishReason::kStop && r != engine::FinishReason::kLength)
        s->error = std::string("guard generation ended: ") + engine::finish_reason_name(r);
      --sh->pending;
      sh->cv.notify_all();
    };
    reqs.push_back(std::move(req));
    cbs.push_back(std::move(cb));
    submitted.push_back(i);
  }
  if (submitted.empty()) return out;
  {
    std::lock_guard<std::mutex> lk(sh->mu);
    sh->pending = submitted.size();
  }
  // All at once, so the guard's engine batches them (one queue slot each).
  Result<std::vector<uint64_t>> ids = engine_->submit_all(std::move(reqs), std::move(cbs));
  if (!ids.has_value()) {
    for (size_t i : submitted) out[i] = ids.error();
    return out;
  }
  std::unique_lock<std::mutex> lk(sh->mu);
  sh->cv.wait(lk, [&] { return sh->pending == 0; });
  for (size_t i : submitted) out[i] = result_of(st[i]->reply, st[i]->p_unsafe, st[i]->stopped, st[i]->error);
  return out;
}

Result<GuardResult> GuardShield::result_of(const std::vector<int32_t>& reply, double p_unsafe, bool stopped,
                                           const std::string& error) const {
  GuardResult out;
  out.reply = tok_->decode(reply);
  out.reply_tokens = static_cast<int>(reply.size());
  if (!error.empty()) return err(ErrorCode::kInternal, "%s", error.c_str());
  // A stop token as the very first token carries no logprobs: P(unsafe) is then
  // unknown but the reply (empty) is no verdict anyway.
  out.unsafe_score = std::max(0.0, p_unsafe);
  if (!stopped) {
    out.error = "the reply did not end within " + std::to_string(kGuardMaxReplyTokens) + " tokens";
    return out;
  }
  Result<chat::GuardVerdict> v = chat::parse_guard_verdict(out.reply, cats_);
  if (!v) {
    out.error = v.error().message();
    return out;
  }
  out.safe = v->safe;
  out.codes = v->codes;
  for (const std::string& c : v->codes)
    if (std::find(opts_.excluded.begin(), opts_.excluded.end(), c) == opts_.excluded.end()) out.counted.push_back(c);
  out.flagged = !v->safe && !out.counted.empty() && out.unsafe_score >= opts_.threshold;
  return out;
}

Result<std::vector<chat::Message>> guard_conversation(const std::vector<chat::Message>& messages) {
  std::vector<chat::Message> out;
  for (const chat::Message& m : messages) {
    if (m.role != "user" && m.role != "assistant") continue;
    if (m.content.empty()) continue;  // an assistant turn that only calls tools
    if (out.empty() && m.role != "user") continue;
    if (!out.empty() && out.back().role == m.role) {
      out.back().content += "\n\n" + m.content;
      continue;
    }
    chat::Message g;
    g.role = m.role;
    g.content = m.content;
    out.push_back(std::move(g));
  }
  while (!out.empty() && out.back().role != "user") out.pop_back();
  if (out.empty()) return err(ErrorCode::kInvalidArgument, "the conversation has no user message for the guard to judge");
  return out;
}

std::vector<chat::Message> guard_reply_conversation(const std::vector<chat::Message>& messages, const std::string& reply) {
  Result<std::vector<chat::Message>> convo = guard_conversation(messages);
  std::vector<chat::Message> c = convo ? std::move(*convo) : std::vector<chat::Message>{};
  if (c.empty()) {
    chat::Message u;
    u.role = "user";
    c.push_back(u);
  }
  chat::Message a;
  a.role = "assistant";
  a.content = reply;
  c.push_back(std::move(a));
  return c;
}

}  // namespace herd::server
