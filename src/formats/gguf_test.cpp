// Tests for the GGUF reader and writer.
//
// Round trips cover every metadata value type and every DType at two
// alignments. The GgufCorrupt suite holds one handcrafted file per corruption
// class from spec/post-training-safety.md Part C (named after the class, as
// leveldb names regression tests after the bug); each must be rejected with an
// error naming the field, never a crash. GgufTruncation cuts a valid file at
// every byte length; run the ASan build (HERD_SANITIZE=address,undefined) to
// make an out-of-bounds read fail loudly: each cut is parsed from a heap
// buffer of exactly that length.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"

namespace herd::formats {
namespace {

// --- helpers -------------------------------------------------------------------

Result<GgufFile> parse_str(const std::string& s) {
  return GgufFile::parse(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Deterministic tensor bytes: byte i of a tensor is (seed * 131 + i * 7) & 0xff.
GgufWriter::FillFn pattern_fill(uint32_t seed) {
  return [seed](uint8_t* dst, uint64_t n) -> Status {
    for (uint64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(seed * 131 + i * 7);
    return Ok{};
  };
}

bool has_pattern(const uint8_t* p, uint64_t n, uint32_t seed) {
  for (uint64_t i = 0; i < n; ++i) {
    if (p[i] != static_cast<uint8_t>(seed * 131 + i * 7)) return false;
  }
  return true;
}

// Builds handcrafted GGUF bytes field by field.
struct Bytes {
  std::string s;
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& v) {
    u64(v.size());
    s += v;
    return *this;
  }
  Bytes& raw(const void* p, size_t n) {
    s.append(static_cast<const char*>(p), n);
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(kGgufMagic).u32(version).u64(n_tensors).u64(n_kv);
  }
  // A key with a u32 value.
  Bytes& kv_u32(const std::string& key, uint32_t v) {
    return str(key).u32(static_cast<uint32_t>(GgufType::kUint32)).u32(v);
  }
  // A tensor info; ne is innermost first, as in the file.
  Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  // Pads to `align` and appends n data bytes.
  Bytes& data(uint64_t n, uint64_t align = 32) {
    s.resize((s.size() + align - 1) / align * align, '\0');
    s.resize(s.size() + n, '\x5a');
    return *this;
  }
};

// Expects a parse error whose message contains every fragment in `want`.
void expect_error(const std::string& bytes, std::vector<std::string> want,
                  ErrorCode code = ErrorCode::kCorrupt) {
  Result<GgufFile> r = parse_str(bytes);
  ASSERT_FALSE(r.has_value()) << "parse accepted a corrupt file";
  EXPECT_EQ(r.error().code(), code) << r.error().to_string();
  for (const auto& w : want) {
    EXPECT_NE(r.error().to_string().find(w), std::string::npos)
        << "error \"" << r.error().to_string() << "\" lacks \"" << w << "\"";
  }
}

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ4K = 12;

// --- round trips -----------------------------------------------------------------

TEST(GgufRoundTrip, EveryValueType) {
  GgufWriter w;
  std::vector<std::pair<std::string, GgufValue>> kvs = {
      {"t.u8", GgufValue::u8(250)},
      {"t.i8", GgufValue::i8(-100)},
      {"t.u16", GgufValue::u16(65000)},
      {"t.i16", GgufValue::i16(-32000)},
      {"t.u32", GgufValue::u32(4000000000u)},
      {"t.i32", GgufValue::i32(-2000000000)},
      {"t.u64", GgufValue::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", GgufValue::i64(std::numeric_limits<int64_t>::min())},
      {"t.f32", GgufValue::f32(1e-5f)},
      {"t.f64", GgufValue::f64(-0.1)},
      {"t.nan", GgufValue::f32(std::nanf(""))},
      {"t.bool_t", GgufValue::boolean(true)},
      {"t.bool_f", GgufValue::boolean(false)},
      {"t.str", GgufValue::string("héllo \"world\"\n")},
      {"t.str_empty", GgufValue::string("")},
      {"t.str_nul", GgufValue::string(std::string("a\0b", 3))},
      {"t.arr_str", GgufValue::string_array({"a", "", "Ġthe", std::string(300, 'x')})},
      {"t.arr_u8", GgufValue::u8_array({0, 1, 255})},
      {"t.arr_i8", GgufValue::i8_array({-128, 0, 127})},
      {"t.arr_u16", GgufValue::u16_array({1, 65535})},
      {"t.arr_i16", GgufValue::i16_array({-1, 2})},
      {"t.arr_u32", GgufValue::u32_array({7, 8, 9})},
      {"t.arr_i32", GgufValue::i32_array({-7, 8})},
      {"t.arr_u64", GgufValue::u64_array({1ull << 63})},
      {"t.arr_i64", GgufValue::i64_array({-5, 5})},
      {"t.arr_f32", GgufValue::f32_array({0.5f, -2.25f})},
      {"t.arr_f64", GgufValue::f64_array({1e300})},
      {"t.arr_bool", GgufValue::bool_array({true, false, true})},
      {"t.arr_empty_str", GgufValue::string_array({})},
      {"t.arr_empty_f32", GgufValue::empty_array(GgufType::kFloat32)},
      {"t.arr_empty_arr", GgufValue::empty_array(GgufType::kArray)},
      {"t.nested",
       GgufValue::array_of_arrays({GgufValue::i32_array({1, 2}), GgufValue::string_array({"x"}),
                                   GgufValue::empty_array(GgufType::kBool),
                                   GgufValue::array_of_arrays({GgufValue::u8_array({3})})})},
  };
  for (const auto& [k, v] : kvs) w.set(k, v);
  Result<std::string> bytes = w.write_to_string();
  ASSERT_TRUE(bytes.has_value()) << bytes.error().to_string();
  Result<GgufFile> f = parse_str(*bytes);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  ASSERT_EQ(f->metadata().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, kvs[i].first) << "metadata order, index " << i;
    EXPECT_TRUE(f->metadata()[i].second == kvs[i].second)
        << kvs[i].first << ": wrote " << kvs[i].second.to_display_string() << ", read "
        << f->metadata()[i].second.to_display_string();
  }
  // Spot-check the decoded values, not only bit equality.
  EXPECT_EQ(*f->get_int("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*f->get_uint("t.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*f->get_float("t.f32"), static_cast<double>(1e-5f));
  EXPECT_EQ(*f->get_string("t.str_nul"), std::string("a\0b", 3));
  EXPECT_TRUE(*f->get_bool("t.bool_t"));
  EXPECT_EQ(*f->find("t.arr_str")->as_string_array(),
            (std::vector<std::string>{"a", "", "Ġthe", std::string(300, 'x')}));
  EXPECT_EQ(*f->find("t.arr_i8")->as_int_array(), (std::vector<int64_t>{-128, 0, 127}));
  EXPECT_EQ(*f->find("t.arr_f32")->as_float_array(), (std::vector<double>{0.5, -2.25}));
  const GgufValue* nested = f->find("t.nested");
  ASSERT_EQ(nested->array_size(), 4u);
  EXPECT_EQ(nested->array_elems()[1].string_at(0), "x");
  EXPECT_EQ(nested->array_elems()[3].array_elems()[0].array_type(), GgufType::kUint8);
  // The encoding is canonical: writing what was read gives the same bytes.
  GgufWriter w2;
  for (const auto& [k, v] : f->metadata()) w2.set(k, v);
  EXPECT_EQ(*w2.write_to_string(), *bytes);
}

// herd's dense DType numbering maps to ggml's ids (ggml.h enum ggml_type) in
// formats/gguf only; the ids written are ggml's, and a type without one is
// refused with its name.
TEST(GgufDTypes, GgmlIdsAreGgmls) {
  const std::pair<DType, uint32_t> want[] = {
      {DType::kF32, 0},   {DType::kF16, 1},   {DType::kQ4_0, 2},  {DType::kQ4_1, 3},  {DType::kQ5_0, 6},  {DType::kQ5_1, 7},
      {DType::kQ8_0, 8},  {DType::kQ4_K, 12}, {DType::kQ5_K, 13}, {DType::kQ6_K, 14}, {DType::kBF16, 30},
  };
  for (const auto& [t, id] : want) {
    EXPECT_EQ(ggml_type_id(t), id) << dtype_name(t);
    EXPECT_EQ(dtype_from_ggml(id), t) << id;
  }
  EXPECT_FALSE(ggml_type_id(DType::kF8_E4M3).has_value());
  for (uint32_t id : {4u, 9u, 10u, 11u, 15u, 20u, 23u, 31u, 1000u}) EXPECT_FALSE(dtype_from_ggml(id).has_value()) << id;
  GgufWriter w;
  Result<void> r = w.add_tensor("f8", DType::kF8_E4M3, {2, 4}, pattern_fill(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("f8_e4m3"), std::string::npos) << r.error().to_string();
}

class GgufDTypeRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufDTypeRoundTrip, EveryDTypeAtAlignment) {
  const uint32_t align = GetParam();
  int n_all = 0;
  const DTypeInfo* every = all_dtypes(&n_all);
  std::vector<DTypeInfo> all;  // the types GGUF can hold (F8_E4M3 has no ggml id: GgufDTypes test)
  for (int i = 0; i < n_all; ++i)
    if (ggml_type_id(every[i].dtype)) all.push_back(every[i]);
  const int n = static_cast<int>(all.size());
  GgufWriter w(align);
  w.set("general.architecture", GgufValue::string("llama"));
  for (int i = 0; i < n; ++i) {
    // [3, 2 blocks] plus a 1-D and a 4-D tensor for every type.
    std::vector<int64_t> s2 = {3, 2 * all[i].block_elems};
    std::vector<int64_t> s1 = {all[i].block_elems};
    std::vector<int64_t> s4 = {2, 1, 3, all[i].block_elems};
    std::string base = std::string("t.") + all[i].name;
    ASSERT_TRUE(w.add_tensor(base + ".2d", all[i].dtype, s2, pattern_fill(3 * i)).has_value());
    ASSERT_TRUE(w.add_tensor(base + ".1d", all[i].dtype, s1, pattern_fill(3 * i + 1)).has_value());
    ASSERT_TRUE(w.add_tensor(base + ".4d", all[i].dtype, s4, pattern_fill(3 * i + 2)).has_value());
  }
  Result<std::string> bytes = w.write_to_string();
  ASSERT_TRUE(bytes.has_value()) << bytes.error().to_string();
  Result<GgufFile> f = parse_str(*bytes);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_EQ(f->alignment(), align);
  EXPECT_EQ(f->data_offset() % align, 0u);
  if (align != 32) {
    EXPECT_EQ(*f->get_uint("general.alignment"), align);
  } else {
    EXPECT_EQ(f->find("general.alignment"), nullptr) << "default alignment is implicit";
  }
  ASSERT_EQ(f->tensors().size(), static_cast<size_t>(3 * n));
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) {
      const GgufTensor& t = f->tensors()[3 * i + k];
      SCOPED_TRACE(t.name);
      EXPECT_EQ(t.dtype, all[i].dtype);
      EXPECT_EQ(t.offset % align, 0u);
      EXPECT_EQ(static_cast<uint64_t>(t.data - f->file_data()) % align, 0u);
      TensorView v = t.view();
      EXPECT_EQ(static_cast<uint64_t>(v.nbytes()), t.nbytes);
      EXPECT_TRUE(has_pattern(t.data, t.nbytes, 3 * i + k));
      if (k == 0) {
        EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2 * all[i].block_elems}));
        EXPECT_EQ(t.nbytes, static_cast<uint64_t>(3 * 2 * all[i].block_bytes));
      }
      if (k == 2) {
        EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 1, 3, all[i].block_elems}));
      }
    }
  }
  EXPECT_EQ(f->find_tensor("t.q4_k.2d")->dtype, DType::kQ4_K);
  EXPECT_EQ(f->find_tensor("missing"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufDTypeRoundTrip, ::testing::Values(32u, 64u, 8u));

TEST(GgufRoundTrip, WriteFileThenOpen) {
  std::string path = ::testing::TempDir() + "gguf_roundtrip_test.gguf";
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  ASSERT_TRUE(w.add_tensor("a", DType::kF32, {2, 3}, pattern_fill(1)).has_value());
  ASSERT_TRUE(w.add_tensor("b", DType::kQ8_0, {64}, pattern_fill(2)).has_value());
  Status st = w.write(path);
  ASSERT_TRUE(st.has_value()) << st.error().to_string();
  EXPECT_EQ(std::fopen((path + ".tmp").c_str(), "rb"), nullptr) << "temporary file left behind";
  Result<GgufFile> f = GgufFile::open(path);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  GgufFile moved = std::move(*f);  // tensor pointers survive a move of the owner
  ASSERT_EQ(moved.tensors().size(), 2u);
  EXPECT_TRUE(has_pattern(moved.find_tensor("a")->data, 24, 1));
  EXPECT_TRUE(has_pattern(moved.find_tensor("b")->data, 68, 2));
  EXPECT_EQ(*moved.get_string("general.architecture"), "llama");
  std::remove(path.c_str());
}

TEST(GgufRoundTrip, OpenMissingFileNamesPath) {
  Result<GgufFile> f = GgufFile::open("/nonexistent/dir/x.gguf");
  ASSERT_FALSE(f.has_value());
  EXPECT_NE(f.error().to_string().find("/nonexistent/dir/x.gguf"), std::string::npos);
}

TEST(GgufRoundTrip, FillErrorAbortsWriteAndRemovesTemp) {
  std::string path = ::testing::TempDir() + "gguf_fill_error.gguf";
  GgufWriter w;
  ASSERT_TRUE(w.add_tensor("bad", DType::kF32, {4}, [](uint8_t*, uint64_t) -> Status {
                 return err(ErrorCode::kInternal, "no weights");
               }).has_value());
  Status st = w.write(path);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().to_string().find("producing tensor 'bad'"), std::string::npos);
  EXPECT_EQ(std::fopen((path + ".tmp").c_str(), "rb"), nullptr);
  EXPECT_EQ(std::fopen(path.c_str(), "rb"), nullptr);
}

