// libFuzzer target: the Llama Guard 3 parsers on arbitrary bytes (a guard's
// reply, a --categories file, a conversation). Properties checked: no crash
// (ASan/UBSan); a parsed verdict is "safe" with no codes or "unsafe" with 1+
// codes of the list; a rendered prompt names each message's stripped text and
// ends with the assistant header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "chat/llama_guard.h"
#include "chat/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herd::chat;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto cats = guard_categories(size % 2 ? GuardVariant::k8B : GuardVariant::k1B);
  if (auto v = parse_guard_verdict(text, cats); v.has_value()) {
    if (v->safe != v->codes.empty()) std::abort();
    for (const std::string& c : v->codes) {
      bool known = false;
      for (const GuardCategory& k : cats) known = known || k.code == c;
      if (!known) std::abort();
    }
  }
  if (auto c = parse_guard_categories_json(text); c.has_value() && (c->empty() || c->size() > 64)) std::abort();
  (void)parse_guard_codes(text, cats);
  // The bytes as a conversation of alternating turns split at '\x01'.
  std::vector<Message> msgs;
  size_t start = 0;
  while (start <= text.size() && msgs.size() < 16) {
    const size_t end = text.find('\x01', start);
    Message m;
    m.role = msgs.size() % 2 == 0 ? "user" : "assistant";
    m.content = std::string(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    msgs.push_back(std::move(m));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  GuardPromptOptions o;
  o.variant = size % 2 ? GuardVariant::k8B : GuardVariant::k1B;
  o.header_separator = size % 3 == 0;
  auto p = render_guard_prompt(msgs, o);
  if (!p.has_value()) std::abort();  // any alternating user-first conversation renders
  const std::string t = p->prompt.text();
  for (const Message& m : msgs)
    if (t.find(python_strip(m.content)) == std::string::npos) std::abort();
  const std::string tail = o.header_separator ? "<|end_header_id|>\n\n" : "<|end_header_id|>";
  if (t.size() < tail.size() || t.compare(t.size() - tail.size(), tail.size(), tail) != 0) std::abort();
  (void)python_strip(text);
  return 0;
}
