// Tests of the Sampler's transform chain (sampling/sampler.h).
//
// The sampler exposes only the token it draws, so two kinds of check are used:
//  * Threshold probes with greedy decoding (temperature 0): the transformed
//    logit of a token is pinned by racing it against a competitor placed
//    1e-6 above and 1e-6 below the hand-computed value. Every hand value is
//    exactly representable (e.g. 3 / 1.5 = 2), and 1e-6 is several float
//    ulps at these magnitudes (ulp(2) = 2.4e-7), so the probe pins the value
//    to within 1e-6.
//  * Frequencies over N draws against hand-computed renormalised
//    probabilities. The count of a token with probability p is
//    Binomial(N, p), so its frequency has standard deviation
//    sqrt(p (1 - p) / N); we allow 5 sigma (two-sided false-alarm rate
//    5.7e-7 per check, and the seeds are fixed, so a pass is reproducible).
//    Tokens a transform must drop are checked exactly: zero draws.
//    The sampler's own softmax is float32 (relative error ~1e-7), far below
//    the 5-sigma width (>= 1e-3 at N = 200000), so it does not enter the
//    tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "base/rng.h"
#include "sampling/sampler.h"

namespace herd::sampling {
namespace {

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

// Plain sampling at temperature 1 with every filter off.
SamplingParams plain() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 1.0f;
  p.top_k = 0;
  p.min_p = 0.0f;
  return p;
}

// Logits whose softmax (at temperature t) is `probs` (which need not sum to
// 1: softmax renormalises, so the logits are log p up to a constant).
std::vector<float> logits_for(const std::vector<double>& probs, double t = 1.0) {
  std::vector<float> l;
  for (double p : probs) l.push_back(p > 0 ? static_cast<float>(t * std::log(p)) : -INFINITY);
  return l;
}

// Draws n tokens and checks frequencies against `want` (renormalised here).
void expect_frequencies(SamplingParams params, const std::vector<float>& logits, std::vector<double> want,
                        const std::string& what, int n = 200000) {
  double total = 0;
  for (double w : want) total += w;
  for (double& w : want) w /= total;
  Sampler s(params);
  std::vector<int64_t> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    const int32_t tok = s.sample(logits, {});
    ASSERT_GE(tok, 0);
    ASSERT_LT(static_cast<size_t>(tok), logits.size());
    ++counts[static_cast<size_t>(tok)];
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const double freq = static_cast<double>(counts[i]) / n;
    if (want[i] == 0) {
      EXPECT_EQ(counts[i], 0) << what << ": token " << i << " must be filtered out";
      continue;
    }
    const double sigma = std::sqrt(want[i] * (1 - want[i]) / n);
    EXPECT_NEAR(freq, want[i], 5 * sigma) << what << ": token " << i << " (" << counts[i] << " of " << n << ")";
  }
}

// --------------------------------------------------------------------------
// Greedy

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s(greedy());
  EXPECT_EQ(s.sample(std::vector<float>{1, 5, 3, 5}, {}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{0, 0, 0}, {}), 0);
  EXPECT_EQ(s.sample(std::vector<float>{-3, -1, -2, -1}, {}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{-INFINITY, 2, 7}, {}), 2);
  EXPECT_EQ(s.sample(std::vector<float>{4}, {}), 0);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  SamplingParams p = plain();
  p.top_k = 1;
  p.temperature = 0.8f;
  Sampler k1(p), g(greedy());
  for (uint64_t trial = 0; trial < 300; ++trial) {
    Rng r(5, trial);
    std::vector<float> logits(50);
    for (auto& l : logits) l = r.next_normal() * 3.0f;
    ASSERT_EQ(k1.sample(logits, {}), g.sample(logits, {})) << "trial " << trial;
  }
}

// --------------------------------------------------------------------------
// Distributions

TEST(Sampler, SoftmaxAtTemperature) {
  const std::vector<double> probs = {0.1, 0.4, 0.2, 0.3};
  // Logits built so that softmax(l / 0.5) == probs.
  SamplingParams p = plain();
  p.temperature = 0.5f;
  expect_frequencies(p, logits_for(probs, 0.5), probs, "temperature 0.5");
  // The same logits at temperature 1 give probs^(1/2), renormalised.
  p.temperature = 1.0f;
  std::vector<double> flat;
  for (double q : probs) flat.push_back(std::sqrt(q));
  expect_frequencies(p, logits_for(probs, 0.5), flat, "temperature 1 on logits made for 0.5");
}