// --- writer checks ----------------------------------------------------------------

TEST(GgufWriter, SetReplacesInPlace) {
  GgufWriter w;
  w.set("a", GgufValue::u32(1));
  w.set("b", GgufValue::u32(2));
  w.set("a", GgufValue::string("x"));
  Result<GgufFile> f = parse_str(*w.write_to_string());
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(*f->get_string("a"), "x");
}

TEST(GgufWriter, RejectsBadTensors) {
  GgufWriter w;
  auto fill = pattern_fill(0);
  EXPECT_FALSE(w.add_tensor("", DType::kF32, {1}, fill).has_value());
  EXPECT_FALSE(w.add_tensor(std::string(64, 'n'), DType::kF32, {1}, fill).has_value());
  EXPECT_TRUE(w.add_tensor(std::string(63, 'n'), DType::kF32, {1}, fill).has_value());
  EXPECT_FALSE(w.add_tensor(std::string(63, 'n'), DType::kF32, {1}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("s0", DType::kF32, {}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("s5", DType::kF32, {1, 1, 1, 1, 1}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("zero", DType::kF32, {0, 4}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("neg", DType::kF32, {-1, 4}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("blk", DType::kQ4_K, {4, 255}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("huge", DType::kF32, {1ll << 40, 1ll << 40}, fill).has_value());
  EXPECT_FALSE(w.add_tensor("nofill", DType::kF32, {4}, nullptr).has_value());
  EXPECT_EQ(w.tensor_count(), 1u);
}

TEST(GgufWriter, RejectsBadAlignment) {
  GgufWriter bad(24);
  EXPECT_FALSE(bad.write_to_string().has_value());
  GgufWriter mismatch(64);
  mismatch.set("general.alignment", GgufValue::u32(32));
  EXPECT_FALSE(mismatch.write_to_string().has_value());
  GgufWriter same(64);
  same.set("general.alignment", GgufValue::u32(64));
  Result<GgufFile> f = parse_str(*same.write_to_string());
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->metadata().size(), 1u) << "a caller-set general.alignment is not duplicated";
}

// --- value accessors -----------------------------------------------------------------

TEST(GgufValue, IntegerAccessorsCheckRange) {
  EXPECT_FALSE(GgufValue::i32(-1).as_uint().has_value());
  EXPECT_EQ(*GgufValue::i32(7).as_uint(), 7u);
  EXPECT_EQ(*GgufValue::u8(200).as_int(), 200);
  EXPECT_FALSE(GgufValue::u64(1ull << 63).as_int().has_value());
  EXPECT_FALSE(GgufValue::boolean(true).as_uint().has_value()) << "bool is not an integer";
  EXPECT_FALSE(GgufValue::f32(1.0f).as_int().has_value());
  EXPECT_EQ(*GgufValue::u32(3).as_float(), 3.0);
  EXPECT_FALSE(GgufValue::string("3").as_float().has_value());
  EXPECT_TRUE(GgufValue::u16(1).is_integer());
  EXPECT_FALSE(GgufValue::boolean(true).is_integer());
  EXPECT_FALSE(GgufValue::u32(1).as_bool());
  EXPECT_FALSE(GgufValue::u64_array({1ull << 63}).as_int_array().has_value());
  EXPECT_FALSE(GgufValue::string_array({"a"}).as_int_array().has_value());
  EXPECT_EQ(*GgufValue::i16_array({-3}).as_float_array(), std::vector<double>{-3.0});
}

TEST(GgufValue, GettersNameTheKey) {
  GgufWriter w;
  w.set("llama.block_count", GgufValue::string("32"));
  Result<GgufFile> f = parse_str(*w.write_to_string());
  ASSERT_TRUE(f.has_value());
  Result<uint64_t> wrong = f->get_uint("llama.block_count");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(wrong.error().message(),
            "metadata key 'llama.block_count': expected an unsigned integer, found string");
  Result<double> missing = f->get_float("llama.rope.freq_base");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "metadata key 'llama.rope.freq_base' is missing");
}

TEST(GgufValue, DisplayStrings) {
  EXPECT_EQ(GgufValue::f32(1e-5f).to_display_string(), "1e-05");
  EXPECT_EQ(GgufValue::f32(500000.0f).to_display_string(), "500000");
  EXPECT_EQ(GgufValue::i8(-3).to_display_string(), "-3");
  EXPECT_EQ(GgufValue::boolean(true).to_display_string(), "true");
  EXPECT_EQ(GgufValue::string("a\"b\n\x01").to_display_string(), "\"a\\\"b\\n\\x01\"");
  EXPECT_EQ(GgufValue::string_array({"a", "b", "c"}).to_display_string(2),
            "[string x 3] [\"a\", \"b\", ...]");
  EXPECT_EQ(GgufValue::i32_array({1, 2}).to_display_string(), "[i32 x 2] [1, 2]");
  EXPECT_EQ(GgufValue::empty_array(GgufType::kFloat32).to_display_string(), "[f32 x 0] []");
  EXPECT_EQ(GgufValue::array_of_arrays({GgufValue::u8_array({1})}).to_display_string(),
            "[array x 1] [[u8 x 1] [1]]");
  EXPECT_EQ(GgufValue::string_array({"a"}).type_string(), "array<string>");
  std::string long_str = GgufValue::string(std::string(1000, 'z')).to_display_string();
  EXPECT_NE(long_str.find("...(1000 bytes)"), std::string::npos);
}

// --- corrupt files: one test per class ---------------------------------------------

TEST(GgufCorrupt, EmptyFile) { expect_error("", {"header at offset 0", "magic needs 4 bytes"}); }

TEST(GgufCorrupt, BadMagic) {
  expect_error(Bytes().u32(0x12345678).u32(3).u64(0).u64(0).s,
               {"header at offset 0: magic is 0x12345678", "not a GGUF file"});
}

TEST(GgufCorrupt, Version1Rejected) {
  expect_error(Bytes().header(0, 0, 1).s, {"version 1", "obsolete"}, ErrorCode::kUnsupported);
}

TEST(GgufCorrupt, BigEndianVersionRejected) {
  expect_error(Bytes().header(0, 0, 0x03000000).s, {"big-endian"}, ErrorCode::kUnsupported);
}

TEST(GgufCorrupt, FutureVersionRejected) {
  expect_error(Bytes().header(0, 0, 4).s, {"version is 4, expected 2 or 3"},
               ErrorCode::kUnsupported);
}

TEST(GgufCorrupt, Version2Accepted) {
  Result<GgufFile> f = parse_str(Bytes().header(0, 1, 2).kv_u32("a", 1).s);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_EQ(f->version(), 2u);
}

TEST(GgufCorrupt, TruncatedInHeader) {
  expect_error(Bytes().u32(kGgufMagic).u32(3).u64(0).s, {"metadata_kv_count needs 8 bytes"});
}

TEST(GgufCorrupt, KvCountOverflow) {
  // 2^60 pairs must fail at the header, before anything is reserved.
  expect_error(Bytes().header(0, 1ull << 60).s, {"header at offset 8", "metadata_kv_count 1152921504606846976"});
  expect_error(Bytes().header(0, ~0ull).s, {"metadata_kv_count"});
}

TEST(GgufCorrupt, TensorCountOverflow) {
  expect_error(Bytes().header(~0ull, 0).s, {"tensor_count 18446744073709551615"});
  expect_error(Bytes().header(1ull << 59, 1ull << 59).s, {"tensor_count"});
}

TEST(GgufCorrupt, KeyLengthZero) {
  expect_error(Bytes().header(0, 1).str("").u32(4).u32(1).s,
               {"metadata kv 0 at offset 24: key length is 0, expected 1..65535"});
}

TEST(GgufCorrupt, KeyTooLong) {
  expect_error(Bytes().header(0, 1).kv_u32(std::string(65536, 'k'), 1).s,
               {"key length is 65536"});
}

TEST(GgufCorrupt, StringLengthPastEnd) {
  Bytes b;
  b.header(0, 1).str("k").u32(8).u64(100).s += "short";
  expect_error(b.s, {"metadata kv 0 ('k') at offset 37", "string value length is 100",
                     "only 5 bytes remain"});
}

TEST(GgufCorrupt, StringLengthHuge) {
  expect_error(Bytes().header(0, 1).str("k").u32(8).u64(~0ull).s, {"string value length is"});
}

TEST(GgufCorrupt, DuplicateKey) {
  expect_error(Bytes().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).s,
               {"metadata kv 1 ('a.b')", "duplicate key", "metadata kv 0"});
}

TEST(GgufCorrupt, UnknownValueType) {
  expect_error(Bytes().header(0, 1).str("k").u32(13).u32(0).s, {"value type is 13"});
}

TEST(GgufCorrupt, NegativeLookingValueType) {
  expect_error(Bytes().header(0, 1).str("k").u32(0xFFFFFFFF).u32(0).s,
               {"value type is 4294967295 (0xffffffff), expected 0..12"});
}

TEST(GgufCorrupt, BoolNotZeroOrOne) {
  expect_error(Bytes().header(0, 1).str("k").u32(7).u8(2).s, {"bool is 2, expected 0 or 1"});
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(7).u64(3).u8(1).u8(0).u8(9).s,
               {"bool array element 2 is 9"});
}

TEST(GgufCorrupt, UnknownArrayElementType) {
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(0xFFFFFFFF).u64(0).s,
               {"array element type is 4294967295"});
}

TEST(GgufCorrupt, ArrayCountOverflow) {
  // 2^61 u64 elements: the byte count overflows u64 and must not wrap.
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(10).u64(1ull << 61).u64(0).s,
               {"array count is 2305843009213693952"});
}

