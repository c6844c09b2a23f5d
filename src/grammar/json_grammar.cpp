// See json_grammar.h. Grammar factories and the Matcher (the pushdown automaton).
#include "grammar/json_grammar.h"

#include <algorithm>

#include "grammar/schema_compiler.h"

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

// Frame kinds and how each uses the Frame fields:
//   kValue  node; ws: whitespace so far; aux 1: no leading whitespace allowed.
//   kObj    node; phase ObjPhase; ws; aux: additional keys written; count: byte position
//           in the listed key being written; lo/hi: its candidates; aux2: the key's index
//           (-1: an additional key); used: listed keys written (bit per sorted key).
//   kArr    node; phase ArrPhase; ws; count: items started.
//   kStr    node (-1: a free string); phase StrPhase; aux: UTF-8 bytes pending or \u
//           digits read; count: code points; lo/hi: range of the next UTF-8 byte
//           (kSUnicode: lo 1 after a leading 'd'); aux2: most code points; used: DFA state.
//   kNum    node (-1: free); phase NumPhase; ws 1: '-' read; aux 1: integer; count:
//           chars; lo: integer digits; hi: exponent digits (ranged: fraction digits);
//           aux2: fraction value (ranged); used: integer value (ranged).
//   kLit    node (-2: true/false/null); count: byte position; lo/hi: candidates.
//   kTag    node; phase TagPhase; count: byte position; lo/hi: name candidates; aux2:
//           calls finished.
//   kKey    node (the object's); count: byte position (with the quote); lo/hi: listed
//           keys equal so far (lo -1: differs from all of them).
enum FrameKind : uint8_t { kValue, kObj, kArr, kStr, kNum, kLit, kTag, kKey };
enum ObjPhase : uint8_t { kOOpen, kOKey, kOColon, kOAfter, kOComma };
enum ArrPhase : uint8_t { kAOpen, kAAfter, kAComma };
enum StrPhase : uint8_t { kSClean, kSEscape, kSUnicode, kSUtf8 };
enum NumPhase : uint8_t { kNSign, kNZero, kNInt, kNDot, kNFrac, kNE, kNESign, kNExp };
enum TagPhase : uint8_t { kTName, kTSuffix, kTAfter, kTSep };

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool num_can_end(uint8_t phase) {
  return phase == kNZero || phase == kNInt || phase == kNFrac || phase == kNExp;
}

Frame make_frame(FrameKind k, int node) {
  Frame f{};
  f.kind = k;
  f.node = node;
  return f;
}

NumPrefix prefix_of(const Frame& f) {
  NumPrefix p;
  p.neg = f.ws == 1;
  p.int_digits = f.lo;
  p.int_value = f.used;
  p.dot = f.phase == kNDot || f.phase == kNFrac;
  p.frac_digits = f.hi;
  p.frac_value = static_cast<uint32_t>(f.aux2);
  return p;
}

// Narrows the sorted candidate range of f (sharing the first f.count bytes) to those
// continuing with c; false (f unchanged) unless one of them is not excluded.
bool narrow(const std::vector<std::string>& L, Frame& f, uint8_t c, uint64_t excluded) {
  const size_t pos = static_cast<size_t>(f.count);
  int nlo = -1, nhi = -1;
  bool viable = false;
  for (int i = f.lo; i < f.hi; ++i) {
    const std::string& s = L[static_cast<size_t>(i)];
    if (s.size() > pos && static_cast<uint8_t>(s[pos]) == c) {
      if (nlo < 0) nlo = i;
      nhi = i + 1;
      if (i >= 64 || !((excluded >> i) & 1)) viable = true;
    } else if (nlo >= 0) {
      break;  // sorted: the matches are contiguous
    }
  }
  if (!viable) return false;
  f.lo = nlo;
  f.hi = nhi;
  ++f.count;
  return true;
}

bool lit_complete(const std::vector<std::string>& L, const Frame& f) {
  return L[static_cast<size_t>(f.lo)].size() == static_cast<size_t>(f.count);
}

const std::vector<std::string>& word_list() {
  static const std::vector<std::string> kWords = {"false", "null", "true"};
  return kWords;
}

