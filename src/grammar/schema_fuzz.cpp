// libFuzzer target: JSON Schema compilation and the matcher. The input is split at
// its first NUL byte: a schema (JSON) before it, a candidate text after it.
// Properties checked: no crash or sanitizer report, no run past libFuzzer's -timeout
// (Options bound the compile work and the per-byte matching work), and every text the
// matcher accepts completely is valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "grammar/json_grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view schema_text = in.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  if (!herd::json_depth_within(schema_text)) return 0;
  const nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return 0;
  auto g = herd::grammar::Grammar::from_schema(schema);
  if (!g.has_value()) return 0;
  herd::grammar::Matcher m(*g);
  if (m.feed(text) && m.accepts_end() && !text.empty()) {
    if (nlohmann::json::parse(text, nullptr, false).is_discarded()) std::abort();
  }
  return 0;
}
