// See regex.h. Parse -> AST -> Thompson NFA over bytes -> DFA over byte classes ->
// dead-state trim -> per-state completion lengths.
#include "grammar/regex.h"

#include <algorithm>
#include <bitset>
#include <map>

namespace herd::grammar {
namespace {

using Bytes = std::bitset<256>;

// A set of characters: ASCII members, explicit non-ASCII code points, and optionally
// every BMP non-ASCII code point except U+2028/U+2029 (see regex.h).
struct CharSet {
  std::bitset<128> ascii;
  std::vector<uint32_t> cps;
  bool non_ascii = false;
  bool has_space_class = false;  // \s was used (its non-ASCII members are not modelled)
};

struct Ast {
  enum Kind { kEmpty, kChars, kSeq, kAlt, kRepeat } kind = kEmpty;
  CharSet chars;
  std::vector<Ast> kids;
  int min = 0, max = -1;  // kRepeat; max -1: unbounded
};

Ast make_chars(CharSet c) {
  Ast a;
  a.kind = Ast::kChars;
  a.chars = std::move(c);
  return a;
}

CharSet any_char() {
  CharSet c;
  c.ascii.set();
  c.non_ascii = true;
  return c;
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  Result<Ast> parse() {
    // Top level: alternatives, each with its own anchors.
    Ast top;
    top.kind = Ast::kAlt;
    for (;;) {
      bool start_anchor = false, end_anchor = false;
      if (peek() == '^') {
        ++i_;
        start_anchor = true;
      }
      Result<Ast> seq = parse_seq(/*top=*/true, &end_anchor);
      if (!seq) return seq.error();
      Ast wrapped;
      wrapped.kind = Ast::kSeq;
      Ast star;
      star.kind = Ast::kRepeat;
      star.kids.push_back(make_chars(any_char()));
      if (!start_anchor) wrapped.kids.push_back(star);
      wrapped.kids.push_back(std::move(*seq));
      if (!end_anchor) wrapped.kids.push_back(star);
      top.kids.push_back(std::move(wrapped));
      if (at_end()) break;
      if (peek() == '|') {
        ++i_;
        continue;
      }
      return unsupported("unbalanced ')'");
    }
    return top;
  }

 private:
  bool at_end() const { return i_ >= p_.size(); }
  char peek() const { return at_end() ? '\0' : p_[i_]; }
  Error unsupported(const std::string& what) const {
    return Error(ErrorCode::kUnsupported, "pattern \"" + std::string(p_) + "\": " + what + " at offset " +
                                              std::to_string(i_) + " is not supported");
  }

  // One UTF-8 code point from the pattern.
  uint32_t next_cp() {
    const uint8_t c = static_cast<uint8_t>(p_[i_++]);
    if (c < 0x80) return c;
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    uint32_t cp = c & (0x3F >> n);
    for (; n > 0 && !at_end(); --n) cp = (cp << 6) | (static_cast<uint8_t>(p_[i_++]) & 0x3F);
    return cp;
  }

  Result<Ast> parse_alt() {
    Ast alt;
    alt.kind = Ast::kAlt;
    for (;;) {
      bool dummy = false;
      Result<Ast> s = parse_seq(false, &dummy);
      if (!s) return s.error();
      alt.kids.push_back(std::move(*s));
      if (peek() != '|') break;
      ++i_;
    }
    return alt;
  }

  Result<Ast> parse_seq(bool top, bool* end_anchor) {
    Ast seq;
    seq.kind = Ast::kSeq;
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (peek() == '$') {
        ++i_;
        if (top && (at_end() || peek() == '|')) {
          *end_anchor = true;
          break;
        }
        --i_;
        return unsupported("'$' not at the end of the pattern");
      }
      if (peek() == '^') return unsupported("'^' not at the start of the pattern");
      Result<Ast> atom = parse_atom();
      if (!atom) return atom.error();
      Result<Ast> q = parse_quantifier(std::move(*atom));
      if (!q) return q.error();
      seq.kids.push_back(std::move(*q));
    }
    return seq;
  }