TEST(GgufCorrupt, ArrayCountPastEnd) {
  expect_error(Bytes().header(0, 1).str("k").u32(9).u32(4).u64(3).u32(1).u32(2).s,
               {"array count is 3", "only 8 bytes remain"});
}

TEST(GgufCorrupt, StringArrayCount2Pow60) {
  // The tokenizer.ggml.tokens bomb: must fail fast, not reserve 2^60 entries.
  expect_error(Bytes().header(0, 1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1ull << 60).str("a").s,
               {"('tokenizer.ggml.tokens')", "array count is 1152921504606846976"});
}

TEST(GgufCorrupt, StringArrayElementPastEnd) {
  Bytes b;
  b.header(0, 1).str("k").u32(9).u32(8).u64(2).str("ok").u64(50).u64(0).u64(0);
  expect_error(b.s, {"string array element 1 of 2: length is 50"});
}

TEST(GgufCorrupt, NestedArrayTooDeep) {
  Bytes b;
  b.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 5; ++i) b.u32(9).u64(1);
  b.u32(0).u64(0);
  expect_error(b.s, {"arrays nest 5 deep, the limit is 4"});
}

TEST(GgufCorrupt, AlignmentNotPowerOfTwo) {
  expect_error(Bytes().header(0, 1).kv_u32("general.alignment", 24).s,
               {"general.alignment is 24, expected a nonzero power of two"});
}

