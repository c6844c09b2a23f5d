#include "grammar/json_constraint.h"

#include <algorithm>
#include <cmath>

namespace herd::grammar {
namespace {

using Entry = std::pair<std::string_view, int32_t>;

void build_trie(const std::vector<Entry>& e, size_t lo, size_t hi, size_t depth, uint8_t byte,
                std::vector<VocabIndex::TrieNode>& out, int* max_depth) {
  const size_t me = out.size();
  out.push_back({byte, static_cast<uint16_t>(depth), -1, 0});
  *max_depth = std::max(*max_depth, static_cast<int>(depth));
  if (lo < hi && e[lo].first.size() == depth) {
    out[me].token = e[lo].second;
    ++lo;
  }
  while (lo < hi) {
    const uint8_t b = static_cast<uint8_t>(e[lo].first[depth]);
    size_t g = lo;
    while (g < hi && static_cast<uint8_t>(e[g].first[depth]) == b) ++g;
    build_trie(e, lo, g, depth + 1, b, out, max_depth);
    lo = g;
  }
  out[me].end = static_cast<uint32_t>(out.size());
}

// Complete valid UTF-8 with no '"', '\\' or byte < 0x20.
bool is_plain(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return false;
    ++i;
    for (int k = 0; k < need; ++k, ++i) {
      if (i >= s.size()) return false;
      const uint8_t d = static_cast<uint8_t>(s[i]);
      if (d < lo || d > hi) return false;
      lo = 0x80;
      hi = 0xBF;
    }
  }
  return true;
}

}  // namespace

std::shared_ptr<const VocabIndex> VocabIndex::build(const tokenizer::Tokenizer& tok) {
  auto ix = std::make_shared<VocabIndex>();
  ix->n_vocab = tok.n_vocab();
  ix->eot = tok.special_id("<|eot_id|>");
  ix->bytes.resize(static_cast<size_t>(ix->n_vocab));
  std::vector<Entry> all, nonplain, plain;
  size_t max_len = 0;
  for (int32_t id = 0; id < ix->n_vocab; ++id) {
    if (tok.is_special(id)) continue;
    std::string_view b = tok.token_bytes(id);
    if (b.empty()) continue;
    ix->bytes[static_cast<size_t>(id)] = std::string(b);
  }
  for (int32_t id = 0; id < ix->n_vocab; ++id) {
    std::string_view b = ix->bytes[static_cast<size_t>(id)];
    if (b.empty()) continue;
    all.emplace_back(b, id);
    if (is_plain(b)) {
      ix->plain.push_back(id);
      plain.emplace_back(b, id);
      max_len = std::max(max_len, b.size());
    } else {
      nonplain.emplace_back(b, id);
    }
  }
  std::sort(all.begin(), all.end());
  std::sort(nonplain.begin(), nonplain.end());
  std::sort(plain.begin(), plain.end());
  build_trie(all, 0, all.size(), 0, 0, ix->full, &ix->max_depth);
  build_trie(nonplain, 0, nonplain.size(), 0, 0, ix->nonplain, &ix->max_depth);
  build_trie(plain, 0, plain.size(), 0, 0, ix->plain_trie, &ix->max_depth);
  for (int32_t id : ix->plain) {
    bool printable = true;
    for (char c : ix->bytes[static_cast<size_t>(id)]) printable = printable && c >= 0x20 && c <= 0x7E;
    if (printable) ix->ascii_plain.push_back(id);
  }
  {
    std::vector<Entry> rest;
    for (int32_t id = 0; id < ix->n_vocab; ++id) {
      std::string_view b = ix->bytes[static_cast<size_t>(id)];
      if (b.empty()) continue;
      bool printable = true;
      for (char c : b) printable = printable && c >= 0x20 && c <= 0x7E;
      if (!printable || !is_plain(b)) rest.emplace_back(b, id);
    }
    std::sort(rest.begin(), rest.end());
    build_trie(rest, 0, rest.size(), 0, 0, ix->ascii_nonplain, &ix->max_depth);
  }
  auto chars = [&](int32_t id) {
    size_t n = 0;
    for (char c : ix->bytes[static_cast<size_t>(id)]) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    return n;
  };
  std::stable_sort(ix->plain.begin(), ix->plain.end(), [&](int32_t a, int32_t b) { return chars(a) < chars(b); });
  std::stable_sort(ix->ascii_plain.begin(), ix->ascii_plain.end(), [&](int32_t a, int32_t b) { return chars(a) < chars(b); });
  ix->plain_end.assign(max_len + 1, 0);
  ix->ascii_plain_end.assign(max_len + 1, 0);
  for (size_t L = 0, k = 0, a = 0; L <= max_len; ++L) {
    while (k < ix->plain.size() && chars(ix->plain[k]) <= L) ++k;
    while (a < ix->ascii_plain.size() && chars(ix->ascii_plain[a]) <= L) ++a;
    ix->plain_end[L] = static_cast<uint32_t>(k);
    ix->ascii_plain_end[L] = static_cast<uint32_t>(a);
  }
  return ix;
}

JsonSchemaConstraint::JsonSchemaConstraint(std::shared_ptr<const Grammar> grammar,
                                           std::shared_ptr<const VocabIndex> index)
    : index_(std::move(index)), state_(grammar), closed_(grammar) {
  scratch_.assign(static_cast<size_t>(index_->max_depth) + 2, state_);
  dfa_states_.assign(static_cast<size_t>(index_->max_depth) + 2, 0);
  str_frames_.assign(static_cast<size_t>(index_->max_depth) + 2, Frame{});
  in_string_.assign(static_cast<size_t>(index_->max_depth) + 2, 0);
  dfa_chars_.assign(static_cast<size_t>(index_->max_depth) + 2, 0);
  allowed_.assign(static_cast<size_t>(index_->n_vocab), 0);
}

