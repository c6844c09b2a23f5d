// A bounded subset of YAML 1.2 for the files users write by hand (herd
// posttrain's recipes, as torchtune's and Llama Stack's configs are YAML),
// read into the same JSON value a .json file of the same content gives (keys
// in the file's order: nlohmann::ordered_json).
//
// Read: one document (an optional leading "---"); block mappings ("key:
// value", nested by indentation in spaces) and block sequences ("- item",
// also at the indentation of the key that holds them, and "- key: value"
// starting a mapping); plain, 'single-quoted' ('' is a quote) and
// "double-quoted" scalars (\" \\ \/ \n \t \r \b \f \uXXXX escapes); comments
// (# at the start of a line's content or after a space, outside quotes).
// Plain scalars take the YAML 1.2 core schema's types: null (~, null, empty),
// true/false, integers ([-+]?[0-9]+, within int64), floats
// ([-+]?(.d+|d+(.d*)?)([eE][-+]?d+)?), else strings.
//
// Refused, each with the file, line and what to write instead: tabs in
// indentation, flow collections ([..], {..}), anchors, aliases, tags, block
// scalars (| and >), complex keys (?), directives (%), a second document,
// duplicate keys, .inf/.nan (JSON holds neither), more than kMaxYamlDepth
// levels of nesting, inconsistent indentation. The parser is a loop over
// lines with an explicit stack (no recursion), linear in the input.
//
// Thread safety: a pure function.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace herd::formats {

constexpr int kMaxYamlDepth = 32;

// `where` names the input in errors ("recipe.yaml" -> "recipe.yaml:3: ...").
Result<nlohmann::ordered_json> parse_yaml_subset(std::string_view text, const std::string& where);

}  // namespace herd::formats