TEST(GgufCorrupt, AlignmentZero) {
  expect_error(Bytes().header(0, 1).kv_u32("general.alignment", 0).s,
               {"general.alignment is 0"});
}

TEST(GgufCorrupt, AlignmentWrongType) {
  expect_error(Bytes().header(0, 1).str("general.alignment").u32(10).u64(32).s,
               {"general.alignment has type u64, expected u32"});
}

TEST(GgufCorrupt, TruncatedInTensorInfos) {
  // Enough bytes for the 33-byte minimum info the header check assumes, but
  // the 4-D info runs out inside ne[3].
  Bytes b;
  b.header(1, 0).str("a").u32(4).u64(256).u64(4).u64(4);
  expect_error(b.s, {"tensor info 0 ('a') at offset 61: ne needs 8 bytes, but only 0 remain"});
}

TEST(GgufCorrupt, TensorNameTooLong) {
  expect_error(Bytes().header(1, 0).tensor(std::string(64, 'n'), {4}, kF32, 0).data(16).s,
               {"tensor info 0 at offset 24: name length is 64, expected 1..63"});
}

TEST(GgufCorrupt, TensorName63Accepted) {
  Result<GgufFile> f = parse_str(Bytes().header(1, 0).tensor(std::string(63, 'n'), {4}, kF32, 0).data(16).s);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
}

