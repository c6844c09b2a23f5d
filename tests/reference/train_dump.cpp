// herd_train_dump MODEL OUTDIR [--steps] [--dpo] [--kd]: one training step of herd (model/llama_train.h)
// on a fixed packed batch with rank-2 LoRA adapters on every matrix of every
// layer, written as .npy files for tests/reference/grad_check.py, which
// recomputes the loss and every gradient with PyTorch autograd in float64.
//   batch.npy     [4, T] float32 rows: tokens, labels (-100: not counted), pos, first
//   a_L_S.npy, b_L_S.npy        adapter of layer L, matrix S (wq wk wv wo w_gate w_up w_down)
//   da_L_S.npy, db_L_S.npy      herd's gradients of the summed loss
//   d_input.npy   [T, d_model]  herd's gradient at the input of layer 0
//   step.json     {"loss_sum", "counted", "rank", "scale"}
//   steps.json    with --steps, {"lr", "weight_decay", "losses": [...]}: then 10 AdamW steps (train/optimizer.h)
//                 on the same batch, the mean loss before each (llm.c's test)
//   dpo_NAME/     with --dpo, one DPO step (train/dpo.h) on two preference pairs made of the
//                 two sequences (pair 0: chosen 1, rejected 2; pair 1: the reverse), for
//                 NAME = sigmoid (beta 0.1, label smoothing 0.1, rpo_alpha 0.2) and ipo
//                 (beta 0.5), with fixed reference log-probs: batch.npy (the packed four
//                 sequences), a_/b_ (the same adapters), da_/db_ (herd's gradients of the
//                 summed DPO loss) and dpo.json {"loss", "type", "beta", "eps", "rpo",
//                 "seqs": [[start, length, counted] x 4], "ref": [ref_c0, ref_r0, ref_c1, ref_r1]}
//   kd/           with --kd, one distillation step (train/distill.h: top-4 teacher entries per
//                 trained position, temperature 2, kd_ratio 0.7) on the batch: batch.npy,
//                 a_/b_, da_/db_ and kd.json {"loss", "temperature", "kd_ratio", "k",
//                 "ids": [rows][k], "logits": [rows][k], "lse": [rows]} (rows: the trained
//                 positions in order); kd_reverse/ the same with the reverse KL ("reverse": true)
//   dropout/      with --dropout, the same step with LoRA dropout 0.3 (model::TrainStep::set_lora_dropout):
//                 batch.npy, a_/b_, da_/db_, d_input.npy, step.json (+ "dropout") and mask_L_S.npy [T, K],
//                 the factors (0 or 1 / (1 - p)) the adapter of layer L, matrix S saw its input multiplied by
// herd_train_dump MODEL OUTDIR --full: one full fine-tuning step instead (train/full_weights.h: the
// model's weights as the f32 master copy the training step reads, no adapters) on the same batch:
//   batch.npy, d_input.npy, step.json as above ("rank" 0)
//   dw_L_S.npy    [N, K] herd's gradient of layer L's matrix S
//   dnorm_L_attn.npy, dnorm_L_ffn.npy, d_output_norm.npy    [d_model] the norms' gradients
//   d_tok_embd.npy [vocab, d_model]; d_output.npy the same when the head is not tied (tied: all in d_tok_embd)
// Test code only (a tests/ tool, not part of the herd binary).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/rng.h"
#include "base/thread_pool.h"
#include "formats/npy.h"
#include "kernels/kernel_table.h"
#include "model/llama_tensors.h"
#include "model/llama_train.h"
#include "train/distill.h"
#include "train/dpo.h"
#include "train/full_weights.h"
#include "train/optimizer.h"

using namespace herd;

