// Sampler: the fixed transform chain documented in sampler.h.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace herd::sampling {

Status SamplingParams::validate() const {
  // 1e-4 keeps logit / temperature finite for any float logit (|logit| < 3.4e34
  // stays below FLT_MAX after the division); use 0 for greedy.
  if (!(temperature == 0 || (temperature >= 1e-4f && temperature <= 1e4f)))
    return err(ErrorCode::kInvalidArgument, "temperature %g must be 0 (greedy) or in [1e-4, 1e4]",
               static_cast<double>(temperature));
  if (!(top_p > 0 && top_p <= 1))
    return err(ErrorCode::kInvalidArgument, "top_p %g must be in (0, 1]", static_cast<double>(top_p));
  if (!(min_p >= 0 && min_p <= 1))
    return err(ErrorCode::kInvalidArgument, "min_p %g must be in [0, 1]", static_cast<double>(min_p));
  if (!(repetition_penalty > 0) || !std::isfinite(repetition_penalty))
    return err(ErrorCode::kInvalidArgument, "repetition_penalty %g must be > 0", static_cast<double>(repetition_penalty));
  if (!std::isfinite(frequency_penalty) || !std::isfinite(presence_penalty))
    return err(ErrorCode::kInvalidArgument, "frequency/presence penalties must be finite");
  if (penalty_last_n < -1)
    return err(ErrorCode::kInvalidArgument, "penalty_last_n %d must be >= -1 (-1: whole sequence)", penalty_last_n);
  return Ok{};
}

Sampler::Sampler(SamplingParams p) : p_(p), rng_(p.seed, p.stream) {}

// The order of by_p in sample() (descending p, ties by ascending id), by a
// stable LSD radix sort of packed 64-bit keys (~bits(p) << 32 | id) on their
// high 32 bits: for p >= 0 the IEEE-754 bit pattern orders like the value, so
// ascending ~bits is descending p, and stability keeps equal p in the
// ascending id order cand_ starts in (the low half). The result is the
// permutation std::sort with by_p gives, in 3 linear passes instead of
// ~V log V comparisons (a 128k vocabulary: ~1 ms instead of ~8 ms).
// Afterwards cand_ holds id and p; logit is not kept (nothing reads it).
namespace {

// The packed order key of candidate (id, p): ascending key = descending p,
// ties by ascending id (see sort_keys).
inline uint64_t order_key(int32_t id, float p) {
  uint32_t bits;
  std::memcpy(&bits, &p, sizeof bits);
  return static_cast<uint64_t>(~bits) << 32 | static_cast<uint32_t>(id);
}
inline float key_p(uint64_t key) {
  const auto bits = ~static_cast<uint32_t>(key >> 32);
  float p;
  std::memcpy(&p, &bits, sizeof p);
  return p;
}
inline int32_t key_id(uint64_t key) { return static_cast<int32_t>(static_cast<uint32_t>(key)); }

// Radix digits of a key for the selections below: 11 bits at a time from the
// top, so a digit's buckets are ranges of p in descending order.
constexpr int kDigitBits = 11;
constexpr uint32_t kBuckets = 1u << kDigitBits;
inline uint32_t digit(uint64_t key, int shift) { return static_cast<uint32_t>(key >> shift) & (kBuckets - 1); }
constexpr int kTopShift = 64 - kDigitBits;       // first digit: sign, exponent, 2 mantissa bits of ~p
constexpr int kNextShift = 64 - 2 * kDigitBits;  // second digit: the next 11 mantissa bits

}  // namespace

void Sampler::sort_by_p() {
  const size_t n = cand_.size();
  keys_.resize(n);
  for (size_t i = 0; i < n; ++i) keys_[i] = order_key(cand_[i].id, cand_[i].p);
  sort_keys(n);
}

void Sampler::sort_keys(size_t n) {
  radix_tmp_.resize(std::max(radix_tmp_.size(), n));
  uint64_t* src = keys_.data();
  uint64_t* dst = radix_tmp_.data();
  if (n < 4096) {
    std::sort(src, src + n);  // few keys: a comparison sort beats three 2048-bucket passes
  } else {
    // Plain pointer loops: this runs over up to the whole vocabulary, and
    // also has to be quick in the unoptimised sanitizer builds.
    for (int shift = 32; shift < 64; shift += kDigitBits) {
      uint32_t count[kBuckets] = {};
      for (size_t i = 0; i < n; ++i) ++count[digit(src[i], shift)];
      if (count[digit(src[0], shift)] == n) continue;  // one bucket: already in order
      uint32_t sum = 0;
      for (uint32_t b = 0; b < kBuckets; ++b) {
        const uint32_t c = count[b];
        count[b] = sum;
        sum += c;
      }
      for (size_t i = 0; i < n; ++i) dst[count[digit(src[i], shift)]++] = src[i];
      std::swap(src, dst);
    }
  }
  Candidate* out = cand_.data();
  for (size_t i = 0; i < n; ++i) out[i] = {key_id(src[i]), 0.0f, key_p(src[i])};
}