TEST(GgufCorrupt, DuplicateTensorName) {
  expect_error(Bytes().header(2, 0).tensor("w", {4}, kF32, 0).tensor("w", {4}, kF32, 32).data(48).s,
               {"tensor info 1 ('w')", "duplicate tensor name", "tensor info 0"});
}

TEST(GgufCorrupt, NDimsOutOfRange) {
  expect_error(Bytes().header(1, 0).tensor("blk.0.attn_q.weight", {}, kF32, 0).data(4).s,
               {"n_dims is 0, expected 1..4"});
  Bytes b;
  b.header(4, 0)
      .tensor("a", {4}, kF32, 0)
      .tensor("b", {4}, kF32, 32)
      .tensor("c", {4}, kF32, 64);
  size_t at = b.s.size() + 8 + 19;
  b.tensor("blk.0.attn_q.weight", {1, 1, 1, 1, 1, 1, 1}, kF32, 96).data(128);
  expect_error(b.s, {"tensor info 3 ('blk.0.attn_q.weight') at offset " + std::to_string(at) +
                     ": n_dims is 7, expected 1..4"});
}

TEST(GgufCorrupt, DimZero) {
  expect_error(Bytes().header(1, 0).tensor("w", {4, 0}, kF32, 0).data(16).s,
               {"ne[1] is 0, expected 1..2^63-1"});
}

