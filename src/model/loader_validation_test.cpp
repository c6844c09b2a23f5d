// The model loader refuses files whose metadata and tensors disagree, with an error
// naming what is wrong. Each case starts from a valid tiny GGUF (make_model) and
// rewrites it through GgufWriter with one thing changed: a tensor's shape, a missing
// tensor, a metadata value, the rope_freqs vector. A control rewrite with nothing
// changed must load, so a failure is the change's doing. Deleting a check in
// llama_model.cpp (check_shape), llama_config.cpp (validate) or load_gguf.cpp makes the
// matching case fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/llama_model.h"
#include "model/make_model.h"

namespace herd::model {
namespace {

using formats::GgufFile;
using formats::GgufValue;
using formats::GgufWriter;

class LoaderValidation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/herd-loader-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    MakeModelOptions o;
    Result<ModelShape> s = parse_model_shape("tiny");
    ASSERT_TRUE(s.has_value());
    o.shape = *s;
    o.dtype = "q8_0";  // a quarter of f32's bytes: each case rewrites the file
    o.out = dir_ + "/base.gguf";
    ThreadPool pool(1);
    Status st = make_model(o, pool, nullptr);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
  }
  static void TearDownTestSuite() { (void)std::system(("rm -rf " + dir_).c_str()); }

  struct Change {
    std::function<void(GgufWriter&)> meta = {};          // after the copied metadata
    std::string tensor = {};                             // this tensor ...
    std::optional<std::vector<int64_t>> new_shape = {};  // ... gets this shape (zero bytes), or
    bool drop = false;                                   // ... is left out
    std::optional<std::vector<float>> f32_values = {};   // ... gets these f32 values (same shape)
  };

  // Copies base.gguf with one change; returns the new path.
  static std::string rewrite(const std::string& name, const Change& c) {
    Result<GgufFile> f = GgufFile::open(dir_ + "/base.gguf");
    EXPECT_TRUE(f.has_value());
    GgufWriter w(static_cast<uint32_t>(f->alignment()));
    for (const auto& [k, v] : f->metadata()) w.set(k, v);
    if (c.meta) c.meta(w);
    for (const formats::GgufTensor& t : f->tensors()) {
      if (t.name == c.tensor && c.drop) continue;
      std::vector<int64_t> shape = t.shape;
      const uint8_t* src = t.data;
      uint64_t n = t.nbytes;
      std::vector<float> values;
      if (t.name == c.tensor && c.new_shape) shape = *c.new_shape, src = nullptr;
      if (t.name == c.tensor && c.f32_values) values = *c.f32_values, src = nullptr;
      Status s = w.add_tensor(t.name, t.dtype, shape, [src, n, values](uint8_t* dst, uint64_t nbytes) -> Status {
        if (src != nullptr && nbytes == n) std::memcpy(dst, src, nbytes);
        else if (!values.empty()) std::memcpy(dst, values.data(), std::min<uint64_t>(nbytes, values.size() * 4));
        else std::memset(dst, 0, nbytes);
        return Ok{};
      });
      EXPECT_TRUE(s.has_value()) << s.error().to_string();
    }
    const std::string path = dir_ + "/" + name + ".gguf";
    Status s = w.write(path);
    EXPECT_TRUE(s.has_value()) << s.error().to_string();
    return path;
  }

  // Loading the changed file fails with `code` and a message holding every one of `words`.
  static void expect_refused(const std::string& name, const Change& c, ErrorCode code,
                             std::vector<std::string> words) {
    Result<LlamaModel> m = LlamaModel::load(rewrite(name, c));
    ASSERT_FALSE(m.has_value()) << name << ": loaded, but should have been refused";
    EXPECT_EQ(m.error().code(), code) << name << ": " << m.error().to_string();
    for (const std::string& word : words)
      EXPECT_NE(m.error().to_string().find(word), std::string::npos)
          << name << ": the error does not name '" << word << "': " << m.error().to_string();
  }

