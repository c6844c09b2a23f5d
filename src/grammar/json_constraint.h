// JsonSchemaConstraint: a sampling::TokenConstraint that keeps generated tokens inside
// a JSON Grammar (json_grammar.h).
//
// mask() walks every candidate token's bytes through a copy of the automaton. The
// vocabulary is indexed once per tokenizer (VocabIndex, shared by every constraint):
// a byte trie in preorder (each node knows the end of its subtree), so tokens sharing a
// prefix walk it once and a rejected prefix skips its whole subtree. Inside a string
// body (most of the time in practice) the "plain" tokens (complete UTF-8 with no
// quote, backslash or control byte) are allowed by length alone and only the other
// tokens are walked, through a second, much smaller trie.
//
// Special tokens are never allowed except the end token (<|eot_id|>) once the value is
// complete (the engine normally stops the sequence first, on complete()).
//
// Thread safety: VocabIndex is immutable; a constraint belongs to one sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "grammar/json_grammar.h"
#include "sampling/constraint.h"
#include "tokenizer/tokenizer.h"

namespace herd::grammar {

class VocabIndex {
 public:
  static std::shared_ptr<const VocabIndex> build(const tokenizer::Tokenizer& tok);

  struct TrieNode {
    uint8_t byte;
    uint16_t depth;
    int32_t token;  // -1: no token ends here
    uint32_t end;   // index after this node's subtree
  };
  std::vector<TrieNode> full;      // every non-special token; [0] is the root
  std::vector<TrieNode> nonplain;  // the tokens that are not plain string content
  std::vector<int32_t> plain;      // plain tokens, shortest first
  std::vector<uint32_t> plain_end; // plain_end[L]: count of plain tokens of length <= L
  std::vector<std::string> bytes;  // token bytes by id (empty for special)
  int32_t n_vocab = 0;
  int32_t eot = -1;
  int max_depth = 0;
};

class JsonSchemaConstraint final : public sampling::TokenConstraint {
 public:
  JsonSchemaConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabIndex> index);

  void mask(std::span<float> logits) override;
  void accept(int32_t id) override;
  bool complete() const override;

  // The bytes accepted so far.
  const std::string& text() const { return text_; }
  // Token ids mask() allowed last time (for tests).
  const std::vector<uint8_t>& allowed() const { return allowed_; }

 private:
  void walk(const std::vector<VocabIndex::TrieNode>& trie);
  std::shared_ptr<const VocabIndex> index_;
  Matcher state_;
  std::vector<Matcher> scratch_;  // one per trie depth
  std::vector<uint8_t> allowed_;
  std::string text_;
  bool ended_ = false;
};

}  // namespace herd::grammar
