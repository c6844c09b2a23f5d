// Sampler: turns one position's logits into the next token.
//
// The transforms are a closed set applied in a fixed order:
//   1. penalties over the last `penalty_last_n` tokens of the sequence:
//      repetition (CTRL-style: positive logits / r, negative * r), frequency
//      (- f * count) and presence (- p * [count > 0]), as llama.cpp and the
//      OpenAI API define them;
//   2. temperature <= 0: greedy argmax (lowest id on ties), done;
//   3. logits / temperature, softmax (Meta applies temperature before top-p);
//   4. top-k (k <= 0: off), 5. top-p over what top-k kept, renormalised
//      (smallest prefix whose mass reaches p, at least one token, Meta's
//      rule), 6. min-p (drop p < min_p * p_max);
//   7. renormalise and draw with a counter-based RNG keyed by (seed, stream)
//      at draw number `step`, so a sequence's tokens do not depend on
//      anything else being sampled at the same time.
// Defaults are Meta's generation defaults (temperature 0.6, top_p 0.9).
//
// Cost: O(V) per draw at temperature > 0 without top-k (a softmax, then
// either a radix selection of the token (no top-p/min-p) or a radix sort of
// only the buckets of p that top-p / min-p keep), O(V log k) with top-k.
//
// Thread safety: a Sampler is owned by one sequence. sample() does not
// allocate after the first call (buffers are reused). Different Samplers may
// sample concurrently (the engine draws for several sequences at once).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/rng.h"

namespace herd::sampling {

struct SamplingParams {
  float temperature = 0.6f;
  int32_t top_k = 0;
  float top_p = 0.9f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t penalty_last_n = 64;
  uint64_t seed = 0;
  uint64_t stream = 0;  // e.g. request id

  Status validate() const;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p);

  // Picks the next token from logits[vocab]; `history` is the sequence so far
  // (prompt and generated) for the penalties. Advances the draw counter.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplingParams& params() const { return p_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  // cand_ (in ascending id order) sorted by descending p, ties by ascending id.
  void sort_by_p();
  // keys_[0..n) (packed order keys) sorted; cand_[0..n) rewritten from them.
  void sort_keys(size_t n);
  // Sorts into cand_[0..m) the first m candidates of the by-p order, m large
  // enough that their mass exceeds need_mass (>= 1: all) and every candidate
  // with p >= floor is among them; returns m. cand_[m..) holds the other
  // candidates, in no particular order.
  size_t sort_prefix(double need_mass, float floor);
  // Draws from the whole distribution (no top-k/top-p/min-p) walking the by-p
  // order with r = u * total mass, by radix selection instead of a sort.
  int32_t draw_full(double u);
  SamplingParams p_;
  Rng rng_;
  uint64_t step_ = 0;
  std::vector<Candidate> cand_;
  std::vector<uint64_t> keys_, radix_tmp_;  // sort_by_p: packed (~bits(p), id) keys, two buffers
  std::vector<float> adjusted_;
  std::vector<int32_t> window_;  // penalty window, sorted to count
};

}  // namespace herd::sampling