TEST(GgufCorrupt, DimNegativeLooking) {
  expect_error(Bytes().header(1, 0).tensor("w", {1ull << 63}, kF32, 0).data(16).s,
               {"ne[0] is 9223372036854775808"});
}

TEST(GgufCorrupt, ElementCountOverflow) {
  expect_error(Bytes().header(1, 0).tensor("w", {1ull << 32, 1ull << 32}, kF32, 0).data(16).s,
               {"element count of ne [4294967296, 4294967296] overflows int64"});
}

TEST(GgufCorrupt, TensorSizeOverflowsU64) {
  // CVE-2026-33298 class: the element count fits, the byte count does not.
  expect_error(Bytes().header(1, 0).tensor("w", {1ull << 31, 1ull << 31}, kF32, 0).data(16).s,
               {"byte size of a f32 tensor with ne [2147483648, 2147483648] overflows"});
}

TEST(GgufCorrupt, UnknownTensorType) {
  expect_error(Bytes().header(1, 0).tensor("w", {4}, 99, 0).data(16).s,
               {"type id 99 (0x00000063) is not a ggml type"});
}

TEST(GgufCorrupt, UnsupportedGgmlType) {
  expect_error(Bytes().header(1, 0).tensor("w", {256}, 10, 0).data(84).s,
               {"type id 10 (ggml q2_K) is not a type herd supports", "q4_k"},
               ErrorCode::kUnsupported);
}

