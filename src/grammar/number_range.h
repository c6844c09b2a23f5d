// NumberRange: JSON Schema minimum / maximum / exclusiveMinimum / exclusiveMaximum for
// "integer" and "number", enforced digit by digit while a number is generated.
//
// Instead of llama.cpp's generated digit rules, the automaton keeps the number typed so
// far (sign, integer part, fraction) and asks feasible(): is there a completion whose
// value lies in the range? The answer is exact for the numbers herd writes when a range
// is set: no exponent, at most 15 integer digits, at most kFracDigits fraction digits and
// at most 15 significant digits in all (so every value herd writes survives a round
// trip through a double, and comparing the double with the bound gives the same answer
// as comparing the decimals, as a validator does). Values are integers scaled by
// 10^kFracDigits in __int128: 10^15 * 10^9 fits with room to spare.
//
// Bounds are read from the schema's JSON numbers exactly (the shortest decimal text of
// a double, not its binary value), then rounded inward onto the 10^-9 grid.
//
// Thread safety: immutable after construction.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace herd::grammar {

using Int128 = __int128;

// The number typed so far.
struct NumPrefix {
  bool neg = false;
  int int_digits = 0;     // 0: only '-' so far
  uint64_t int_value = 0;
  bool dot = false;
  int frac_digits = 0;
  uint32_t frac_value = 0;
};

class NumberRange {
 public:
  static constexpr int kFracDigits = 9;
  static constexpr int kMaxIntDigits = 15;
  static constexpr int kMaxSignificant = 15;

  // From a schema object's keywords (draft 4 boolean exclusives and draft 6+ numeric
  // ones). *any is false when the schema sets no bound (then no NumberRange is needed).
  // Errors: a bound that is not a number; an empty range.
  static Result<NumberRange> from_schema(const nlohmann::json& s, bool integer, const std::string& path, bool* any);

  bool integer() const { return integer_; }
  // Some completion of p (p non-empty) is a number in range.
  bool feasible(const NumPrefix& p) const;
  // p itself, as a finished number, is in range.
  bool contains(const NumPrefix& p) const;

 private:
  bool some_multiple(bool neg, Int128 a, Int128 b, Int128 grid) const;
  bool integer_ = false;
  Int128 lo_ = 0, hi_ = 0;  // scaled, inclusive
};

}  // namespace herd::grammar
