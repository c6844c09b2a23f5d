// libFuzzer target for the JSON Schema regex compiler (grammar/regex.h):
// compile arbitrary bytes as a pattern. Either an error, or a DFA of at most
// kMaxStates states whose transitions stay inside the automaton when run over
// the input itself and over every single byte from each reachable state.
// A crash, a sanitizer report or an out-of-range transition aborts. The
// state cap is what keeps a hostile request's pattern from costing unbounded
// memory and time (docs/serving.md, limits).
//
// Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and UBSan; run by
// tools/run_fuzz.sh with the committed seeds of tests/fuzz_seeds/regex_fuzz/.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "grammar/regex.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "regex_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using herd::grammar::Dfa;
  const std::string_view pattern(reinterpret_cast<const char*>(data), size);
  herd::Result<Dfa> d = Dfa::compile(pattern, 16);
  if (!d.has_value()) return 0;
  const int n = d->n_states();
  if (n < 1 || n > Dfa::kMaxStates) fail("state count outside 1..kMaxStates");
  for (int s = 0; s < n; ++s)
    for (int b = 0; b < 256; ++b) {
      const int t = d->step(s, static_cast<uint8_t>(b));
      if (t < -1 || t >= n) fail("transition outside the automaton");
    }
  int s = d->start();
  for (size_t i = 0; i < size && s >= 0; ++i) s = d->step(s, data[i]);
  if (s >= 0) (void)d->accepting(s);
  return 0;
}
