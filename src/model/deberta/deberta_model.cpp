// DeBERTa-v2/v3 classifier: loading and the forward pass (see deberta_model.h).
#include "model/deberta/deberta_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "base/thread_pool.h"
#include "kernels/encoder_ops.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "model/repack_matrix.h"
#include "tensor/quant.h"

namespace herd::model::deberta {
namespace {

namespace fs = std::filesystem;
using kernels::ExecContext;

std::string shape_str(const std::vector<int64_t>& s) { return shape_string(s); }

// The tensors of one checkpoint, checked as they are taken.
class Weights {
 public:
  explicit Weights(const formats::HfCheckpoint& c) : c_(c) {}

  Result<TensorView> matrix(const std::string& name, int64_t rows, int64_t cols) const {
    HERD_ASSIGN_OR_RETURN(TensorView v, any(name));
    if (v.shape != std::vector<int64_t>{rows, cols})
      return err(ErrorCode::kCorrupt, "%s: tensor %s has shape %s, expected [%lld, %lld]", c_.dir().c_str(),
                 name.c_str(), shape_str(v.shape).c_str(), static_cast<long long>(rows), static_cast<long long>(cols));
    return v;
  }
  Result<std::vector<float>> vector(const std::string& name, int64_t n) const {
    HERD_ASSIGN_OR_RETURN(TensorView v, any(name));
    if (v.shape != std::vector<int64_t>{n})
      return err(ErrorCode::kCorrupt, "%s: tensor %s has shape %s, expected [%lld]", c_.dir().c_str(), name.c_str(),
                 shape_str(v.shape).c_str(), static_cast<long long>(n));
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row_ref(v.dtype, v.data, out.data(), n);
    return out;
  }
  bool has(const std::string& name) const { return c_.find(name) != nullptr; }

  Result<DebLinear> linear(const std::string& name, int64_t out, int64_t in, bool bias = true) const {
    DebLinear l;
    HERD_ASSIGN_OR_RETURN(l.w, matrix(name + ".weight", out, in));
    if (bias || has(name + ".bias")) {
      HERD_ASSIGN_OR_RETURN(l.b, vector(name + ".bias", out));
    }
    return l;
  }
  Result<DebNorm> norm(const std::string& name, int64_t n) const {
    DebNorm l;
    HERD_ASSIGN_OR_RETURN(l.w, vector(name + ".weight", n));
    HERD_ASSIGN_OR_RETURN(l.b, vector(name + ".bias", n));
    return l;
  }