TEST(Sampler, TopPKeepsMetaPrefix) {
  // Sorted: id 2 (0.4), id 0 (0.3), id 3 (0.2), id 1 (0.1).
  const std::vector<double> probs = {0.3, 0.1, 0.4, 0.2};
  const std::vector<float> logits = logits_for(probs);
  SamplingParams p = plain();
  // Meta: drop a token when the mass before it exceeds p. Masses before:
  // 0, 0.4, 0.7, 0.9.
  p.top_p = 0.65f;  // keeps ids 2, 0 (0.7 > 0.65 drops id 3)
  expect_frequencies(p, logits, {0.3, 0, 0.4, 0}, "top_p 0.65");
  p.top_p = 0.75f;  // 0.7 <= 0.75 keeps id 3 as well
  expect_frequencies(p, logits, {0.3, 0, 0.4, 0.2}, "top_p 0.75");
  p.top_p = 0.35f;  // 0.4 > 0.35: only the top token
  expect_frequencies(p, logits, {0, 0, 1, 0}, "top_p 0.35");
  p.top_p = 0.01f;  // at least one token is always kept
  expect_frequencies(p, logits, {0, 0, 1, 0}, "top_p 0.01", 1000);
  p.top_p = 0.95f;  // 0.9 <= 0.95: everything
  expect_frequencies(p, logits, probs, "top_p 0.95");
}

TEST(Sampler, TopPAfterTopKUsesRenormalisedMass) {
  // Regression: top-p must see the distribution top-k left behind,
  // renormalised (as HF's warper chain, llama.cpp and vLLM do). Top-2 of
  // {0.4, 0.3, 0.2, 0.1} is {4/7, 3/7}; with top_p = 0.5 the mass before the
  // second token, 4/7 = 0.571, exceeds 0.5, so only the top token remains.
  // (Unrenormalised, 0.4 <= 0.5 would wrongly keep both.)
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  SamplingParams p = plain();
  p.top_k = 2;
  p.top_p = 0.5f;
  expect_frequencies(p, logits_for(probs), {1, 0, 0, 0}, "top_k 2 + top_p 0.5", 2000);
  p.top_p = 0.6f;  // 4/7 <= 0.6: both survive
  expect_frequencies(p, logits_for(probs), {0.4, 0.3, 0, 0}, "top_k 2 + top_p 0.6");
}

TEST(Sampler, TopK) {
  const std::vector<double> probs = {0.05, 0.25, 0.3, 0.15, 0.25};
  SamplingParams p = plain();
  p.top_k = 3;  // 0.3, then the 0.25 tie broken by lower id: ids 2, 1, 4
  expect_frequencies(p, logits_for(probs), {0, 0.25, 0.3, 0, 0.25}, "top_k 3");
  p.top_k = 100;  // larger than the vocabulary: no-op
  expect_frequencies(p, logits_for(probs), probs, "top_k 100");
}

TEST(Sampler, MinPDropsBelowFractionOfMax) {
  const std::vector<double> probs = {0.15, 0.5, 0.05, 0.3};
  SamplingParams p = plain();
  p.min_p = 0.2f;  // floor 0.2 * 0.5 = 0.1: drops only 0.05
  expect_frequencies(p, logits_for(probs), {0.15, 0.5, 0, 0.3}, "min_p 0.2");
  p.min_p = 0.5f;  // floor 0.25: keeps 0.5 and 0.3
  expect_frequencies(p, logits_for(probs), {0, 0.5, 0, 0.3}, "min_p 0.5");
  p.min_p = 1.0f;  // only the max
  expect_frequencies(p, logits_for(probs), {0, 1, 0, 0}, "min_p 1", 1000);
}

// --------------------------------------------------------------------------
// Penalties, probed with greedy decoding (see the file comment).