  static std::string dir_;
};

std::string LoaderValidation::dir_;

TEST_F(LoaderValidation, UnchangedCopyLoads) {
  Result<LlamaModel> m = LlamaModel::load(rewrite("same", {}));
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  EXPECT_EQ(m->config().n_layers, 2);
}

// Tiny: d_model 256, 4 heads of 64, 2 KV heads, d_ff 512, vocab 128256.
TEST_F(LoaderValidation, WrongTensorShapesAreRefused) {
  expect_refused("wq", {.tensor = "blk.0.attn_q.weight", .new_shape = std::vector<int64_t>{288, 256}},
                 ErrorCode::kCorrupt, {"blk.0.attn_q.weight", "[288, 256]", "expected"});
  expect_refused("wk", {.tensor = "blk.1.attn_k.weight", .new_shape = std::vector<int64_t>{256, 256}},
                 ErrorCode::kCorrupt, {"blk.1.attn_k.weight"});
  expect_refused("down", {.tensor = "blk.1.ffn_down.weight", .new_shape = std::vector<int64_t>{256, 256}},
                 ErrorCode::kCorrupt, {"blk.1.ffn_down.weight"});
  expect_refused("norm", {.tensor = "blk.0.attn_norm.weight", .new_shape = std::vector<int64_t>{128}},
                 ErrorCode::kCorrupt, {"blk.0.attn_norm.weight"});
  expect_refused("output", {.tensor = "output.weight", .new_shape = std::vector<int64_t>{128256, 128}},
                 ErrorCode::kCorrupt, {"output.weight"});
}

TEST_F(LoaderValidation, MissingTensorIsNamed) {
  expect_refused("no-down", {.tensor = "blk.1.ffn_down.weight", .drop = true}, ErrorCode::kNotFound,
                 {"blk.1.ffn_down.weight", "missing"});
  expect_refused("no-norm", {.tensor = "output_norm.weight", .drop = true}, ErrorCode::kNotFound,
                 {"output_norm.weight"});
}

TEST_F(LoaderValidation, InconsistentMetadataIsRefused) {
  auto set = [](const char* key, GgufValue v) {
    return Change{.meta = [key, v](GgufWriter& w) { w.set(key, v); }};
  };
  expect_refused("kv-heads", set("llama.attention.head_count_kv", GgufValue::u32(3)), ErrorCode::kCorrupt,
                 {"n_kv_heads"});
  expect_refused("eps", set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(0.0f)), ErrorCode::kCorrupt,
                 {"rms_eps"});
  expect_refused("layers", set("llama.block_count", GgufValue::u32(0)), ErrorCode::kCorrupt, {"block_count"});
  expect_refused("rope-dim", set("llama.rope.dimension_count", GgufValue::u32(32)), ErrorCode::kUnsupported,
                 {"rope.dimension_count"});
  expect_refused("vocab", set("llama.vocab_size", GgufValue::u32(1000)), ErrorCode::kCorrupt, {"vocab_size"});
  // More layers than the file has tensors for: the first missing one is named.
  expect_refused("more-layers", set("llama.block_count", GgufValue::u32(3)), ErrorCode::kNotFound, {"blk.2."});
  expect_refused("arch", set("general.architecture", GgufValue::string("gpt2")), ErrorCode::kUnsupported,
                 {"gpt2"});
}

TEST_F(LoaderValidation, BadRopeFrequenciesAreRefused) {
  std::vector<float> negative(32, 1.0f);
  negative[5] = -2.0f;
  expect_refused("rope-neg", {.tensor = "rope_freqs.weight", .f32_values = negative}, ErrorCode::kCorrupt,
                 {"rope_freqs.weight[5]"});
  expect_refused("rope-len", {.tensor = "rope_freqs.weight", .new_shape = std::vector<int64_t>{16}},
                 ErrorCode::kCorrupt, {"rope_freqs.weight"});
}

}  // namespace
}  // namespace herd::model