TEST(GgufCorrupt, NegativeLookingTypeId) {
  expect_error(Bytes().header(1, 0).tensor("w", {4}, 0xFFFFFFFF, 0).data(16).s,
               {"type id 4294967295 (0xffffffff) is not a ggml type"});
}

TEST(GgufCorrupt, Ne0NotMultipleOfBlock) {
  expect_error(Bytes().header(1, 0).tensor("w", {100, 2}, kQ4K, 0).data(1024).s,
               {"ne[0] (the contiguous dimension) is 100, not a multiple of the q4_k block size 256"});
}

TEST(GgufCorrupt, OffsetNotAligned) {
  expect_error(Bytes().header(1, 0).tensor("w", {4}, kF32, 4).data(64).s,
               {"offset is 4, not a multiple of the alignment 32"});
}

TEST(GgufCorrupt, TensorOffsetPastEnd) {
  expect_error(Bytes().header(1, 0).tensor("w", {4}, kF32, 64).data(16).s,
               {"tensor info 0 ('w')", "extends past the end of the file"});
}

TEST(GgufCorrupt, TensorDataPastEnd) {
  expect_error(Bytes().header(1, 0).tensor("w", {8}, kF32, 0).data(31).s,
               {"with 32 bytes extends past the end"});
}

TEST(GgufCorrupt, TensorOffsetOverflowsU64) {
  expect_error(Bytes().header(1, 0).tensor("w", {4}, kF32, ~0ull & ~31ull).data(16).s,
               {"extends past the end of the file"});
}

