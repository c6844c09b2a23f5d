// LoRA adapters (lora_set.h) and the optimizer (optimizer.h):
//  - a new adapter is PEFT's initialisation (A within 1/sqrt(in), B zero);
//  - a PEFT directory read back equals what was written, bit for bit, on a GGUF
//    base (whose q/k B rows are permuted to HF order in the file: checked
//    against formats/hf_permute.h's row map) and on an HF base (not permuted);
//  - bad adapters are refused with the reason; --lora-targets parsing;
//  - the cosine schedule, clipping and one AdamW step against their formulas.
#include "train/lora_set.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "base/rng.h"
#include "formats/hf_permute.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/test_models.h"
#include "train/optimizer.h"

namespace herd::train {
namespace {

void randomize_b(LoraSet& s, uint64_t seed) {
  Rng r(seed, 1);
  std::vector<std::vector<float>*> t = s.tensors();
  for (size_t i = 1; i < t.size(); i += 2)
    for (float& v : *t[i]) v = r.next_normal();
}

TEST(LoraSet, NewAdaptersArePeftsInitialisation) {
  Result<model::LlamaModel> m = model::LlamaModel::load(model::make_test_model("lora-init.gguf", "tiny", "q8_0", 2));
  ASSERT_TRUE(m.has_value());
  LoraSpec spec;
  spec.rank = 4;
  spec.targets = *parse_lora_targets("q,v,down");
  Result<LoraSet> s = LoraSet::create(*m, spec, 9);
  ASSERT_TRUE(s.has_value());
  std::vector<std::vector<float>*> t = s->tensors();
  ASSERT_EQ(t.size(), 2u * 3 * static_cast<size_t>(m->config().n_layers));
  for (size_t i = 0; i < t.size(); i += 2) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(t[i]->size() / 4));  // A is [4, in]
    double mx = 0;
    for (float v : *t[i]) mx = std::max(mx, std::fabs(static_cast<double>(v)));
    EXPECT_LE(mx, bound);
    EXPECT_GT(mx, 0.9 * bound);  // uniform over the whole range
    for (float v : *t[i + 1]) ASSERT_EQ(v, 0.0f);
  }
  EXPECT_EQ(spec.scale(), 4.0);  // alpha 16 / rank 4
  spec.rslora = true;
  EXPECT_EQ(spec.scale(), 8.0);  // alpha / sqrt(rank)
}

