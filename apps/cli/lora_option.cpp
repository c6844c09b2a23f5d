// --lora PATH[:SCALE] (lora_option.h).
#include "lora_option.h"

#include <algorithm>
#include <cctype>
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
    HERD_TRY(p->attach(model, weight, 0, static_cast<int32_t>(out.size())));
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<std::unique_ptr<train::LoraSet>>> attach_lora_modules(const std::vector<std::string>& values,
                                                                         model::LlamaModel& model,
                                                                         std::vector<std::string>* names) {
  std::vector<std::unique_ptr<train::LoraSet>> out;
  names->clear();
  for (const std::string& v : values) {
    const size_t eq = v.find('=');
    const std::string name = eq == std::string::npos ? std::string() : v.substr(0, eq);
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name) ok = ok && c != '+' && c != '=' && !std::isspace(static_cast<unsigned char>(c));
    if (!ok)
      return err(ErrorCode::kInvalidArgument, "--lora-module '%s': expected NAME=PATH[:SCALE], NAME 1..64 characters "
                 "without '+', '=' or spaces", v.c_str());
    if (std::find(names->begin(), names->end(), name) != names->end())
      return err(ErrorCode::kInvalidArgument, "--lora-module: the name '%s' is given twice", name.c_str());
    const auto [path, weight] = parse_lora_option(v.substr(eq + 1));
    Result<train::LoraSet> s = train::LoraSet::read(path, model);
    if (!s.has_value()) return s.error().with_context("--lora-module " + name);
    auto p = std::make_unique<train::LoraSet>(std::move(*s));
    HERD_TRY(p->attach(model, weight, static_cast<int32_t>(out.size() + 1)));
    out.push_back(std::move(p));
    names->push_back(name);
  }
  return out;
}

}  // namespace herd::cli
