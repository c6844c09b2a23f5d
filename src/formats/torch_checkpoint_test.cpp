// Tests for the PyTorch checkpoint reader: the restricted unpickler
// (torch_pickle.h), the zip index (zip_archive.h), the checkpoint's tensor
// checks (torch_checkpoint.h) and params.json (meta_params.h).
//
// Pickles and zips are assembled here byte by byte, following the pickle
// opcode table (Python's pickletools) and PKWARE's APPNOTE, so each test
// states exactly what the bytes say. Real files written by torch.save are
// read in tests/e2e/test_meta_native.sh and are the fuzzers' seeds.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "formats/meta_params.h"
#include "formats/torch_checkpoint.h"
#include "formats/zip_archive.h"

namespace herd::formats {
namespace {

// A pickle assembled opcode by opcode.
struct Pickle {
  std::string b = "\x80\x02";  // PROTO 2
  Pickle& op(char c) { b += c; return *this; }
  Pickle& str(const std::string& s) {  // BINUNICODE
    b += 'X';
    for (int i = 0; i < 4; ++i) b += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    b += s;
    return *this;
  }
  Pickle& int1(uint8_t v) { b += 'K'; b += static_cast<char>(v); return *this; }
  Pickle& global(const std::string& m, const std::string& n) { b += 'c' + m + '\n' + n + '\n'; return *this; }
  // _rebuild_tensor_v2(('storage', BFloat16Storage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& key, uint8_t numel, uint8_t offset, std::vector<uint8_t> size,
                 std::vector<uint8_t> stride, const char* storage = "BFloat16Storage") {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", storage).str(key).str("cpu").int1(numel).op('t').op('Q');
    int1(offset).op('(');
    for (uint8_t s : size) int1(s);
    op('t').op('(');
    for (uint8_t s : stride) int1(s);
    op('t').op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    return *this;
  }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(b.data()); }
  size_t size() const { return b.size(); }
};

// {"a": bf16 [2, 3] at offset 1 of storage "0" (8 elements), "b": the same storage, [2] at 0}
Pickle state_dict() {
  Pickle p;
  p.op('}').op('(').str("a").tensor("0", 8, 1, {2, 3}, {3, 1}).str("b").tensor("0", 8, 0, {2}, {1}).op('u').op('.');
  return p;
}

std::string message(const Error& e) { return e.to_string(); }

