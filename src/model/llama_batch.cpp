#include "model/llama_batch.h"

#include <algorithm>
#include <cmath>

#include "model/feed_forward.h"
#include "model/llama_context.h"  // bf16_scratch_elems, q8_scratch_blocks

namespace herd::model {

using kernels::matmul;

LlamaBatch::LlamaBatch(const LlamaModel& model, kv::BlockPool& pool, int64_t max_tokens, int64_t max_seq_len,
                       kernels::ExecContext exec)
    : model_(model), c_(model.config()), kv_(pool), exec_(exec), max_tokens_(max_tokens),
      max_seq_len_(max_seq_len) {
  const auto B = static_cast<size_t>(max_tokens);
  x_.resize(B * c_.d_model);
  xn_.resize(B * c_.d_model);
  q_.resize(B * c_.n_heads * c_.head_dim);
  k_.resize(B * c_.n_kv_heads * c_.head_dim);
  v_.resize(B * c_.n_kv_heads * c_.head_dim);
  attn_.resize(B * c_.n_heads * c_.head_dim);
  proj_.resize(B * c_.d_model);
  const auto F = static_cast<size_t>(ffn_rows(static_cast<int64_t>(B)));
  gate_.resize(F * c_.d_ff);
  up_.resize(F * c_.d_ff);
  pos_.resize(B);
  table_.resize(B);
  tiles_.resize(B + 1);
  out_rows_.reserve(B);
  xq_.resize(static_cast<size_t>(q8_scratch_blocks(c_, static_cast<int64_t>(B))));
  exec_.q8 = xq_.data();
  exec_.q8_blocks = static_cast<int64_t>(xq_.size());
  xb_.resize(static_cast<size_t>(bf16_scratch_elems(model, *exec_.table, max_tokens)));
  exec_.bf16 = xb_.data();
  exec_.bf16_elems = static_cast<int64_t>(xb_.size());
  scores_.assign(static_cast<size_t>(exec_.pool->size()),
                 std::vector<float>(static_cast<size_t>(
                     kernels::attention_scratch_floats(c_.n_heads / c_.n_kv_heads, max_seq_len, c_.head_dim))));
}

// kernels::attention's arithmetic (attention_rows' per token and KV head),
// with key/value rows found through each token's block table. Consecutive
// tokens of one sequence (a prefill chunk) go in tiles of up to
// kAttnTokenTile (kernels::attention_tokens: the same bits, the keys read
// once per tile).
void LlamaBatch::attention(int64_t il, int64_t T) {
  const int64_t H = c_.n_heads, KV = c_.n_kv_heads, hd = c_.head_dim;
  const int64_t group = H / KV;
  const DType kt = kv_.k_type(), vt = kv_.v_type();
  const auto* kc = static_cast<const uint8_t*>(kv_.k(il));
  const auto* vc = static_cast<const uint8_t*>(kv_.v(il));
  int64_t n_tiles = 0;
  for (int64_t t = 0; t < T; ++n_tiles) {
    tiles_[static_cast<size_t>(n_tiles)] = t;
    const int64_t t0 = t;
    for (++t; t < T && t - t0 < kernels::kAttnTokenTile && table_[static_cast<size_t>(t)] == table_[static_cast<size_t>(t0)] &&
              pos_[static_cast<size_t>(t)] == pos_[static_cast<size_t>(t0)] + (t - t0);
         ++t) {
    }
  }
  tiles_[static_cast<size_t>(n_tiles)] = T;
  exec_.pool->parallel_for(n_tiles * KV, [&](int64_t b, int64_t e, int worker) {
    float* scores = scores_[static_cast<size_t>(worker)].data();
    for (int64_t task = b; task < e; ++task) {
      const int64_t tile = kernels::balanced_token(task / KV, n_tiles), kvh = task % KV;
      const int64_t t = tiles_[static_cast<size_t>(tile)], B = tiles_[static_cast<size_t>(tile) + 1] - t;
      kernels::KvRows kv;
      kv.k = kc + kernels::kv_row_bytes(kt, kvh * hd);
      kv.v = vc + kernels::kv_row_bytes(vt, kvh * hd);
      kv.k_stride = kernels::kv_row_bytes(kt, KV * hd);
      kv.v_stride = kernels::kv_row_bytes(vt, KV * hd);
      kv.kt = kt;
      kv.vt = vt;
      kv.blocks = table_[static_cast<size_t>(t)];
      kv.block_rows = kv_.block_size();
      const int64_t h0 = kvh * group;
      kernels::attention_tokens(exec_, q_.data() + (t * H + h0) * hd, H * hd, B, group, hd, kv,
                                pos_[static_cast<size_t>(t)] + 1, scores, attn_.data() + (t * H + h0) * hd, H * hd);
    }
  });
}

void LlamaBatch::forward_layer(int64_t il, int64_t T) {
  const LayerWeights& L = model_.layers()[static_cast<size_t>(il)];
  const int64_t D = c_.d_model, hd = c_.head_dim, H = c_.n_heads, KV = c_.n_kv_heads;
  const int64_t kv_dim = KV * hd;
  const int64_t bs = kv_.block_size();

  kernels::rms_norm(x_.data(), L.attn_norm, static_cast<float>(c_.rms_eps), T, D, xn_.data());
  kernels::matmul_shared_input(exec_, xn_.data(), T, {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}});
  kernels::rope(q_.data(), T, H, hd, pos_.data(), c_.inv_freq.data(), c_.rope_style);
  kernels::rope(k_.data(), T, KV, hd, pos_.data(), c_.inv_freq.data(), c_.rope_style);
  const DType kt = kv_.k_type(), vt = kv_.v_type();
  auto* kc = static_cast<uint8_t*>(kv_.k(il));
  auto* vc = static_cast<uint8_t*>(kv_.v(il));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = pos_[static_cast<size_t>(t)];
    const int64_t r = static_cast<int64_t>(table_[static_cast<size_t>(t)][p / bs]) * bs + p % bs;
    kernels::kv_store(exec_, kt, k_.data() + t * kv_dim, kc + r * kernels::kv_row_bytes(kt, kv_dim), kv_dim);
    kernels::kv_store(exec_, vt, v_.data() + t * kv_dim, vc + r * kernels::kv_row_bytes(vt, kv_dim), kv_dim);
  }
  attention(il, T);
  matmul(exec_, attn_.data(), T, L.wo, proj_.data());
  for (int64_t i = 0; i < T * D; ++i) x_[i] += proj_[i];

  kernels::rms_norm(x_.data(), L.ffn_norm, static_cast<float>(c_.rms_eps), T, D, xn_.data());
  feed_forward(exec_, L, xn_.data(), T, D, c_.d_ff, gate_.data(), up_.data(), proj_.data());
  for (int64_t i = 0; i < T * D; ++i) x_[i] += proj_[i];
}

