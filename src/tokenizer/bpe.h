// Byte-pair encoding with tiktoken semantics over a rank table (spec/llama31.md 4.4).
//
// RankTable maps a byte string to its rank (= token id for Llama 3) with an
// open-addressing hash table over one byte arena, so it is cheap to copy and holds no
// pointers into the Vocab it was built from. A slot holds the key's length and one
// 64-bit word: the key itself, packed, for keys of at most 8 bytes (most lookups; they
// never touch the arena), else the key's hash, confirmed against the arena on a match.
// find() reads the key a word at a time and never allocates.
//
// bpe_encode_piece() encodes one pre-token:
//   1. if the whole piece is a token, emit it (HF ignore_merges, llama.cpp PR #7193);
//   2. else start from single bytes and repeatedly merge the adjacent pair whose
//      concatenation has the lowest rank, leftmost on ties, until no adjacent
//      concatenation is a token;
//   3. emit the parts' ranks.
// Step 2 has two implementations that make the same merges:
//  * fast path, pieces of at most kBpeSmallPiece bytes (nearly all real pre-tokens):
//    tiktoken's own loop on fixed stack arrays - part boundaries plus the rank of each
//    adjacent pair; each step scans for the lowest rank (strict <, so leftmost wins
//    ties), merges, and re-looks-up only the two pairs that touch the merged part. It is
//    O(n^2) but n <= 64 and it allocates nothing, which beats the heap on short pieces;
//  * long pieces: the parts live in a doubly linked list and the candidate pairs in a
//    binary heap keyed (rank, start offset), with stale entries skipped on pop, so a
//    piece of n bytes costs O(n log n) even for a 1 MB piece without spaces (tiktoken's
//    own loop is quadratic there).
// Pairs longer than the longest token are never looked up.
//
// Precondition: every single byte is a token (checked by Tokenizer::from_vocab), so
// encoding cannot fail.
// Thread safety: RankTable is immutable after build(); bpe_encode_piece is reentrant.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace herd::tokenizer {

class RankTable {
 public:
  // Indexes tokens[0..n) with rank = index.
  void build(const std::vector<std::string>& tokens, int32_t n);

  // The rank of bytes, or -1.
  int32_t find(std::string_view bytes) const;

  size_t max_token_len() const { return max_len_; }

  // The rank of the single byte b (-1 if the vocab lacks it).
  int32_t byte_rank(uint8_t b) const { return byte_rank_[b]; }

 private:
  std::string_view bytes_of(int32_t rank) const {
    return std::string_view(arena_).substr(offsets_[static_cast<size_t>(rank)],
                                           offsets_[static_cast<size_t>(rank) + 1] - offsets_[static_cast<size_t>(rank)]);
  }

  std::string arena_;              // all tokens' bytes, concatenated in rank order
  std::vector<uint32_t> offsets_;  // [n + 1] start of each token in arena_
  struct Key {
    uint64_t word;  // packed bytes (<= 8 bytes) or the hash (longer)
    uint64_t hash;
  };
  struct Slot {
    uint64_t word = 0;  // Key::word of the token
    int32_t rank = -1;  // -1: empty
    uint32_t len = 0;
  };
  static Key key_of(std::string_view bytes);

  std::vector<Slot> slots_;        // [power of two] open addressing, linear probing
  int32_t byte_rank_[256] = {};    // rank of each single byte, or -1
  size_t mask_ = 0;
  size_t max_len_ = 0;
};

// Pieces up to this many bytes take the allocation-free fast path of bpe_encode_piece.
inline constexpr size_t kBpeSmallPiece = 64;

// Appends the ids of one pre-token (non-empty) to out.
void bpe_encode_piece(const RankTable& ranks, std::string_view piece, std::vector<int32_t>& out);

namespace detail {

inline uint64_t load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint64_t load32(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

inline uint64_t mix(uint64_t h) {
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

}  // namespace detail

// A key of n <= 8 bytes packs into one word that is injective for a fixed n: two
// overlapping 4-byte loads for 4..8 bytes; first, middle and last byte for 1..3 (no read
// outside the key). Such a key is matched by (word, length) alone, without touching the
// arena. A longer key's word is its full 64-bit hash (word-at-a-time multiply-xorshift,
// splitmix64 constants), and a (word, length) match is confirmed against the arena.
inline RankTable::Key RankTable::key_of(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  const uint64_t seed = 0x9E3779B97F4A7C15ull * (n + 1);
  if (n <= 8) {
    uint64_t w = 0;
    if (n >= 4) {
      w = (detail::load32(p) << 32) | detail::load32(p + n - 4);
    } else if (n > 0) {
      w = (uint64_t{static_cast<uint8_t>(p[0])} << 16) | (uint64_t{static_cast<uint8_t>(p[n / 2])} << 8) |
          static_cast<uint8_t>(p[n - 1]);
    }
    return {w, detail::mix((w ^ seed) * 0x94D049BB133111EBull)};
  }
  uint64_t h = seed;
  while (n > 8) {
    h = (h ^ detail::load64(p)) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  h = detail::mix((h ^ detail::load64(p + n - 8)) * 0x94D049BB133111EBull);  // last 8 bytes, overlapping
  return {h, h};
}

inline int32_t RankTable::find(std::string_view bytes) const {
  const size_t n = bytes.size();
  if (slots_.empty() || n > max_len_) return -1;
  const Key k = key_of(bytes);
  for (size_t h = k.hash & mask_;; h = (h + 1) & mask_) {
    const Slot& slot = slots_[h];
    if (slot.rank < 0) return -1;
    if (slot.word == k.word && slot.len == n && (n <= 8 || bytes_of(slot.rank) == bytes)) return slot.rank;
  }
}

}  // namespace herd::tokenizer