TEST(TorchPickle, ReadsAStateDict) {
  Pickle p = state_dict();
  Result<PickledStateDict> sd = unpickle_state_dict(p.data(), p.size());
  ASSERT_TRUE(sd.has_value()) << message(sd.error());
  ASSERT_EQ(sd->storages.size(), 1u);  // one storage, referenced twice
  EXPECT_EQ(sd->storages[0].key, "0");
  EXPECT_EQ(sd->storages[0].type, TorchStorageType::kBFloat16);
  EXPECT_EQ(sd->storages[0].numel, 8u);
  EXPECT_EQ(sd->storages[0].location, "cpu");
  ASSERT_EQ(sd->tensors.size(), 2u);
  EXPECT_EQ(sd->tensors[0].name, "a");
  EXPECT_EQ(sd->tensors[0].offset, 1u);
  EXPECT_EQ(sd->tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(sd->tensors[0].stride, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(sd->tensors[1].name, "b");
  EXPECT_EQ(sd->tensors[1].storage, 0u);
}

Error refusal(const Pickle& p) {
  Result<PickledStateDict> sd = unpickle_state_dict(p.data(), p.size());
  EXPECT_FALSE(sd.has_value());
  return sd.has_value() ? err(ErrorCode::kInternal, "accepted") : sd.error();
}

TEST(TorchPickle, RefusesEveryOtherGlobal) {
  Pickle p;
  p.global("os", "system").str("touch /tmp/x").op('\x85').op('R').op('.');
  Error e = refusal(p);
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_NE(message(e).find("'os.system'"), std::string::npos) << message(e);
  EXPECT_NE(message(e).find("nothing was run"), std::string::npos);
  // Allowed module, other name; and a storage class called as a function.
  Pickle q;
  q.global("torch._utils", "_rebuild_device_tensor_from_numpy").op('.');
  EXPECT_EQ(refusal(q).code(), ErrorCode::kUnsupported);
  Pickle r;
  r.global("torch", "FloatStorage").op(')').op('R').op('.');
  EXPECT_EQ(refusal(r).code(), ErrorCode::kUnsupported);
}

TEST(TorchPickle, RefusesOpcodesOutsideTheAllowList) {
  for (char op : {'i', 'o', 'b', 'P', 'S', 'V', 'I', 'L', 'F'}) {  // INST OBJ BUILD PERSID STRING UNICODE INT LONG FLOAT
    Pickle p;
    p.op('}').op(op).op('.');
    Error e = refusal(p);
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << op;
    EXPECT_NE(message(e).find("at byte 3"), std::string::npos) << message(e);
  }
}

TEST(TorchPickle, BoundsNestingAndRefusesCycles) {
  Pickle deep;
  deep.op('}').op(')');
  for (int i = 0; i < 40; ++i) deep.op('\x85');  // ((((()),),)...) 41 deep
  deep.op('.');
  EXPECT_EQ(refusal(deep).code(), ErrorCode::kOutOfRange);
  // l = []; l.append(l)
  Pickle cycle;
  cycle.op(']').op('q').op('\0').op('h').op('\0').op('a').op('.');
  EXPECT_NE(message(refusal(cycle)).find("puts a list or dict inside a list"), std::string::npos);
  // l = []; t = (l,); l.append(t)
  Pickle via_tuple;
  via_tuple.op(']').op('q').op('\0').op('\x85').op('q').op('\1').op('h').op('\0').op('h').op('\1').op('a').op('.');
  EXPECT_NE(message(refusal(via_tuple)).find("puts a list or dict inside a list"), std::string::npos);
}

TEST(TorchPickle, RefusesMalformedStreams) {
  Pickle no_stop;
  no_stop.op('}');
  EXPECT_EQ(refusal(no_stop).code(), ErrorCode::kCorrupt);
  Pickle bad_memo;
  bad_memo.op('h').op('\7').op('.');
  EXPECT_EQ(refusal(bad_memo).code(), ErrorCode::kCorrupt);
  Pickle empty_pop;
  empty_pop.op('.');
  EXPECT_EQ(refusal(empty_pop).code(), ErrorCode::kCorrupt);
  Pickle long9;
  long9.op('\x8a').op('\x09') .b += std::string(9, '\1');
  long9.op('.');
  EXPECT_EQ(refusal(long9).code(), ErrorCode::kUnsupported);
  Pickle not_dict;
  not_dict.op(']').op('.');
  EXPECT_EQ(refusal(not_dict).code(), ErrorCode::kUnsupported);
  Pickle non_tensor_value;
  non_tensor_value.op('}').str("a").int1(1).op('s').op('.');
  EXPECT_EQ(refusal(non_tensor_value).code(), ErrorCode::kUnsupported);
  Pickle cut = state_dict();
  for (size_t n = 0; n + 1 < cut.size(); ++n) {  // every strict prefix is refused, none read past its end
    Result<PickledStateDict> sd = unpickle_state_dict(cut.data(), n);
    EXPECT_FALSE(sd.has_value()) << n;
  }
}

// A zip of stored entries, as torch.save lays it out (local headers, then the
// central directory and the end record).
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries, uint16_t method = 0) {
  auto le = [](std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  std::string out, cd;
  for (const auto& [name, body] : entries) {
    const uint64_t off = out.size();
    le(out, 0x04034b50, 4); le(out, 20, 2); le(out, 0, 2); le(out, method, 2); le(out, 0, 4); le(out, 0, 4);
    le(out, body.size(), 4); le(out, body.size(), 4); le(out, name.size(), 2); le(out, 0, 2);
    out += name + body;
    le(cd, 0x02014b50, 4); le(cd, 20, 2); le(cd, 20, 2); le(cd, 0, 2); le(cd, method, 2); le(cd, 0, 4); le(cd, 0, 4);
    le(cd, body.size(), 4); le(cd, body.size(), 4); le(cd, name.size(), 2); le(cd, 0, 2); le(cd, 0, 2);
    le(cd, 0, 2); le(cd, 0, 2); le(cd, 0, 4); le(cd, off, 4);
    cd += name;
  }
  const uint64_t cd_off = out.size();
  out += cd;
  le(out, 0x06054b50, 4); le(out, 0, 2); le(out, 0, 2); le(out, entries.size(), 2); le(out, entries.size(), 2);
  le(out, cd.size(), 4); le(out, cd_off, 4); le(out, 0, 2);
  return out;
}

std::string storage_bytes() {
  std::string s;
  for (int i = 0; i < 8; ++i) s += {static_cast<char>(i), static_cast<char>(0x3f)};  // 8 bf16 values
  return s;
}

Result<TorchCheckpoint> parse(const std::string& bytes) {
  return TorchCheckpoint::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.pth");
}

TEST(TorchCheckpoint, ViewsTensorsInTheirStorage) {
  const std::string file = zip({{"m/data.pkl", state_dict().b}, {"m/byteorder", "little"}, {"m/data/0", storage_bytes()},
                                {"m/version", "3\n"}});
  Result<TorchCheckpoint> c = parse(file);
  ASSERT_TRUE(c.has_value()) << message(c.error());
  const TorchTensor* a = c->find("a");
  ASSERT_NE(a, nullptr);
  const size_t rec = file.find(storage_bytes());
  EXPECT_EQ(a->data, reinterpret_cast<const uint8_t*>(file.data()) + rec + 2);  // offset 1 element
  EXPECT_EQ(a->nbytes, 12u);
  std::optional<TensorView> v = a->view();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->dtype, DType::kBF16);
  EXPECT_EQ(v->shape, (std::vector<int64_t>{2, 3}));
  // Every strict prefix (a torn download) is refused.
  for (size_t n = 0; n < file.size(); n += 7) EXPECT_FALSE(parse(file.substr(0, n)).has_value()) << n;
}

TEST(TorchCheckpoint, RefusesWhatItCannotMapSafely) {
  auto refused = [](const std::string& file, ErrorCode code, const char* words) {
    Result<TorchCheckpoint> c = parse(file);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code(), code) << message(c.error());
    EXPECT_NE(message(c.error()).find(words), std::string::npos) << message(c.error());
  };
  const std::string pkl = state_dict().b;
  refused(zip({{"m/data.pkl", pkl}}), ErrorCode::kCorrupt, "has no record m/data/0");
  refused(zip({{"m/data.pkl", pkl}, {"m/data/0", storage_bytes().substr(2)}}), ErrorCode::kCorrupt, "holds 14 bytes");
  refused(zip({{"m/data.pkl", pkl}, {"m/data/0", storage_bytes()}}, 8), ErrorCode::kUnsupported, "compressed");
  refused(zip({{"m/data.pkl", pkl}, {"m/data.pkl", pkl}}), ErrorCode::kCorrupt, "appears twice");
  refused(zip({{"m/data.pkl", pkl}, {"m/byteorder", "big"}, {"m/data/0", storage_bytes()}}), ErrorCode::kUnsupported,
          "big-endian");
  refused(zip({{"m/version", "3"}}), ErrorCode::kCorrupt, "data.pkl");
  Pickle past_end;  // [3, 3] from offset 1 of 8 elements
  past_end.op('}').str("a").tensor("0", 8, 1, {3, 3}, {3, 1}).op('s').op('.');
  refused(zip({{"m/data.pkl", past_end.b}, {"m/data/0", storage_bytes()}}), ErrorCode::kCorrupt, "outside its storage");
  Pickle transposed;  // a [2, 3] view with strides (1, 2)
  transposed.op('}').str("a").tensor("0", 8, 0, {2, 3}, {1, 2}).op('s').op('.');
  refused(zip({{"m/data.pkl", transposed.b}, {"m/data/0", storage_bytes()}}), ErrorCode::kUnsupported, "contiguous");
  refused(std::string("\x80\x02\x8a\x0a", 4) + std::string(40, '\0'), ErrorCode::kUnsupported, "legacy");
}

