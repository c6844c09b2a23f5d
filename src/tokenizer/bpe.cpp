// Rank table, the small-piece fast path and the heap-based BPE merge loop (see bpe.h).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>
#include <climits>
#include <cstring>
#include <queue>

#include "base/check.h"

namespace herd::tokenizer {

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
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  for (int32_t i = 0; i < n; ++i) {
    const std::string_view t = bytes_of(i);
    const Key k = key_of(t);
    size_t h = k.hash & mask_;
    while (slots_[h].rank >= 0) h = (h + 1) & mask_;
    slots_[h] = Slot{k.word, i, static_cast<uint32_t>(t.size())};
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    byte_rank_[b] = find(std::string_view(&c, 1));
  }
}

namespace {

// The fast path for 2..kBpeSmallPiece bytes (see bpe.h): tiktoken's merge loop on stack
// arrays. Parts are [start[i], start[i+1]) for i < m; part[i] is part i's rank and
// pair[i] the rank of part i + part i+1 (kNoPair when that is not a token).
void encode_small_piece(const RankTable& ranks, std::string_view piece, std::vector<int32_t>& out) {
  constexpr int32_t kNoPair = INT32_MAX;
  const size_t n = piece.size();
  uint8_t start[kBpeSmallPiece + 1];
  int32_t part[kBpeSmallPiece];
  int32_t pair[kBpeSmallPiece];
  for (size_t i = 0; i < n; ++i) {
    start[i] = static_cast<uint8_t>(i);
    part[i] = ranks.byte_rank(static_cast<uint8_t>(piece[i]));
  }
  start[n] = static_cast<uint8_t>(n);
  size_t m = n;
  auto pair_rank = [&](size_t i) {  // requires i + 1 < m
    const int32_t r = ranks.find(piece.substr(start[i], start[i + 2] - start[i]));
    return r < 0 ? kNoPair : r;
  };
  for (size_t i = 0; i + 1 < m; ++i) pair[i] = pair_rank(i);
  for (;;) {
    int32_t best = kNoPair;
    size_t b = 0;
    for (size_t i = 0; i + 1 < m; ++i) {
      if (pair[i] < best) {  // strict: the leftmost of equal ranks wins
        best = pair[i];
        b = i;
      }
    }
    if (best == kNoPair) break;
    // Merge part b+1 into part b: drop boundary b+1, part b+1 and pair b+1.
    part[b] = best;
    std::memmove(start + b + 1, start + b + 2, m - b - 1);
    std::memmove(part + b + 1, part + b + 2, (m - b - 2) * sizeof(int32_t));
    if (b + 2 < m) std::memmove(pair + b + 1, pair + b + 2, (m - b - 3) * sizeof(int32_t));
    --m;
    if (b + 1 < m) pair[b] = pair_rank(b);
    if (b > 0) pair[b - 1] = pair_rank(b - 1);
  }
  out.insert(out.end(), part, part + m);
}

// The O(n log n) path for long pieces (see bpe.h). Part i starts at byte i; end[i] grows
// as parts to its right merge into it. The buffers are per thread and reused, so a long
// piece allocates only when it is longer than every piece before it on that thread.
void encode_long_piece(const RankTable& ranks, std::string_view piece, std::vector<int32_t>& out) {
  struct Cand {
    int32_t rank;
    uint32_t left;       // start of the left part
    uint32_t right_end;  // end of the right part when pushed; stale if it changed
    uint32_t left_end;
    // Heap order: the top is the lowest rank, leftmost on ties.
    bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  struct Scratch {
    std::vector<uint32_t> end, next, prev;
    std::vector<int32_t> part;  // rank of the part starting at i
    std::vector<Cand> heap;
  };
  constexpr int32_t kDead = INT32_MIN;  // part[i] of a part merged into its left neighbour
  thread_local Scratch s;
  const size_t n = piece.size();
  s.end.resize(n);
  s.next.resize(n);
  s.prev.resize(n);
  s.part.resize(n);
  s.heap.clear();
  uint32_t* end = s.end.data();
  uint32_t* next = s.next.data();
  uint32_t* prev = s.prev.data();
  int32_t* part = s.part.data();
  for (size_t i = 0; i < n; ++i) {
    end[i] = static_cast<uint32_t>(i + 1);
    next[i] = static_cast<uint32_t>(i + 1);  // n = none
    prev[i] = static_cast<uint32_t>(i == 0 ? n : i - 1);
    part[i] = ranks.byte_rank(static_cast<uint8_t>(piece[i]));
  }
  const size_t max_len = ranks.max_token_len();
  auto candidate = [&](uint32_t left, Cand& c) {
    const uint32_t right = next[left];
    if (right >= n) return false;
    const uint32_t e = end[right];
    if (e - left > max_len) return false;
    c = {ranks.find(piece.substr(left, e - left)), left, e, end[left]};
    return c.rank >= 0;
  };
  auto push_pair = [&](uint32_t left) {
    Cand c;
    if (!candidate(left, c)) return;
    s.heap.push_back(c);
    std::push_heap(s.heap.begin(), s.heap.end());
  };
  Cand c;
  for (uint32_t i = 0; i + 1 < n; ++i) {
    if (candidate(i, c)) s.heap.push_back(c);
  }
  std::make_heap(s.heap.begin(), s.heap.end());
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end());
    c = s.heap.back();
    s.heap.pop_back();
    if (part[c.left] == kDead || end[c.left] != c.left_end) continue;
    const uint32_t right = next[c.left];
    if (right >= n || end[right] != c.right_end) continue;
    // Merge right into left.
    end[c.left] = end[right];
    part[c.left] = c.rank;
    part[right] = kDead;
    next[c.left] = next[right];
    if (next[right] < n) prev[next[right]] = c.left;
    if (prev[c.left] < n) push_pair(prev[c.left]);
    push_pair(c.left);
  }
  for (uint32_t i = 0; i < n; i = next[i]) out.push_back(part[i]);
}

}  // namespace

void bpe_encode_piece(const RankTable& ranks, std::string_view piece, std::vector<int32_t>& out) {
  HERD_DCHECK(!piece.empty(), "empty piece");
  const size_t n = piece.size();
  const int32_t whole = n == 1 ? ranks.byte_rank(static_cast<uint8_t>(piece[0])) : ranks.find(piece);
  if (whole >= 0) {
    out.push_back(whole);
    return;
  }
  if (n == 1) {  // unreachable when every byte is a token; keep the contract total
    return;
  }
  if (n <= kBpeSmallPiece) {
    encode_small_piece(ranks, piece, out);
    return;
  }
  encode_long_piece(ranks, piece, out);
}

}  // namespace herd::tokenizer
