// JsonSchemaConstraint: a sampling::TokenConstraint that keeps generated tokens inside
// a JSON Grammar (json_grammar.h).
//
// mask() walks every candidate token's bytes through a copy of the automaton. The
// vocabulary is indexed once per tokenizer (VocabIndex, shared by every constraint):
// a byte trie in preorder (each node knows the end of its subtree), so tokens sharing a
// prefix walk it once and a rejected prefix skips its whole subtree. Inside a string
// body without a pattern (most of the time in practice) the "plain" tokens (complete
// UTF-8 with no quote, backslash or control byte) are allowed by their length in code
// points alone and only the other tokens are walked, through a second, much smaller
// trie; in a string with a pattern the plain tokens are walked through the pattern's
// DFA alone (a table lookup per byte). Inside a string the walk advances only the string
// frame (Matcher::string_step) until a closing quote, after which the automaton takes
// over from the state with the string closed; an additional property's key is handled
// the same way, with the printable-ASCII plain tokens allowed by length.
//
// Special tokens are never allowed except the end token (<|eot_id|>) once the value is
// complete. complete() is true only when nothing more may follow (a closed object, the
// last of max_calls tool calls); where more may follow (a top-level number, another
// parallel tool call) the model chooses between continuing and <|eot_id|>.
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
  std::vector<TrieNode> plain_trie;  // the plain tokens
  std::vector<TrieNode> ascii_nonplain;  // the tokens that are not plain printable ASCII
  std::vector<int32_t> plain;      // plain tokens, fewest code points first
  std::vector<uint32_t> plain_end; // plain_end[L]: count of plain tokens of <= L code points
  std::vector<int32_t> ascii_plain;       // plain printable-ASCII tokens, shortest first
  std::vector<uint32_t> ascii_plain_end;  // as plain_end, for ascii_plain
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
  void walk_pattern(const StringScan& ss);
  void walk_string(const StringScan& ss, const std::vector<VocabIndex::TrieNode>& trie);
  std::shared_ptr<const VocabIndex> index_;
  Matcher state_;
  std::vector<Matcher> scratch_;  // one per trie depth
  std::vector<int> dfa_states_, dfa_chars_;  // walk_pattern(): per trie depth
  std::vector<Frame> str_frames_;            // walk_string(): per trie depth
  std::vector<uint8_t> in_string_;           // walk_string(): still in the string at that depth
  Matcher closed_;                           // walk_string(): the state after the string
  std::vector<uint8_t> allowed_;
  std::string text_;
  bool ended_ = false;
};

}  // namespace herd::grammar
