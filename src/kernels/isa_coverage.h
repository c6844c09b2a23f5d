// Test support: which ISAs a test binary ran and which it skipped, so that a kernel
// path cannot go untested without anyone knowing.
//
//   HERD_ISA_OR_SKIP(isa)   in a parameterized test's SetUp or body: records the ISA
//                           as run, or skips the test (GTEST_SKIP) naming why;
//   isa_runs_here(isa)      in a loop over all_isas(): true to run it, false (recorded
//                           as skipped) to `continue`.
// HERD_REQUIRE_ISAS=avx2,avx512,... (or "host": every ISA this CPU reports) turns a
// skip of a listed ISA into a test failure; tools/test.sh sets it from the CPU flags,
// so a host that has an ISA must run it. At exit the binary prints one line,
// "ISA coverage: ran [...] skipped [...]", and appends it to $HERD_ISA_REPORT if set.
//
// Header-only; for test binaries (it includes gtest). Not thread-safe: call it from
// the test thread.
#pragma once

#include <gtest/gtest.h>

#include <errno.h>  // program_invocation_short_name

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"

namespace herd::kernels {

struct IsaCoverage {
  std::set<std::string> ran, skipped;
  static IsaCoverage& get() {
    static IsaCoverage* c = [] {
      auto* p = new IsaCoverage;
      std::atexit([] { get().report(); });
      return p;
    }();
    return *c;
  }
  void report() const {
    auto list = [](const std::set<std::string>& s) {
      std::string out;
      for (const std::string& isa : all_isas())
        if (s.count(isa)) out += (out.empty() ? "" : ",") + isa;
      return out;
    };
    std::set<std::string> only_skipped;
    for (const std::string& s : skipped)
      if (!ran.count(s)) only_skipped.insert(s);
    const std::string line = std::string(program_invocation_short_name) + ": ISA coverage: ran [" + list(ran) + "] skipped [" + list(only_skipped) + "]";
    std::printf("%s\n", line.c_str());
    if (const char* f = std::getenv("HERD_ISA_REPORT"); f != nullptr && *f) {
      if (FILE* out = std::fopen(f, "a")) {
        std::fprintf(out, "%s\n", line.c_str());
        std::fclose(out);
      }
    }
  }
};

// True when HERD_REQUIRE_ISAS names isa ("host": every ISA this CPU supports).
inline bool isa_required(const std::string& isa) {
  const char* env = std::getenv("HERD_REQUIRE_ISAS");
  if (env == nullptr || *env == '\0') return false;
  std::stringstream ss(env);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item == isa) return true;
    if (item == "host") {
      const std::vector<std::string> have = supported_isas();
      if (std::find(have.begin(), have.end(), isa) != have.end()) return true;
    }
  }
  return false;
}

// "" when this host runs isa, else why not (select_kernels' error).
inline std::string isa_skip_reason(const std::string& isa) {
  Result<KernelTable> t = select_kernels(isa);
  return t.has_value() ? std::string() : t.error().to_string();
}

// For loops over all_isas(): records the outcome; a required ISA that cannot run is a
// failure (the loop goes on with the others).
inline bool isa_runs_here(const std::string& isa) {
  const std::string why = isa_skip_reason(isa);
  if (why.empty()) {
    IsaCoverage::get().ran.insert(isa);
    return true;
  }
  IsaCoverage::get().skipped.insert(isa);
  if (isa_required(isa)) ADD_FAILURE() << "HERD_REQUIRE_ISAS names " << isa << " but: " << why;
  return false;
}

}  // namespace herd::kernels

#define HERD_ISA_OR_SKIP(isa)                                                                        \
  do {                                                                                               \
    const std::string herd_isa_ = (isa);                                                             \
    if (!::herd::kernels::isa_runs_here(herd_isa_)) {                                                \
      if (::herd::kernels::isa_required(herd_isa_)) return;                                          \
      GTEST_SKIP() << "this host cannot run ISA " << herd_isa_ << ": " << ::herd::kernels::isa_skip_reason(herd_isa_); \
    }                                                                                                \
  } while (0)