void JsonSchemaConstraint::walk(const std::vector<VocabIndex::TrieNode>& trie) {
  scratch_[0] = state_;
  const size_t n = trie.size();
  for (size_t i = 1; i < n;) {
    const VocabIndex::TrieNode& nd = trie[i];
    Matcher& s = scratch_[nd.depth];
    s = scratch_[nd.depth - 1u];
    if (s.feed(nd.byte)) {
      if (nd.token >= 0) allowed_[static_cast<size_t>(nd.token)] = 1;
      ++i;
    } else {
      i = nd.end;
    }
  }
}

void JsonSchemaConstraint::walk_pattern(const StringScan& ss) {
  const std::vector<VocabIndex::TrieNode>& trie = index_->plain_trie;
  const Dfa& dfa = *ss.dfa;
  const int min_len = ss.min_len, max_len = ss.frame.count + ss.room;
  dfa_states_[0] = static_cast<int>(ss.frame.used);
  dfa_chars_[0] = ss.frame.count;
  const size_t n = trie.size();
  for (size_t i = 1; i < n;) {
    const VocabIndex::TrieNode& nd = trie[i];
    const int s = dfa.step(dfa_states_[nd.depth - 1u], nd.byte);
    const int c = dfa_chars_[nd.depth - 1u] + ((nd.byte & 0xC0) != 0x80 ? 1 : 0);
    if (s < 0 || c > max_len) {
      i = nd.end;
      continue;
    }
    dfa_states_[nd.depth] = s;
    dfa_chars_[nd.depth] = c;
    // Feasible at the token's end implies feasible at every byte before it.
    if (nd.token >= 0 && dfa.can_finish(s, min_len - c, max_len - c)) allowed_[static_cast<size_t>(nd.token)] = 1;
    ++i;
  }
}

void JsonSchemaConstraint::walk_string(const StringScan& ss, const std::vector<VocabIndex::TrieNode>& trie) {
  str_frames_[0] = ss.frame;
  in_string_[0] = 1;
  const size_t n = trie.size();
  for (size_t i = 1; i < n;) {
    const VocabIndex::TrieNode& nd = trie[i];
    const size_t d = nd.depth;
    if (in_string_[d - 1]) {
      Frame f = str_frames_[d - 1];
      const int r = Matcher::string_step(ss, f, nd.byte);
      if (r < 0) {
        i = nd.end;
        continue;
      }
      if (r == 0) {
        str_frames_[d] = f;
        in_string_[d] = 1;
      } else {
        scratch_[d] = closed_;  // the quote closed the string: the rest goes to the automaton
        in_string_[d] = 0;
      }
    } else {
      Matcher& s = scratch_[d];
      s = scratch_[d - 1];
      if (!s.feed(nd.byte)) {
        i = nd.end;
        continue;
      }
      in_string_[d] = 0;
    }
    if (nd.token >= 0) allowed_[static_cast<size_t>(nd.token)] = 1;
    ++i;
  }
}

void JsonSchemaConstraint::mask(std::span<float> logits) {
  std::fill(allowed_.begin(), allowed_.end(), 0);
  if (!ended_ && !state_.failed()) {
    StringScan ss;
    if (state_.string_scan(&ss)) {
      // In a string body (most tokens of a typical document): plain tokens by length
      // (or through the pattern's DFA), the others through the string rules and, after
      // a closing quote, the automaton.
      state_.close_string(&closed_);
      if (ss.clean && !ss.dfa) {
        // Keys take printable ASCII only; every plain token of that kind fits (the
        // closing quote, which could make a key equal a listed one, is never plain).
        const std::vector<int32_t>& list = ss.keys ? index_->ascii_plain : index_->plain;
        const std::vector<uint32_t>& end = ss.keys ? index_->ascii_plain_end : index_->plain_end;
        if (ss.room > 0) {
          const size_t L = std::min(static_cast<size_t>(ss.room), end.size() - 1);
          const uint32_t k = end[L];
          for (uint32_t i = 0; i < k; ++i) allowed_[static_cast<size_t>(list[i])] = 1;
        }
        walk_string(ss, ss.keys ? index_->ascii_nonplain : index_->nonplain);
      } else if (ss.clean) {
        walk_pattern(ss);
        walk_string(ss, index_->nonplain);
      } else {
        walk_string(ss, index_->full);
      }
    } else {
      walk(index_->full);
    }
    if (index_->eot >= 0 && state_.accepts_end()) allowed_[static_cast<size_t>(index_->eot)] = 1;
  }
  const size_t nv = allowed_.size();
  for (size_t i = 0; i < logits.size(); ++i)
    if (i >= nv || !allowed_[i]) logits[i] = -INFINITY;
}

void JsonSchemaConstraint::accept(int32_t id) {
  if (ended_) return;
  if (id == index_->eot) {
    ended_ = true;
    return;
  }
  if (id < 0 || id >= index_->n_vocab) {
    state_.feed(std::string_view("\x01", 1));  // poisons the state: nothing is allowed after
    return;
  }
  const std::string& b = index_->bytes[static_cast<size_t>(id)];
  if (b.empty()) {
    state_.feed(std::string_view("\x01", 1));
    return;
  }
  state_.feed(b);
  text_ += b;
}

bool JsonSchemaConstraint::complete() const {
  return ended_ || (state_.accepts_end() && !state_.can_continue());
}

}  // namespace herd::grammar
