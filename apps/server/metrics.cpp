// See metrics.h.
#include "metrics.h"

#include <cstdio>

namespace herd::server {
namespace {

void line(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  out += buf;
}

void gauge(std::string& out, const char* name, const char* type, const char* help, long long v) {
  line(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, v);
}

}  // namespace

void Histogram::observe(double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) ++counts_[i];
  ++count_;
  sum_ += seconds;
}

void Histogram::render(const std::string& name, const std::string& help, std::string& out) const {
  std::lock_guard<std::mutex> l(mu_);
  line(out, "# HELP %s %s\n# TYPE %s histogram\n", name.c_str(), help.c_str(), name.c_str());
  for (size_t i = 0; i < kBounds.size(); ++i)
    line(out, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), kBounds[i], static_cast<unsigned long long>(counts_[i]));
  line(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name.c_str(),
       static_cast<unsigned long long>(count_), name.c_str(), sum_, name.c_str(), static_cast<unsigned long long>(count_));
}

void Metrics::request_done(const std::string& route, int status) {
  std::lock_guard<std::mutex> l(mu_);
  ++requests_[{route, status}];
}

void Metrics::tokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> l(mu_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}

void Metrics::in_flight_add(int d) {
  std::lock_guard<std::mutex> l(mu_);
  in_flight_ += d;
}

int64_t Metrics::in_flight() const {
  std::lock_guard<std::mutex> l(mu_);
  return in_flight_;
}

void Metrics::guard_check(const std::string& where, const std::string& outcome) {
  std::lock_guard<std::mutex> l(mu_);
  ++guard_[{where, outcome}];
}

void Metrics::prompt_guard_check(const std::string& check, const std::string& outcome) {
  std::lock_guard<std::mutex> l(mu_);
  ++prompt_guard_[{check, outcome}];
}

std::string Metrics::render(const engine::EngineStats& s) const {
  std::string out;
  {
    std::lock_guard<std::mutex> l(mu_);
    out += "# HELP herd_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE herd_requests_total counter\n";
    for (const auto& [k, v] : requests_)
      line(out, "herd_requests_total{route=\"%s\",status=\"%d\"} %llu\n", k.first.c_str(), k.second,
           static_cast<unsigned long long>(v));
    gauge(out, "herd_prompt_tokens_total", "counter", "Prompt tokens of finished generations.", prompt_tokens_);
    gauge(out, "herd_generated_tokens_total", "counter", "Tokens generated.", generated_tokens_);
    gauge(out, "herd_http_generations_in_flight", "gauge", "Generation requests the HTTP layer is serving.", in_flight_);
    if (!guard_.empty()) {
      out += "# HELP herd_guard_checks_total Llama Guard checks, by where (input, output, moderation) and outcome "
             "(pass, flagged, error).\n# TYPE herd_guard_checks_total counter\n";
      for (const auto& [k, v] : guard_)
        line(out, "herd_guard_checks_total{where=\"%s\",outcome=\"%s\"} %llu\n", k.first.c_str(), k.second.c_str(),
             static_cast<unsigned long long>(v));
    }
    if (!prompt_guard_.empty()) {
      out += "# HELP herd_prompt_guard_checks_total Prompt Guard checks, by check (jailbreak: a chat request's last "
             "user turn; injection: its trailing tool results; moderation: a /v1/moderations input) and outcome (pass, "
             "flagged, error).\n"
             "# TYPE herd_prompt_guard_checks_total counter\n";
      for (const auto& [k, v] : prompt_guard_)
        line(out, "herd_prompt_guard_checks_total{check=\"%s\",outcome=\"%s\"} %llu\n", k.first.c_str(),
             k.second.c_str(), static_cast<unsigned long long>(v));
    }
  }
  gauge(out, "herd_queue_depth", "gauge", "Requests waiting in the engine queue.", s.queued);
  gauge(out, "herd_running_sequences", "gauge", "Sequences the engine is decoding.", s.running);
  gauge(out, "herd_kv_tokens_used", "gauge", "KV cache tokens held by queued or running sequences (0 when idle).",
        s.kv_tokens_used);
  gauge(out, "herd_kv_tokens_cached", "gauge",
        "Free KV cache tokens still holding a reusable prompt prefix (prefix cache; not in use).", s.kv_tokens_cached);
  gauge(out, "herd_kv_tokens_total", "gauge", "KV cache tokens in the pool.", s.kv_tokens_total);
  gauge(out, "herd_engine_steps_total", "counter", "Engine forward steps.", s.steps);
  gauge(out, "herd_preemptions_total", "counter",
        "Running sequences sent back to the queue because the KV pool ran short (recomputed later).",
        s.preemptions);
  gauge(out, "herd_cached_prompt_tokens_total", "counter", "Prompt tokens served from the prefix cache.",
        s.cached_prompt_tokens);
  ttft_.render("herd_time_to_first_token_seconds", "Time from submission to the first generated token.", out);
  itl_.render("herd_inter_token_latency_seconds", "Time between consecutive generated tokens of one request.", out);
  return out;
}

}  // namespace herd::server
