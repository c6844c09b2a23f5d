// SchemaCompiler: JSON Schema -> Grammar nodes (json_grammar.h). Internal to
// src/grammar; Grammar::from_schema and Grammar::tool_call drive it.
//
// Pipeline per schema object: check keywords (strict: an unsupported or unknown
// keyword is a kUnsupported error naming it and its path; lenient: it is dropped and
// output may then break it), then in order: $ref (alone: a shared node, so recursion
// is a cycle in the node graph; with siblings: allOf of the target and the siblings),
// allOf (parts merged into one schema: properties united with per-key allOf, required
// united, bounds tightened, types intersected, enums intersected, anyOf crossed; a
// conflict it cannot express, such as two patterns, is kUnsupported), anyOf/oneOf (the
// siblings are merged into every branch), enum/const (values kept only if they validate
// against the siblings), nullable, type arrays, then one node per type. Without
// "type", the keywords decide (properties -> object, minLength -> string...); none
// means any JSON value.
//
// Choices where JSON Schema allows more than herd writes (output still validates):
// objects write only listed properties unless additionalProperties is true or a
// schema (then also up to max_any_items other printable-ASCII keys); an object with no
// "properties" allows any members. A required name missing from "properties" is listed
// with the additionalProperties schema (any value if that is absent or true). oneOf is
// followed as anyOf: a value matching two branches is possible when branches overlap.
//
// Annotations ($schema, $id, title, description, default, examples, $comment,
// deprecated, readOnly, writeOnly, $defs, definitions, contentEncoding,
// contentMediaType, discriminator, x-*) are always ignored.
//
// Thread safety: one compiler per compilation.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "grammar/json_grammar.h"

namespace herd::grammar {

// Fixed nodes present in every grammar.
inline constexpr int kAnyNode = 0;        // any JSON value
inline constexpr int kAnyArrayNode = 1;   // array of any values (max_any_items)
inline constexpr int kAnyObjectNode = 2;  // object with any members (max_any_items)

class SchemaCompiler {
 public:
  // `root` is the document "$ref"s resolve in; it must outlive the compiler.
  SchemaCompiler(Grammar& g, const nlohmann::json& root);

  // Adds the fixed nodes (call once per grammar, first).
  static void add_fixed_nodes(Grammar& g);
  // Compiles s (found at `path`, "" for the root) and returns its node.
  Result<int> compile(const nlohmann::json& s, const std::string& path);
  // Computes min depths over the whole graph and checks it: no $ref cycle that reads no
  // input, and `root` has a finite value. Call once, after the last compile().
  Status finish(int root);
  // Where the last error was found (".properties.x.pattern").
  const std::string& error_path() const { return error_path_; }
  int add(Node n);

 private:
  using Json = nlohmann::json;
  Result<int> compile_at(const Json& s, const std::string& path, int depth);
  Result<int> compile_typed(const Json& s, const std::string& type, const std::string& path, int depth);
  Result<int> ref_node(const std::string& ref, const std::string& path, int depth);
  Result<Json> check_keywords(const Json& s, const std::string& path);
  Result<Json> prepare_part(const Json& part, const std::string& path, int depth);
  Result<Json> merge_all(const Json& s, const std::string& path, int depth);
  Result<Json> merge(Json a, const Json& b, const std::string& path);
  int literals(std::vector<std::string> texts);
  int unsat(const std::string& path, const std::string& why);
  Error unsupported(const std::string& path, const std::string& what);
  Error invalid(const std::string& path, const std::string& what);

  Grammar& g_;
  const Json& root_;
  std::map<std::string, int> refs_;  // "$ref" text -> its node
  std::string error_path_;
  std::string unsat_path_, unsat_why_;  // the first unsatisfiable subschema seen
  int steps_ = 0;                        // compile_at calls so far (Options::max_compile_steps)
  std::chrono::steady_clock::time_point start_;  // for Options::max_compile_ms
};

}  // namespace herd::grammar
