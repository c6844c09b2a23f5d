// JSON grammars for constrained decoding: a JSON Schema subset compiled into a
// character-level (byte-level) pushdown automaton.
//
// Supported schema subset: "type" object (properties, required; only the listed
// properties are ever produced, so additionalProperties false/strict holds; an object
// schema without a "properties" key allows any keys and values), array (items, minItems,
// maxItems), string (maxLength, enum, const), number, integer, boolean, null, a "type"
// array, anyOf/oneOf, enum and const of any JSON values. anyOf is resolved by the first
// character of the value: the first branch that can start with it is taken (output
// still validates; a value only a later branch with the same first character allows
// is not producible). Keywords outside the subset are ignored except those that change
// what validates in a way herd cannot honour ($ref, allOf, not, pattern, minLength,
// minimum...), which are errors (kUnsupported).
//
// Termination: generation must end even under random logits, so whitespace between
// tokens is a run of at most Options::max_ws spaces/newlines, strings are at most
// max_string_bytes source bytes (or the schema's maxLength), numbers at most
// max_number_chars (integer part at most 15 digits, exponent 2), free ("any JSON") values at most max_depth deep and max_any_items
// wide. Output is always canonical-enough JSON that nlohmann::json::parse accepts
// (valid UTF-8, no lone surrogate escapes).
//
// Thread safety: a Grammar is immutable and shared; a Matcher belongs to one sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace herd::grammar {

struct Options {
  int max_ws = 2;               // longest whitespace run where JSON allows whitespace
  int max_string_bytes = 256;   // per string (source bytes, escapes included)
  int max_number_chars = 24;
  int max_depth = 8;            // frames deep for containers inside "any JSON" values
  int max_any_items = 16;       // items/members of an "any JSON" array/object
};

struct Node {
  enum Kind : uint8_t { kAny, kObject, kArray, kString, kNumber, kInteger, kLiterals, kAnyOf, kTagged };
  Kind kind = kAny;
  // kObject with properties: encoded keys ("\"name\"", sorted), their value nodes and
  // the required mask (bit per sorted key). free_keys: no properties, any members.
  std::vector<std::string> keys;
  std::vector<int> key_nodes;
  uint64_t required = 0;
  bool free_keys = false;
  // kArray
  int items = -1;  // node of each item
  int min_items = 0, max_items = -1;
  // kString
  int max_len = -1;
  // kLiterals: encoded JSON texts (sorted). kTagged: prefix texts (sorted), the node
  // after each, then `suffix` text.
  std::vector<std::string> lits;
  std::vector<int> conts;
  std::string suffix;
  // kAnyOf
  std::vector<int> alts;
};

class Grammar {
 public:
  // Compiles a JSON Schema (subset above).
  static Result<std::shared_ptr<const Grammar>> from_schema(const nlohmann::json& schema, Options opts = {});
  // Any JSON value (object_only: the top level must be an object, as OpenAI's json_object).
  static std::shared_ptr<const Grammar> any_json(bool object_only, Options opts = {});
  // A Llama 3.1 custom tool call {"name": "<one of names>", "parameters": <schema>},
  // written exactly as `{"name": "NAME", "parameters": ` VALUE `}`.
  struct Tool {
    std::string name;
    nlohmann::json parameters;
  };
  static Result<std::shared_ptr<const Grammar>> tool_call(const std::vector<Tool>& tools, Options opts = {});

  const std::vector<Node>& nodes() const { return nodes_; }
  int root() const { return root_; }
  const Options& options() const { return opts_; }

 private:
  friend struct SchemaCompiler;
  std::vector<Node> nodes_;
  int root_ = 0;
  Options opts_;
};

// One automaton frame (POD; the state is a stack of them).
struct Frame {
  uint8_t kind;   // FrameKind (json_grammar.cpp)
  uint8_t phase;
  uint8_t ws;     // whitespace run so far at this position
  uint8_t aux;    // string: pending UTF-8 / escape details
  int32_t node;
  int32_t count;  // items, string bytes, number chars, literal position
  int32_t lo, hi; // literal candidate range
  int32_t aux2;
  uint64_t used;  // object: keys seen
};

// The automaton state for one value of a Grammar.
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> g);
  // Consumes one byte; false (state unchanged in meaning: do not use it further) when
  // the byte is not allowed.
  bool feed(uint8_t c);
  bool feed(std::string_view s);
  // The top-level value is finished (nothing more may follow, or a number could end).
  bool accepts_end() const;
  // True when the top frame is a string body at a clean position (not mid escape or
  // mid UTF-8 sequence); *room gets the bytes it may still take.
  bool in_plain_string(int* room) const;
  bool failed() const { return failed_; }

  Matcher(const Matcher&) = default;
  Matcher& operator=(const Matcher& o) {
    g_ = o.g_;
    stack_.assign(o.stack_.begin(), o.stack_.end());
    failed_ = o.failed_;
    return *this;
  }

 private:
  bool step(uint8_t c);
  bool begin_value(int node, uint8_t c, bool top_level);
  bool start_kind(int node, uint8_t c);
  const Grammar* g_ = nullptr;
  std::shared_ptr<const Grammar> hold_;
  std::vector<Frame> stack_;
  bool failed_ = false;
};

// Convenience for tests: text is a complete value of the grammar.
bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text);

}  // namespace herd::grammar