// The byte a simple JSON escape letter stands for; -1 for 'u' or an invalid letter.
int unescape(uint8_t e) {
  switch (e) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return -1;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------
// Grammar factories

Result<std::shared_ptr<const Grammar>> Grammar::from_schema(const nlohmann::json& schema, Options opts,
                                                            std::string* error_path) {
  auto g = std::make_shared<Grammar>();
  g->opts_ = opts;
  SchemaCompiler::add_fixed_nodes(*g);
  SchemaCompiler c(*g, schema);
  Result<int> root = c.compile(schema, "");
  Status st = root.has_value() ? c.finish(*root) : Status(root.error());
  if (!st.has_value()) {
    if (error_path) *error_path = c.error_path();
    return st.error();
  }
  g->root_ = *root;
  return std::shared_ptr<const Grammar>(g);
}

std::shared_ptr<const Grammar> Grammar::any_json(bool object_only, Options opts) {
  auto g = std::make_shared<Grammar>();
  g->opts_ = opts;
  SchemaCompiler::add_fixed_nodes(*g);
  static const Json kEmpty = Json::object();
  SchemaCompiler c(*g, kEmpty);
  g->root_ = object_only ? kAnyObjectNode : kAnyNode;
  Status st = c.finish(g->root_);
  (void)st;  // the fixed nodes always have values
  return g;
}

Result<std::shared_ptr<const Grammar>> Grammar::tool_call(const std::vector<Tool>& tools, Options opts, int max_calls,
                                                          std::string* error_tool, std::string* error_path) {
  if (tools.empty()) return Error(ErrorCode::kInvalidArgument, "no tools to call");
  auto g = std::make_shared<Grammar>();
  g->opts_ = opts;
  SchemaCompiler::add_fixed_nodes(*g);
  std::vector<std::pair<std::string, int>> entries;
  for (const Tool& t : tools) {
    g->opts_.strict = t.strict;
    SchemaCompiler c(*g, t.parameters);
    Result<int> p = c.compile(t.parameters, "");
    if (!p.has_value()) {
      if (error_tool) *error_tool = t.name;
      if (error_path) *error_path = c.error_path();
      return p.error().with_context("parameters of tool \"" + t.name + "\"");
    }
    entries.emplace_back("{\"name\": " + Json(t.name).dump() + ", \"parameters\": ", *p);
  }
  g->opts_.strict = opts.strict;
  std::sort(entries.begin(), entries.end());
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].first == entries[i - 1].first)
      return Error(ErrorCode::kInvalidArgument, "duplicate tool name in " + entries[i].first);
  Node n;
  n.kind = Node::kTagged;
  for (auto& [text, node] : entries) {
    n.lits.push_back(text);
    n.conts.push_back(node);
  }
  n.suffix = "}";
  n.sep = "; ";
  n.max_repeat = std::max(1, max_calls);
  static const Json kEmpty = Json::object();
  SchemaCompiler fin(*g, kEmpty);
  const int root = fin.add(std::move(n));
  Status st = fin.finish(root);
  for (size_t i = 0; i < entries.size() && st.has_value(); ++i) {
    const int md = g->nodes_[static_cast<size_t>(entries[i].second)].min_depth;
    if (md >= Node::kUnsat || md + 1 > g->opts_.max_nesting) {
      const std::string name = Json::parse(entries[i].first + "0}")["name"];
      if (error_tool) *error_tool = name;
      if (error_path) error_path->clear();
      return Error(ErrorCode::kInvalidArgument, "the parameters schema of tool \"" + name + "\" allows no value");
    }
  }
  if (!st.has_value()) return st.error();
  g->root_ = root;
  return std::shared_ptr<const Grammar>(g);
}

// ---------------------------------------------------------------------------------
// The automaton

Matcher::Matcher(std::shared_ptr<const Grammar> g) : g_(g.get()), hold_(std::move(g)) {
  Frame f = make_frame(kValue, g_->root());
  f.aux = 1;  // top level: no leading whitespace
  frames_.reserve(64);
  next_.reserve(64);
  frames_.push_back(f);
  ends_.push_back(1);
}

Matcher::Matcher(const Matcher& o) : g_(o.g_), hold_(o.hold_), frames_(o.frames_), ends_(o.ends_), failed_(o.failed_) {
  frames_.reserve(64);
  next_.reserve(64);
}

Matcher& Matcher::operator=(const Matcher& o) {
  if (g_ != o.g_) {
    g_ = o.g_;
    hold_ = o.hold_;
  }
  frames_.assign(o.frames_.begin(), o.frames_.end());
  ends_.assign(o.ends_.begin(), o.ends_.end());
  failed_ = o.failed_;
  return *this;
}

