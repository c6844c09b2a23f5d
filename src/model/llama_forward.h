// The Llama 3.x forward pass, once: the layer function and the whole pass
// (embedding, layers, final norm, logits) that every caller runs, the single
// sequence (LlamaContext: run, chat, bench), the engine's continuous batch
// (LlamaBatch: serve) and, later, training (which recomputes a layer from
// Activations::layer_input) and an MPI rank (a layer range).
//
// The tokens of a pass and where each one's keys go are described in the
// Activations (pos, idx, tables, out_rows) by the caller; the KV memory
// through a kv::KvView (contiguous or paged). Every output row is the same
// fixed-order reduction whatever else is in the pass (matmul is
// row-independent, attention per token), so a sequence's logits do not
// depend on batch composition, and the contiguous and paged caches agree
// bitwise.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "kv/kv_view.h"
#include "model/activations.h"
#include "model/llama_model.h"
#include "model/taps.h"

namespace herd::model {

// One transformer layer over the T tokens in a.x (in place):
//   x += Wo . attn(rope(Wq.norm(x)), rope(Wk.norm(x)), Wv.norm(x))
//   x += W_down . (silu(W_gate.norm(x)) * W_up.norm(x))
// storing the tokens' keys and values in layer kv_layer of kv first; il is
// the model's layer index (tap names). exec carries a's scratch
// (Activations::bind).
void llama_layer(const kernels::ExecContext& exec, const LlamaConfig& c, const LayerWeights& L, int64_t il,
                 const kv::KvView& kv, int64_t kv_layer, Activations& a, int64_t T, TapSink* taps);

// The whole pass over tokens (T = tokens.size() <= a.max_tokens(), described
// in a.pos/idx/tables; a.out_rows lists the rows whose logits are wanted):
// writes [out_rows.size(), vocab] logits into `logits` (resized; reserve once
// to keep decode allocation-free). Errors: no tokens, too many, a token id
// outside the vocabulary. Nothing is written to the cache on error.
// A model holding a layer range (an MPI rank) runs its layers only: without
// the embedding it starts from the hidden states the caller put in a.x
// ([T, d_model], the previous rank's output); without the head it leaves its
// output in a.x and `logits` empty. kv holds the model's held layers.
Status llama_forward(const kernels::ExecContext& exec, const LlamaModel& model, const kv::KvView& kv,
                     std::span<const int32_t> tokens, Activations& a, std::vector<float>* logits, TapSink* taps);

}  // namespace herd::model
