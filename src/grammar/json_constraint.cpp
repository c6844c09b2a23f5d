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
  std::vector<Entry> all, nonplain;
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
      max_len = std::max(max_len, b.size());
    } else {
      nonplain.emplace_back(b, id);
    }
  }
  std::sort(all.begin(), all.end());
  std::sort(nonplain.begin(), nonplain.end());
  build_trie(all, 0, all.size(), 0, 0, ix->full, &ix->max_depth);
  build_trie(nonplain, 0, nonplain.size(), 0, 0, ix->nonplain, &ix->max_depth);
  std::stable_sort(ix->plain.begin(), ix->plain.end(), [&](int32_t a, int32_t b) {
    return ix->bytes[static_cast<size_t>(a)].size() < ix->bytes[static_cast<size_t>(b)].size();
  });
  ix->plain_end.assign(max_len + 1, 0);
  for (size_t L = 0, k = 0; L <= max_len; ++L) {
    while (k < ix->plain.size() && ix->bytes[static_cast<size_t>(ix->plain[k])].size() <= L) ++k;
    ix->plain_end[L] = static_cast<uint32_t>(k);
  }
  return ix;
}

JsonSchemaConstraint::JsonSchemaConstraint(std::shared_ptr<const Grammar> grammar,
                                           std::shared_ptr<const VocabIndex> index)
    : index_(std::move(index)), state_(grammar) {
  scratch_.assign(static_cast<size_t>(index_->max_depth) + 2, state_);
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

void JsonSchemaConstraint::mask(std::span<float> logits) {
  std::fill(allowed_.begin(), allowed_.end(), 0);
  if (!ended_ && !state_.failed()) {
    int room = 0;
    if (state_.in_plain_string(&room)) {
      if (room > 0) {
        const size_t L = std::min(static_cast<size_t>(room), index_->plain_end.size() - 1);
        const uint32_t k = index_->plain_end[L];
        for (uint32_t i = 0; i < k; ++i) allowed_[static_cast<size_t>(index_->plain[i])] = 1;
      }
      walk(index_->nonplain);
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

bool JsonSchemaConstraint::complete() const { return ended_ || state_.accepts_end(); }

}  // namespace herd::grammar
