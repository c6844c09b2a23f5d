// Reading training data files line by line (JSONL): each line limited to
// kMaxJsonlLineBytes before it is read into memory (limit before reading), and
// its number kept for the error messages that name file and line. Shared by
// the SFT (sft_data.h) and preference (pref_data.h) loaders.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace herd::train {

// A line of training data longer than this is refused (the longest useful
// example, 128K tokens, is well under 1 MB of text).
constexpr size_t kMaxJsonlLineBytes = size_t{16} << 20;

// Calls fn(line, n) for every line of `path` that holds more than blanks (n:
// 1-based); an error from fn stops the reading and is returned. Errors: the
// file cannot be opened, a line longer than kMaxJsonlLineBytes (naming it).
// Returns the number of lines read.
Result<int64_t> for_each_jsonl_line(const std::string& path, const char* what,
                                    const std::function<Status(const std::string& line, int64_t n)>& fn);

// An error about the line at `where` ("data.jsonl:12"): kInvalidArgument, "where: what".
Error line_error(const std::string& where, const std::string& what);

// The line as JSON: refused when nested deeper than base/json_depth.h allows
// (checked before parsing) or not JSON, naming `where`.
Result<nlohmann::json> parse_jsonl_line(const std::string& line, const std::string& where);

}  // namespace herd::train