void Matcher::fork(int32_t node) {
  const auto begin = static_cast<uint32_t>(fork_frames_.size());
  fork_frames_.insert(fork_frames_.end(), next_.begin() + static_cast<ptrdiff_t>(base_), next_.end());
  forks_.push_back({begin, static_cast<uint32_t>(fork_frames_.size()), node});
}

void Matcher::finish_stack() {
  const size_t len = next_.size() - base_;
  uint32_t prev = 0;
  for (uint32_t e : next_ends_) {
    if (e - prev == len && std::equal(next_.begin() + prev, next_.begin() + e, next_.begin() + static_cast<ptrdiff_t>(base_))) {
      next_.resize(base_);
      return;
    }
    prev = e;
  }
  if (next_ends_.size() >= static_cast<size_t>(g_->options().max_stacks)) {
    next_.resize(base_);
    return;
  }
  next_ends_.push_back(static_cast<uint32_t>(next_.size()));
}

bool Matcher::feed(uint8_t c) {
  if (failed_) return false;
  next_ends_.clear();
  forks_.clear();
  fork_frames_.clear();
  auto run_forks = [&] {
    while (!forks_.empty()) {
      const Fork f = forks_.back();
      forks_.pop_back();
      base_ = next_.size();
      next_.insert(next_.end(), fork_frames_.begin() + f.begin, fork_frames_.begin() + f.end);
      const bool ok = f.node >= 0 ? start_value(f.node, c) : start_extra_key(c);
      if (ok) finish_stack();
      else next_.resize(base_);
    }
  };
  if (ends_.size() == 1) {
    // One parse (the usual case): advance it in place.
    next_.swap(frames_);
    base_ = 0;
    if (step(c)) finish_stack();
    else next_.resize(0);
    run_forks();
  } else {
    next_.clear();
    uint32_t begin = 0;
    for (uint32_t e : ends_) {
      base_ = next_.size();
      next_.insert(next_.end(), frames_.begin() + begin, frames_.begin() + e);
      begin = e;
      if (step(c)) finish_stack();
      else next_.resize(base_);
      run_forks();
    }
  }
  frames_.swap(next_);
  ends_.swap(next_ends_);
  next_.clear();
  if (ends_.empty()) failed_ = true;
  return !failed_;
}

bool Matcher::feed(std::string_view s) {
  for (char ch : s)
    if (!feed(static_cast<uint8_t>(ch))) return false;
  return true;
}

bool Matcher::accepts_end() const {
  if (failed_) return false;
  const Grammar& g = *g_;
  uint32_t begin = 0;
  for (uint32_t e : ends_) {
    const uint32_t n = e - begin;
    const Frame* f = n ? &frames_[e - 1] : nullptr;
    begin = e;
    if (n == 0) return true;
    if (n != 1) continue;
    if (f->kind == kNum) {
      const Node* node = f->node >= 0 ? &g.nodes()[static_cast<size_t>(f->node)] : nullptr;
      if (!num_can_end(f->phase)) continue;
      if (node && node->range >= 0 && !g.ranges()[static_cast<size_t>(node->range)].contains(prefix_of(*f))) continue;
      return true;
    }
    if (f->kind == kLit && lit_complete(f->node == -2 ? word_list() : g.nodes()[static_cast<size_t>(f->node)].lits, *f))
      return true;
    if (f->kind == kTag && f->phase == kTAfter) return true;
  }
  return false;
}

bool Matcher::can_continue() const {
  if (failed_) return false;
  Matcher m(*this);
  for (int c = 0; c < 256; ++c) {
    m = *this;
    if (m.feed(static_cast<uint8_t>(c))) return true;
  }
  return false;
}

int Matcher::key_step(Frame& f, const std::vector<std::string>& keys, int max_chars, uint8_t c) {
  if (c == '"') {
    if (f.lo >= 0) {
      Frame t = f;
      if (narrow(keys, t, c, 0) && lit_complete(keys, t)) return -1;  // a listed key
    }
    return 1;
  }
  if (c < 0x20 || c > 0x7E || c == '\\' || f.count > max_chars) return -1;
  if (f.lo < 0 || !narrow(keys, f, c, 0)) {
    f.lo = -1;
    ++f.count;
  }
  return 0;
}

