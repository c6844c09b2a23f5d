// JSON grammars for constrained decoding: a JSON Schema compiled into a graph of value
// nodes, run by a byte-level pushdown automaton that may follow several parses at once.
//
// Schema coverage (schema_compiler.h has the details and the strict/lenient rules):
// type (a string or an array), const and enum of any JSON values, anyOf / oneOf
// (alternation: every branch that can still match is followed in parallel, so a value
// only a later branch allows is producible), allOf (merged into one schema), $ref to
// "#" or "#/..." pointers ($defs, definitions; recursion allowed), nullable, objects
// (properties, required, additionalProperties false / true / a schema), arrays (items,
// prefixItems, minItems, maxItems), strings (minLength, maxLength, pattern, format),
// integers and numbers with minimum / maximum / exclusiveMinimum / exclusiveMaximum.
//
// The automaton (Matcher) keeps a set of stacks of Frames, one per live parse. A byte
// advances every stack; anyOf and "listed key or additional key" fork a stack; a stack
// that cannot take the byte dies; equal stacks merge; at most Options::max_stacks live.
// Every live stack can still finish (no dead ends): values whose every instance nests
// deeper than Options::max_nesting are never started, string lengths and patterns are
// checked against what can still be completed, number ranges against what digits can
// still reach (number_range.h).
//
// Termination: generation must end even under random logits, so whitespace is a run of
// at most max_ws spaces/newlines where JSON allows it, strings hold at most
// max_string_chars code points (or the schema's maxLength), numbers at most
// max_number_chars (15 integer digits, exponent 2 digits), free ("any JSON") values nest
// at most max_depth deep and hold at most max_any_items members/items, additional
// properties at most max_any_items, schema values at most max_nesting deep. Output is
// JSON that nlohmann::json::parse accepts (valid UTF-8, no lone surrogate escapes).
// Keys written as additional properties are printable ASCII without escapes.
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
#include "grammar/number_range.h"
#include "grammar/regex.h"

namespace herd::grammar {

struct Options {
  int max_ws = 2;               // longest whitespace run where JSON allows whitespace
  int max_string_chars = 256;   // per string without maxLength (code points; an escape is one)
  int max_number_chars = 24;    // numbers without a range
  int max_depth = 8;            // frames deep for containers inside "any JSON" values
  int max_any_items = 16;       // items/members of an "any JSON" array/object, extra keys
  int max_nesting = 32;         // frames deep for schema values (recursive $ref)
  int max_stacks = 32;          // parses followed at once (anyOf ambiguity)
  bool strict = true;           // unsupported keywords: an error (else ignored)
  // Bounds on the work a schema from a request can cause (a kUnsupported error naming
  // the limit when exceeded): grammar nodes in all; distinct alternatives one anyOf
  // reaches through nested anyOfs (what a byte is checked against); enum values per
  // enum (OpenAI's structured outputs allow 1000 in a whole schema); schema objects
  // compiled (each $ref with siblings or allOf part is compiled again where used, so
  // the count, not the schema's size, bounds the work); and a wall-clock backstop.
  int max_nodes = 8192;
  int max_alternatives = 1024;
  int max_enum = 1024;
  int max_compile_steps = 20000;
  int max_compile_ms = 2000;
};

struct Node {
  enum Kind : uint8_t { kAny, kObject, kArray, kString, kNumber, kLiterals, kAnyOf, kTagged };
  static constexpr int kUnsat = 1 << 20;  // min_depth of a node no finite value satisfies
  Kind kind = kAny;
  int min_depth = 0;  // frames the smallest finished value of this node needs
  // kObject: encoded keys ("\"name\"", sorted), their value nodes, the required mask (bit
  // per sorted key); extra: node of additional members' values (-1: none allowed).
  std::vector<std::string> keys;
  std::vector<int> key_nodes;
  uint64_t required = 0;
  int extra = -1;
  // kArray: prefix[i] is item i's node; items the node of the rest (-1: none).
  std::vector<int> prefix;
  int items = -1;
  int min_items = 0, max_items = -1;
  // kString: length bounds in code points; dfa: index into Grammar::dfas() or -1.
  int min_len = 0, max_len = 0;
  int dfa = -1;
  // kNumber: range: index into Grammar::ranges() or -1.
  bool integer = false;
  int range = -1;
  // kLiterals: encoded JSON texts (sorted). kTagged: prefix texts (sorted), the node
  // after each, then `suffix`; repeated up to max_repeat times joined by `sep`.
  std::vector<std::string> lits;
  std::vector<int> conts;
  std::string suffix, sep;
  int max_repeat = 1;
  // kAnyOf: alts as written; leaves: the distinct non-anyOf nodes reachable through
  // nested anyOfs (SchemaCompiler::finish), which the automaton starts directly, so a
  // chain of anyOfs sharing branches costs one check per distinct branch, not one per
  // path (2^40 paths for 40 levels of anyOf [$ref x, $ref x]).
  std::vector<int> alts;
  std::vector<int> leaves;
};

class Grammar {
 public:
  // Compiles a JSON Schema. On error, *error_path (if given) gets where in the schema
  // (".properties.age.multipleOf"; "" for the root).
  static Result<std::shared_ptr<const Grammar>> from_schema(const nlohmann::json& schema, Options opts = {},
                                                            std::string* error_path = nullptr);
  // Any JSON value (object_only: the top level must be an object, as OpenAI's json_object).
  static std::shared_ptr<const Grammar> any_json(bool object_only, Options opts = {});
  // Llama 3.1 custom tool calls {"name": "<one of names>", "parameters": <schema>},
  // each written exactly as `{"name": "NAME", "parameters": ` VALUE `}`; between 1 and
  // max_calls of them joined by "; " (herd's separator for several calls, docs/chat.md).
  struct Tool {
    std::string name;
    nlohmann::json parameters;
    bool strict = true;
  };
  static Result<std::shared_ptr<const Grammar>> tool_call(const std::vector<Tool>& tools, Options opts = {},
                                                          int max_calls = 1, std::string* error_tool = nullptr,
                                                          std::string* error_path = nullptr);

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Dfa>& dfas() const { return dfas_; }
  const std::vector<NumberRange>& ranges() const { return ranges_; }
  int root() const { return root_; }
  const Options& options() const { return opts_; }

