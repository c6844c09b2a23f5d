// Stop tokens and stop strings (see stop.h).
#include "chat/stop.h"

#include <algorithm>

namespace herd::chat {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kNone: return "none";
    case StopReason::kEndOfTurn: return "eot";
    case StopReason::kEndOfMessage: return "eom";
    case StopReason::kEndOfText: return "end_of_text";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kLength: return "length";
  }
  return "none";
}

StopTokens StopTokens::for_model(const tokenizer::Tokenizer* tok, const std::vector<int32_t>& model_eos_ids) {
  StopTokens s;
  if (tok != nullptr) {
    s.eot = tok->special_id("<|eot_id|>");
    s.eom = tok->special_id("<|eom_id|>");
    s.end_of_text = tok->special_id("<|end_of_text|>");
  }
  for (int32_t id : model_eos_ids)
    if (id >= 0 && id != s.eot && id != s.eom && id != s.end_of_text &&
        std::find(s.model_eos.begin(), s.model_eos.end(), id) == s.model_eos.end())
      s.model_eos.push_back(id);
  return s;
}

StopReason StopTokens::classify(int32_t id) const {
  if (id < 0) return StopReason::kNone;
  if (id == eot) return StopReason::kEndOfTurn;
  if (id == eom) return StopReason::kEndOfMessage;
  if (id == end_of_text) return StopReason::kEndOfText;
  if (std::find(model_eos.begin(), model_eos.end(), id) != model_eos.end()) return StopReason::kEndOfText;
  return StopReason::kNone;
}

std::vector<int32_t> StopTokens::ids() const {
  std::vector<int32_t> out;
  for (int32_t id : {eot, eom, end_of_text})
    if (id >= 0) out.push_back(id);
  out.insert(out.end(), model_eos.begin(), model_eos.end());
  return out;
}

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) {
  for (size_t i = 0; i < stop_strings.size(); ++i) {
    if (stop_strings[i].empty()) continue;
    stops_.push_back(std::move(stop_strings[i]));
    index_.push_back(i);
  }
}

StopStringMatcher::Step StopStringMatcher::push(std::string_view piece) {
  Step step;
  if (stopped_) return step;
  held_ += piece;
  // The earliest complete match wins; on a tie, the first listed.
  size_t best = std::string::npos, which = 0;
  for (size_t k = 0; k < stops_.size(); ++k) {
    const size_t at = held_.find(stops_[k]);
    if (at < best) {
      best = at;
      which = k;
    }
  }
  if (best != std::string::npos) {
    step.text = held_.substr(0, best);
    step.stopped = true;
    step.which = index_[which];
    held_.clear();
    stopped_ = true;
    return step;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    const size_t max = std::min(s.size() - 1, held_.size());
    for (size_t n = max; n > keep; --n) {
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  step.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return step;
}

std::string StopStringMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

void StopStringMatcher::reset() {
  held_.clear();
  stopped_ = false;
}

}  // namespace herd::chat
