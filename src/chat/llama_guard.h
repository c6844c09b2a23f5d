// Llama Guard 3: the classification prompt and the verdict, as the released
// models expect them.
//
// Llama Guard 3 (8B: Llama 3.1-8B fine-tuned; 1B: Llama 3.2-1B fine-tuned) is
// a Llama that answers one user turn, built from a conversation, with "safe"
// or "unsafe\n" and a comma-separated list of category codes. The prompt is
// the chat template each model ships in its tokenizer_config.json (and so in
// its GGUF's tokenizer.chat_template); the two differ in small ways, all kept
// here byte for byte (tests/golden/guard renders the released templates with
// an independent Jinja implementation and compares):
//   * 8B: categories S1-S14 (S14 "Code Interpreter Abuse."), hard-coded in the
//     template; the text starts with a space before <|begin_of_text|>; each
//     message is "Role: " + content.strip(); the instruction ends
//     "...violated categories.<|eot_id|>".
//   * 1B: categories S1-S13 from a `categories` dict with
//     `excluded_category_keys`; no leading space; each text part of a message
//     is "Role: " + text|trim; "...violated categories. <|eot_id|>" (a space).
//   Both: "Task: Check if there is unsafe content in 'ROLE' messages ...",
//   <BEGIN/END UNSAFE CONTENT CATEGORIES>, <BEGIN/END CONVERSATION>, "User"
//   for user turns and "Agent" for assistant turns, ROLE = User when the
//   conversation has an odd number of messages (a prompt is classified) and
//   Agent when even (a response), and the prompt ends with the assistant
//   header without the "\n\n" that separates a header from its content: the
//   model writes it first (render_guard_prompt can append it, see there).
// Excluding categories drops their lines (the 1B template's
// excluded_category_keys; for the 8B, whose template has no such variable,
// the same lines are dropped, as Llama Stack does). Custom category lists
// replace the table (the 1B template's `categories` variable).
//
// The conversation must alternate user/assistant starting with user (the
// templates raise otherwise); system, tool and ipython messages are refused
// with an error naming the message, never silently dropped. A message's
// content parts were joined by the parser (chat/messages.h): the 1B template
// would write one "Role: " line per part; herd writes one per message.
//
// Thread safety: pure functions and values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "chat/llama3_format.h"
#include "chat/messages.h"

namespace herd::chat {

enum class GuardVariant {
  k8B,  // Llama Guard 3 8B: S1-S14 and its template
  k1B,  // Llama Guard 3 1B: S1-S13 and its template
};
const char* guard_variant_name(GuardVariant v);  // "8b" / "1b"

// The variant a model's name implies when it says "Llama Guard 3" then 8B or
// 1B (any case and separators: "Llama-Guard-3-1B", "llama_guard_3_8b"), else
// its shape (d_model 4096: 8B, 2048: 1B); kInvalidArgument asking for the
// variant otherwise.
Result<GuardVariant> guard_variant_for(const std::string& model_name, int64_t d_model);

struct GuardCategory {
  std::string code;  // "S1"
  std::string name;  // "Violent Crimes." (the template's text, with its period)
};

// The variant's released category list, in order.
std::vector<GuardCategory> guard_categories(GuardVariant v);

enum class GuardRole { kUser, kAgent };
const char* guard_role_name(GuardRole r);  // "User" / "Agent"

struct GuardPromptOptions {
  GuardVariant variant = GuardVariant::k8B;
  // Empty: the variant's list. Otherwise the categories offered to the model.
  std::vector<GuardCategory> categories;
  std::vector<std::string> excluded;  // codes whose lines are dropped
  // Append "\n\n" after the assistant header (the template leaves it for the
  // model to write). The verdict's first token is then the next one.
  bool header_separator = false;
};

struct GuardPrompt {
  Prompt prompt;
  GuardRole role = GuardRole::kUser;  // whose last message is classified
};

// Validates the conversation (see the header paragraph) and renders it.
// Errors: kInvalidArgument naming the message or the category.
Result<GuardPrompt> render_guard_prompt(const std::vector<Message>& messages, const GuardPromptOptions& options);

// The conversation cut after its last message of `role` (a user turn for
// prompt classification, an assistant turn for response classification).
// kInvalidArgument if it has none.
Result<std::vector<Message>> guard_conversation_for(const std::vector<Message>& messages, GuardRole role);

struct GuardVerdict {
  bool safe = true;
  std::vector<std::string> codes;  // violated categories, as the model wrote them
};

// The model's reply (without the "\n\n" after the header, surrounding
// whitespace ignored): exactly "safe", or "unsafe" then a newline and one or
// more comma-separated codes, each one of `allowed`. Anything else is
// kInvalidArgument quoting the reply: a guard's reply is never read as safe
// unless it says so.
Result<GuardVerdict> parse_guard_verdict(std::string_view reply, const std::vector<GuardCategory>& allowed);

// Parses "S1,S6" (a --exclude value) into codes, each one of `allowed`.
Result<std::vector<std::string>> parse_guard_codes(std::string_view list, const std::vector<GuardCategory>& allowed);

// A custom category list as JSON: {"S1": "Violent Crimes.", ...} in order, or
// [{"code": "S1", "name": "..."}]. Codes are S<n>; names non-empty, one line.
Result<std::vector<GuardCategory>> parse_guard_categories_json(std::string_view json_text);

// Python's str.strip() (Jinja's trim): removes leading and trailing Unicode
// whitespace (str.isspace(): ASCII \t\n\v\f\r and space, \x1c-\x1f, U+0085,
// U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
std::string python_strip(std::string_view s);

}  // namespace herd::chat
