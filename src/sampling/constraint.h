// TokenConstraint: restricts which tokens may come next (JSON-schema
// grammars, forced tool calls). The engine calls allowed() before sampling
// and masks every token it rejects to -inf, then accept() with the chosen
// token. Implementations live above this layer (src/grammar); the sampler and
// the engine only see this interface.
//
// Thread safety: one constraint belongs to one sequence; calls come from the
// engine thread only.
#pragma once

#include <cstdint>
#include <span>

namespace herd::sampling {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets logits[i] = -inf for every token i that may not come next.
  virtual void mask(std::span<float> logits) = 0;
  // Advances the constraint past token `id` (which mask() allowed).
  virtual void accept(int32_t id) = 0;
  // True when the constrained output is complete; the engine then stops the
  // sequence with finish reason "stop".
  virtual bool complete() const = 0;
};

}  // namespace herd::sampling
