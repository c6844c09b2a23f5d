// Regular expressions for JSON Schema "pattern" and "format": an ECMA-262 subset
// compiled into a byte-level DFA that runs inside a JSON string (json_grammar.h).
//
// Design source: Thompson's construction + subset construction (the textbook NFA -> DFA
// route, as RE2 and llguidance's derivre do lazily; here eagerly, with a state cap),
// over byte classes so a state has one transition per class rather than 256.
//
// Supported: literals (any UTF-8 text), '.', classes [a-z0-9_] and [^...] with escapes,
// \d \w \s \D \W \S, \n \r \t \f \v \0 \xHH \uHHHH and escaped punctuation, groups
// ( ) (?: ) (?<name> ), alternation |, quantifiers ? * + {m} {m,} {m,n} (a trailing ?
// for laziness is accepted: it does not change the language), anchors ^ and $ at the
// start/end of a top-level alternative. Not supported (kUnsupported, naming the
// construct): backreferences, lookaround, \b \B, \p{..}, anchors elsewhere, ranges over
// non-ASCII characters, repetition counts over 1000, patterns needing over kMaxStates
// DFA states.
//
// Semantics: JSON Schema patterns are unanchored (a match anywhere), so an alternative
// without ^ gets any text in front and one without $ any text after. One regex "char"
// is one code point. Where ECMAScript's meaning is not expressible exactly on bytes the
// DFA accepts a subset, never more: '.', [^...], \D and \W match ASCII (less the
// excluded) and BMP non-ASCII code points except U+2028/U+2029 (no 4-byte sequences, so
// the match is the same with or without the 'u' flag); \s and \S are ASCII-only
// (\t\n\v\f\r and space), and [^...] holding \s matches no non-ASCII character. The DFA
// does not check UTF-8 validity itself (the string automaton does); its non-ASCII paths
// are lead byte + the right number of continuation bytes.
//
// Lengths: compile() also tabulates, per state, which completion lengths (in code
// points, up to max_chars) reach an accepting state, so a string automaton can refuse a
// byte that would make minLength/maxLength unreachable (no dead ends).
//
// Thread safety: a Dfa is immutable after compile().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::grammar {

class Dfa {
 public:
  static constexpr int kMaxStates = 4096;
  static constexpr int kMaxChars = 4096;  // longest length tabulated

  // Compiles `pattern` (search semantics as above); lengths tabulated up to max_chars.
  static Result<Dfa> compile(std::string_view pattern, int max_chars);

  int start() const { return 0; }
  // The next state after byte b, or -1 (no match possible any more).
  int step(int state, uint8_t b) const {
    return next_[static_cast<size_t>(state) * static_cast<size_t>(n_classes_) + byte_class_[b]];
  }
  bool accepting(int state) const { return accept_[static_cast<size_t>(state)] != 0; }
  // Some completion of length L (code points) with lo <= L <= hi reaches an accepting
  // state from `state`.
  bool can_finish(int state, int lo, int hi) const;
  int n_states() const { return n_states_; }
  // True when the whole of text matches (search semantics already applied).
  bool matches(std::string_view text) const;

 private:
  int n_states_ = 0;
  int n_classes_ = 0;
  std::array<uint8_t, 256> byte_class_{};
  std::vector<int32_t> next_;    // [state * n_classes + class]
  std::vector<uint8_t> accept_;  // [state]
  int max_chars_ = 0;
  int words_ = 0;                // 64-bit words per length set
  std::vector<uint64_t> lens_;   // [state * words]: bit L set: a completion of L chars
};

// The pattern herd uses for a JSON Schema "format" (date, time, date-time, uuid, email,
// ipv4, hostname), or nullptr for a format it does not know. Each accepts a subset of
// what the format's RFC (and ajv-formats' "full" mode) accepts: e.g. dates never use
// February 29, times always carry a zone.
const char* format_pattern(std::string_view format);

}  // namespace herd::grammar
