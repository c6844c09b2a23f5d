// The nesting depth of JSON text, measured before any JSON library parses it.
//
// nlohmann::json parses iteratively, but copying, dump(), comparison and most code
// that walks a parsed value recurse once per nesting level, so ~60,000 nested '['
// in a 120 KB request body overflow a thread's stack. Every JSON herd reads from
// outside (request bodies, files, tool-call arguments a model wrote) is checked
// against kMaxJsonDepth first and refused when deeper, so no later recursion over it
// can go deeper than that.
//
// The scan is lexical and linear: '[' and '{' outside strings open a level, ']' and
// '}' close one; string contents (with backslash escapes) are skipped. It does not
// validate (a parser still does); malformed text only ever measures shallower or
// deeper than it is in ways the parser then rejects.
#pragma once

#include <cstdint>
#include <string_view>

namespace herd {

// OpenAI's structured outputs allow 10 levels of object nesting in a schema; a schema
// level is 2-3 JSON levels (properties, name, schema), a chat request ~5 more.
inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting in text, or stop_above + 1 as soon as that is exceeded.
int json_nesting_depth(std::string_view text, int stop_above);

// True when text nests at most max_depth levels.
inline bool json_depth_within(std::string_view text, int max_depth = kMaxJsonDepth) {
  return json_nesting_depth(text, max_depth) <= max_depth;
}

}  // namespace herd
