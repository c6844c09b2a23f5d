// Greedy contiguous split of a model's layers into ranks under a memory
// budget (model/rank_plan.h).
#include "model/rank_plan.h"

namespace herd::model {

namespace {

// Bytes of the rank holding [first, last) of n layers, with `sum` its layers' bytes.
uint64_t rank_total(const RankPlanInput& in, int64_t first, int64_t last, uint64_t sum) {
  const int64_t n = static_cast<int64_t>(in.layer_bytes.size());
  uint64_t b = in.rank_bytes + sum;
  if (first == 0) b += in.embedding_bytes;
  if (last == n) b += in.head_bytes;
  if (first == 0 && last == n && in.tied) b -= in.tied_bytes;
  return b;
}

}  // namespace

uint64_t single_rank_bytes(const RankPlanInput& in) {
  uint64_t sum = 0;
  for (uint64_t b : in.layer_bytes) sum += b;
  return rank_total(in, 0, static_cast<int64_t>(in.layer_bytes.size()), sum);
}

Result<std::vector<RankSpan>> plan_ranks(const RankPlanInput& in, uint64_t budget) {
  const int64_t n = static_cast<int64_t>(in.layer_bytes.size());
  if (n == 0) return err(ErrorCode::kInvalidArgument, "a plan needs at least one layer");
  if (budget == 0) return err(ErrorCode::kInvalidArgument, "a plan needs a memory budget above zero");
  std::vector<RankSpan> ranks;
  int64_t first = 0;
  while (first < n) {
    int64_t last = first;
    uint64_t sum = 0;
    // Take layers while the rank, ending there, stays in budget.
    while (last < n && rank_total(in, first, last + 1, sum + in.layer_bytes[static_cast<size_t>(last)]) <= budget) {
      sum += in.layer_bytes[static_cast<size_t>(last)];
      ++last;
    }
    if (last == first)
      return err(ErrorCode::kOutOfRange,
                 "layer %lld alone needs %llu bytes with what its rank must hold, over the %llu-byte budget",
                 static_cast<long long>(first), static_cast<unsigned long long>(rank_total(
                     in, first, first + 1, in.layer_bytes[static_cast<size_t>(first)])),
                 static_cast<unsigned long long>(budget));
    ranks.push_back({first, last, rank_total(in, first, last, sum)});
    first = last;
  }
  return ranks;
}

}  // namespace herd::model