TEST(LoraSet, PeftRoundTripOnGgufAndHfBases) {
  for (const char* fmt : {"gguf", "hf"}) {
    SCOPED_TRACE(fmt);
    model::MakeModelOptions mo;
    mo.shape = *model::parse_model_shape("tiny");
    mo.dtype = "f32";
    mo.format = fmt;
    mo.seed = 3;
    mo.out = model::test_model_dir() + "/lora-rt-" + fmt + (std::string(fmt) == "gguf" ? ".gguf" : "");
    ThreadPool pool(1);
    ASSERT_TRUE(model::make_model(mo, pool, nullptr).has_value());
    Result<model::LlamaModel> m = model::LlamaModel::load(mo.out);
    ASSERT_TRUE(m.has_value());
    LoraSpec spec;
    spec.rank = 2;
    spec.alpha = 5;
    spec.rslora = true;
    Result<LoraSet> s = LoraSet::create(*m, spec, 4);
    ASSERT_TRUE(s.has_value());
    randomize_b(*s, 5);
    const std::string dir = model::test_model_dir() + "/adapter-" + fmt;
    ASSERT_TRUE(s->write_peft(dir, *m, "base").has_value());
    Result<LoraSet> back = LoraSet::read_peft(dir, *m);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(back->spec().rank, 2);
    EXPECT_EQ(back->spec().alpha, 5);
    EXPECT_TRUE(back->spec().rslora);
    EXPECT_EQ(back->spec().targets, kAllTargets);
    std::vector<std::vector<float>*> a = s->tensors(), b = back->tensors();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(*a[i], *b[i]) << i;
    // In the file, layer 0's q B row r (HF order) is the model's row meta_row_of_hf_row(r)
    // on a GGUF base, row r itself on an HF base.
    Result<formats::SafetensorsFile> f = formats::SafetensorsFile::open(dir + "/adapter_model.safetensors");
    ASSERT_TRUE(f.has_value());
    const formats::StTensor* qb = f->find("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
    ASSERT_NE(qb, nullptr);
    const auto* file_rows = reinterpret_cast<const float*>(qb->data);
    const std::vector<float>& mine = *a[1];  // layer 0, q, B [n, 2]
    const int64_t hd = m->config().head_dim;
    for (int64_t r = 0; r < hd; ++r) {
      const int64_t src = std::string(fmt) == "gguf" ? formats::meta_row_of_hf_row(r, hd) : r;
      EXPECT_EQ(file_rows[r * 2], mine[static_cast<size_t>(src * 2)]) << r;
    }
  }
}

// The GGUF LoRA holds Meta's row order (llama.cpp applies it to GGUF bases): on an HF
// base, file row r of q's B is the model's (HF-order) row hf_row_of_meta_row(r); on a GGUF
// base row r itself. Read back it gives the same values and scale (rsLoRA folded into alpha).
TEST(LoraSet, GgufRoundTripOnGgufAndHfBases) {
  for (const char* fmt : {"gguf", "hf"}) {
    SCOPED_TRACE(fmt);
    model::MakeModelOptions mo;
    mo.shape = *model::parse_model_shape("tiny");
    mo.dtype = "f32";
    mo.format = fmt;
    mo.seed = 3;
    mo.out = model::test_model_dir() + "/lora-gg-" + fmt + (std::string(fmt) == "gguf" ? ".gguf" : "");
    ThreadPool pool(1);
    ASSERT_TRUE(model::make_model(mo, pool, nullptr).has_value());
    Result<model::LlamaModel> m = model::LlamaModel::load(mo.out);
    ASSERT_TRUE(m.has_value());
    LoraSpec spec;
    spec.rank = 4;
    spec.alpha = 6;
    spec.rslora = true;
    spec.targets = *parse_lora_targets("q,k,down");
    Result<LoraSet> s = LoraSet::create(*m, spec, 4);
    ASSERT_TRUE(s.has_value());
    randomize_b(*s, 5);
    const std::string path = model::test_model_dir() + "/adapter-" + fmt + ".gguf";
    ASSERT_TRUE(s->write_gguf(path, *m, "base").has_value());
    Result<LoraSet> back = LoraSet::read(path, *m);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(back->spec().rank, 4);
    EXPECT_NEAR(back->spec().scale(), spec.scale(), 1e-7);
    EXPECT_EQ(back->spec().targets, spec.targets);
    std::vector<std::vector<float>*> a = s->tensors(), b = back->tensors();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(*a[i], *b[i]) << i;
    Result<formats::GgufFile> f = formats::GgufFile::open(path);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->get_string("general.type").value(), "adapter");
    EXPECT_EQ(f->get_string("adapter.type").value(), "lora");
    const formats::GgufTensor* qa = f->find_tensor("blk.0.attn_q.weight.lora_a");
    const formats::GgufTensor* qb = f->find_tensor("blk.0.attn_q.weight.lora_b");
    ASSERT_NE(qa, nullptr);
    ASSERT_NE(qb, nullptr);
    EXPECT_EQ(qa->shape, (std::vector<int64_t>{4, 256}));  // ggml ne [in, rank]
    EXPECT_EQ(qb->shape, (std::vector<int64_t>{256, 4}));  // ggml ne [rank, out]
    const auto* file_rows = reinterpret_cast<const float*>(qb->data);
    const std::vector<float>& mine = *a[1];  // layer 0, q, B [n, 4]
    const int64_t hd = m->config().head_dim;
    for (int64_t r = 0; r < hd; ++r) {
      const int64_t src = std::string(fmt) == "hf" ? formats::hf_row_of_meta_row(r, hd) : r;
      EXPECT_EQ(file_rows[r * 4], mine[static_cast<size_t>(src * 4)]) << r;
    }
    // An adapter of another model is refused.
    Result<model::LlamaModel> other = model::LlamaModel::load(model::make_test_model(
        "lora-other.gguf", "d_model=256,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=768", "q8_0", 1));
    ASSERT_TRUE(other.has_value());
    Result<LoraSet> wrong = LoraSet::read(path, *other);
    ASSERT_FALSE(wrong.has_value());
    EXPECT_NE(wrong.error().message().find("another base model"), std::string::npos) << wrong.error().to_string();
  }
  // A GGUF model file is not an adapter.
  const std::string base = model::make_test_model("lora-notadapter.gguf", "tiny", "f32", 2);
  Result<model::LlamaModel> m = model::LlamaModel::load(base);
  ASSERT_TRUE(m.has_value());
  Result<LoraSet> not_adapter = LoraSet::read(base, *m);
  ASSERT_FALSE(not_adapter.has_value());
  EXPECT_NE(not_adapter.error().message().find("not a LoRA adapter"), std::string::npos);
}

