// JSONL line reading for training data (jsonl_lines.h).
#include "train/jsonl_lines.h"

#include <fstream>

#include "base/json_depth.h"

namespace herd::train {
namespace {

// One line (without its '\n') of at most kMaxJsonlLineBytes into `line`;
// false at the end of the file. *too_long: the line was longer (its rest is skipped).
bool read_line(std::istream& in, std::string& line, bool* too_long) {
  line.clear();
  *too_long = false;
  std::streambuf* sb = in.rdbuf();
  bool any = false;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) return any;
    any = true;
    if (c == '\n') return true;
    if (line.size() < kMaxJsonlLineBytes)
      line.push_back(static_cast<char>(c));
    else
      *too_long = true;
  }
}

}  // namespace

Result<int64_t> for_each_jsonl_line(const std::string& path, const char* what,
                                    const std::function<Status(const std::string& line, int64_t n)>& fn) {
  std::ifstream in(path);
  if (!in) return err(ErrorCode::kNotFound, "%s: cannot open the %s", path.c_str(), what);
  std::string line;
  int64_t n = 0;
  bool too_long = false;
  while (read_line(in, line, &too_long)) {
    ++n;
    if (too_long)
      return err(ErrorCode::kInvalidArgument, "%s:%lld: the line is longer than %zu MiB", path.c_str(),
                 static_cast<long long>(n), kMaxJsonlLineBytes >> 20);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    HERD_TRY(fn(line, n));
  }
  return n;
}

Error line_error(const std::string& where, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, where + ": " + what);
}

Result<nlohmann::json> parse_jsonl_line(const std::string& line, const std::string& where) {
  if (!json_depth_within(line))
    return line_error(where, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return line_error(where, std::string("not JSON: ") + e.what());
  }
}

}  // namespace herd::train