  // {m}, {m,}, {m,n} at i_ (which is at '{'); false (i_ unchanged) if not a quantifier.
  bool parse_braces(int* mn, int* mx) {
    size_t k = i_ + 1;
    auto num = [&](int* out) {
      const size_t s = k;
      long v = 0;
      while (k < p_.size() && p_[k] >= '0' && p_[k] <= '9') {
        v = std::min<long>(v * 10 + (p_[k] - '0'), 1000000);
        ++k;
      }
      *out = static_cast<int>(v);
      return k > s;
    };
    if (!num(mn)) return false;
    *mx = *mn;
    if (k < p_.size() && p_[k] == ',') {
      ++k;
      *mx = -1;
      if (k < p_.size() && p_[k] != '}' && !num(mx)) return false;
    }
    if (k >= p_.size() || p_[k] != '}') return false;
    i_ = k + 1;
    return true;
  }

  Result<Ast> parse_quantifier(Ast atom) {
    for (;;) {
      int mn = 0, mx = -1;
      const char c = peek();
      if (c == '*') {
        ++i_;
      } else if (c == '+') {
        ++i_;
        mn = 1;
      } else if (c == '?') {
        ++i_;
        mx = 1;
      } else if (c == '{' && parse_braces(&mn, &mx)) {
        if (mn > 1000 || mx > 1000) return unsupported("a repetition count over 1000");
        if (mx >= 0 && mx < mn) return unsupported("{m,n} with n < m");
      } else {
        return atom;
      }
      if (peek() == '?') ++i_;  // lazy: same language
      Ast r;
      r.kind = Ast::kRepeat;
      r.min = mn;
      r.max = mx;
      r.kids.push_back(std::move(atom));
      atom = std::move(r);
    }
  }

  Result<Ast> parse_atom() {
    const char c = peek();
    if (c == '(') {
      ++i_;
      if (peek() == '?') {
        ++i_;
        const char k = peek();
        if (k == ':') {
          ++i_;
        } else if (k == '<' && i_ + 1 < p_.size() && p_[i_ + 1] != '=' && p_[i_ + 1] != '!') {
          const size_t close = p_.find('>', i_);
          if (close == std::string_view::npos) return unsupported("an unterminated group name");
          i_ = close + 1;
        } else {
          return unsupported("lookaround or a (? group");
        }
      }
      Result<Ast> inner = parse_alt();
      if (!inner) return inner.error();
      if (peek() != ')') return unsupported("an unterminated group");
      ++i_;
      return inner;
    }
    if (c == '[') return parse_class();
    if (c == '.') {
      ++i_;
      CharSet s = any_char();
      s.ascii.reset('\n');
      s.ascii.reset('\r');
      return make_chars(s);
    }
    if (c == '*' || c == '+' || c == '?') return unsupported("a quantifier with nothing to repeat");
    if (c == '\\') {
      CharSet s;
      Result<bool> e = parse_escape(/*in_class=*/false, &s);
      if (!e) return e.error();
      return make_chars(s);
    }
    CharSet s;
    const uint32_t cp = next_cp();
    if (cp < 0x80) s.ascii.set(cp);
    else s.cps.push_back(cp);
    return make_chars(s);
  }