size_t Sampler::sort_prefix(double need_mass, float floor) {
  const size_t n = cand_.size();
  const Candidate* cand = cand_.data();
  keys_.resize(n);
  uint64_t* keys = keys_.data();
  double mass[kBuckets] = {};
  for (size_t i = 0; i < n; ++i) {
    keys[i] = order_key(cand[i].id, cand[i].p);
    mass[digit(keys[i], kTopShift)] += cand[i].p;
  }
  // The first bucket whose cumulative mass passes need_mass, and at least the
  // bucket holding floor; a 1e-9 margin covers the difference between this
  // bucket-order sum and the walk's sorted-order sum (~1e-16 relative).
  uint32_t last = digit(order_key(0, floor), kTopShift);
  if (need_mass < 1.0) {
    double cum = 0;
    uint32_t b = 0;
    for (; b < kBuckets; ++b) {
      cum += mass[b];
      if (cum > need_mass + 1e-9) break;
    }
    last = std::max(last, std::min(b, kBuckets - 1));
  }
  // The prefix's keys to the front (sorted next), the others after it, so
  // cand_ still holds every candidate (a fallback may sort them all).
  const uint64_t* mid =
      std::partition(keys, keys + n, [last](uint64_t k) { return digit(k, kTopShift) <= last; });
  const auto m = static_cast<size_t>(mid - keys);
  for (size_t i = m; i < n; ++i) cand_[i] = {key_id(keys[i]), 0.0f, key_p(keys[i])};
  sort_keys(m);
  return m;
}