TEST(ZipArchive, FindsTheEndRecordBehindAComment) {
  std::string file = zip({{"a/x", "hello"}});
  file[file.size() - 2] = 3;  // comment length 3
  file += "abc";
  Result<ZipArchive> z = ZipArchive::parse(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  ASSERT_TRUE(z.has_value()) << message(z.error());
  ASSERT_NE(z->find("a/x"), nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(z->find("a/x")->data), z->find("a/x")->size), "hello");
  // An entry count the directory cannot hold.
  std::string lie = zip({{"a/x", "hello"}});
  lie[lie.size() - 12] = static_cast<char>(0xff);
  lie[lie.size() - 14] = static_cast<char>(0xff);
  EXPECT_FALSE(ZipArchive::parse(reinterpret_cast<const uint8_t*>(lie.data()), lie.size()).has_value());
}

// params.json of the released models (llama31.md 1.1) -> the HF config values of 1.2.
TEST(MetaParams, DerivesTheReleasedShapes) {
  struct Case {
    const char* json;
    int64_t ffn, head_dim;
    double factor;
  } cases[] = {
      {R"({"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "ffn_dim_multiplier": 1.3,
          "multiple_of": 1024, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true})",
       14336, 128, 8},
      {R"({"dim": 8192, "n_layers": 80, "n_heads": 64, "n_kv_heads": 8, "vocab_size": 128256, "ffn_dim_multiplier": 1.3,
          "multiple_of": 4096, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true})",
       28672, 128, 8},
      {R"({"dim": 16384, "n_layers": 126, "n_heads": 128, "n_kv_heads": 8, "vocab_size": 128256,
          "ffn_dim_multiplier": 1.2, "multiple_of": 4096, "norm_eps": 1e-05, "rope_theta": 500000.0,
          "use_scaled_rope": true})",
       53248, 128, 8},
      {R"({"dim": 2048, "n_layers": 16, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "ffn_dim_multiplier": 1.5,
          "multiple_of": 256, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true})",
       8192, 64, 32},
      {R"({"dim": 3072, "n_layers": 28, "n_heads": 24, "n_kv_heads": 8, "vocab_size": 128256, "ffn_dim_multiplier": 1.0,
          "multiple_of": 256, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true})",
       8192, 128, 32},
  };
  for (const Case& k : cases) {
    Result<HfLlamaConfig> c = hf_config_from_meta_params(k.json);
    ASSERT_TRUE(c.has_value()) << message(c.error());
    EXPECT_EQ(c->intermediate_size, k.ffn) << k.json;
    EXPECT_EQ(c->head_dim, k.head_dim);
    ASSERT_TRUE(c->rope_scaling.has_value());
    EXPECT_EQ(c->rope_scaling->factor, k.factor);
    EXPECT_EQ(c->max_position_embeddings, 131072);
    EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  }
  // Llama 3.0: no scaling, 8K context; vocab_size -1 (older files): taken from the weights later.
  Result<HfLlamaConfig> v3 = hf_config_from_meta_params(
      R"({"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": -1, "ffn_dim_multiplier": 1.3,
          "multiple_of": 1024, "norm_eps": 1e-05, "rope_theta": 500000.0})");
  ASSERT_TRUE(v3.has_value());
  EXPECT_FALSE(v3->rope_scaling.has_value());
  EXPECT_EQ(v3->max_position_embeddings, 8192);
  EXPECT_EQ(v3->vocab_size, 0);
  Result<HfLlamaConfig> f = hf_config_from_meta_params(
      R"({"dim": 2048, "n_layers": 16, "n_heads": 32, "use_scaled_rope": true, "rope_scaling_factor": 16})");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rope_scaling->factor, 16);
}

