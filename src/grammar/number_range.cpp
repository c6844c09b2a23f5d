// See number_range.h.
#include "grammar/number_range.h"

#include <algorithm>
#include <string>

namespace herd::grammar {
namespace {

constexpr int kScaleDigits = NumberRange::kFracDigits;

Int128 pow10(int e) {
  Int128 r = 1;
  for (int i = 0; i < e; ++i) r *= 10;
  return r;
}

const Int128 kScale = pow10(kScaleDigits);
// Beyond every value herd writes (|v| < 10^15): "no bound".
const Int128 kFar = pow10(16 + kScaleDigits);

// v * 10^9 rounded down (up=false) or up, for a JSON number v, from its decimal text;
// clamped to +-kFar.
Int128 scaled(const nlohmann::json& v, bool up) {
  std::string t;
  if (v.is_number_unsigned()) t = std::to_string(v.get<uint64_t>());
  else if (v.is_number_integer()) t = std::to_string(v.get<int64_t>());
  else t = v.dump();
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && t[i] == '-') {
    neg = true;
    ++i;
  }
  Int128 digits = 0;
  int n_digits = 0, frac = 0;
  bool in_frac = false;
  for (; i < t.size() && t[i] != 'e' && t[i] != 'E'; ++i) {
    if (t[i] == '.') {
      in_frac = true;
      continue;
    }
    if (digits == 0 && t[i] == '0') {
      if (in_frac) ++frac;
      continue;
    }
    if (n_digits < 30) {
      digits = digits * 10 + (t[i] - '0');
      ++n_digits;
      if (in_frac) ++frac;
    } else if (!in_frac) {
      --frac;  // a digit dropped before the point scales by 10
    }
  }
  int exp10 = 0;
  if (i < t.size()) exp10 = std::atoi(t.c_str() + i + 1);
  if (digits == 0) return 0;
  const int e = exp10 - frac + kScaleDigits;
  Int128 mag;
  bool inexact = false;
  if (e >= 0) {
    if (n_digits + e > 30) return neg ? -kFar : kFar;
    mag = digits * pow10(e);
  } else if (-e > 36) {
    mag = 0;
    inexact = true;
  } else {
    const Int128 p = pow10(-e);
    mag = digits / p;
    inexact = digits % p != 0;
  }
  mag = std::min(mag, kFar);
  // floor/ceil of sign * (mag + fraction).
  if (!neg) return mag + ((up && inexact) ? 1 : 0);
  return -mag - ((!up && inexact) ? 1 : 0);
}

}  // namespace

Result<NumberRange> NumberRange::from_schema(const nlohmann::json& s, bool integer, const std::string& path,
                                             bool* any) {
  NumberRange r;
  r.integer_ = integer;
  r.lo_ = -kFar;
  r.hi_ = kFar;
  *any = false;
  auto bool_flag = [&](const char* k) {
    auto it = s.find(k);
    return it != s.end() && it->is_boolean() && it->get<bool>();
  };
  const bool ex_min_draft4 = bool_flag("exclusiveMinimum");
  const bool ex_max_draft4 = bool_flag("exclusiveMaximum");
  for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
    auto it = s.find(k);
    if (it == s.end() || it->is_boolean()) continue;
    if (!it->is_number())
      return Error(ErrorCode::kInvalidArgument, "schema" + path + "." + k + ": expected a number");
    *any = true;
    const std::string key = k;
    const nlohmann::json& v = *it;
    if (key == "minimum") {
      r.lo_ = std::max(r.lo_, ex_min_draft4 ? scaled(v, false) + 1 : scaled(v, true));
    } else if (key == "exclusiveMinimum") {
      r.lo_ = std::max(r.lo_, scaled(v, false) + 1);
    } else if (key == "maximum") {
      r.hi_ = std::min(r.hi_, ex_max_draft4 ? scaled(v, true) - 1 : scaled(v, false));
    } else {
      r.hi_ = std::min(r.hi_, scaled(v, true) - 1);
    }
  }
  if (!*any) return r;
  bool some = false;
  for (int neg = 0; neg < 2 && !some; ++neg) {
    NumPrefix p;
    p.neg = neg != 0;
    some = r.feasible(p);
  }
  for (uint64_t d = 0; d <= 9 && !some; ++d) {
    NumPrefix p;
    p.int_digits = 1;
    p.int_value = d;
    some = r.feasible(p);
  }
  if (!some)
    return Error(ErrorCode::kInvalidArgument,
                 "schema" + path + ": no " + (integer ? "integer" : "number") +
                     " satisfies minimum/maximum (herd writes at most 15 integer digits)");
  return r;
}

bool NumberRange::some_multiple(bool neg, Int128 a, Int128 b, Int128 grid) const {
  Int128 lo = neg ? -b : a, hi = neg ? -a : b;
  lo = std::max(lo, lo_);
  hi = std::min(hi, hi_);
  if (lo > hi) return false;
  Int128 q = lo / grid;
  if (lo > 0 && lo % grid != 0) ++q;
  return q * grid <= hi;
}

bool NumberRange::feasible(const NumPrefix& p) const {
  if (p.int_digits == 0) {
    for (uint64_t d = 0; d <= 9; ++d) {
      NumPrefix q = p;
      q.int_digits = 1;
      q.int_value = d;
      if (feasible(q)) return true;
    }
    return false;
  }
  const Int128 m = static_cast<Int128>(p.int_value);
  if (!p.dot) {
    if (p.int_value == 0) return integer_ ? some_multiple(p.neg, 0, 0, kScale) : some_multiple(p.neg, 0, kScale - 1, 1);
    for (int j = 0; p.int_digits + j <= kMaxIntDigits; ++j) {
      const Int128 a = m * pow10(j) * kScale;
      const Int128 b = (m + 1) * pow10(j) * kScale - 1;
      const int r = integer_ ? 0 : std::min(kFracDigits, kMaxSignificant - (p.int_digits + j));
      if (some_multiple(p.neg, a, b, pow10(kFracDigits - r))) return true;
    }
    return false;
  }
  const int k_eff = p.int_value == 0 ? 0 : p.int_digits;
  const int n = p.frac_digits;
  const int r = std::min(kFracDigits - n, kMaxSignificant - k_eff - n);
  if (r < 0 || (n == 0 && r < 1)) return false;
  const Int128 base = m * kScale + static_cast<Int128>(p.frac_value) * pow10(kFracDigits - n);
  const Int128 grid = pow10(kFracDigits - n - r);
  return some_multiple(p.neg, base, base + (pow10(r) - 1) * grid, grid);
}

bool NumberRange::contains(const NumPrefix& p) const {
  if (p.int_digits == 0 || (p.dot && p.frac_digits == 0)) return false;
  Int128 v = static_cast<Int128>(p.int_value) * kScale +
             static_cast<Int128>(p.frac_value) * pow10(kFracDigits - p.frac_digits);
  if (p.neg) v = -v;
  return v >= lo_ && v <= hi_;
}

}  // namespace herd::grammar