namespace {

// --bf16: every step runs with the bf16 products (kernels::ExecContext::bf16_products),
// recorded as "bf16": true in step.json; grad_check.py --bf16 emulates them.
bool g_bf16 = false;
// The host's best table; with --bf16 on a CPU without a bf16 product, ISA ref
// (its scalar specification: the same function, slowly).
Result<kernels::KernelTable> train_table() {
  Result<kernels::KernelTable> t = kernels::select_kernels();
  if (g_bf16 && t.has_value() && t->gemm_bf16_pairs == nullptr) return kernels::select_kernels("ref");
  return t;
}
kernels::ExecContext exec_of(ThreadPool* pool, const kernels::KernelTable* table) {
  kernels::ExecContext e{pool, table};
  e.bf16_products = g_bf16;
  return e;
}

// The two sequences every dump trains on (the second's prompt part not trained, as a chat prompt).
model::TrainBatch fixed_batch() {
  model::TrainBatch batch;
  batch.add_sequence({128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13});
  batch.add_sequence({128000, 9906, 1917, 0, 220, 4438, 1120, 6},
                     {true, false, false, false, true, true, true, true});
  return batch;
}

bool write_batch(const std::string& dir, const model::TrainBatch& tb) {
  std::vector<float> rows;
  for (int32_t v : tb.tokens) rows.push_back(static_cast<float>(v));
  for (int32_t v : tb.labels) rows.push_back(static_cast<float>(v));
  for (int64_t v : tb.pos) rows.push_back(static_cast<float>(v));
  for (int32_t v : tb.first) rows.push_back(static_cast<float>(v));
  return formats::write_npy_f32(dir + "/batch.npy", {4, static_cast<int64_t>(tb.tokens.size())}, rows.data())
      .has_value();
}

int dump_full(const std::string& path, const std::string& out) {
  Result<model::LlamaModel> m = model::LlamaModel::load(path);
  Result<kernels::KernelTable> table = train_table();
  if (!m.has_value() || !table.has_value()) return 1;
  ThreadPool pool(2);
  Result<train::FullWeights> fw = train::FullWeights::create(*m, pool);
  if (!fw.has_value() || !fw->prepare(*m).has_value()) {
    std::fprintf(stderr, "herd_train_dump --full: cannot make the master copy\n");
    return 1;
  }
  const model::TrainBatch batch = fixed_batch();
  const auto T = static_cast<int64_t>(batch.tokens.size());
  const model::LlamaConfig& c = m->config();
  const int64_t D = c.d_model, V = c.vocab_size;
  model::TrainStep step(*m, T);
  std::vector<float> d_input(static_cast<size_t>(T * D));
  Result<kernels::CeResult> r =
      step.run(exec_of(&pool, &*table), batch, 1.0f, &fw->grads(), d_input.data());
  if (!r.has_value()) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  const model::TrainGrads& g = fw->grads();
  bool ok = write_batch(out, batch) && formats::write_npy_f32(out + "/d_input.npy", {T, D}, d_input.data()).has_value();
  for (int64_t il = 0; il < c.n_layers; ++il) {
    const model::LayerGrads& lg = g.layers[static_cast<size_t>(il)];
    const std::string l = std::to_string(il);
    ok = ok && formats::write_npy_f32(out + "/dnorm_" + l + "_attn.npy", {D}, lg.attn_norm).has_value();
    ok = ok && formats::write_npy_f32(out + "/dnorm_" + l + "_ffn.npy", {D}, lg.ffn_norm).has_value();
    int slot = 0;
    model::for_each_layer_linear(m->layers()[static_cast<size_t>(il)], [&](model::LlamaTensor, const model::Linear& lin) {
      ok = ok && formats::write_npy_f32(out + "/dw_" + l + "_" + std::to_string(slot) + ".npy",
                                        {lin.w.rows(), lin.w.cols()}, lg.weight[static_cast<size_t>(slot)])
                     .has_value();
      ++slot;
    });
  }
  ok = ok && formats::write_npy_f32(out + "/d_output_norm.npy", {D}, g.output_norm).has_value();
  ok = ok && formats::write_npy_f32(out + "/d_tok_embd.npy", {V, D}, g.tok_embd).has_value();
  if (!c.tied_embeddings) ok = ok && formats::write_npy_f32(out + "/d_output.npy", {V, D}, g.output).has_value();
  FILE* f = std::fopen((out + "/step.json").c_str(), "w");
  if (!ok || f == nullptr) {
    std::fprintf(stderr, "herd_train_dump: cannot write %s\n", out.c_str());
    return 1;
  }
  std::fprintf(f, "{\"loss_sum\": %.17g, \"counted\": %lld, \"rank\": 0, \"scale\": 0, \"bf16\": %s}\n", r->loss_sum,
               static_cast<long long>(r->counted), g_bf16 ? "true" : "false");
  std::fclose(f);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool steps = false, dpo = false, kd = false, full = false, dropout = false;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    steps |= a == "--steps";
    dpo |= a == "--dpo";
    kd |= a == "--kd";
    full |= a == "--full";
    dropout |= a == "--dropout";
    g_bf16 |= a == "--bf16";
    if (a != "--steps" && a != "--dpo" && a != "--kd" && a != "--full" && a != "--dropout" && a != "--bf16") argc = 0;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: herd_train_dump MODEL OUTDIR [--steps] [--dpo] [--kd] [--dropout] | --full [--bf16]\n");
    return 2;
  }
  if (full) return dump_full(argv[1], argv[2]);
  const std::string out = argv[2];
  Result<model::LlamaModel> m = model::LlamaModel::load(argv[1]);
  if (!m.has_value()) {
    std::fprintf(stderr, "%s\n", m.error().to_string().c_str());
    return 1;
  }
  const int64_t rank = 2;
  const float scale = 2.0f;
  Rng rng(2024, 1);
  std::vector<std::vector<float>> a, b, da, db;
  model::TrainGrads grads;
  grads.layers.resize(static_cast<size_t>(m->config().n_layers));
  std::vector<std::string> names;
  for (int64_t il = 0; il < m->config().n_layers; ++il) {
    int slot = 0;
    model::for_each_layer_linear(m->layers()[static_cast<size_t>(il)], [&](model::LlamaTensor t, const model::Linear& lin) {
      const int64_t N = lin.w.rows(), K = lin.w.cols();
      a.emplace_back(static_cast<size_t>(rank * K));
      b.emplace_back(static_cast<size_t>(N * rank));
      for (float& v : a.back()) v = rng.next_normal() * 0.05f;
      for (float& v : b.back()) v = rng.next_normal() * 0.05f;
      da.emplace_back(a.back().size(), 0.0f);
      db.emplace_back(b.back().size(), 0.0f);
      Status s = m->attach_lora(il, t, model::LoraAdapter{a.back().data(), b.back().data(), rank, scale});
      if (!s.has_value()) std::fprintf(stderr, "%s\n", s.error().to_string().c_str());
      grads.layers[static_cast<size_t>(il)].lora[static_cast<size_t>(slot)] = {da.back().data(), db.back().data()};
      names.push_back(std::to_string(il) + "_" + std::to_string(slot));
      ++slot;
    });
  }
  const model::TrainBatch batch = fixed_batch();
  const auto T = static_cast<int64_t>(batch.tokens.size());
  const int64_t D = m->config().d_model;
  Result<kernels::KernelTable> table = train_table();
  if (!table.has_value()) return 1;
  ThreadPool pool(2);
  model::TrainStep step(*m, T);
  std::vector<float> d_input(static_cast<size_t>(T * D));
  Result<kernels::CeResult> r = step.run(exec_of(&pool, &*table), batch, 1.0f, &grads, d_input.data());
  if (!r.has_value()) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  // The batch, the adapters and their gradients into `dir`.
  auto write_step = [&](const std::string& dir, const model::TrainBatch& tb) {
    bool good = write_batch(dir, tb);
    for (size_t i = 0; i < names.size(); ++i) {
      const auto na = static_cast<int64_t>(a[i].size()), nb = static_cast<int64_t>(b[i].size());
      good = good && formats::write_npy_f32(dir + "/a_" + names[i] + ".npy", {rank, na / rank}, a[i].data()).has_value();
      good = good && formats::write_npy_f32(dir + "/b_" + names[i] + ".npy", {nb / rank, rank}, b[i].data()).has_value();
      good = good && formats::write_npy_f32(dir + "/da_" + names[i] + ".npy", {rank, na / rank}, da[i].data()).has_value();
      good = good && formats::write_npy_f32(dir + "/db_" + names[i] + ".npy", {nb / rank, rank}, db[i].data()).has_value();
    }
    return good;
  };
  bool ok = write_step(out, batch);
  ok = ok && formats::write_npy_f32(out + "/d_input.npy", {T, D}, d_input.data()).has_value();
  FILE* f = std::fopen((out + "/step.json").c_str(), "w");
  if (!ok || f == nullptr) {
    std::fprintf(stderr, "herd_train_dump: cannot write %s\n", out.c_str());
    return 1;
  }
  std::fprintf(f, "{\"loss_sum\": %.17g, \"counted\": %lld, \"rank\": %lld, \"scale\": %.9g, \"bf16\": %s}\n", r->loss_sum,
               static_cast<long long>(r->counted), static_cast<long long>(rank), static_cast<double>(scale),
               g_bf16 ? "true" : "false");
  std::fclose(f);
  if (dpo) {
    // Two pairs of the batch's two sequences, with reference log-probs that make h non-zero.
    train::PrefData pd;
    train::Example e1, e2;
    e1.ids = {128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13};
    e1.trained.assign(e1.ids.size(), true);
    e1.trained[0] = false;
    e2.ids = {128000, 9906, 1917, 0, 220, 4438, 1120, 6};
    e2.trained = {false, false, false, false, true, true, true, true};
    pd.pairs.resize(2);
    pd.pairs[0].chosen = e1;
    pd.pairs[0].rejected = e2;
    pd.pairs[1].chosen = e2;
    pd.pairs[1].rejected = e1;
    const double refs[4] = {-95.0, -40.0, -41.5, -93.25};
    pd.pairs[0].ref_chosen = refs[0];
    pd.pairs[0].ref_rejected = refs[1];
    pd.pairs[1].ref_chosen = refs[2];
    pd.pairs[1].ref_rejected = refs[3];
    model::TrainBatch tb;
    std::string seqs;
    for (const train::Example* e : {&e1, &e2, &e2, &e1}) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s[%zu, %zu, %lld]", seqs.empty() ? "" : ", ", tb.tokens.size(), e->ids.size(),
                    static_cast<long long>(e->n_trained()));
      seqs += buf;
      tb.add_sequence(e->ids, e->trained);
    }
    model::TrainStep dstep(*m, static_cast<int64_t>(tb.tokens.size()));
    struct Cfg {
      const char* name;
      train::DpoOptions o;
    };
    train::DpoOptions sig, ipo;
    sig.beta = 0.1;
    sig.label_smoothing = 0.1;
    sig.rpo_alpha = 0.2;
    ipo.loss = train::DpoLoss::kIpo;
    ipo.beta = 0.5;
    for (const Cfg& c : {Cfg{"sigmoid", sig}, Cfg{"ipo", ipo}}) {
      for (size_t i = 0; i < a.size(); ++i) {
        std::fill(da[i].begin(), da[i].end(), 0.0f);
        std::fill(db[i].begin(), db[i].end(), 0.0f);
      }
      train::DpoObjective obj(pd, c.o);
      const std::vector<size_t> items = {0, 1};
      Result<train::MicroResult> dr = obj.run(exec_of(&pool, &*table), dstep, items, 1.0f, &grads);
      if (!dr.has_value()) {
        std::fprintf(stderr, "%s\n", dr.error().to_string().c_str());
        return 1;
      }
      const std::string dir = out + "/dpo_" + c.name;
      std::filesystem::create_directories(dir);
      FILE* j = std::fopen((dir + "/dpo.json").c_str(), "w");
      if (!write_step(dir, tb) || j == nullptr) return 1;
      std::fprintf(j,
                   "{\"loss\": %.17g, \"type\": \"%s\", \"beta\": %.17g, \"eps\": %.17g, \"rpo\": %.17g, "
                   "\"rank\": %lld, \"scale\": %.9g, \"seqs\": [%s], \"ref\": [%.17g, %.17g, %.17g, %.17g]}\n",
                   dr->loss_sum, c.name, c.o.beta, c.o.label_smoothing, c.o.rpo_alpha, static_cast<long long>(rank),
                   static_cast<double>(scale), seqs.c_str(), refs[0], refs[1], refs[2], refs[3]);
      std::fclose(j);
    }
  }
  if (kd) {
    // The batch's two sequences as distillation data, a made-up teacher: 4 entries per
    // trained position (ids spread over the vocabulary, the label among them at some
    // positions), logits and an lse that leaves 40% of the mass to the tail.
    train::SftData sd;
    sd.examples.resize(2);
    sd.examples[0].ids = {128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13};
    sd.examples[0].trained.assign(sd.examples[0].ids.size(), true);
    sd.examples[0].trained[0] = false;
    sd.examples[1].ids = {128000, 9906, 1917, 0, 220, 4438, 1120, 6};
    sd.examples[1].trained = {false, false, false, false, true, true, true, true};
    train::DistillOptions o;
    o.top_k = 4;
    o.temperature = 2.0;
    o.kd_ratio = 0.7;
    train::TeacherCache c;
    c.k = o.top_k;
    c.temperature = o.temperature;
    c.data_fingerprint = train::data_fingerprint(sd);
    c.offsets = {0, sd.examples[0].n_trained(), sd.examples[0].n_trained() + sd.examples[1].n_trained()};
    const int64_t V = m->config().vocab_size;
    std::string ids_j, logits_j, lse_j;
    for (int64_t row = 0; row < c.offsets.back(); ++row) {
      double se = 0;
      ids_j += row ? ", [" : "[";
      logits_j += row ? ", [" : "[";
      for (int64_t j = 0; j < c.k; ++j) {
        const auto id = static_cast<int32_t>((row * 7919 + j * 104729 + 13) % V);
        const float l = 3.0f * rng.next_normal();
        c.ids.push_back(id);
        c.logits.push_back(l);
        se += std::exp(l / c.temperature);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%d", j ? ", " : "", id);
        ids_j += buf;
        std::snprintf(buf, sizeof buf, "%s%.9g", j ? ", " : "", static_cast<double>(l));
        logits_j += buf;
      }
      ids_j += "]";
      logits_j += "]";
      c.lse.push_back(std::log(se / 0.6));
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%.17g", row ? ", " : "", c.lse.back());
      lse_j += buf;
    }
    for (const bool reverse : {false, true}) {
      for (size_t i = 0; i < a.size(); ++i) {
        std::fill(da[i].begin(), da[i].end(), 0.0f);
        std::fill(db[i].begin(), db[i].end(), 0.0f);
      }
      o.reverse_kl = reverse;
      train::DistillObjective obj(sd, c, o);
      const std::vector<size_t> items = {0, 1};
      Result<train::MicroResult> kr = obj.run(exec_of(&pool, &*table), step, items, 1.0f, &grads);
      if (!kr.has_value()) {
        std::fprintf(stderr, "%s\n", kr.error().to_string().c_str());
        return 1;
      }
      const std::string dir = out + (reverse ? "/kd_reverse" : "/kd");
      std::filesystem::create_directories(dir);
      FILE* j = std::fopen((dir + "/kd.json").c_str(), "w");
      if (!write_step(dir, batch) || j == nullptr) return 1;
      std::fprintf(j,
                   "{\"loss\": %.17g, \"temperature\": %.17g, \"kd_ratio\": %.17g, \"k\": %lld, \"rank\": %lld, "
                   "\"scale\": %.9g, \"reverse\": %s, \"ids\": [%s], \"logits\": [%s], \"lse\": [%s]}\n",
                   kr->loss_sum, o.temperature, o.kd_ratio, static_cast<long long>(o.top_k),
                   static_cast<long long>(rank), static_cast<double>(scale), reverse ? "true" : "false", ids_j.c_str(),
                   logits_j.c_str(), lse_j.c_str());
      std::fclose(j);
    }
  }
  if (dropout) {
    // LoRA dropout 0.3 (seed 77, salt 5): the same step, and each adapter's factors.
    for (size_t i = 0; i < a.size(); ++i) {
      std::fill(da[i].begin(), da[i].end(), 0.0f);
      std::fill(db[i].begin(), db[i].end(), 0.0f);
    }
    step.set_lora_dropout(0.3, 77);
    step.set_dropout_salt(5);
    Result<kernels::CeResult> dr =
        step.run(exec_of(&pool, &*table), batch, 1.0f, &grads, d_input.data());
    if (!dr.has_value()) return 1;
    const std::string dir = out + "/dropout";
    std::filesystem::create_directories(dir);
    bool good = write_step(dir, batch) &&
                formats::write_npy_f32(dir + "/d_input.npy", {T, D}, d_input.data()).has_value();
    size_t i = 0;
    for (int64_t il = 0; il < m->config().n_layers; ++il) {
      int slot = 0;
      model::for_each_layer_linear(m->layers()[static_cast<size_t>(il)], [&](model::LlamaTensor, const model::Linear& lin) {
        std::vector<float> fac(static_cast<size_t>(T * lin.w.cols()));
        step.dropout_factors(static_cast<size_t>(il), slot++, T, lin.w.cols(), fac.data());
        good = good && formats::write_npy_f32(dir + "/mask_" + names[i++] + ".npy", {T, lin.w.cols()}, fac.data())
                           .has_value();
      });
    }
    step.set_lora_dropout(0.0, 0);
    FILE* j = std::fopen((dir + "/step.json").c_str(), "w");
    if (!good || j == nullptr) return 1;
    std::fprintf(j, "{\"loss_sum\": %.17g, \"counted\": %lld, \"rank\": %lld, \"scale\": %.9g, \"dropout\": 0.3}\n",
                 dr->loss_sum, static_cast<long long>(dr->counted), static_cast<long long>(rank),
                 static_cast<double>(scale));
    std::fclose(j);
  }
  if (!steps) return 0;
  // Ten AdamW steps on the batch (mean loss), from the same adapters.
  train::AdamWOptions ao;
  ao.lr = 1e-2;
  ao.weight_decay = 0.01;
  train::AdamW opt(ao);
  for (size_t i = 0; i < a.size(); ++i) {
    opt.add({a[i].data(), da[i].data(), static_cast<int64_t>(a[i].size())});
    opt.add({b[i].data(), db[i].data(), static_cast<int64_t>(b[i].size())});
  }
  std::string losses;
  for (int s = 0; s < 10; ++s) {
    for (size_t i = 0; i < a.size(); ++i) {
      std::fill(da[i].begin(), da[i].end(), 0.0f);
      std::fill(db[i].begin(), db[i].end(), 0.0f);
    }
    Result<kernels::CeResult> rs = step.run(exec_of(&pool, &*table), batch,
                                            1.0f / static_cast<float>(r->counted), &grads);
    if (!rs.has_value()) return 1;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%.17g", s ? ", " : "", rs->loss_sum / static_cast<double>(rs->counted));
    losses += buf;
    opt.step(ao.lr);
  }
  FILE* g = std::fopen((out + "/steps.json").c_str(), "w");
  if (g == nullptr) return 1;
  std::fprintf(g, "{\"lr\": %.17g, \"weight_decay\": %.17g, \"losses\": [%s]}\n", ao.lr, ao.weight_decay, losses.c_str());
  std::fclose(g);
  return 0;
}