  // At '\\': adds the escape's characters to *s. Returns true for a single character
  // (usable as a range end), false for a class escape (\d...).
  Result<bool> parse_escape(bool in_class, CharSet* s) {
    ++i_;
    if (at_end()) return unsupported("a trailing backslash");
    const char e = p_[i_++];
    auto add_range = [&](char a, char b) {
      for (int x = a; x <= b; ++x) s->ascii.set(static_cast<size_t>(x));
    };
    auto complement_into = [&](const std::bitset<128>& pos, bool non_ascii) {
      s->ascii |= ~pos;
      s->non_ascii = s->non_ascii || non_ascii;
    };
    std::bitset<128> tmp;
    switch (e) {
      case 'd': add_range('0', '9'); return false;
      case 'w': add_range('a', 'z'); add_range('A', 'Z'); add_range('0', '9'); s->ascii.set('_'); return false;
      case 's':
        for (char x : {'\t', '\n', '\v', '\f', '\r', ' '}) s->ascii.set(static_cast<size_t>(x));
        s->has_space_class = true;
        return false;
      case 'D':
        for (int x = '0'; x <= '9'; ++x) tmp.set(static_cast<size_t>(x));
        complement_into(tmp, true);
        return false;
      case 'W':
        for (int x = 'a'; x <= 'z'; ++x) tmp.set(static_cast<size_t>(x));
        for (int x = 'A'; x <= 'Z'; ++x) tmp.set(static_cast<size_t>(x));
        for (int x = '0'; x <= '9'; ++x) tmp.set(static_cast<size_t>(x));
        tmp.set('_');
        complement_into(tmp, true);
        return false;
      case 'S':
        for (char x : {'\t', '\n', '\v', '\f', '\r', ' '}) tmp.set(static_cast<size_t>(x));
        complement_into(tmp, false);
        s->has_space_class = true;
        return false;
      case 'n': s->ascii.set('\n'); return true;
      case 'r': s->ascii.set('\r'); return true;
      case 't': s->ascii.set('\t'); return true;
      case 'f': s->ascii.set('\f'); return true;
      case 'v': s->ascii.set('\v'); return true;
      case '0':
        if (!at_end() && peek() >= '0' && peek() <= '9') return unsupported("an octal escape");
        s->ascii.set(0);
        return true;
      case 'b':
        if (in_class) {
          s->ascii.set('\b');
          return true;
        }
        return unsupported("\\b (word boundary)");
      case 'x':
      case 'u': {
        const int n = e == 'x' ? 2 : 4;
        if (i_ + static_cast<size_t>(n) > p_.size()) return unsupported(std::string("a short \\") + e + " escape");
        uint32_t cp = 0;
        for (int k = 0; k < n; ++k) {
          const char h = p_[i_++];
          int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
          if (d < 0) return unsupported(std::string("a bad \\") + e + " escape");
          cp = cp * 16 + static_cast<uint32_t>(d);
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) return unsupported("a surrogate \\u escape");
        if (cp < 0x80) s->ascii.set(cp);
        else s->cps.push_back(cp);
        return true;
      }
      default:
        break;
    }
    if ((e >= '1' && e <= '9') || e == 'k') return unsupported("a backreference");
    if (e == 'B' || e == 'p' || e == 'P' || e == 'c' || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z'))
      return unsupported(std::string("the escape \\") + e);
    --i_;
    const uint32_t cp = next_cp();  // identity escape of punctuation or non-ASCII
    if (cp < 0x80) s->ascii.set(cp);
    else s->cps.push_back(cp);
    return true;
  }

  Result<Ast> parse_class() {
    ++i_;  // '['
    bool negate = false;
    if (peek() == '^') {
      negate = true;
      ++i_;
    }
    CharSet s;
    for (;;) {
      if (at_end()) return unsupported("an unterminated character class");
      if (peek() == ']') {
        ++i_;
        break;
      }
      // One member: a single character (possibly the start of a range) or a class escape.
      CharSet one;
      bool single = true;
      if (peek() == '\\') {
        Result<bool> e = parse_escape(true, &one);
        if (!e) return e.error();
        single = *e;
      } else {
        const uint32_t cp = next_cp();
        if (cp < 0x80) one.ascii.set(cp);
        else one.cps.push_back(cp);
      }
      if (single && peek() == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        CharSet hi;
        bool hi_single = true;
        if (peek() == '\\') {
          Result<bool> e = parse_escape(true, &hi);
          if (!e) return e.error();
          hi_single = *e;
        } else {
          const uint32_t cp = next_cp();
          if (cp < 0x80) hi.ascii.set(cp);
          else hi.cps.push_back(cp);
        }
        if (!hi_single) return unsupported("a range ending in a class escape");
        if (!one.cps.empty() || !hi.cps.empty()) return unsupported("a character range over non-ASCII characters");
        int a = -1, b = -1;
        for (int x = 0; x < 128; ++x) {
          if (one.ascii[static_cast<size_t>(x)]) a = x;
          if (hi.ascii[static_cast<size_t>(x)]) b = x;
        }
        if (a > b) return unsupported("a reversed character range");
        for (int x = a; x <= b; ++x) s.ascii.set(static_cast<size_t>(x));
        continue;
      }
      s.ascii |= one.ascii;
      s.cps.insert(s.cps.end(), one.cps.begin(), one.cps.end());
      s.non_ascii = s.non_ascii || one.non_ascii;
      s.has_space_class = s.has_space_class || one.has_space_class;
    }
    if (!negate) return make_chars(s);
    if (!s.cps.empty()) return unsupported("a negated class with non-ASCII members");
    CharSet n;
    n.ascii = ~s.ascii;
    n.non_ascii = !s.non_ascii && !s.has_space_class;
    return make_chars(n);
  }

  std::string_view p_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------------------------
// Thompson NFA over bytes.

struct Nfa {
  std::vector<std::vector<int>> eps;
  std::vector<std::vector<std::pair<int, int>>> tr;  // (set index, target)
  std::vector<Bytes> sets;
  std::map<std::string, int> set_ids;
  bool too_big = false;

  int state() {
    if (eps.size() > 200000) too_big = true;
    eps.emplace_back();
    tr.emplace_back();
    return static_cast<int>(eps.size()) - 1;
  }
  int set_id(const Bytes& b) {
    auto [it, fresh] = set_ids.emplace(b.to_string(), static_cast<int>(sets.size()));
    if (fresh) sets.push_back(b);
    return it->second;
  }
  void edge(int from, const Bytes& b, int to) { tr[static_cast<size_t>(from)].emplace_back(set_id(b), to); }
  static Bytes range(int lo, int hi) {
    Bytes b;
    for (int x = lo; x <= hi; ++x) b.set(static_cast<size_t>(x));
    return b;
  }

  // (start, end) for a.
  std::pair<int, int> build(const Ast& a) {
    const int s = state();
    const int e = state();
    if (too_big) return {s, e};
    switch (a.kind) {
      case Ast::kEmpty:
        eps[static_cast<size_t>(s)].push_back(e);
        break;
      case Ast::kChars: {
        Bytes asc;
        for (size_t x = 0; x < 128; ++x) asc[x] = a.chars.ascii[x];
        if (asc.any()) edge(s, asc, e);
        for (uint32_t cp : a.chars.cps) {
          uint8_t buf[4];
          int n = 0;
          if (cp < 0x800) {
            buf[n++] = static_cast<uint8_t>(0xC0 | (cp >> 6));
          } else if (cp < 0x10000) {
            buf[n++] = static_cast<uint8_t>(0xE0 | (cp >> 12));
            buf[n++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
          } else {
            buf[n++] = static_cast<uint8_t>(0xF0 | (cp >> 18));
            buf[n++] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
            buf[n++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
          }
          buf[n++] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
          int cur = s;
          for (int k = 0; k < n; ++k) {
            const int nx = k + 1 == n ? e : state();
            Bytes one;
            one.set(buf[k]);
            edge(cur, one, nx);
            cur = nx;
          }
        }
        if (a.chars.non_ascii) {
          const Bytes cont = range(0x80, 0xBF);
          const int x1 = state();
          edge(s, range(0xC2, 0xDF), x1);
          edge(x1, cont, e);
          const int y1 = state(), y2 = state();
          Bytes lead3 = range(0xE0, 0xEF);
          lead3.reset(0xE2);
          edge(s, lead3, y1);
          edge(y1, cont, y2);
          edge(y2, cont, e);
          // E2: every continuation except 80 A8 / 80 A9 (U+2028, U+2029).
          const int z1 = state(), z2 = state();
          Bytes e2;
          e2.set(0xE2);
          edge(s, e2, z1);
          edge(z1, range(0x81, 0xBF), y2);
          Bytes b80;
          b80.set(0x80);
          edge(z1, b80, z2);
          Bytes last = cont;
          last.reset(0xA8);
          last.reset(0xA9);
          edge(z2, last, e);
        }
        break;
      }
      case Ast::kSeq: {
        int cur = s;
        for (const Ast& k : a.kids) {
          auto [ks, ke] = build(k);
          eps[static_cast<size_t>(cur)].push_back(ks);
          cur = ke;
        }
        eps[static_cast<size_t>(cur)].push_back(e);
        break;
      }
      case Ast::kAlt:
        for (const Ast& k : a.kids) {
          auto [ks, ke] = build(k);
          eps[static_cast<size_t>(s)].push_back(ks);
          eps[static_cast<size_t>(ke)].push_back(e);
        }
        break;
      case Ast::kRepeat: {
        int cur = s;
        for (int k = 0; k < a.min && !too_big; ++k) {
          auto [ks, ke] = build(a.kids[0]);
          eps[static_cast<size_t>(cur)].push_back(ks);
          cur = ke;
        }
        if (a.max < 0) {
          auto [ks, ke] = build(a.kids[0]);
          eps[static_cast<size_t>(cur)].push_back(ks);
          eps[static_cast<size_t>(ke)].push_back(cur);
          eps[static_cast<size_t>(cur)].push_back(e);
        } else {
          for (int k = a.min; k < a.max && !too_big; ++k) {
            auto [ks, ke] = build(a.kids[0]);
            eps[static_cast<size_t>(cur)].push_back(ks);
            eps[static_cast<size_t>(cur)].push_back(e);
            cur = ke;
          }
          eps[static_cast<size_t>(cur)].push_back(e);
        }
        break;
      }
    }
    return {s, e};
  }
};

}  // namespace

Result<Dfa> Dfa::compile(std::string_view pattern, int max_chars) {
  Parser parser(pattern);
  Result<Ast> ast = parser.parse();
  if (!ast) return ast.error();
  Nfa nfa;
  // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
  const auto built = nfa.build(*ast);
  const auto start = built.first;
  const auto final_state = built.second;
  auto too_complex = [&] {
    return Error(ErrorCode::kUnsupported, "pattern \"" + std::string(pattern) + "\" is too complex (over " +
                                              std::to_string(kMaxStates) + " automaton states)");
  };
  if (nfa.too_big) return too_complex();

  // Byte classes: bytes no NFA set tells apart, with continuation bytes always apart
  // from the rest (a class's char weight is then uniform).
  Dfa d;
  std::array<int, 256> cls{};
  int n_cls = 1;
  std::vector<Bytes> splitters = nfa.sets;
  splitters.push_back(Nfa::range(0x80, 0xBF));
  for (const Bytes& b : splitters) {
    std::map<std::pair<int, bool>, int> remap;
    int next = 0;
    std::array<int, 256> nc{};
    for (int x = 0; x < 256; ++x) {
      auto key = std::make_pair(cls[static_cast<size_t>(x)], static_cast<bool>(b[static_cast<size_t>(x)]));
      auto [it, fresh] = remap.emplace(key, next);
      if (fresh) ++next;
      nc[static_cast<size_t>(x)] = it->second;
    }
    cls = nc;
    n_cls = next;
  }
  std::vector<int> rep(static_cast<size_t>(n_cls), -1);
  for (int x = 0; x < 256; ++x) {
    d.byte_class_[static_cast<size_t>(x)] = static_cast<uint8_t>(cls[static_cast<size_t>(x)]);
    if (rep[static_cast<size_t>(cls[static_cast<size_t>(x)])] < 0) rep[static_cast<size_t>(cls[static_cast<size_t>(x)])] = x;
  }
  d.n_classes_ = n_cls;

  // Subset construction. A DFA state is the sorted set of NFA states that have byte
  // transitions or are final, after epsilon closure.
  const size_t n_nfa = nfa.eps.size();
  std::vector<int> mark(n_nfa, -1);
  int gen = 0;
  auto closure = [&](std::vector<int> seeds) {
    ++gen;
    std::vector<int> stack = std::move(seeds), out;
    for (int s : stack) mark[static_cast<size_t>(s)] = gen;
    while (!stack.empty()) {
      const int s = stack.back();
      stack.pop_back();
      if (!nfa.tr[static_cast<size_t>(s)].empty() || s == final_state) out.push_back(s);
      for (int t : nfa.eps[static_cast<size_t>(s)])
        if (mark[static_cast<size_t>(t)] != gen) {
          mark[static_cast<size_t>(t)] = gen;
          stack.push_back(t);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  std::map<std::vector<int>, int> ids;
  std::vector<std::vector<int>> sets;
  auto intern = [&](std::vector<int> s) {
    auto [it, fresh] = ids.emplace(s, static_cast<int>(sets.size()));
    if (fresh) sets.push_back(std::move(s));
    return it->second;
  };
  intern(closure({start}));
  for (size_t k = 0; k < sets.size(); ++k) {
    if (sets.size() > static_cast<size_t>(kMaxStates)) return too_complex();
    for (int c = 0; c < n_cls; ++c) {
      const auto b = static_cast<size_t>(rep[static_cast<size_t>(c)]);
      std::vector<int> seeds;
      for (int s : sets[k])
        for (auto [set, to] : nfa.tr[static_cast<size_t>(s)])
          if (nfa.sets[static_cast<size_t>(set)][b]) seeds.push_back(to);
      int target = -1;
      if (!seeds.empty()) {
        std::sort(seeds.begin(), seeds.end());
        seeds.erase(std::unique(seeds.begin(), seeds.end()), seeds.end());
        std::vector<int> cl = closure(std::move(seeds));
        if (!cl.empty()) target = intern(std::move(cl));
      }
      d.next_.push_back(target);
    }
  }
  d.n_states_ = static_cast<int>(sets.size());
  d.accept_.assign(sets.size(), 0);
  for (size_t k = 0; k < sets.size(); ++k)
    d.accept_[k] = std::binary_search(sets[k].begin(), sets[k].end(), final_state) ? 1 : 0;

  // Completion lengths by layers: S_L = states with an accepting completion of exactly
  // L chars. A lead/ASCII byte weighs 1, a continuation byte 0.
  const int n = d.n_states_;
  std::vector<uint8_t> weight(static_cast<size_t>(n_cls));
  for (int c = 0; c < n_cls; ++c) weight[static_cast<size_t>(c)] = (rep[static_cast<size_t>(c)] & 0xC0) != 0x80;
  std::vector<std::vector<std::pair<int, int>>> preds(static_cast<size_t>(n));  // (from, weight)
  for (int s = 0; s < n; ++s)
    for (int c = 0; c < n_cls; ++c) {
      const int t = d.next_[static_cast<size_t>(s * n_cls + c)];
      if (t >= 0) preds[static_cast<size_t>(t)].emplace_back(s, weight[static_cast<size_t>(c)]);
    }
  d.max_chars_ = std::clamp(max_chars, 0, kMaxChars);
  d.words_ = (d.max_chars_ + 1 + 63) / 64;
  d.lens_.assign(static_cast<size_t>(n) * static_cast<size_t>(d.words_), 0);
  auto set_bit = [&](int s, int L) {
    uint64_t& w = d.lens_[static_cast<size_t>(s) * static_cast<size_t>(d.words_) + static_cast<size_t>(L / 64)];
    const uint64_t bit = uint64_t{1} << (L % 64);
    if (w & bit) return false;
    w |= bit;
    return true;
  };
  std::vector<int> layer, next_layer;
  for (int s = 0; s < n; ++s)
    if (d.accept_[static_cast<size_t>(s)]) layer.push_back(s);
  for (int L = 0; L <= d.max_chars_; ++L) {
    // Close the layer under weight-0 predecessors, setting bit L.
    std::vector<int> work;
    for (int s : layer)
      if (set_bit(s, L)) work.push_back(s);
    std::vector<int> members = work;
    while (!work.empty()) {
      const int t = work.back();
      work.pop_back();
      for (auto [s, w] : preds[static_cast<size_t>(t)])
        if (w == 0 && set_bit(s, L)) {
          work.push_back(s);
          members.push_back(s);
        }
    }
    next_layer.clear();
    for (int t : members)
      for (auto [s, w] : preds[static_cast<size_t>(t)])
        if (w == 1) next_layer.push_back(s);
    std::sort(next_layer.begin(), next_layer.end());
    next_layer.erase(std::unique(next_layer.begin(), next_layer.end()), next_layer.end());
    layer.swap(next_layer);
    if (layer.empty()) break;
  }
  // Trim: transitions into states with no completion at all become -1.
  std::vector<uint8_t> live(static_cast<size_t>(n), 0);
  for (int s = 0; s < n; ++s)
    for (int w = 0; w < d.words_; ++w)
      if (d.lens_[static_cast<size_t>(s) * static_cast<size_t>(d.words_) + static_cast<size_t>(w)]) live[static_cast<size_t>(s)] = 1;
  for (int32_t& t : d.next_)
    if (t >= 0 && !live[static_cast<size_t>(t)]) t = -1;
  return d;
}

bool Dfa::can_finish(int state, int lo, int hi) const {
  lo = std::max(lo, 0);
  hi = std::min(hi, max_chars_);
  if (lo > hi) return false;
  const uint64_t* w = &lens_[static_cast<size_t>(state) * static_cast<size_t>(words_)];
  for (int k = lo / 64; k <= hi / 64; ++k) {
    uint64_t m = w[k];
    if (k == lo / 64) m &= ~uint64_t{0} << (lo % 64);
    if (k == hi / 64 && hi % 64 != 63) m &= (uint64_t{1} << (hi % 64 + 1)) - 1;
    if (m) return true;
  }
  return false;
}

bool Dfa::matches(std::string_view text) const {
  int s = start();
  for (char c : text) {
    s = step(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  return accepting(s);
}

const char* format_pattern(std::string_view format) {
  // Dates: days 01-28 in every month, 29-30 except February, 31 in the long months.
#define HERD_DATE "\\d{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
#define HERD_TIME "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,6})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)"
  if (format == "date") return "^" HERD_DATE "$";
  if (format == "time") return "^" HERD_TIME "$";
  if (format == "date-time") return "^" HERD_DATE "T" HERD_TIME "$";
#undef HERD_DATE
#undef HERD_TIME
  if (format == "uuid") return "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
  if (format == "email")
    return "^[A-Za-z0-9_+-]+(?:\\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?\\.)+[A-Za-z]{2,12}$";
  if (format == "ipv4") return "^(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$";
  if (format == "hostname")
    return "^[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?)*$";
  return nullptr;
}

}  // namespace herd::grammar
