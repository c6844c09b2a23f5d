// Tests of the pieces under the JSON grammar: the regex DFA (against std::regex as an
// independent ECMAScript implementation, on ASCII text where both agree by definition),
// the format patterns (against hand-written checks), number ranges and the validator.
#include <functional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "grammar/number_range.h"
#include "grammar/regex.h"
#include "grammar/schema_validate.h"

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

Dfa dfa(const std::string& p, int max_chars = 64) {
  Result<Dfa> d = Dfa::compile(p, max_chars);
  EXPECT_TRUE(d.has_value()) << p << ": " << (d.has_value() ? "" : d.error().to_string());
  return d.has_value() ? std::move(*d) : *Dfa::compile("", 1);
}

TEST(Regex, MatchesLikeStdRegexOnRandomAscii) {
  // Every pattern on strings over a small alphabet that exercises it; std::regex_search
  // (ECMAScript) is the oracle. Tolerance: none, the languages must be equal.
  const char* patterns[] = {
      "abc", "^abc$", "^a.c$", "^[a-c]+$", "^[^a-c]*$", "^a*b+c?$", "^(ab|cd)*$", "^a{2,3}$", "^a{2,}b$",
      "^a{3}$", "^(?:a|b)c$", "^\\d{2}-\\d+$", "^\\w+\\s\\w+$", "^[\\d.]+$", "x|^y$", "^(a|ab)(c|bcd)$",
      "^[-a]+$", "^[a\\-z]+$", "^\\.\\*$", "^(a(b(c)?)?)+$", "^$", "a|", "^[^\\s]+$", "^\\D\\W$", "b$",
      "^[0-9a-fA-F]{2,4}$", "^a+?b*?$", "^[\\]a]+$", "^\\x41\\u0042$",
  };
  const std::string alphabet = "abcdxyAB-.0123 *]\n_";
  std::mt19937 rng(7);
  for (const char* p : patterns) {
    const Dfa d = dfa(p);
    const std::regex re(p, std::regex::ECMAScript);
    int agree = 0;
    for (int k = 0; k < 3000; ++k) {
      std::string s;
      const int len = static_cast<int>(rng() % 8);
      for (int i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
      if (k < 20) s = std::string("abcdab").substr(0, static_cast<size_t>(k % 7));
      const bool want = std::regex_search(s, re);
      EXPECT_EQ(d.matches(s), want) << "pattern " << p << " on \"" << s << "\"";
      agree += d.matches(s) == want;
    }
    EXPECT_EQ(agree, 3000) << p;
  }
}

TEST(Regex, NonAsciiIsOneCharacter) {
  EXPECT_TRUE(dfa("^.$").matches("\xc3\xa9"));       // é
  EXPECT_TRUE(dfa("^.{2}$").matches("\xe2\x82\xac" "a"));  // € a
  EXPECT_FALSE(dfa("^.$").matches("\xe2\x80\xa8"));  // U+2028 is a line terminator
  EXPECT_FALSE(dfa("^.$").matches("\xf0\x9f\x98\x80"));  // non-BMP: never matched by '.'
  EXPECT_TRUE(dfa("^[^a]$").matches("\xc3\xa9"));
  EXPECT_FALSE(dfa("^\\S$").matches("\xc3\xa9"));    // \S: ASCII only (a subset, see regex.h)
  EXPECT_TRUE(dfa("^caf\xc3\xa9$").matches("caf\xc3\xa9"));
  EXPECT_TRUE(dfa("^[\xc3\xa9x]+$").matches("x\xc3\xa9"));
  EXPECT_TRUE(dfa("^(?<name>ab)+$").matches("abab"));  // named groups (std::regex lacks them)
}

TEST(Regex, UnsupportedConstructsAreNamed) {
  const char* bad[] = {"(a)\\1", "(?=a)", "(?!a)", "(?<=a)b", "\\bword", "a^b", "a$b", "[\\u00e9-\\u00ff]", "\\p{L}",
                       "a{2000}", "(ab", "[ab", "[^\\u00e9]"};
  for (const char* p : bad) {
    Result<Dfa> d = Dfa::compile(p, 16);
    ASSERT_FALSE(d.has_value()) << p;
    EXPECT_EQ(d.error().code(), ErrorCode::kUnsupported) << p;
    EXPECT_NE(d.error().message().find("not supported"), std::string::npos) << d.error().message();
  }
}

// The state cap bounds what a request's pattern can cost: "(a|b)*a(a|b){n}" needs
// 2^(n+1) DFA states (the last n+1 characters must be remembered). n = 10 fits
// kMaxStates (4096), n = 12 does not and is refused, naming the limit; nested
// counted repetition is refused by the count limit before any state is built.
TEST(Regex, StateCapRefusesExponentialPatterns) {
  Result<Dfa> fits = Dfa::compile("^(a|b)*a(a|b){10}$", 16);
  ASSERT_TRUE(fits.has_value()) << fits.error().to_string();
  EXPECT_LE(fits->n_states(), Dfa::kMaxStates);
  EXPECT_GT(fits->n_states(), 1024);  // the blow-up is real: the cap is what stops it
  for (const char* p : {"^(a|b)*a(a|b){12}$", "(a|b)*a(a|b){20}"}) {
    Result<Dfa> d = Dfa::compile(p, 16);
    ASSERT_FALSE(d.has_value()) << p;
    EXPECT_NE(d.error().message().find(std::to_string(Dfa::kMaxStates)), std::string::npos) << d.error().message();
  }
  Result<Dfa> nested = Dfa::compile("((a{1000}){1000}){1000}", 16);
  EXPECT_FALSE(nested.has_value());
}

TEST(Regex, CompletionLengths) {
  const Dfa d = dfa("^(ab)+$", 10);
  EXPECT_TRUE(d.can_finish(d.start(), 2, 2));
  EXPECT_FALSE(d.can_finish(d.start(), 3, 3));  // only even lengths
  EXPECT_TRUE(d.can_finish(d.start(), 3, 4));
  EXPECT_FALSE(d.can_finish(d.start(), 11, 20));  // beyond the tabulated maximum
  const int s = d.step(d.start(), 'a');
  EXPECT_TRUE(d.can_finish(s, 1, 1));
  EXPECT_EQ(d.step(s, 'a'), -1);
  const Dfa u = dfa("^\xc3\xa9{2}$", 4);  // two code points, four bytes
  EXPECT_TRUE(u.can_finish(u.start(), 2, 2));
  EXPECT_FALSE(u.can_finish(u.start(), 4, 4));
}

// Independent checks of the formats' meaning.
bool real_date(const std::string& s) {
  int y, m, d;
  if (s.size() != 10 || std::sscanf(s.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3) return false;
  static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m >= 1 && m <= 12 && d >= 1 && d <= (m == 2 ? (leap ? 29 : 28) : days[m - 1]);
}

TEST(Regex, FormatsAcceptOnlyRealValues) {
  const Dfa date = dfa(format_pattern("date"), 16);
  for (const char* s : {"2024-07-26", "2023-02-28", "2024-12-31", "2024-04-30"}) EXPECT_TRUE(date.matches(s)) << s;
  for (const char* s : {"2024-02-30", "2023-02-29", "2024-04-31", "2024-13-01", "2024-00-10", "24-07-26"})
    EXPECT_FALSE(date.matches(s)) << s;
  // Exhaustive over one year: every date the pattern accepts is a real date.
  for (int m = 0; m <= 13; ++m)
    for (int d = 0; d <= 32; ++d) {
      char buf[32];  // room for any int, so GCC sees no truncation
      std::snprintf(buf, sizeof buf, "2023-%02d-%02d", m, d);
      if (date.matches(buf)) {
        EXPECT_TRUE(real_date(buf)) << buf;
      }
    }
  EXPECT_TRUE(dfa(format_pattern("time"), 40).matches("23:59:59.123Z"));
  EXPECT_TRUE(dfa(format_pattern("time"), 40).matches("08:00:00+05:30"));
  EXPECT_FALSE(dfa(format_pattern("time"), 40).matches("24:00:00Z"));
  EXPECT_TRUE(dfa(format_pattern("date-time"), 40).matches("2024-07-26T10:00:00Z"));
  EXPECT_TRUE(dfa(format_pattern("uuid"), 40).matches("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(dfa(format_pattern("uuid"), 40).matches("123e4567e89b12d3a456426614174000"));
  const Dfa email = dfa(format_pattern("email"), 64);
  EXPECT_TRUE(email.matches("first.last+tag@mail.example.com"));
  for (const char* s : {"a@b", ".a@b.com", "a..b@c.com", "a@-b.com", "a b@c.com"}) EXPECT_FALSE(email.matches(s)) << s;
  // ajv-formats' "full" email regex, as the oracle for random strings the pattern accepts.
  const std::regex ajv(
      "^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+"
      "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
      std::regex::ECMAScript | std::regex::icase);
  std::mt19937 rng(3);
  auto rand_text = [&](const std::string& alpha, int lo, int hi) {
    std::string s;
    const int len = lo + static_cast<int>(rng() % static_cast<uint32_t>(hi - lo + 1));
    for (int i = 0; i < len; ++i) s += alpha[rng() % alpha.size()];
    return s;
  };
  int accepted = 0;
  for (int k = 0; k < 20000; ++k) {
    const std::string s = rand_text("ab9._+-", 1, 5) + "@" + rand_text("ab9-.", 1, 6) + "." + rand_text("ab.", 1, 3);
    if (email.matches(s)) {
      ++accepted;
      EXPECT_TRUE(std::regex_match(s, ajv)) << s;
    }
  }
  EXPECT_GT(accepted, 10);
  EXPECT_TRUE(dfa(format_pattern("ipv4"), 20).matches("192.168.0.255"));
  EXPECT_FALSE(dfa(format_pattern("ipv4"), 20).matches("256.1.1.1"));
  EXPECT_EQ(format_pattern("uri"), nullptr);
}

NumPrefix typed(const std::string& s) {
  NumPrefix p;
  size_t i = 0;
  if (i < s.size() && s[i] == '-') {
    p.neg = true;
    ++i;
  }
  for (; i < s.size() && s[i] != '.'; ++i) {
    ++p.int_digits;
    p.int_value = p.int_value * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  if (i < s.size()) {
    p.dot = true;
    for (++i; i < s.size(); ++i) {
      ++p.frac_digits;
      p.frac_value = p.frac_value * 10 + static_cast<uint32_t>(s[i] - '0');
    }
  }
  return p;
}

NumberRange range(const char* schema, bool integer) {
  bool any = false;
  Result<NumberRange> r = NumberRange::from_schema(Json::parse(schema), integer, "", &any);
  EXPECT_TRUE(r.has_value() && any) << schema;
  return *r;
}

TEST(NumberRange, FeasibleIsExact) {
  // Brute force: a prefix is feasible iff some completion with at most 3 more chars lies
  // in range (the ranges are small enough that 3 chars decide).
  const char* schemas[] = {R"({"minimum":10,"maximum":200})", R"({"minimum":-50,"maximum":-10})",
                           R"({"exclusiveMinimum":0,"maximum":7})", R"({"minimum":0.5,"exclusiveMaximum":2.25})",
                           R"({"minimum":-1.5,"maximum":-1.25})", R"({"minimum":3,"maximum":3})"};
  for (const char* sc : schemas)
    for (bool integer : {true, false}) {
      bool any = false;
      Result<NumberRange> rr = NumberRange::from_schema(Json::parse(sc), integer, "", &any);
      if (!rr.has_value()) {
        EXPECT_TRUE(integer) << sc;  // only an integer range can be empty here
        continue;
      }
      const NumberRange& r = *rr;
      const Json js = Json::parse(sc);
      auto in_range = [&](double v) {
        return (!js.contains("minimum") || v >= js["minimum"].get<double>()) &&
               (!js.contains("maximum") || v <= js["maximum"].get<double>()) &&
               (!js.contains("exclusiveMinimum") || v > js["exclusiveMinimum"].get<double>()) &&
               (!js.contains("exclusiveMaximum") || v < js["exclusiveMaximum"].get<double>());
      };
      // All valid number prefixes of up to 3 chars over "-0123456789.".
      static const std::regex kPrefix("-?(0|[1-9][0-9]*)(\\.[0-9]*)?|-");
      std::vector<std::string> texts = {""}, layer = {""};
      for (int len = 0; len < 3; ++len) {
        std::vector<std::string> next;
        for (const std::string& t : layer)
          for (char c : std::string("-0123456789.")) {
            const std::string x = t + c;
            if (std::regex_match(x, kPrefix)) next.push_back(x);
          }
        texts.insert(texts.end(), next.begin(), next.end());
        layer = next;
      }
      for (const std::string& t : texts) {
        if (t.empty() || t == "-") continue;
        if (integer && t.find('.') != std::string::npos) continue;
        const NumPrefix p = typed(t);
        // Oracle: complete with up to 3 extra chars (digits, a dot) and test the range.
        bool any_in = false, self_in = false;
        const bool complete_text = t.back() != '.' && t.back() != '-';
        if (complete_text) self_in = in_range(std::stod(t));
        // Depth-first, stopping at the first completion in range.
        std::function<bool(const std::string&, int)> reach = [&](const std::string& e, int k) {
          if (e.back() != '.' && e.back() != '-' && in_range(std::stod(e))) return true;
          if (k == 0) return false;
          for (char c : std::string("0123456789.")) {
            if (c == '.' && (integer || e.find('.') != std::string::npos || e.back() == '-')) continue;
            const std::string x = e + c;
            if (c != '.' && ((x[0] == '0' && x.size() > 1 && x[1] != '.') ||
                             (x[0] == '-' && x.size() > 2 && x[1] == '0' && x[2] != '.')))
              continue;
            if (reach(x, k - 1)) return true;
          }
          return false;
        };
        any_in = reach(t, 3);
        EXPECT_EQ(r.feasible(p), any_in) << sc << (integer ? " integer " : " number ") << "prefix " << t;
        if (complete_text) {
          EXPECT_EQ(r.contains(p), self_in) << sc << " value " << t;
        }
      }
    }
}

TEST(NumberRange, EmptyRangeIsAnError) {
  bool any = false;
  EXPECT_FALSE(NumberRange::from_schema(Json::parse(R"({"minimum":5,"maximum":1})"), true, ".x", &any).has_value());
  EXPECT_FALSE(NumberRange::from_schema(Json::parse(R"({"exclusiveMinimum":1,"exclusiveMaximum":2})"), true, "", &any).has_value());
  EXPECT_TRUE(NumberRange::from_schema(Json::parse(R"({"exclusiveMinimum":1,"exclusiveMaximum":2})"), false, "", &any).has_value());
  // Draft 4 boolean exclusives.
  const NumberRange r = range(R"({"minimum":0,"exclusiveMinimum":true,"maximum":2,"exclusiveMaximum":true})", true);
  EXPECT_TRUE(r.contains(typed("1")));
  EXPECT_FALSE(r.contains(typed("0")));
  EXPECT_FALSE(r.contains(typed("2")));
}

TEST(SchemaValidate, Keywords) {
  const Json s = Json::parse(R"({
    "$defs": {"pos": {"type": "integer", "minimum": 1}},
    "type": "object",
    "properties": {
      "n": {"$ref": "#/$defs/pos"},
      "s": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
      "o": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]},
      "t": {"prefixItems": [{"type": "string"}], "items": false}
    },
    "required": ["n"],
    "additionalProperties": false})");
  std::string why;
  EXPECT_TRUE(validate(Json::parse(R"({"n": 2, "s": "ab", "o": 10.5, "t": ["x"]})"), s, s, &why)) << why;
  EXPECT_FALSE(validate(Json::parse(R"({"n": 2, "o": 1.5e1})"), s, s, &why));  // 15.0 is an integer too: two branches
  for (const char* bad : {R"({"n": 0})", R"({"s": "a"})", R"({"n": 1, "s": "abcd"})", R"({"n": 1, "s": "A"})",
                          R"({"n": 1, "o": 12})", R"({"n": 1, "t": ["x", "y"]})", R"({"n": 1, "x": 1})"}) {
    why.clear();
    EXPECT_FALSE(validate(Json::parse(bad), s, s, &why)) << bad;
    EXPECT_FALSE(why.empty());
  }
  EXPECT_EQ(resolve_ref(s, "#/$defs/pos"), &s["$defs"]["pos"]);
  EXPECT_EQ(resolve_ref(s, "#/$defs/none"), nullptr);
  EXPECT_EQ(resolve_ref(s, "other.json#/a"), nullptr);
}

}  // namespace
}  // namespace herd::grammar