int32_t Sampler::draw_full(double u) {
  // The walk over the whole vocabulary in sorted order, without sorting it:
  // find the top-digit bucket where the cumulative mass passes r, then the
  // second-digit bucket inside it, and sort only that one. Buckets are
  // ranges of descending p, so the walk meets tokens in exactly the sorted
  // order; only the order in which the bucket masses are added differs from a
  // sequential walk (a ~1e-16 relative difference in where r falls).
  const size_t n = cand_.size();
  const Candidate* cand = cand_.data();
  keys_.resize(n);
  radix_tmp_.resize(std::max(radix_tmp_.size(), n));
  uint64_t* keys = keys_.data();
  uint64_t* sub = radix_tmp_.data();
  double mass[kBuckets] = {};
  for (size_t i = 0; i < n; ++i) {
    keys[i] = order_key(cand[i].id, cand[i].p);
    mass[digit(keys[i], kTopShift)] += cand[i].p;
  }
  double total = 0;
  for (double m : mass) total += m;
  const double r = u * total;
  double cum = 0;
  size_t m = n;
  int shift = kTopShift;
  uint64_t* from = keys;
  for (int level = 0; level < 2; ++level) {
    uint32_t b = 0;
    while (b < kBuckets && !(r < cum + mass[b])) cum += mass[b++];
    if (b == kBuckets) break;  // r at the very end (rounding): the last token below
    size_t k = 0;
    for (size_t i = 0; i < m; ++i)
      if (digit(from[i], shift) == b) sub[k++] = from[i];
    m = k;
    from = sub;
    if (level == 1) break;
    shift = kNextShift;
    std::fill(mass, mass + kBuckets, 0.0);
    for (size_t i = 0; i < m; ++i) mass[digit(sub[i], shift)] += key_p(sub[i]);
  }
  if (from == sub) {
    std::sort(sub, sub + m);
    for (size_t i = 0; i < m; ++i) {
      cum += key_p(sub[i]);
      if (r < cum) return key_id(sub[i]);
    }
    if (m > 0) return key_id(sub[m - 1]);
  }
  // Rounding put r past every bucket: the last token in sorted order.
  return key_id(*std::max_element(keys, keys + n));
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const auto V = static_cast<int32_t>(logits.size());
  HERD_CHECK(V > 0, "Sampler::sample: empty logits");
  adjusted_.assign(logits.begin(), logits.end());
  const bool penalize = p_.repetition_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f;
  if (penalize && p_.penalty_last_n != 0) {
    size_t n = p_.penalty_last_n < 0 ? history.size() : std::min<size_t>(history.size(), static_cast<size_t>(p_.penalty_last_n));
    // Count occurrences by sorting a reused copy of the window: no allocation
    // once the buffer has grown to the window size.
    window_.assign(history.end() - static_cast<long>(n), history.end());
    std::sort(window_.begin(), window_.end());
    for (size_t i = 0; i < window_.size();) {
      size_t j = i;
      while (j < window_.size() && window_[j] == window_[i]) ++j;
      const int32_t id = window_[i];
      const auto count = static_cast<int>(j - i);
      i = j;
      if (id < 0 || id >= V) continue;
      float& l = adjusted_[static_cast<size_t>(id)];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
      l -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
    }
  }
  ++step_;
  // The loops over the vocabulary use plain pointers (see sort_by_p).
  const float* adj = adjusted_.data();
  if (p_.temperature <= 0.0f) {
    int32_t best = 0;
    for (int32_t i = 1; i < V; ++i)
      if (adj[i] > adj[best]) best = i;
    return best;
  }
  cand_.resize(static_cast<size_t>(V));
  Candidate* cand = cand_.data();
  float mx = -INFINITY;
  for (int32_t i = 0; i < V; ++i) {
    cand[i] = {i, adj[i] / p_.temperature, 0.0f};
    if (mx < cand[i].logit) mx = cand[i].logit;
  }
  double sum = 0;
  for (int32_t i = 0; i < V; ++i) {
    cand[i].p = std::exp(cand[i].logit - mx);
    sum += cand[i].p;
  }
  for (int32_t i = 0; i < V; ++i) cand[i].p = static_cast<float>(cand[i].p / sum);
  // Descending probability, ties by id, so the order is fully determined.
  // Only as much of that order is built as the draw needs: top-k sorts k;
  // top-p and min-p sort the buckets of p that hold the prefix they keep
  // (sort_prefix); with neither, the draw walks the full order by radix
  // selection (draw_full) and nothing is sorted but one small bucket.
  auto by_p = [](const Candidate& a, const Candidate& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); };
  size_t keep = cand_.size();
  const bool top_k = p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep;
  if (top_k) {
    keep = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(), by_p);
  } else if (p_.top_p >= 1.0f && p_.min_p <= 0.0f) {
    return draw_full(rng_.next_double());
  } else {
    // The walk below stops once the mass before a token exceeds top_p; min-p
    // keeps the tokens with p >= min_p * p_max (at least the first).
    float p_max = 0.0f;
    for (int32_t i = 0; i < V; ++i) p_max = std::max(p_max, cand[i].p);
    const double need = p_.top_p < 1.0f ? static_cast<double>(p_.top_p) : 2.0;
    keep = sort_prefix(need, p_.top_p < 1.0f ? p_max : std::min(p_max, p_.min_p * p_max));
  }
  if (p_.top_p < 1.0f) {
    // Meta: drop a token when the mass *before* it already exceeds p. The
    // mass is that of the distribution top-k left, renormalised (as HF's
    // warper chain, llama.cpp and vLLM compose top-k and top-p); without
    // top-k, kept == 1 and this is Meta's rule exactly.
    double kept = 1.0;
    if (top_k) {
      kept = 0;
      for (size_t j = 0; j < keep; ++j) kept += cand[j].p;
    }
    const double threshold = static_cast<double>(p_.top_p) * kept;
    double cum = 0;
    size_t i = 0;
    for (; i < keep; ++i) {
      if (cum > threshold) break;
      cum += cand[i].p;
    }
    if (i == keep && !(cum > threshold) && !top_k && keep < cand_.size()) {
      // The sorted prefix ran out before the mass did (only by rounding, see
      // sort_prefix): sort everything and walk again.
      sort_by_p();
      keep = cand_.size();
      for (cum = 0, i = 0; i < keep; ++i) {
        if (cum > threshold) break;
        cum += cand[i].p;
      }
    }
    keep = std::max<size_t>(1, i);
  }
  if (p_.min_p > 0.0f) {
    const float floor = p_.min_p * cand[0].p;
    size_t i = 1;
    while (i < keep && cand[i].p >= floor) ++i;
    keep = i;
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += cand[i].p;
  const double r = rng_.next_double() * mass;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += cand[i].p;
    if (r < cum) return cand[i].id;
  }
  return cand[keep - 1].id;
}

}  // namespace herd::sampling