TEST(GgufCorrupt, OverlappingTensors) {
  expect_error(Bytes().header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {4}, kF32, 32).data(96).s,
               {"tensor info 1 ('b')", "data [32, 48) overlaps tensor info 0 ('a') at [0, 64)"});
}

TEST(GgufCorrupt, DataStartPastEnd) {
  Bytes b;
  b.header(1, 0).tensor("w", {4}, kF32, 0);
  expect_error(b.s, {"tensor data", "past the end of the file"});
}

TEST(GgufCorrupt, NullDataWithSize) {
  Result<GgufFile> f = GgufFile::parse(nullptr, 10);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code(), ErrorCode::kInvalidArgument);
}

// --- truncation sweep --------------------------------------------------------------------

TEST(GgufTruncation, EveryPrefixIsRejected) {
  GgufWriter w(64);
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("a.u32", GgufValue::u32(7));
  w.set("a.f32", GgufValue::f32(0.5f));
  w.set("a.bool", GgufValue::boolean(true));
  w.set("a.strs", GgufValue::string_array({"x", "yy", ""}));
  w.set("a.ints", GgufValue::i32_array({1, 2, 3}));
  w.set("a.nest", GgufValue::array_of_arrays({GgufValue::string_array({"z"})}));
  ASSERT_TRUE(w.add_tensor("t0", DType::kQ8_0, {2, 32}, pattern_fill(1)).has_value());
  ASSERT_TRUE(w.add_tensor("t1", DType::kF32, {16}, pattern_fill(2)).has_value());
  std::string full = *w.write_to_string();
  ASSERT_TRUE(parse_str(full).has_value());
  // Tensor data ends at the last byte of t1 (64 bytes, no padding after it).
  for (size_t len = 0; len < full.size(); ++len) {
    // An exact-size heap copy, so ASan flags any read past `len`.
    std::unique_ptr<uint8_t[]> buf(new uint8_t[len ? len : 1]);
    std::memcpy(buf.get(), full.data(), len);
    Result<GgufFile> f = GgufFile::parse(buf.get(), len);
    ASSERT_FALSE(f.has_value()) << "prefix of " << len << " of " << full.size() << " bytes accepted";
    ASSERT_FALSE(f.error().message().empty());
  }
}

// Flipping any single byte must give a file that parses or an error: no crash.
TEST(GgufTruncation, EveryByteCorruptionIsSafe) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("a.strs", GgufValue::string_array({"x", "yy"}));
  ASSERT_TRUE(w.add_tensor("t0", DType::kQ4_0, {1, 32}, pattern_fill(1)).has_value());
  std::string full = *w.write_to_string();
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::string bad = full;
      bad[i] = static_cast<char>(bad[i] ^ x);
      Result<GgufFile> f = parse_str(bad);
      if (f.has_value()) {
        for (const auto& t : f->tensors()) {
          ASSERT_LE(t.data + t.nbytes, f->file_data() + f->file_size());
        }
      }
    }
  }
}

// --- speed ----------------------------------------------------------------------------------

// A Llama 3 sized vocabulary: 128256 tokens and 280147 merges. Parsing must
// not make one allocation per string; 1 s is ~50x the expected time on the
// 2-core build machines even under ASan, so a failure means per-element churn.
TEST(GgufSpeed, LlamaSizedVocabularyParsesFast) {
  std::vector<std::string> tokens(128256), merges(280147);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = "tok" + std::to_string(i);
  for (size_t i = 0; i < merges.size(); ++i) merges[i] = "Ġa" + std::to_string(i) + " b";
  std::vector<int32_t> types(tokens.size(), 1);
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.merges", GgufValue::string_array(merges));
  std::string bytes = *w.write_to_string();
  auto t0 = std::chrono::steady_clock::now();
  Result<GgufFile> f = parse_str(bytes);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  std::printf("parsed %zu-byte vocabulary GGUF in %.2f ms\n", bytes.size(), ms);
  EXPECT_LT(ms, 1000.0);
  const GgufValue* m = f->find("tokenizer.ggml.merges");
  ASSERT_EQ(m->array_size(), 280147u);
  EXPECT_EQ(m->string_at(280146), merges.back());
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->string_at(128255), "tok128255");
}

}  // namespace
}  // namespace herd::formats