// Returns the greedy choice between token 0 (penalised through `history`)
// and token 1 (a competitor with logit `competitor`; tests keep it out of
// the history). Tokens 2 and 3 are fillers that histories may mention; their
// logits (-100) never win, penalised or not.
int32_t race(SamplingParams p, float logit0, float competitor, const std::vector<int32_t>& history) {
  p.temperature = 0.0f;
  Sampler s(p);
  return s.sample(std::vector<float>{logit0, competitor, -100.0f, -100.0f}, history);
}

// Checks that token 0's penalised logit is `want` to within 1e-6.
void expect_penalised(const SamplingParams& p, float logit0, double want, const std::vector<int32_t>& history,
                      const std::string& what) {
  EXPECT_EQ(race(p, logit0, static_cast<float>(want + 1e-6), history), 1) << what << ": above " << want;
  EXPECT_EQ(race(p, logit0, static_cast<float>(want - 1e-6), history), 0) << what << ": below " << want;
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  SamplingParams p = plain();
  p.repetition_penalty = 1.5f;
  expect_penalised(p, 3.0f, 2.0, {0}, "positive / 1.5");
  expect_penalised(p, -1.0f, -1.5, {0}, "negative * 1.5");
  expect_penalised(p, 0.0f, 0.0, {0}, "zero stays zero");
  // Counted once no matter how often the token occurs.
  expect_penalised(p, 3.0f, 2.0, {0, 0, 0}, "repeated token");
  // A token not in the history is untouched.
  expect_penalised(p, 3.0f, 3.0, {2, 3}, "other tokens");
}

TEST(Sampler, FrequencyAndPresencePenalties) {
  SamplingParams p = plain();
  p.frequency_penalty = 0.25f;
  expect_penalised(p, 1.0f, 1.0 - 3 * 0.25, {0, 2, 0, 0}, "frequency * count 3");
  p.frequency_penalty = 0.0f;
  p.presence_penalty = 0.5f;
  expect_penalised(p, 1.0f, 0.5, {0, 0, 0}, "presence once");
  p.frequency_penalty = 0.25f;
  expect_penalised(p, 1.0f, 1.0 - 2 * 0.25 - 0.5, {0, 0}, "both");
  // Negative penalties encourage repetition (OpenAI allows [-2, 2]).
  p.frequency_penalty = -0.5f;
  p.presence_penalty = 0.0f;
  expect_penalised(p, 1.0f, 2.0, {0, 0}, "negative frequency");
  // Repetition first, then the additive penalties: (3 / 1.5) - 1 * 0.5 - 0.25.
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  expect_penalised(p, 3.0f, 2.0 - 0.5 - 0.25, {0}, "all three");
}

TEST(Sampler, PenaltyWindow) {
  SamplingParams p = plain();
  p.frequency_penalty = 1.0f;
  const std::vector<int32_t> hist = {0, 0, 0, 2, 2};
  p.penalty_last_n = 2;  // window {2, 2}: token 0 untouched
  expect_penalised(p, 5.0f, 5.0, hist, "last 2");
  p.penalty_last_n = 4;  // window {0, 0, 2, 2}
  expect_penalised(p, 5.0f, 3.0, hist, "last 4");
  p.penalty_last_n = -1;  // whole history
  expect_penalised(p, 5.0f, 2.0, hist, "whole history");
  p.penalty_last_n = 0;  // off
  expect_penalised(p, 5.0f, 5.0, hist, "window 0");
  p.penalty_last_n = 100;  // longer than the history
  expect_penalised(p, 5.0f, 2.0, hist, "window > history");
}

TEST(Sampler, HistoryIdsOutsideVocabularyAreIgnored) {
  SamplingParams p = plain();
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 1.0f;
  expect_penalised(p, 4.0f, 4.0, {-1, 2, 1000000}, "out-of-range ids");
}

// --------------------------------------------------------------------------
// Reproducibility

std::vector<int32_t> draw_sequence(uint64_t seed, uint64_t stream, int n) {
  SamplingParams p = plain();
  p.seed = seed;
  p.stream = stream;
  Sampler s(p);
  std::vector<float> logits(64, 0.0f);  // uniform: maximal entropy
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits, out));
  return out;
}

