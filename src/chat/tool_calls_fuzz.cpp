// libFuzzer target: parse_assistant_output and the streaming parser on arbitrary bytes.
// Properties checked: no crash (ASan/UBSan), every call's arguments are a JSON object,
// and streaming in uneven pieces agrees with the whole-text parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/tool_calls.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using herd::chat::ParsedOutput;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ParsedOutput whole = herd::chat::parse_assistant_output(text);
  for (const auto& c : whole.tool_calls) {
    const auto j = nlohmann::json::parse(c.arguments, nullptr, false);
    if (!j.is_object()) std::abort();
  }
  // Stream in pieces whose sizes come from the data itself. The header/end-marker
  // stripping is parse_assistant_output's alone, so compare against a text without them.
  if (text.find("<|start_header_id|>") != std::string_view::npos || text.find("<|e") != std::string_view::npos) {
    return 0;
  }
  herd::chat::StreamingToolParser sp;
  std::string shown;
  size_t i = 0, k = 0;
  while (i < text.size()) {
    const size_t n = 1 + (static_cast<unsigned char>(text[k++ % text.size()]) % 5);
    shown += sp.push(text.substr(i, n));
    i += n;
  }
  const ParsedOutput rest = sp.finish();
  if (shown + rest.content != whole.content) std::abort();
  if (rest.tool_calls.size() != whole.tool_calls.size()) std::abort();
  return 0;
}