Status LlamaBatch::eval(std::span<const BatchChunk> chunks, std::vector<float>* logits) {
  const int64_t D = c_.d_model, V = c_.vocab_size;
  int64_t T = 0;
  for (const BatchChunk& ch : chunks) T += ch.n;
  if (T == 0) return err(ErrorCode::kInvalidArgument, "batch eval: no tokens");
  if (T > max_tokens_)
    return err(ErrorCode::kInvalidArgument, "batch eval: %lld tokens exceed the step size %lld",
               static_cast<long long>(T), static_cast<long long>(max_tokens_));
  out_rows_.clear();
  int64_t t = 0;
  for (const BatchChunk& ch : chunks) {
    if (ch.n_past + ch.n > max_seq_len_)
      return err(ErrorCode::kOutOfRange, "batch eval: %lld cached + %lld new tokens exceed %lld",
                 static_cast<long long>(ch.n_past), static_cast<long long>(ch.n), static_cast<long long>(max_seq_len_));
    for (int64_t i = 0; i < ch.n; ++i, ++t) {
      const int32_t id = ch.tokens[i];
      if (id < 0 || id >= V)
        return err(ErrorCode::kInvalidArgument, "token %d is outside the vocabulary [0, %lld)", id,
                   static_cast<long long>(V));
      pos_[static_cast<size_t>(t)] = ch.n_past + i;
      table_[static_cast<size_t>(t)] = ch.block_table;
      kernels::embedding_row(exec_, model_.tok_embd(), id, x_.data() + t * D);
    }
    if (ch.want_logits) out_rows_.push_back(t - 1);
  }
  for (int64_t il = 0; il < c_.n_layers; ++il) forward_layer(il, T);

  const auto n_out = static_cast<int64_t>(out_rows_.size());
  logits->resize(static_cast<size_t>(n_out * V));
  if (n_out == 0) return Ok{};
  for (int64_t i = 0; i < n_out; ++i)
    kernels::rms_norm(x_.data() + out_rows_[static_cast<size_t>(i)] * D, model_.output_norm(),
                      static_cast<float>(c_.rms_eps), 1, D, xn_.data() + i * D);
  matmul(exec_, xn_.data(), n_out, model_.output(), logits->data());
  return Ok{};
}

}  // namespace herd::model