 private:
  friend class SchemaCompiler;
  std::vector<Node> nodes_;
  std::vector<Dfa> dfas_;
  std::vector<NumberRange> ranges_;
  int root_ = 0;
  Options opts_;
};

// One automaton frame (POD; a parse is a stack of them). Field use by kind is listed in
// json_grammar.cpp (FrameKind).
struct Frame {
  uint8_t kind;
  uint8_t phase;
  uint8_t ws;
  uint8_t aux;
  int32_t node;
  int32_t count;
  int32_t lo, hi;
  int32_t aux2;
  uint64_t used;
  bool operator==(const Frame&) const = default;
};

// A string body (or an additional property's key) being written in the only parse
// (Matcher::string_scan()): its frame, advanced byte by byte with
// Matcher::string_step() far more cheaply than feed().
struct StringScan {
  Frame frame;
  const Dfa* dfa = nullptr;                      // the pattern, if any
  const std::vector<std::string>* keys = nullptr;  // a key: the listed keys it must differ from
  int key_max = 0;                               // a key: most characters
  int min_len = 0;
  bool clean = false;  // not mid escape or mid UTF-8 sequence
  int room = 0;        // code points it may still take
};

// The automaton state for one value of a Grammar.
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> g);
  // Consumes one byte; false when no parse can take it (then failed() and the matcher
  // refuses everything).
  bool feed(uint8_t c);
  bool feed(std::string_view s);
  // Some parse has finished the top-level value (nothing more needed).
  bool accepts_end() const;
  // Some byte could still be fed.
  bool can_continue() const;
  // True when there is one parse and it is in a string body or an additional key; fills *s.
  bool string_scan(StringScan* s) const;
  // Advances the frame of string_scan() by byte c: -1 refused, 0 taken (still in the
  // string), 1 the closing quote. The same rules as feed().
  static int string_step(const StringScan& ss, Frame& f, uint8_t c);
  // *out = this state with the string (string_scan() true) closed, whatever its content.
  void close_string(Matcher* out) const;
  bool failed() const { return failed_; }
  size_t n_stacks() const { return ends_.size(); }

  Matcher(const Matcher& o);
  Matcher& operator=(const Matcher& o);

 private:
  struct Fork {
    uint32_t begin, end;  // frames in fork_frames_
    int32_t node;         // >= 0: start this node's value; -1: an additional key
  };
  // The stack being advanced is always the tail of next_, from base_.
  Frame& top() { return next_.back(); }
  size_t depth() const { return next_.size() - base_; }
  void push(const Frame& f) { next_.push_back(f); }
  void pop() { next_.pop_back(); }
  void fork(int32_t node);
  void finish_stack();
  bool step(uint8_t c);
  bool start_value(int node, uint8_t c);
  bool start_extra_key(uint8_t c);
  bool can_start(int node, uint8_t c, size_t below) const;
  static int key_step(Frame& f, const std::vector<std::string>& keys, int max_chars, uint8_t c);

  const Grammar* g_ = nullptr;
  std::shared_ptr<const Grammar> hold_;
  std::vector<Frame> frames_;   // every live stack, concatenated
  std::vector<uint32_t> ends_;  // end of each stack in frames_
  // feed() scratch
  std::vector<Frame> next_;
  std::vector<uint32_t> next_ends_;
  size_t base_ = 0;
  std::vector<Frame> fork_frames_;
  std::vector<Fork> forks_;
  bool failed_ = false;
};

// Convenience for tests: text is a complete value of the grammar.
bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text);

}  // namespace herd::grammar
