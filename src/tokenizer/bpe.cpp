// Rank table and heap-based BPE merge loop (see bpe.h).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "base/check.h"

namespace herd::tokenizer {
namespace {

// FNV-1a, 64-bit: tokens are short, and this needs no tuning.
uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

}  // namespace

void RankTable::build(const std::vector<std::string>& tokens, int32_t n) {
  arena_.clear();
  offsets_.assign(1, 0);
  max_len_ = 0;
  for (int32_t i = 0; i < n; ++i) {
    const std::string& t = tokens[static_cast<size_t>(i)];
    arena_ += t;
    offsets_.push_back(static_cast<uint32_t>(arena_.size()));
    max_len_ = std::max(max_len_, t.size());
  }
  size_t cap = 16;
  while (cap < static_cast<size_t>(n) * 2) cap *= 2;  // load factor <= 0.5
  slots_.assign(cap, -1);
  mask_ = cap - 1;
  for (int32_t i = 0; i < n; ++i) {
    size_t h = hash_bytes(bytes_of(i)) & mask_;
    while (slots_[h] >= 0) h = (h + 1) & mask_;
    slots_[h] = i;
  }
}

int32_t RankTable::find(std::string_view bytes) const {
  if (slots_.empty() || bytes.size() > max_len_) return -1;
  size_t h = hash_bytes(bytes) & mask_;
  for (;;) {
    const int32_t r = slots_[h];
    if (r < 0) return -1;
    if (bytes_of(r) == bytes) return r;
    h = (h + 1) & mask_;
  }
}

void bpe_encode_piece(const RankTable& ranks, std::string_view piece, std::vector<int32_t>& out) {
  HERD_DCHECK(!piece.empty(), "empty piece");
  const int32_t whole = ranks.find(piece);
  if (whole >= 0) {
    out.push_back(whole);
    return;
  }
  const size_t n = piece.size();
  if (n == 1) {  // unreachable when every byte is a token; keep the contract total
    return;
  }
  // Part i starts at byte i; end_[i] grows as parts to its right merge into it.
  std::vector<uint32_t> end(n), next(n), prev(n);
  for (size_t i = 0; i < n; ++i) {
    end[i] = static_cast<uint32_t>(i + 1);
    next[i] = static_cast<uint32_t>(i + 1);  // n = none
    prev[i] = static_cast<uint32_t>(i == 0 ? n : i - 1);
  }
  struct Cand {
    int32_t rank;
    uint32_t left;       // start of the left part
    uint32_t right_end;  // end of the right part when pushed; stale if it changed
    uint32_t left_end;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  const size_t max_len = ranks.max_token_len();
  auto push_pair = [&](uint32_t left) {
    const uint32_t right = next[left];
    if (right >= n) return;
    const uint32_t e = end[right];
    if (e - left > max_len) return;
    const int32_t r = ranks.find(piece.substr(left, e - left));
    if (r >= 0) heap.push({r, left, e, end[left]});
  };
  for (uint32_t i = 0; i + 1 < n; ++i) push_pair(i);
  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.left] || end[c.left] != c.left_end) continue;
    const uint32_t right = next[c.left];
    if (right >= n || end[right] != c.right_end) continue;
    // Merge right into left.
    end[c.left] = end[right];
    alive[right] = false;
    next[c.left] = next[right];
    if (next[right] < n) prev[next[right]] = c.left;
    if (prev[c.left] < n) push_pair(prev[c.left]);
    push_pair(c.left);
  }
  for (uint32_t i = 0; i < n; i = next[i]) {
    const int32_t r = ranks.find(piece.substr(i, end[i] - i));
    HERD_DCHECK(r >= 0, "BPE part is not a token");
    out.push_back(r);
  }
}

}  // namespace herd::tokenizer