int Matcher::string_step(const StringScan& ss, Frame& f, uint8_t c) {
  if (ss.keys) return key_step(f, *ss.keys, ss.key_max, c);
  const Dfa* dfa = ss.dfa;
  const int min_len = ss.min_len;
  // Moves the DFA by byte b; `chars` code points will have been written then.
  auto dfa_ok = [&](uint8_t b, int chars) {
    if (!dfa) return true;
    const int t = dfa->step(static_cast<int>(f.used), b);
    if (t < 0 || !dfa->can_finish(t, min_len - chars, f.aux2 - chars)) return false;
    f.used = static_cast<uint64_t>(t);
    return true;
  };
  switch (f.phase) {
    case kSClean:
      if (c == '"') {
        if (f.count < min_len || (dfa && !dfa->accepting(static_cast<int>(f.used)))) return -1;
        return 1;
      }
      if (c < 0x20 || f.count >= f.aux2) return -1;
      if (c == '\\') {
        if (dfa) {
          // Some escape must keep the pattern satisfiable, or '\\' would be a dead end.
          bool any = false;
          for (uint8_t e : {'"', '\\', '/', 'b', 'f', 'n', 'r', 't'}) {
            const int t = dfa->step(static_cast<int>(f.used), static_cast<uint8_t>(unescape(e)));
            any = any || (t >= 0 && dfa->can_finish(t, min_len - f.count - 1, f.aux2 - f.count - 1));
          }
          if (!any) return -1;
        }
        ++f.count;
        f.phase = kSEscape;
        return 0;
      }
      if (c < 0x80) {
        if (!dfa_ok(c, f.count + 1)) return -1;
        ++f.count;
        return 0;
      }
      if (c >= 0xC2 && c <= 0xDF) {
        f.aux = 1; f.lo = 0x80; f.hi = 0xBF;
      } else if (c == 0xE0) {
        f.aux = 2; f.lo = 0xA0; f.hi = 0xBF;
      } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        f.aux = 2; f.lo = 0x80; f.hi = 0xBF;
      } else if (c == 0xED) {
        f.aux = 2; f.lo = 0x80; f.hi = 0x9F;
      } else if (c == 0xF0) {
        f.aux = 3; f.lo = 0x90; f.hi = 0xBF;
      } else if (c >= 0xF1 && c <= 0xF3) {
        f.aux = 3; f.lo = 0x80; f.hi = 0xBF;
      } else if (c == 0xF4) {
        f.aux = 3; f.lo = 0x80; f.hi = 0x8F;
      } else {
        return -1;
      }
      if (!dfa_ok(c, f.count + 1)) return -1;
      ++f.count;
      f.phase = kSUtf8;
      return 0;
    case kSUtf8:
      if (c < f.lo || c > f.hi) return -1;
      if (!dfa_ok(c, f.count)) return -1;
      f.lo = 0x80;
      f.hi = 0xBF;
      if (--f.aux == 0) f.phase = kSClean;
      return 0;
    case kSEscape: {
      const int b = unescape(c);
      if (b >= 0) {
        if (!dfa_ok(static_cast<uint8_t>(b), f.count)) return -1;
        f.phase = kSClean;
        return 0;
      }
      if (c == 'u' && !dfa) {
        f.phase = kSUnicode;
        f.aux = 0;
        f.lo = 0;
        return 0;
      }
      return -1;
    }
    case kSUnicode:
      if (!is_hex(c)) return -1;
      if (f.aux == 0 && (c == 'd' || c == 'D')) f.lo = 1;
      if (f.aux == 1 && f.lo == 1 && !(c >= '0' && c <= '7')) return -1;  // no surrogates
      if (++f.aux == 4) f.phase = kSClean;
      return 0;
  }
  return -1;
}

bool Matcher::string_scan(StringScan* s) const {
  if (failed_ || ends_.size() != 1 || frames_.empty()) return false;
  const Frame& f = frames_.back();
  s->frame = f;
  if (f.kind == kKey) {
    s->keys = &g_->nodes()[static_cast<size_t>(f.node)].keys;
    s->key_max = g_->options().max_string_chars;
    s->dfa = nullptr;
    s->min_len = 0;
    s->clean = true;
    s->room = s->key_max + 1 - f.count;
    return true;
  }
  if (f.kind != kStr) return false;
  const Node* n = f.node >= 0 ? &g_->nodes()[static_cast<size_t>(f.node)] : nullptr;
  s->keys = nullptr;
  s->min_len = n ? n->min_len : 0;
  s->dfa = n && n->dfa >= 0 ? &g_->dfas()[static_cast<size_t>(n->dfa)] : nullptr;
  s->clean = f.phase == kSClean;
  s->room = f.aux2 - f.count;
  return true;
}