TEST(MetaParams, RefusesWithTheKeyNamed) {
  struct Case {
    const char* json;
    ErrorCode code;
    const char* words;
  } cases[] = {
      {R"({"n_layers": 2, "n_heads": 4})", ErrorCode::kInvalidArgument, "'dim'"},
      {R"({"dim": 256, "n_layers": 2, "n_heads": 4, "n_kv_heads": 3})", ErrorCode::kInvalidArgument, "'n_kv_heads'"},
      {R"({"dim": 256, "n_layers": 2, "n_heads": 3})", ErrorCode::kInvalidArgument, "'n_heads'"},
      {R"({"dim": "4096", "n_layers": 2, "n_heads": 4})", ErrorCode::kInvalidArgument, "'dim'"},
      {R"({"dim": 256, "n_layers": 2, "n_heads": 4, "vision_chunk_size": 560})", ErrorCode::kUnsupported, "vision"},
      {R"({"dim": 256, "n_layers": 2, "n_heads": 4, "quantization_args": {}})", ErrorCode::kUnsupported, "quantization"},
      {R"({"dim": 256, "n_layers": 2, "n_heads": 4, "ffn_dim_multiplier": -1})", ErrorCode::kInvalidArgument, "ffn_dim"},
      {R"([1, 2])", ErrorCode::kInvalidArgument, "object"},
  };
  for (const Case& k : cases) {
    Result<HfLlamaConfig> c = hf_config_from_meta_params(k.json);
    ASSERT_FALSE(c.has_value()) << k.json;
    EXPECT_EQ(c.error().code(), k.code) << message(c.error());
    EXPECT_NE(message(c.error()).find(k.words), std::string::npos) << message(c.error());
  }
}

}  // namespace
}  // namespace herd::formats
