// Byte-pair encoding with tiktoken semantics over a rank table (spec/llama31.md 4.4).
//
// RankTable maps a byte string to its rank (= token id for Llama 3) with an
// open-addressing hash table over one byte arena, so it is cheap to copy and holds no
// pointers into the Vocab it was built from.
//
// bpe_encode_piece() encodes one pre-token:
//   1. if the whole piece is a token, emit it (HF ignore_merges, llama.cpp PR #7193);
//   2. else start from single bytes and repeatedly merge the adjacent pair whose
//      concatenation has the lowest rank, leftmost on ties, until no adjacent
//      concatenation is a token;
//   3. emit the parts' ranks.
// Step 2 keeps the parts in a doubly linked list and the candidate pairs in a binary
// heap keyed (rank, start offset), with stale entries skipped on pop, so a piece of n
// bytes costs O(n log n) even for a 1 MB piece without spaces (tiktoken's own loop is
// quadratic there). Pairs longer than the longest token are never looked up.
//
// Precondition: every single byte is a token (checked by Tokenizer::from_vocab), so
// encoding cannot fail.
// Thread safety: RankTable is immutable after build(); bpe_encode_piece is reentrant.
#pragma once

#include <cstdint>
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

 private:
  std::string_view bytes_of(int32_t rank) const {
    return std::string_view(arena_).substr(offsets_[static_cast<size_t>(rank)],
                                           offsets_[static_cast<size_t>(rank) + 1] - offsets_[static_cast<size_t>(rank)]);
  }

  std::string arena_;              // all tokens' bytes, concatenated in rank order
  std::vector<uint32_t> offsets_;  // [n + 1] start of each token in arena_
  std::vector<int32_t> slots_;     // [power of two] rank or -1 (empty)
  size_t mask_ = 0;
  size_t max_len_ = 0;
};

// Appends the ids of one pre-token (non-empty) to out.
void bpe_encode_piece(const RankTable& ranks, std::string_view piece, std::vector<int32_t>& out);

}  // namespace herd::tokenizer