 private:
  Result<TensorView> any(const std::string& name) const {
    const formats::StTensor* t = c_.find(name);
    if (!t) return err(ErrorCode::kCorrupt, "%s: tensor %s is missing", c_.dir().c_str(), name.c_str());
    std::optional<TensorView> v = t->view();
    if (!v)
      return err(ErrorCode::kUnsupported, "%s: tensor %s is %s; herd's DeBERTa reads F32, F16 and BF16",
                 c_.dir().c_str(), name.c_str(), t->dtype_name.c_str());
    return *v;
  }
  const formats::HfCheckpoint& c_;
};

// Attention-score rows whose relative-position bias is gathered at once (forward()).
constexpr int64_t kBiasRows = 16;


void linear(const ExecContext& ctx, const float* x, int64_t T, const DebLinear& l, float* out) {
  kernels::matmul(ctx, x, T, l.w, out);
  if (!l.b.empty()) kernels::add_bias(ctx, out, l.b.data(), T, l.w.shape[0]);
}

// gelu(x W^T + b): the bias and the GELU in one pass over the output.
void linear_gelu(const ExecContext& ctx, const float* x, int64_t T, const DebLinear& l, float* out) {
  kernels::matmul(ctx, x, T, l.w, out);
  if (l.b.empty()) {
    kernels::gelu(ctx, out, T * l.w.shape[0]);
  } else {
    kernels::add_bias_gelu(ctx, out, l.b.data(), T, l.w.shape[0]);
  }
}

void norm(const ExecContext& ctx, const float* x, const DebNorm& n, double eps, int64_t T, float* y) {
  kernels::layer_norm(ctx, x, n.w.data(), n.b.data(), static_cast<float>(eps), T,
                      static_cast<int64_t>(n.w.size()), y);
}

}  // namespace

Result<DebertaClassifier> DebertaClassifier::load(const std::string& dir) {
  DebertaClassifier m;
  HERD_ASSIGN_OR_RETURN(m.config_, load_deberta_config((fs::path(dir) / "config.json").string()));
  const DebertaConfig& c = m.config_;
  HERD_ASSIGN_OR_RETURN(m.tok_, tokenizer::UnigramTokenizer::load((fs::path(dir) / "tokenizer.json").string()));
  if (m.tok_.prefix_ids().empty() || m.tok_.suffix_ids().empty())
    return err(ErrorCode::kCorrupt, "%s/tokenizer.json: no [CLS] $A [SEP] post_processor template", dir.c_str());
  for (int32_t id : m.tok_.prefix_ids())
    if (id >= c.vocab_size) return err(ErrorCode::kCorrupt, "%s: template token id %d >= vocab_size", dir.c_str(), id);
  for (int32_t id : m.tok_.suffix_ids())
    if (id >= c.vocab_size) return err(ErrorCode::kCorrupt, "%s: template token id %d >= vocab_size", dir.c_str(), id);
  if (m.tok_.vocab_size() > c.vocab_size)
    return err(ErrorCode::kCorrupt, "%s: tokenizer.json has %lld pieces, more than vocab_size %lld", dir.c_str(),
               static_cast<long long>(m.tok_.vocab_size()), static_cast<long long>(c.vocab_size));
  if (m.tok_.prefix_ids().size() + m.tok_.suffix_ids().size() >= static_cast<size_t>(c.max_position_embeddings))
    return err(ErrorCode::kCorrupt, "%s: max_position_embeddings leaves no room for text", dir.c_str());

  HERD_ASSIGN_OR_RETURN(m.ckpt_, formats::HfCheckpoint::open(dir));
  const Weights w(m.ckpt_);
  const int64_t H = c.hidden_size, E = c.embedding_size;
  const std::string e = "deberta.embeddings.";
  HERD_ASSIGN_OR_RETURN(m.word_, w.matrix(e + "word_embeddings.weight", c.vocab_size, E));
  if (c.position_biased_input) {
    HERD_ASSIGN_OR_RETURN(m.pos_, w.matrix(e + "position_embeddings.weight", c.max_position_embeddings, E));
  }
  if (c.type_vocab_size > 0) {
    HERD_ASSIGN_OR_RETURN(m.type_, w.matrix(e + "token_type_embeddings.weight", c.type_vocab_size, E));
  }
  if (E != H) {
    HERD_ASSIGN_OR_RETURN(m.embed_proj_, w.linear(e + "embed_proj", H, E, /*bias=*/false));
  }
  HERD_ASSIGN_OR_RETURN(m.emb_ln_, w.norm(e + "LayerNorm", H));

  if (c.relative_attention) {
    const int64_t rows = 2 * c.att_span();
    HERD_ASSIGN_OR_RETURN(TensorView rel, w.matrix("deberta.encoder.rel_embeddings.weight", rows, H));
    m.rel_.resize(static_cast<size_t>(rows * H));
    for (int64_t r = 0; r < rows; ++r) dequantize_row_ref(rel.dtype, rel.row(r), m.rel_.data() + r * H, H);
    if (c.norm_rel_ebd_layer_norm) {
      HERD_ASSIGN_OR_RETURN(DebNorm rel_ln, w.norm("deberta.encoder.LayerNorm", H));
      ThreadPool pool(1);
      HERD_ASSIGN_OR_RETURN(kernels::KernelTable table, kernels::select_kernels("ref"));
      ExecContext ctx;
      ctx.pool = &pool;
      ctx.table = &table;
      norm(ctx, m.rel_.data(), rel_ln, c.layer_norm_eps, rows, m.rel_.data());
    }
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "deberta.encoder.layer." + std::to_string(i) + ".";
    DebLayer L;
    HERD_ASSIGN_OR_RETURN(L.q, w.linear(p + "attention.self.query_proj", H, H));
    HERD_ASSIGN_OR_RETURN(L.k, w.linear(p + "attention.self.key_proj", H, H));
    HERD_ASSIGN_OR_RETURN(L.v, w.linear(p + "attention.self.value_proj", H, H));
    if (c.relative_attention && !c.share_att_key) {
      if (c.c2p) {
        HERD_ASSIGN_OR_RETURN(L.pos_k, w.linear(p + "attention.self.pos_key_proj", H, H));
      }
      if (c.p2c) {
        HERD_ASSIGN_OR_RETURN(L.pos_q, w.linear(p + "attention.self.pos_query_proj", H, H));
      }
    }
    HERD_ASSIGN_OR_RETURN(L.attn_out, w.linear(p + "attention.output.dense", H, H));
    HERD_ASSIGN_OR_RETURN(L.attn_ln, w.norm(p + "attention.output.LayerNorm", H));
    HERD_ASSIGN_OR_RETURN(L.inter, w.linear(p + "intermediate.dense", c.intermediate_size, H));
    HERD_ASSIGN_OR_RETURN(L.out, w.linear(p + "output.dense", H, c.intermediate_size));
    HERD_ASSIGN_OR_RETURN(L.out_ln, w.norm(p + "output.LayerNorm", H));
    m.layers_.push_back(std::move(L));
  }
  HERD_ASSIGN_OR_RETURN(m.pooler_, w.linear("pooler.dense", c.pooler_hidden_size, H));
  HERD_ASSIGN_OR_RETURN(m.classifier_, w.linear("classifier", c.num_labels(), c.pooler_hidden_size));
  return m;
}

int DebertaClassifier::repack_weights(const kernels::KernelTable& table, ThreadPool& pool, bool f32_to_bf16) {
  if (repack_disabled()) return 0;
  int n = 0;
  auto repack = [&](DebLinear& l) {
    if (l.w.data != nullptr && repack_matrix(&l.w, table, pool, /*keep_bits=*/false, &packed_, f32_to_bf16)) ++n;
  };
  repack(embed_proj_);
  for (DebLayer& L : layers_)
    for (DebLinear* l : {&L.q, &L.k, &L.v, &L.pos_k, &L.pos_q, &L.attn_out, &L.inter, &L.out}) repack(*l);
  repack(pooler_);
  repack(classifier_);
  // The relative-position projections depend on the weights alone: once here,
  // with the table the model will run with (each row's products are the same
  // bits whatever the number of rows, so forward() taking its rows from here
  // changes nothing but the time: 2 x 512 x 768 x 768 x 2 FLOP per layer of
  // Prompt Guard 86M, a tenth of a window's work).
  const DebertaConfig& c = config_;
  if (c.relative_attention && (c.c2p || c.p2c)) {
    const int64_t rows = 2 * c.att_span(), H = c.hidden_size;
    ExecContext ctx;
    ctx.pool = &pool;
    ctx.table = &table;
    std::vector<float> pk(static_cast<size_t>(rows * H)), pq(pk.size());
    rel_pkt_.assign(layers_.size(), std::vector<float>(pk.size()));
    rel_pqt_.assign(layers_.size(), std::vector<float>(pk.size()));
    for (size_t l = 0; l < layers_.size(); ++l)
      relative_projections(ctx, layers_[l], rel_.data(), rows, pk.data(), pq.data(), rel_pkt_[l].data(),
                           rel_pqt_[l].data());
  }
  return n;
}

void DebertaClassifier::relative_projections(const ExecContext& ctx, const DebLayer& L, const float* rel,
                                             int64_t rows, float* pk, float* pq, float* pkt, float* pqt) const {
  const DebertaConfig& c = config_;
  const int64_t H = c.hidden_size, hd = c.head_dim(), heads = c.num_attention_heads;
  if (c.c2p) linear(ctx, rel, rows, c.share_att_key ? L.k : L.pos_k, pk);
  if (c.p2c) linear(ctx, rel, rows, c.share_att_key ? L.q : L.pos_q, pq);
  ctx.pool->parallel_for(heads, [&](int64_t h_begin, int64_t h_end, int) {
    for (int64_t h = h_begin; h < h_end; ++h)
      for (int64_t d = 0; d < hd; ++d)
        for (int64_t r = 0; r < rows; ++r) {
          const size_t dst = static_cast<size_t>((h * hd + d) * rows + r), src = static_cast<size_t>(r * H + h * hd + d);
          pkt[dst] = c.c2p ? pk[src] : 0;
          pqt[dst] = c.p2c ? pq[src] : 0;
        }
  });
}

std::vector<std::vector<int32_t>> DebertaClassifier::windows(std::string_view text) const {
  const std::vector<int32_t> ids = tok_.encode(text);
  const size_t room = static_cast<size_t>(max_window()) - tok_.prefix_ids().size() - tok_.suffix_ids().size();
  std::vector<std::vector<int32_t>> out;
  size_t b = 0;
  do {
    const size_t e = std::min(ids.size(), b + room);
    std::vector<int32_t> w = tok_.prefix_ids();
    w.insert(w.end(), ids.begin() + static_cast<ptrdiff_t>(b), ids.begin() + static_cast<ptrdiff_t>(e));
    w.insert(w.end(), tok_.suffix_ids().begin(), tok_.suffix_ids().end());
    out.push_back(std::move(w));
    b = e;
  } while (b < ids.size());
  return out;
}

Result<std::vector<std::vector<float>>> DebertaClassifier::classify(
    const ExecContext& ctx, const std::vector<std::vector<int32_t>>& windows) const {
  for (size_t i = 0; i < windows.size(); ++i) {
    const auto& win = windows[i];
    if (win.empty() || static_cast<int64_t>(win.size()) > max_window())
      return err(ErrorCode::kInvalidArgument, "window %zu has %zu tokens; the model takes 1..%lld", i, win.size(),
                 static_cast<long long>(max_window()));
    for (int32_t id : win)
      if (id < 0 || id >= config_.vocab_size)
        return err(ErrorCode::kInvalidArgument, "window %zu: token id %d outside the vocabulary", i, id);
  }
  std::vector<std::vector<float>> logits;
  for (size_t b = 0; b < windows.size(); b += kBatchWindows) {
    std::vector<const std::vector<int32_t>*> batch;
    for (size_t i = b; i < std::min(windows.size(), b + kBatchWindows); ++i) batch.push_back(&windows[i]);
    forward(ctx, batch, &logits);
  }
  return logits;
}

void DebertaClassifier::forward(const ExecContext& ctx, const std::vector<const std::vector<int32_t>*>& batch,
                                std::vector<std::vector<float>>* logits) const {
  const DebertaConfig& c = config_;
  const int64_t H = c.hidden_size, E = c.embedding_size, hd = c.head_dim(), heads = c.num_attention_heads;
  std::vector<int64_t> off = {0};
  int64_t max_len = 0;
  for (const auto* w : batch) {
    off.push_back(off.back() + static_cast<int64_t>(w->size()));
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(w->size()));
  }
  const int64_t T = off.back();

