// --lora PATH[:SCALE] (lora_option.h).
#include "lora_option.h"

#include <cstdlib>

namespace herd::cli {

std::pair<std::string, float> parse_lora_option(const std::string& v) {
  if (const size_t colon = v.rfind(':'); colon != std::string::npos && colon + 1 < v.size()) {
    char* end = nullptr;
    const double w = std::strtod(v.c_str() + colon + 1, &end);
    if (end != nullptr && *end == '\0') return {v.substr(0, colon), static_cast<float>(w)};
  }
  return {v, 1.0f};
}

Result<std::vector<std::unique_ptr<train::LoraSet>>> attach_lora_options(const std::vector<std::string>& values,
                                                                         model::LlamaModel& model) {
  std::vector<std::unique_ptr<train::LoraSet>> out;
  for (const std::string& v : values) {
    const auto [dir, weight] = parse_lora_option(v);
    Result<train::LoraSet> s = train::LoraSet::read(dir, model);
    if (!s.has_value()) return s.error().with_context("--lora " + dir);
    auto p = std::make_unique<train::LoraSet>(std::move(*s));
    HERD_TRY(p->attach(model, weight));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace herd::cli
