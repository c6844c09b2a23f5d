// libFuzzer target for the YAML subset reader (yaml_subset.h): arbitrary
// bytes either are refused with an error or give a JSON value that (a) dumps
// (valid UTF-8 strings), (b) is nested no deeper than kMaxYamlDepth + 1
// containers, and (c) reads back to itself from its dump. A crash, a
// sanitizer report, an exception or a violation aborts.
//
// Seeds: tests/fuzz_seeds/yaml_subset_fuzz/ (a posttrain recipe, sequences,
// quoting). Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and
// UBSan; run by tools/run_fuzz.sh.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "formats/yaml_subset.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "yaml_subset_fuzz: %s\n", what);
  std::abort();
}

// The containers' nesting depth, by an explicit stack.
int depth(const nlohmann::ordered_json& root) {
  int most = 0;
  std::vector<std::pair<const nlohmann::ordered_json*, int>> st{{&root, 0}};
  while (!st.empty()) {
    const auto [j, d] = st.back();
    st.pop_back();
    if (!j->is_structured()) continue;
    most = std::max(most, d + 1);
    for (const auto& c : *j) st.emplace_back(&c, d + 1);
  }
  return most;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  herd::Result<nlohmann::ordered_json> j = herd::formats::parse_yaml_subset(text, "fuzz.yaml");
  if (!j.has_value()) return 0;
  if (depth(*j) > herd::formats::kMaxYamlDepth + 1) fail("accepted nesting beyond the bound");
  try {
    const std::string dumped = j->dump();
    if (nlohmann::ordered_json::parse(dumped) != *j) fail("the value does not read back from its JSON");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "yaml_subset_fuzz: %s\n", e.what());
    std::abort();
  }
  return 0;
}