void Matcher::close_string(Matcher* out) const {
  *out = *this;
  out->frames_.pop_back();
  --out->ends_.back();
}

// Whether a value of node may start with c, with `below` frames under its frame.
bool Matcher::can_start(int node, uint8_t c, size_t below) const {
  const Grammar& g = *g_;
  const Node& n = g.nodes()[static_cast<size_t>(node)];
  if (below + static_cast<size_t>(n.min_depth) > static_cast<size_t>(g.options().max_nesting)) return false;
  switch (n.kind) {
    case Node::kAny:
      if (c == '{' || c == '[') return below + 1 <= static_cast<size_t>(g.options().max_depth);
      return c == '"' || c == '-' || is_digit(c) || c == 't' || c == 'f' || c == 'n';
    case Node::kObject: return c == '{';
    case Node::kArray: return c == '[';
    case Node::kString: return c == '"';
    case Node::kNumber: return c == '-' || is_digit(c);
    case Node::kLiterals:
    case Node::kTagged:
      for (const std::string& s : n.lits)
        if (!s.empty() && static_cast<uint8_t>(s[0]) == c) return true;
      return false;
    case Node::kAnyOf:
      // A leaf that passes its own min_depth check passes every anyOf's above it (an
      // anyOf's min_depth is the least of its alternatives'), so this equals the
      // recursive check over alts.
      for (int a : n.leaves)
        if (can_start(a, c, below)) return true;
      return false;
  }
  return false;
}

// The top frame is a kValue frame for `node`: replaces it by the value's frame,
// consuming c (can_start said yes).
bool Matcher::start_value(int node, uint8_t c) {
  const Grammar& g = *g_;
  const Node& n = g.nodes()[static_cast<size_t>(node)];
  switch (n.kind) {
    case Node::kAnyOf: {
      const size_t below = depth() - 1;
      int first = -1;
      for (int a : n.leaves) {  // never an anyOf: start_value recurses at most once
        if (!can_start(a, c, below)) continue;
        if (first < 0) first = a;
        else fork(a);
      }
      return first >= 0 && start_value(first, c);
    }
    case Node::kAny:
      if (c == '{') return start_value(kAnyObjectNode, c);
      if (c == '[') return start_value(kAnyArrayNode, c);
      if (c == '"') {
        Frame f = make_frame(kStr, -1);
        f.aux2 = g.options().max_string_chars;
        top() = f;
        return true;
      }
      if (c == '-' || is_digit(c)) {
        Frame f = make_frame(kNum, -1);
        f.phase = kNSign;
        top() = f;
        return step(c);
      }
      {
        Frame f = make_frame(kLit, -2);  // true/false/null
        f.lo = 0;
        f.hi = 3;
        top() = f;
        return step(c);
      }
    case Node::kObject: {
      if (c != '{') return false;
      Frame f = make_frame(kObj, node);
      f.phase = kOOpen;
      f.aux2 = -1;
      top() = f;
      return true;
    }
    case Node::kArray: {
      if (c != '[') return false;
      Frame f = make_frame(kArr, node);
      f.phase = kAOpen;
      top() = f;
      return true;
    }
    case Node::kString: {
      if (c != '"') return false;
      Frame f = make_frame(kStr, node);
      f.aux2 = n.max_len;
      top() = f;
      return true;
    }
    case Node::kNumber: {
      Frame f = make_frame(kNum, node);
      f.phase = kNSign;
      f.aux = n.integer ? 1 : 0;
      top() = f;
      return step(c);
    }
    case Node::kLiterals:
    case Node::kTagged: {
      Frame f = make_frame(n.kind == Node::kLiterals ? kLit : kTag, node);
      f.lo = 0;
      f.hi = static_cast<int32_t>(n.lits.size());
      top() = f;
      return step(c);
    }
  }
  return false;
}