TEST(LoraSet, BadAdaptersAreRefused) {
  Result<model::LlamaModel> m = model::LlamaModel::load(model::make_test_model("lora-bad.gguf", "tiny", "f32", 2));
  ASSERT_TRUE(m.has_value());
  const std::string dir = model::test_model_dir() + "/bad-adapter";
  EXPECT_EQ(LoraSet::read_peft(dir, *m).error().code(), ErrorCode::kNotFound);
  LoraSpec spec;
  spec.rank = 2;
  ASSERT_TRUE(LoraSet::create(*m, spec, 1)->write_peft(dir, *m, "x").has_value());
  {
    std::ofstream(dir + "/adapter_config.json") << R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8})";
    Result<LoraSet> r = LoraSet::read_peft(dir, *m);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("another base model"), std::string::npos) << r.error().message();
  }
  std::ofstream(dir + "/adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 8, "use_dora": true})";
  EXPECT_EQ(LoraSet::read_peft(dir, *m).error().code(), ErrorCode::kUnsupported);
  std::ofstream(dir + "/adapter_config.json") << R"({"peft_type": "PROMPT_TUNING"})";
  EXPECT_FALSE(LoraSet::read_peft(dir, *m).has_value());
  EXPECT_FALSE(parse_lora_targets("q,x").has_value());
  EXPECT_EQ(*parse_lora_targets("down,q_proj"), (1u << 0) | (1u << 6));
  EXPECT_EQ(lora_targets_string(*parse_lora_targets("all")), "q,k,v,o,gate,up,down");
}

TEST(Optimizer, ScheduleClippingAndOneAdamWStep) {
  EXPECT_EQ(cosine_lr(1.0, 0, 4, 20), 0.0);
  EXPECT_EQ(cosine_lr(1.0, 2, 4, 20), 0.5);
  EXPECT_EQ(cosine_lr(1.0, 4, 4, 20), 1.0);
  EXPECT_NEAR(cosine_lr(1.0, 12, 4, 20), 0.5, 1e-15);
  EXPECT_NEAR(cosine_lr(1.0, 20, 4, 20), 0.0, 1e-15);
  std::vector<float> g1 = {3, 0}, g2 = {0, 4}, v1 = {0, 0}, v2 = {0, 0};
  std::vector<Param> ps = {{v1.data(), g1.data(), 2}, {v2.data(), g2.data(), 2}};
  EXPECT_EQ(clip_grad_norm(ps, 10.0), 5.0);  // under the limit: unchanged
  EXPECT_EQ(g1[0], 3.0f);
  EXPECT_EQ(clip_grad_norm(ps, 1.0), 5.0);
  EXPECT_NEAR(g1[0], 0.6f, 1e-6f);
  EXPECT_NEAR(g2[1], 0.8f, 1e-6f);
  // One step from m = v = 0: the update is lr * g / (|g| + eps) after decay.
  std::vector<float> p = {1.0f, -2.0f}, g = {0.5f, -1e-3f};
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.1;
  AdamW opt(o);
  opt.add({p.data(), g.data(), 2});
  opt.step(o.lr);
  for (int i = 0; i < 2; ++i) {
    const double p0 = i == 0 ? 1.0 : -2.0, gi = g[static_cast<size_t>(i)];
    const double want = p0 * (1 - 0.01) - 0.1 * gi / (std::fabs(gi) + 1e-8);
    EXPECT_NEAR(p[static_cast<size_t>(i)], want, 4e-7 * std::fabs(want)) << i;
  }
  EXPECT_EQ(opt.steps(), 1);
}

}  // namespace
}  // namespace herd::train
