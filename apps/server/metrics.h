// Prometheus text metrics (exposition format 0.0.4) for GET /metrics:
// requests by route and status, prompt and generated tokens, HTTP requests in
// flight, TTFT and inter-token latency histograms, plus the engine's gauges
// (queue depth, running sequences, KV tokens used / cached / total) read at
// scrape time. Idle means running, queue depth, KV used and HTTP generations
// in flight all 0; prefix-cache blocks show as cached, never as used.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "engine/engine.h"

namespace herd::server {

class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,  30};
  void observe(double seconds);
  void render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size()> counts_{};  // guarded by mu_
  uint64_t count_ = 0;                             // guarded by mu_
  double sum_ = 0;                                 // guarded by mu_
};

class Metrics {
 public:
  void request_done(const std::string& route, int status);
  void tokens(int64_t prompt, int64_t generated);
  void ttft(double s) { ttft_.observe(s); }
  void inter_token(double s) { itl_.observe(s); }
  void in_flight_add(int d);
  int64_t in_flight() const;
  // The guard shield (--guard): checks run, by where ("input", "moderation"),
  // and their outcome ("pass", "flagged", "error").
  void guard_check(const std::string& where, const std::string& outcome);
  // The Prompt Guard shield (--prompt-guard): checks by kind ("jailbreak",
  // "injection", "moderation") and outcome ("pass", "flagged", "error").
  void prompt_guard_check(const std::string& check, const std::string& outcome);

  std::string render(const engine::EngineStats& stats) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // guarded by mu_
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0;           // guarded by mu_
  int64_t in_flight_ = 0;                                      // guarded by mu_
  std::map<std::pair<std::string, std::string>, uint64_t> guard_;  // guarded by mu_
  std::map<std::pair<std::string, std::string>, uint64_t> prompt_guard_;  // guarded by mu_
  Histogram ttft_, itl_;
};

}  // namespace herd::server