  // Embeddings.
  std::vector<float> x(static_cast<size_t>(T * H)), emb(static_cast<size_t>(T * E)), row(static_cast<size_t>(E));
  for (size_t s = 0; s < batch.size(); ++s) {
    for (int64_t t = 0; t < static_cast<int64_t>(batch[s]->size()); ++t) {
      float* er = emb.data() + (off[s] + t) * E;
      kernels::embedding_row(ctx, word_, (*batch[s])[static_cast<size_t>(t)], er);
      if (c.position_biased_input) {
        kernels::embedding_row(ctx, pos_, t, row.data());
        for (int64_t i = 0; i < E; ++i) er[i] += row[static_cast<size_t>(i)];
      }
      if (c.type_vocab_size > 0) {
        kernels::embedding_row(ctx, type_, 0, row.data());
        for (int64_t i = 0; i < E; ++i) er[i] += row[static_cast<size_t>(i)];
      }
    }
  }
  if (E != H) {
    linear(ctx, emb.data(), T, embed_proj_, x.data());
  } else {
    x = emb;
  }
  norm(ctx, x.data(), emb_ln_, c.layer_norm_eps, T, x.data());

  // Relative positions: rows r0..r1 of the relative embeddings cover every
  // (query, key) pair of the longest window.
  const int64_t span = c.att_span();
  const auto rel_index = [&](int64_t i, int64_t j) {
    const int64_t r = deberta_relative_position(i, j, c.position_buckets, c.max_relative_positions) + span;
    return std::clamp<int64_t>(r, 0, 2 * span - 1);
  };
  const int64_t r0 = c.relative_attention ? rel_index(0, max_len - 1) : 0;
  const int64_t nR = c.relative_attention ? rel_index(max_len - 1, 0) - r0 + 1 : 0;
  // The relative-embedding row of (query i, key j) depends on i - j only
  // (deberta_relative_position): rel_row[i - j + max_len - 1].
  std::vector<int64_t> rel_row(static_cast<size_t>(std::max<int64_t>(1, 2 * max_len - 1)));
  for (int64_t d = -(max_len - 1); d < max_len && c.relative_attention; ++d)
    rel_row[static_cast<size_t>(d + max_len - 1)] = rel_index(d, 0) - r0;
  const int scale_factor = 1 + (c.relative_attention && c.c2p) + (c.relative_attention && c.p2c);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd) * scale_factor));

  std::vector<float> q(static_cast<size_t>(T * H)), k(q.size()), v(q.size()), ctxo(q.size()), h1(q.size());
  std::vector<float> ff(static_cast<size_t>(T * c.intermediate_size));
  // pk and pq per head as [hd, nR] (the right operand of Q Kr^T and K Qr^T),
  // gathered once per layer for every window of the batch, unless repack_weights
  // made them for every row already.
  const bool rel_cached = !rel_pkt_.empty();
  std::vector<float> pk(static_cast<size_t>(rel_cached ? 0 : nR * H)), pq(pk.size());
  std::vector<float> pkt(pk.size()), pqt(pk.size());
  const float* rel = rel_.data() + r0 * H;
  // Attention runs one (window, head) pair per task, the pairs split over the pool's
  // threads, each with its own scratch and a one-thread context: the per-head products
  // are small (512 x 512 x 64), and splitting each of them across threads cost more in
  // hand-offs than it gained, while the gathers and the bias loop ran on one thread.
  // Every product is one fma chain per output (gemm_nn_f32) whatever the thread count,
  // so the logits do not depend on the split.
  // The products read a head's Q, K and V columns in place (row stride H); only Kᵀ is
  // gathered (the right operand of Q Kᵀ).
  struct HeadScratch {
    std::vector<float> kt, scores, bias, c2p, p2c;
  };
  std::vector<HeadScratch> scratch(static_cast<size_t>(ctx.pool->size()));
  for (HeadScratch& w : scratch) {
    w.kt.resize(static_cast<size_t>(max_len * hd));
    w.scores.resize(static_cast<size_t>(max_len * max_len));
    w.bias.resize(static_cast<size_t>(kBiasRows * max_len));
    w.c2p.resize(static_cast<size_t>(max_len * nR));
    w.p2c.resize(w.c2p.size());
  }
  ThreadPool one(1);
  ExecContext head_ctx;
  head_ctx.pool = &one;
  head_ctx.table = ctx.table;
  head_ctx.exact_f32 = ctx.exact_f32;
  // The per-head products (kernel_table.h gemm_nn_f32: each output one fma chain over
  // k): short K = hd products, where a row dot's horizontal sum cost as much as the dot.
  // A model whose linear layers run on the bf16 path (BF16/F16 weights, or F32 with
  // --prompt-guard-bf16) takes them in bf16 too where the ISA has a bf16 tile product
  // (gemm_nn_bf16: AVX512_BF16 or AMX), as torch runs a bf16 model's attention; else in f32.
  const bool bf16_model = kernels::matmul_path(*ctx.table, first_linear()) == kernels::MatmulPath::kBf16;
  const kernels::GemmNnF32Fn gemm =
      bf16_model && ctx.table->gemm_nn_bf16 != nullptr ? ctx.table->gemm_nn_bf16 : ctx.table->gemm_nn_f32;

  for (const DebLayer& L : layers_) {
    linear(ctx, x.data(), T, L.q, q.data());
    linear(ctx, x.data(), T, L.k, k.data());
    linear(ctx, x.data(), T, L.v, v.data());
    // The relative projections' columns r0 .. r0 + nR - 1: from repack_weights' tables
    // (row stride 2 span) or made here for those rows alone (row stride nR).
    const float* pk_cols = pkt.data();
    const float* pq_cols = pqt.data();
    int64_t pld = nR;
    const size_t li = static_cast<size_t>(&L - layers_.data());
    if (c.relative_attention && (c.c2p || c.p2c)) {
      if (rel_cached) {
        pld = 2 * span;
        pk_cols = rel_pkt_[li].data() + r0;
        pq_cols = rel_pqt_[li].data() + r0;
      } else {
        relative_projections(ctx, L, rel, nR, pk.data(), pq.data(), pkt.data(), pqt.data());
      }
    }
    const int64_t n_tasks = static_cast<int64_t>(batch.size()) * heads;
    ctx.pool->parallel_for(n_tasks, [&](int64_t t0, int64_t t1, int worker) {
      HeadScratch& w = scratch[static_cast<size_t>(worker)];
      for (int64_t task = t0; task < t1; ++task) {
        const size_t s = static_cast<size_t>(task / heads);
        const int64_t h = task % heads, n = static_cast<int64_t>(batch[s]->size()), base = off[s];
        const float* qh = q.data() + base * H + h * hd;
        const float* kh = k.data() + base * H + h * hd;
        const float* vh = v.data() + base * H + h * hd;
        for (int64_t t = 0; t < n; ++t)
          for (int64_t d = 0; d < hd; ++d) w.kt[static_cast<size_t>(d * n + t)] = kh[t * H + d];
        gemm(qh, H, w.kt.data(), n, w.scores.data(), n, n, n, hd);  // Q K^T
        if (c.relative_attention && (c.c2p || c.p2c)) {
          const size_t ph = static_cast<size_t>(h * hd * pld);
          if (c.c2p) gemm(qh, H, pk_cols + ph, pld, w.c2p.data(), nR, n, nR, hd);  // Q Kr^T
          if (c.p2c) gemm(kh, H, pq_cols + ph, pld, w.p2c.data(), nR, n, nR, hd);  // K Qr^T
          // The bias of kBiasRows rows at a time (16 x 512 floats: 32 KB, in L1), each block
          // softmaxed at once: a whole [n, n] bias was one more megabyte per head beside the
          // scores and the c2p/p2c tables.
          for (int64_t i0 = 0; i0 < n; i0 += kBiasRows) {
            const int64_t rows = std::min(kBiasRows, n - i0);
            // Key j outermost: key j's p2c row is read at the rows of i0 - j .. i0 + rows - 1 - j,
            // a cache line or two (query-major, each key was a new line: a diagonal walk), and
            // the block's c2p rows and bias stay in L1. Local pointers and one loop per term
            // set: the compiler otherwise reloads every vector's data pointer per element.
            const float* c2p = w.c2p.data();
            const float* p2c = w.p2c.data();
            float* bias = w.bias.data();
            const float sc = scale;
            const bool has_c2p = c.c2p, has_p2c = c.p2c;
            for (int64_t j = 0; j < n; ++j) {
              const int64_t* rj = rel_row.data() + (max_len - 1) - j;  // rj[i]: the row of (i, j)
              const float* pj = p2c + j * nR;
              for (int64_t i = i0; i < i0 + rows; ++i) {
                const int64_t r = rj[i];
                float b = 0;
                if (has_c2p) b += c2p[i * nR + r];
                if (has_p2c) b += pj[r];
                bias[(i - i0) * n + j] = b * sc;
              }
            }
            kernels::biased_softmax_rows(head_ctx, w.scores.data() + i0 * n, w.bias.data(), rows, n, scale);
          }
        } else {
          kernels::biased_softmax_rows(head_ctx, w.scores.data(), nullptr, n, n, scale);
        }
        // P V, into this head's columns of the context rows.
        gemm(w.scores.data(), n, vh, H, ctxo.data() + base * H + h * hd, H, n, hd, n);
      }
    });
    linear(ctx, ctxo.data(), T, L.attn_out, h1.data());
    for (size_t i = 0; i < h1.size(); ++i) h1[i] += x[i];
    norm(ctx, h1.data(), L.attn_ln, c.layer_norm_eps, T, h1.data());
    linear_gelu(ctx, h1.data(), T, L.inter, ff.data());
    linear(ctx, ff.data(), T, L.out, x.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += h1[i];
    norm(ctx, x.data(), L.out_ln, c.layer_norm_eps, T, x.data());
  }

  // Head: token 0 of each window.
  const int64_t P = c.pooler_hidden_size, B = static_cast<int64_t>(batch.size());
  std::vector<float> first(static_cast<size_t>(B * H)), pooled(static_cast<size_t>(B * P)),
      out(static_cast<size_t>(B * c.num_labels()));
  for (int64_t s = 0; s < B; ++s)
    std::copy_n(x.data() + off[static_cast<size_t>(s)] * H, H, first.data() + s * H);
  linear_gelu(ctx, first.data(), B, pooler_, pooled.data());
  linear(ctx, pooled.data(), B, classifier_, out.data());
  for (int64_t s = 0; s < B; ++s)
    logits->emplace_back(out.begin() + s * c.num_labels(), out.begin() + (s + 1) * c.num_labels());
}

}  // namespace herd::model::deberta