TEST(Sampler, SameSeedAndStreamSameSequence) {
  EXPECT_EQ(draw_sequence(7, 3, 200), draw_sequence(7, 3, 200));
  // Over a uniform 64-token vocabulary two independent sequences of 200
  // agree with probability 64^-200: "different" is a certainty here.
  EXPECT_NE(draw_sequence(7, 3, 200), draw_sequence(7, 4, 200));
  EXPECT_NE(draw_sequence(7, 3, 200), draw_sequence(8, 3, 200));
}

TEST(Sampler, DrawsDoNotDependOnOtherSamplers) {
  // Interleaving another sequence's sampler changes nothing (counter-based RNG).
  SamplingParams a = plain(), b = plain();
  a.stream = 1;
  b.stream = 2;
  std::vector<float> logits(64, 0.0f);
  Sampler alone(a), mixed(a), other(b);
  for (int i = 0; i < 100; ++i) {
    other.sample(logits, {});
    ASSERT_EQ(alone.sample(logits, {}), mixed.sample(logits, {})) << "draw " << i;
  }
}

// The draw as the chain defines it, with a plain std::sort by (p desc, id asc):
// the spec the sampler's radix sort and selections must reproduce exactly
// (same token for the same counter-based draw, not merely the same
// distribution). Without top-p and min-p the sampler adds the masses in
// bucket order rather than this walk's order, so a draw landing within
// ~1e-16 of a boundary could differ; no draw here does.
int32_t reference_draw(const std::vector<float>& logits, float temperature, float top_p, Rng& rng,
                       float min_p = 0.0f) {
  struct C {
    int32_t id;
    float logit, p;
  };
  std::vector<C> c;
  float mx = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i) {
    c.push_back({static_cast<int32_t>(i), logits[i] / temperature, 0.0f});
    mx = std::max(mx, c.back().logit);
  }
  double sum = 0;
  for (C& x : c) {
    x.p = std::exp(x.logit - mx);
    sum += x.p;
  }
  for (C& x : c) x.p = static_cast<float>(x.p / sum);
  std::sort(c.begin(), c.end(), [](const C& a, const C& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); });
  size_t keep = c.size();
  if (top_p < 1.0f) {
    double cum = 0;
    size_t i = 0;
    for (; i < keep; ++i) {
      if (cum > top_p) break;
      cum += c[i].p;
    }
    keep = std::max<size_t>(1, i);
  }
  if (min_p > 0.0f) {
    size_t i = 1;
    while (i < keep && c[i].p >= min_p * c[0].p) ++i;
    keep = i;
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += c[i].p;
  const double r = rng.next_double() * mass;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += c[i].p;
    if (r < cum) return c[i].id;
  }
  return c[keep - 1].id;
}

TEST(Sampler, RadixOrderEqualsComparisonSort) {
  // Logits on a coarse grid (many exact ties in p), a few masked (-inf: p == 0,
  // sorted last by id) and a wide range (p spanning many binades), over a
  // vocabulary that is not a power of two.
  Rng gen(11, 0);
  std::vector<float> logits(5003);
  for (float& l : logits) {
    const uint64_t u = gen.next_u64();
    l = (u % 97 == 0) ? -INFINITY : static_cast<float>(static_cast<int>(u % 41) - 20) * 0.5f;
  }
  for (float top_p : {1.0f, 0.9f, 0.3f}) {
    SamplingParams p = plain();
    p.top_p = top_p;
    p.temperature = 0.7f;
    p.seed = 5;
    Sampler s(p);
    Rng ref(p.seed, p.stream);
    for (int i = 0; i < 200; ++i)
      ASSERT_EQ(s.sample(logits, {}), reference_draw(logits, p.temperature, top_p, ref))
          << "draw " << i << ", top_p " << top_p;
  }
}

