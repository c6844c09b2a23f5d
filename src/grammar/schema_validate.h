// A JSON Schema validator for the keywords herd's grammar compiles (and a few more
// that are easy to check). The schema compiler uses it to keep only the enum/const
// values that satisfy the rest of their schema; tests use it as the oracle that every
// document the grammar lets through is valid.
//
// Keywords checked: $ref (to "#" or "#/..." JSON pointers in `root`), allOf, anyOf,
// oneOf (exactly one), not, const, enum, type (a string or an array; "integer" means a
// number with no fractional part), nullable, minimum, maximum, exclusiveMinimum,
// exclusiveMaximum (draft 4 booleans and draft 6 numbers), multipleOf, minLength,
// maxLength (code points), pattern (search semantics, herd's regex subset), format (the
// formats of format_pattern(); unknown formats pass), items (a schema, or an array as in
// draft 4), prefixItems, additionalItems, minItems, maxItems, uniqueItems, contains,
// properties, required, additionalProperties, minProperties, maxProperties. Other
// keywords are ignored. Numbers compare as doubles.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace herd::grammar {

// True when v is valid; otherwise false and *why (if given) names the first failure.
bool validate(const nlohmann::json& v, const nlohmann::json& schema, const nlohmann::json& root,
              std::string* why = nullptr);

// The schema a "$ref" names: "#" or a "#/a/b" JSON pointer (~0 ~1 and %xx unescaped)
// into root; nullptr when it names nothing or is another kind of reference.
const nlohmann::json* resolve_ref(const nlohmann::json& root, const std::string& ref);

}  // namespace herd::grammar
