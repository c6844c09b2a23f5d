// How a model's layers split across machines of a given memory: the
// contiguous layer ranges (LayerRange: one per pipeline rank, as MPI ranks
// would hold them) that each fit the budget, for `herd inspect`'s plan.
//
// A rank holds its layers (weights and their KV cache at the planned context),
// the activation buffers every rank needs, the embedding table with layer 0
// and the final norm, LM head and logits with the last layer. A tied model's
// table is counted once when one rank holds both ends, twice otherwise (each
// end needs its copy). Ranks are filled greedily in layer order, which gives
// the fewest ranks any contiguous split can: each rank ends as late as the
// budget allows.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace herd::model {

struct RankPlanInput {
  std::vector<uint64_t> layer_bytes;  // per layer: its weights and its KV cache
  uint64_t embedding_bytes = 0;       // the lookup table (held with layer 0)
  uint64_t head_bytes = 0;            // final norm, LM head, logits (held with the last layer)
  uint64_t rank_bytes = 0;            // on every rank: activation buffers
  bool tied = false;                  // head_bytes includes the embedding table again
  uint64_t tied_bytes = 0;            // that table's bytes (subtracted when one rank holds both)
};

struct RankSpan {
  int64_t first = 0, last = 0;  // layers [first, last)
  uint64_t bytes = 0;
};

// Errors: no layers, a zero budget, or one layer (with what its rank must
// hold beside it) over the budget.
Result<std::vector<RankSpan>> plan_ranks(const RankPlanInput& in, uint64_t budget);

// The bytes one rank holding every layer needs (the single-machine total).
uint64_t single_rank_bytes(const RankPlanInput& in);

}  // namespace herd::model