// The full Llama 3 vocabulary with logits like a model's (normal, std 3, a
// few large outliers): the selections (top-p and min-p sort only the buckets
// they keep; plain sampling walks by radix selection) give the reference's
// token on every draw.
TEST(Sampler, SelectionEqualsFullSortOnTheLlamaVocabulary) {
  Rng gen(17, 0);
  std::vector<std::vector<float>> rows(4, std::vector<float>(128256));
  for (auto& row : rows) {
    for (float& l : row) l = static_cast<float>(3.0 * gen.next_normal());
    for (int k = 0; k < 5; ++k) row[gen.next_u64() % row.size()] += 12.0f;
  }
  for (float top_p : {1.0f, 0.95f, 0.5f})
    for (float min_p : {0.0f, 0.05f}) {
      SamplingParams p = plain();
      p.top_p = top_p;
      p.min_p = min_p;
      p.temperature = 1.0f;
      p.seed = 9;
      Sampler s(p);
      Rng ref(p.seed, p.stream);
      for (int i = 0; i < 20; ++i) {
        const std::vector<float>& row = rows[static_cast<size_t>(i) % rows.size()];
        ASSERT_EQ(s.sample(row, {}), reference_draw(row, p.temperature, top_p, ref, min_p))
            << "draw " << i << ", top_p " << top_p << ", min_p " << min_p;
      }
    }
}

// --------------------------------------------------------------------------
// Validation

TEST(SamplingParams, DefaultsAreMetasAndValid) {
  SamplingParams p;
  EXPECT_EQ(p.temperature, 0.6f);
  EXPECT_EQ(p.top_p, 0.9f);
  EXPECT_TRUE(p.validate());
  p.temperature = 0.0f;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.penalty_last_n = -1;
  p.top_k = -5;  // <= 0 means off, not an error
  EXPECT_TRUE(p.validate());
}

TEST(SamplingParams, RejectsBadValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* name;
    void (*mutate)(SamplingParams&, float nan, float inf);
  };
  const Case cases[] = {
      {"temperature -0.1", [](SamplingParams& p, float, float) { p.temperature = -0.1f; }},
      {"temperature nan", [](SamplingParams& p, float n, float) { p.temperature = n; }},
      {"temperature inf", [](SamplingParams& p, float, float i) { p.temperature = i; }},
      {"top_p 0", [](SamplingParams& p, float, float) { p.top_p = 0.0f; }},
      {"top_p 1.01", [](SamplingParams& p, float, float) { p.top_p = 1.01f; }},
      {"top_p nan", [](SamplingParams& p, float n, float) { p.top_p = n; }},
      {"min_p -0.1", [](SamplingParams& p, float, float) { p.min_p = -0.1f; }},
      {"min_p 1.5", [](SamplingParams& p, float, float) { p.min_p = 1.5f; }},
      {"min_p nan", [](SamplingParams& p, float n, float) { p.min_p = n; }},
      {"repetition_penalty 0", [](SamplingParams& p, float, float) { p.repetition_penalty = 0.0f; }},
      {"repetition_penalty -1", [](SamplingParams& p, float, float) { p.repetition_penalty = -1.0f; }},
      {"repetition_penalty inf", [](SamplingParams& p, float, float i) { p.repetition_penalty = i; }},
      {"repetition_penalty nan", [](SamplingParams& p, float n, float) { p.repetition_penalty = n; }},
      {"frequency_penalty inf", [](SamplingParams& p, float, float i) { p.frequency_penalty = i; }},
      {"presence_penalty nan", [](SamplingParams& p, float n, float) { p.presence_penalty = n; }},
      {"penalty_last_n -2", [](SamplingParams& p, float, float) { p.penalty_last_n = -2; }},
  };
  for (const Case& c : cases) {
    SamplingParams p;
    c.mutate(p, nan, inf);
    Status s = p.validate();
    ASSERT_FALSE(s) << c.name << " should be rejected";
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument) << c.name;
    EXPECT_FALSE(s.error().message().empty()) << c.name;
  }
}

}  // namespace
}  // namespace herd::sampling

// Regression: a positive temperature so small that logit / temperature
// overflows to inf (softmax -> NaN) is rejected instead of sampling garbage.
TEST(SamplingParams, RejectsTemperatureThatOverflowsLogits) {
  herd::sampling::SamplingParams p;
  p.temperature = 1e-38f;
  EXPECT_FALSE(p.validate().has_value());
  p.temperature = 1e-4f;
  EXPECT_TRUE(p.validate().has_value());
  p.temperature = 0.0f;
  EXPECT_TRUE(p.validate().has_value());
}