// The top frame is an object between members and c is '"': begin an additional key.
bool Matcher::start_extra_key(uint8_t c) {
  const Node& n = g_->nodes()[static_cast<size_t>(top().node)];
  Frame& f = top();
  f.ws = 0;
  f.phase = kOColon;
  f.aux2 = -1;
  ++f.aux;
  Frame k = make_frame(kKey, f.node);
  k.lo = 0;
  k.hi = static_cast<int32_t>(n.keys.size());
  if (n.keys.empty() || !narrow(n.keys, k, c, 0)) {
    k.lo = -1;
    k.count = 1;
  }
  push(k);
  return true;
}

bool Matcher::step(uint8_t c) {
  const Grammar& g = *g_;
  const Options& o = g.options();
  const auto& nodes = g.nodes();
  auto ws = [&](Frame& f) {
    if ((c == ' ' || c == '\n') && f.ws < o.max_ws) {
      ++f.ws;
      return true;
    }
    return false;
  };
  auto fits = [&](int node, size_t below) {
    return below + static_cast<size_t>(nodes[static_cast<size_t>(node)].min_depth) <= static_cast<size_t>(o.max_nesting);
  };
  for (;;) {
    if (depth() == 0) return false;
    Frame& f = top();
    switch (f.kind) {
      case kValue: {
        if (!f.aux && ws(f)) return true;
        if (!can_start(f.node, c, depth() - 1)) return false;
        return start_value(f.node, c);
      }
      case kObj: {
        const Node& n = nodes[static_cast<size_t>(f.node)];
        const int nkeys = static_cast<int>(n.keys.size());
        // Listed keys that may still be written: unused, and their value fits in depth.
        uint64_t blocked = f.used;
        for (int i = 0; i < nkeys && i < 64; ++i)
          if (!fits(n.key_nodes[static_cast<size_t>(i)], depth())) blocked |= uint64_t{1} << i;
        const uint64_t all = nkeys >= 64 ? ~uint64_t{0} : ((uint64_t{1} << nkeys) - 1);
        const bool more_listed = (blocked & all) != all;
        const bool more_extra = n.extra >= 0 && f.aux < o.max_any_items && fits(n.extra, depth());
        const bool can_close = (f.used & n.required) == n.required;
        switch (f.phase) {
          case kOOpen:
          case kOComma:
          case kOAfter:
            if (ws(f)) return true;
            if (f.phase == kOAfter) {
              if (c == ',' && (more_listed || more_extra)) {
                f.phase = kOComma;
                f.ws = 0;
                return true;
              }
            } else if (c == '"') {
              if (more_listed) {
                if (more_extra) fork(-1);
                f.ws = 0;
                f.phase = kOKey;
                f.lo = 0;
                f.hi = nkeys;
                f.count = 0;
                return narrow(n.keys, f, c, blocked);
              }
              if (more_extra) return start_extra_key(c);
              return false;
            }
            if (c == '}' && f.phase != kOComma && can_close) {
              pop();
              return true;
            }
            return false;
          case kOKey:
            if (!narrow(n.keys, f, c, blocked)) return false;
            if (lit_complete(n.keys, f)) {
              f.aux2 = f.lo;
              f.used |= uint64_t{1} << f.lo;
              f.phase = kOColon;
              f.ws = 0;
            }
            return true;
          case kOColon: {
            if (ws(f)) return true;
            if (c != ':') return false;
            const int vnode = f.aux2 >= 0 ? n.key_nodes[static_cast<size_t>(f.aux2)] : n.extra;
            f.phase = kOAfter;
            f.ws = 0;
            push(make_frame(kValue, vnode));
            return true;
          }
        }
        return false;
      }
      case kKey: {
        const int r = key_step(f, nodes[static_cast<size_t>(f.node)].keys, o.max_string_chars, c);
        if (r < 0) return false;
        if (r > 0) pop();
        return true;
      }
      case kArr: {
        const Node& n = nodes[static_cast<size_t>(f.node)];
        const int item = f.count < static_cast<int>(n.prefix.size()) ? n.prefix[static_cast<size_t>(f.count)] : n.items;
        const bool more = (n.max_items < 0 || f.count < n.max_items) && item >= 0 && fits(item, depth());
        if (ws(f)) return true;
        if (f.phase == kAAfter) {
          if (c == ',' && more) {
            f.phase = kAComma;
            f.ws = 0;
            return true;
          }
        } else if (more && can_start(item, c, depth())) {
          ++f.count;
          f.phase = kAAfter;
          f.ws = 0;
          push(make_frame(kValue, item));
          continue;  // the item consumes c
        }
        if (c == ']' && f.phase != kAComma && f.count >= n.min_items) {
          pop();
          return true;
        }
        return false;
      }
      case kStr: {
        const Node* n = f.node >= 0 ? &nodes[static_cast<size_t>(f.node)] : nullptr;
        const Dfa* dfa = n && n->dfa >= 0 ? &g.dfas()[static_cast<size_t>(n->dfa)] : nullptr;
        const int min_len = n ? n->min_len : 0;
        // Moves the DFA by byte b; `chars` code points will have been written.
        auto dfa_step = [&](uint8_t b, int chars) {
          if (!dfa) return true;
          const int t = dfa->step(static_cast<int>(f.used), b);
          if (t < 0 || !dfa->can_finish(t, min_len - chars, f.aux2 - chars)) return false;
          f.used = static_cast<uint64_t>(t);
          return true;
        };
        switch (f.phase) {
          case kSClean:
            if (c == '"') {
              if (f.count < min_len || (dfa && !dfa->accepting(static_cast<int>(f.used)))) return false;
              pop();
              return true;
            }
            if (c < 0x20 || f.count >= f.aux2) return false;
            if (c == '\\') {
              if (dfa) {
                bool any = false;
                for (uint8_t e : {'"', '\\', '/', 'b', 'f', 'n', 'r', 't'}) {
                  const int t = dfa->step(static_cast<int>(f.used), static_cast<uint8_t>(unescape(e)));
                  any = any || (t >= 0 && dfa->can_finish(t, min_len - f.count - 1, f.aux2 - f.count - 1));
                }
                if (!any) return false;
              }
              ++f.count;
              f.phase = kSEscape;
              return true;
            }
            if (c < 0x80) {
              if (!dfa_step(c, f.count + 1)) return false;
              ++f.count;
              return true;
            }
            if (c >= 0xC2 && c <= 0xDF) {
              f.aux = 1; f.lo = 0x80; f.hi = 0xBF;
            } else if (c == 0xE0) {
              f.aux = 2; f.lo = 0xA0; f.hi = 0xBF;
            } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
              f.aux = 2; f.lo = 0x80; f.hi = 0xBF;
            } else if (c == 0xED) {
              f.aux = 2; f.lo = 0x80; f.hi = 0x9F;
            } else if (c == 0xF0) {
              f.aux = 3; f.lo = 0x90; f.hi = 0xBF;
            } else if (c >= 0xF1 && c <= 0xF3) {
              f.aux = 3; f.lo = 0x80; f.hi = 0xBF;
            } else if (c == 0xF4) {
              f.aux = 3; f.lo = 0x80; f.hi = 0x8F;
            } else {
              return false;
            }
            if (!dfa_step(c, f.count + 1)) return false;
            ++f.count;
            f.phase = kSUtf8;
            return true;
          case kSUtf8:
            if (c < f.lo || c > f.hi) return false;
            if (!dfa_step(c, f.count)) return false;
            f.lo = 0x80;
            f.hi = 0xBF;
            if (--f.aux == 0) f.phase = kSClean;
            return true;
          case kSEscape: {
            const int b = unescape(c);
            if (b >= 0) {
              if (!dfa_step(static_cast<uint8_t>(b), f.count)) return false;
              f.phase = kSClean;
              return true;
            }
            if (c == 'u' && !dfa) {
              f.phase = kSUnicode;
              f.aux = 0;
              f.lo = 0;
              return true;
            }
            return false;
          }
          case kSUnicode:
            if (!is_hex(c)) return false;
            if (f.aux == 0 && (c == 'd' || c == 'D')) f.lo = 1;
            if (f.aux == 1 && f.lo == 1 && !(c >= '0' && c <= '7')) return false;  // no surrogates
            if (++f.aux == 4) f.phase = kSClean;
            return true;
        }
        return false;
      }
      case kNum: {
        const Node* n = f.node >= 0 ? &nodes[static_cast<size_t>(f.node)] : nullptr;
        const NumberRange* range = n && n->range >= 0 ? &g.ranges()[static_cast<size_t>(n->range)] : nullptr;
        const bool integer = f.aux == 1;
        int next = -1;
        switch (f.phase) {
          case kNSign:
            if (c == '-' && f.count == 0) next = kNSign;
            else if (c == '0') next = kNZero;
            else if (is_digit(c)) next = kNInt;
            break;
          case kNZero:
          case kNInt:
            if (f.phase == kNInt && is_digit(c)) next = kNInt;
            else if (!integer && c == '.') next = kNDot;
            else if (!integer && !range && (c == 'e' || c == 'E')) next = kNE;
            break;
          case kNDot:
          case kNFrac:
            if (is_digit(c)) next = kNFrac;
            else if (f.phase == kNFrac && !range && (c == 'e' || c == 'E')) next = kNE;
            break;
          case kNE:
            if (c == '+' || c == '-') next = kNESign;
            else if (is_digit(c)) next = kNExp;
            break;
          case kNESign:
          case kNExp:
            if (is_digit(c)) next = kNExp;
            break;
        }
        if (next == kNSign && f.count != 0) next = -1;
        // Integer part at most 15 digits (exact in a double and in JavaScript), exponent
        // at most 2 digits (no overflow in any parser).
        if (next == kNInt && f.lo >= NumberRange::kMaxIntDigits) next = -1;
        if (next == kNExp && f.hi >= 2) next = -1;
        if (next >= 0) {
          Frame t = f;
          t.phase = static_cast<uint8_t>(next);
          t.count = f.count + 1;
          if (next == kNSign) t.ws = 1;
          if (next == kNInt || next == kNZero) {
            ++t.lo;
            if (range) t.used = t.used * 10 + (c - '0');
          }
          if (next == kNExp) ++t.hi;
          if (next == kNFrac && range) {
            ++t.hi;
            t.aux2 = t.hi <= NumberRange::kFracDigits ? t.aux2 * 10 + (c - '0') : t.aux2;
          }
          bool ok;
          if (range) {
            ok = t.hi <= NumberRange::kFracDigits && range->feasible(prefix_of(t));
          } else {
            ok = num_can_end(static_cast<uint8_t>(next)) ? t.count <= o.max_number_chars : t.count < o.max_number_chars;
          }
          if (ok) {
            f = t;
            return true;
          }
        }
        if (!num_can_end(f.phase) || (range && !range->contains(prefix_of(f)))) return false;
        pop();
        continue;  // the enclosing frame takes c
      }
      case kLit: {
        const std::vector<std::string>& L = f.node == -2 ? word_list() : nodes[static_cast<size_t>(f.node)].lits;
        Frame save = f;
        if (narrow(L, f, c, 0)) {
          if (f.hi - f.lo == 1 && lit_complete(L, f)) pop();
          return true;
        }
        f = save;
        if (!lit_complete(L, f)) return false;
        pop();
        continue;
      }
      case kTag: {
        const Node& n = nodes[static_cast<size_t>(f.node)];
        switch (f.phase) {
          case kTName:
            if (!narrow(n.lits, f, c, 0)) return false;
            if (lit_complete(n.lits, f)) {
              const int cont = n.conts[static_cast<size_t>(f.lo)];
              f.phase = kTSuffix;
              f.count = 0;
              Frame v = make_frame(kValue, cont);
              v.aux = 1;  // no whitespace: the prefix ends with one
              push(v);
            }
            return true;
          case kTSuffix:
            if (static_cast<size_t>(f.count) >= n.suffix.size() ||
                static_cast<uint8_t>(n.suffix[static_cast<size_t>(f.count)]) != c)
              return false;
            if (static_cast<size_t>(++f.count) == n.suffix.size()) {
              ++f.aux2;
              f.phase = kTAfter;
              f.count = 0;
              if (f.aux2 >= n.max_repeat) pop();
            }
            return true;
          case kTAfter:
          case kTSep:
            if (static_cast<size_t>(f.count) >= n.sep.size() ||
                static_cast<uint8_t>(n.sep[static_cast<size_t>(f.count)]) != c)
              return false;
            f.phase = kTSep;
            if (static_cast<size_t>(++f.count) == n.sep.size()) {
              f.phase = kTName;
              f.count = 0;
              f.lo = 0;
              f.hi = static_cast<int32_t>(n.lits.size());
            }
            return true;
        }
        return false;
      }
    }
    return false;
  }
}

bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  Matcher m(g);
  return m.feed(text) && m.accepts_end();
}

}  // namespace herd::grammar
