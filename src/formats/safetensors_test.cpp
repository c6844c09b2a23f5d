// Tests for the safetensors reader and writer, HF checkpoint directories and
// the q/k row permutation.
//
// SafetensorsCorrupt holds one handcrafted file per hostile-file class of
// post-training-safety.md Part C (named after the class, as leveldb names
// regression tests after the bug); each must be rejected with an error naming
// the field, never a crash. SafetensorsTruncation cuts a valid file at every
// length and parses each cut from a heap buffer of exactly that size, so an
// ASan build (HERD_SANITIZE=address,undefined) turns any out-of-bounds read
// into a failure. Permutation tests are exact (bytes are moved, not computed);
// the RoPE equivalence test compares float32 rotations of the same products,
// which differ only in summation order, hence the 1e-5 relative tolerance.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/half.h"
#include "base/mapped_file.h"
#include "formats/hf_checkpoint.h"
#include "formats/hf_permute.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"

namespace herd::formats {
namespace {

// --- helpers -------------------------------------------------------------------

// u64 header length + header + `data_bytes` bytes of data (byte i = i & 0xff).
std::string make_st(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  s += header;
  for (size_t i = 0; i < data_bytes; ++i) s.push_back(static_cast<char>(i & 0xff));
  return s;
}

Result<SafetensorsFile> parse_str(const std::string& s, const char* source = "t.safetensors") {
  return SafetensorsFile::parse(reinterpret_cast<const uint8_t*>(s.data()), s.size(), source);
}

// Expects an error with `code` whose text contains every one of `needles`.
void expect_error(const std::string& bytes, ErrorCode code,
                  std::initializer_list<const char*> needles) {
  auto r = parse_str(bytes);
  ASSERT_FALSE(r.has_value()) << "parsed a corrupt file";
  const std::string msg = r.error().to_string();
  EXPECT_EQ(r.error().code(), code) << msg;
  for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
}

FillFn pattern_fill(uint32_t seed) {
  return [seed](uint8_t* dst, uint64_t n) -> Status {
    for (uint64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(seed * 131 + i * 7);
    return Ok{};
  };
}

bool has_pattern(const uint8_t* p, uint64_t n, uint32_t seed) {
  for (uint64_t i = 0; i < n; ++i)
    if (p[i] != static_cast<uint8_t>(seed * 131 + i * 7)) return false;
  return true;
}

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/herd_st_XXXXXX";
    char* p = mkdtemp(tmpl.data());
    HERD_CHECK(p != nullptr, "mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text) {
  ASSERT_TRUE(write_file(path, text.data(), text.size()).has_value());
}

// --- reader --------------------------------------------------------------------

TEST(SafetensorsTest, ParsesHandWrittenFile) {
  std::string h =
      R"({"__metadata__":{"format":"pt"},)"
      R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[24,32]},)"
      R"("a":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},)"
      R"("s":{"dtype":"I64","shape":[],"data_offsets":[32,40]},)"
      R"("e":{"dtype":"F16","shape":[0,7],"data_offsets":[40,40]}}   )";
  std::string bytes = make_st(h, 40);
  auto f = parse_str(bytes);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  ASSERT_EQ(f->tensors().size(), 4u);
  // Data-offset order, not name order.
  EXPECT_EQ(f->tensors()[0].name, "a");
  EXPECT_EQ(f->tensors()[1].name, "b");
  EXPECT_EQ(f->tensors()[2].name, "s");
  EXPECT_EQ(f->tensors()[3].name, "e");
  const StTensor* b = f->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, StDType::kBF16);
  EXPECT_EQ(b->dtype_name, "BF16");
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b->nbytes, 8u);
  const uint8_t* base = reinterpret_cast<const uint8_t*>(bytes.data()) + 8 + h.size();
  EXPECT_EQ(b->data, base + 24);
  auto v = b->view();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->dtype, DType::kBF16);
  EXPECT_EQ(v->nbytes(), 8);
  EXPECT_EQ(f->find("s")->numel(), 1u);
  EXPECT_FALSE(f->find("s")->view().has_value());  // I64 has no herd dtype
  EXPECT_EQ(f->find("e")->nbytes, 0u);
  EXPECT_EQ(f->find("zzz"), nullptr);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->header_bytes(), h.size());
}

TEST(SafetensorsTest, DTypeTable) {
  const char* names[] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32",
                         "U32", "F32", "F64", "I64", "U64", "F8_E4M3", "F8_E5M2"};
  const uint64_t sizes[] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8, 1, 1};
  for (size_t i = 0; i < 15; ++i) {
    auto t = parse_st_dtype(names[i]);
    ASSERT_TRUE(t.has_value()) << names[i];
    EXPECT_STREQ(st_dtype_name(*t), names[i]);
    EXPECT_EQ(st_dtype_size(*t), sizes[i]) << names[i];
  }
  EXPECT_FALSE(parse_st_dtype("bf16").has_value());
  EXPECT_FALSE(parse_st_dtype("F8_E8M0").has_value());
  EXPECT_EQ(to_herd_dtype(StDType::kF32), DType::kF32);
  EXPECT_EQ(to_herd_dtype(StDType::kF16), DType::kF16);
  EXPECT_EQ(to_herd_dtype(StDType::kBF16), DType::kBF16);
  // Meta's FP8 weights (their row scales are separate tensors); E5M2 is not read.
  EXPECT_EQ(to_herd_dtype(StDType::kF8E4M3), DType::kF8_E4M3);
  EXPECT_EQ(from_herd_dtype(DType::kF8_E4M3), StDType::kF8E4M3);
  EXPECT_FALSE(to_herd_dtype(StDType::kF8E5M2).has_value());
  EXPECT_EQ(from_herd_dtype(DType::kBF16), StDType::kBF16);
  EXPECT_FALSE(from_herd_dtype(DType::kQ4_K).has_value());
}

TEST(SafetensorsTest, AcceptsGapsAndTrailingBytes) {
  std::string h = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})";
  auto f = parse_str(make_st(h, 16));
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_EQ(f->find("a")->data_begin, 4u);
}

TEST(SafetensorsTest, EmptyHeaderObject) {
  auto f = parse_str(make_st("{}", 0));
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_TRUE(f->tensors().empty());
}

// --- hostile files, one test per class ---------------------------------------------

TEST(SafetensorsCorrupt, ShorterThanLengthField) {
  for (size_t n = 0; n < 8; ++n) {
    expect_error(std::string(n, '\0'), ErrorCode::kCorrupt, {"t.safetensors", "too short"});
  }
}

TEST(SafetensorsCorrupt, HeaderLengthPastEof) {
  std::string s = make_st("{}", 0);
  s[0] = 100;  // claims a 100-byte header; 2 bytes follow
  expect_error(s, ErrorCode::kCorrupt, {"header length 100", "truncated"});
}

TEST(SafetensorsCorrupt, HeaderLengthOverCap) {
  std::string s = make_st("{}", 0);
  uint64_t n = SafetensorsFile::kMaxHeaderBytes + 1;
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  expect_error(s, ErrorCode::kOutOfRange, {"limit"});
}

TEST(SafetensorsCorrupt, HeaderLengthWrapsAround) {
  // 8 + N overflows 64 bits; a bare `8 + n <= size` check would pass.
  std::string s = make_st("{}", 0);
  for (int i = 0; i < 8; ++i) s[i] = '\xff';
  expect_error(s, ErrorCode::kOutOfRange, {"header length 18446744073709551615"});
  s[7] = '\x7f';
  expect_error(s, ErrorCode::kOutOfRange, {"limit"});
}

TEST(SafetensorsCorrupt, HeaderNotAnObject) {
  expect_error(make_st("[1, 2]  ", 0), ErrorCode::kCorrupt, {"'{'"});
  expect_error(make_st("", 0), ErrorCode::kCorrupt, {"'{'"});
}

TEST(SafetensorsCorrupt, HeaderNotJson) {
  expect_error(make_st("{\"a\": ", 0), ErrorCode::kCorrupt, {"not valid JSON"});
  expect_error(make_st("{} x", 0), ErrorCode::kCorrupt, {"not valid JSON"});
}

TEST(SafetensorsCorrupt, HeaderPaddedWithNul) {
  // nlohmann treats NUL as end of input; the reader must not.
  expect_error(make_st(std::string("{}\0\0\0\0\0\0", 8), 0), ErrorCode::kCorrupt,
               {"NUL byte at offset 2"});
  expect_error(make_st(std::string("{}\0{\"x\":1}", 10), 0), ErrorCode::kCorrupt, {"NUL"});
}

TEST(SafetensorsCorrupt, HeaderInvalidUtf8) {
  std::string h = "{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
  expect_error(make_st(h, 1), ErrorCode::kCorrupt, {"not valid JSON"});
  // An overlong encoding of '/' (C0 AF) must not be accepted either.
  std::string h2 = "{\"a\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
  expect_error(make_st(h2, 1), ErrorCode::kCorrupt, {"not valid JSON"});
}

TEST(SafetensorsCorrupt, DeepNesting) {
  std::string h = "{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  expect_error(make_st(h, 0), ErrorCode::kCorrupt, {"nests deeper"});
}

TEST(SafetensorsCorrupt, EntryNotAnObject) {
  expect_error(make_st(R"({"w":[1,2]})", 0), ErrorCode::kCorrupt,
               {"tensor 'w'", "an array", "expected an object"});
}

TEST(SafetensorsCorrupt, MissingFields) {
  expect_error(make_st(R"({"w":{"shape":[1],"data_offsets":[0,1]}})", 1), ErrorCode::kCorrupt,
               {"tensor 'w'", "missing field 'dtype'"});
  expect_error(make_st(R"({"w":{"dtype":"U8","data_offsets":[0,1]}})", 1), ErrorCode::kCorrupt,
               {"tensor 'w'", "missing field 'shape'"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[1]}})", 1), ErrorCode::kCorrupt,
               {"tensor 'w'", "missing field 'data_offsets'"});
}

TEST(SafetensorsCorrupt, UnknownDtype) {
  expect_error(make_st(R"({"w":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}})", 1),
               ErrorCode::kCorrupt, {"tensor 'w'", "unknown dtype \"F4\""});
  expect_error(make_st(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,1]}})", 1),
               ErrorCode::kCorrupt, {"tensor 'w'", "dtype is"});
}

TEST(SafetensorsCorrupt, BadShapeValues) {
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0),
               ErrorCode::kCorrupt, {"tensor 'w'", "shape[0]", "negative"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}})", 2),
               ErrorCode::kCorrupt, {"tensor 'w'", "shape[0]", "floating"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[1,"2"],"data_offsets":[0,2]}})", 2),
               ErrorCode::kCorrupt, {"tensor 'w'", "shape[1]"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":3,"data_offsets":[0,3]}})", 3),
               ErrorCode::kCorrupt, {"tensor 'w'", "shape is"});
  expect_error(
      make_st(R"({"w":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]}})", 0),
      ErrorCode::kCorrupt, {"tensor 'w'", "2^63-1"});
}

TEST(SafetensorsCorrupt, ShapeProductOverflows) {
  // 2^32 * 2^32 wraps to 0 in 64 bits; a wrapped product would match [0, 0].
  expect_error(
      make_st(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
      ErrorCode::kCorrupt, {"tensor 'w'", "overflows"});
  // numel fits but numel * 8 bytes wraps.
  expect_error(
      make_st(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0),
      ErrorCode::kCorrupt, {"tensor 'w'", "overflows"});
}

TEST(SafetensorsCorrupt, OffsetsMalformed) {
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
               ErrorCode::kCorrupt, {"tensor 'w'", "data_offsets"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 2),
               ErrorCode::kCorrupt, {"tensor 'w'", "data_offsets"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
               ErrorCode::kCorrupt, {"tensor 'w'", "data_offsets"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":"0,1"}})", 1),
               ErrorCode::kCorrupt, {"tensor 'w'", "data_offsets"});
}

TEST(SafetensorsCorrupt, OffsetsBeginAfterEnd) {
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[5,4]}})", 8),
               ErrorCode::kCorrupt, {"tensor 'w'", "[5, 4]", "begin > end"});
}

TEST(SafetensorsCorrupt, OffsetsPastEndOfData) {
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 6),
               ErrorCode::kCorrupt, {"tensor 'w'", "[4, 8]", "6 bytes"});
  expect_error(make_st(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,)"
                       R"(18446744073709551615]}})",
                       6),
               ErrorCode::kCorrupt, {"tensor 'w'", "past the data buffer"});
}

TEST(SafetensorsCorrupt, OffsetsDisagreeWithShape) {
  std::string h =
      R"({"model.layers.0.mlp.up_proj.weight":{"dtype":"BF16","shape":[14336,4096],)"
      R"("data_offsets":[0,100]}})";
  const std::string bytes = make_st(h, 100);
  auto r = parse_str(bytes, "model-00001-of-00004.safetensors");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().to_string(),
            "model-00001-of-00004.safetensors: tensor 'model.layers.0.mlp.up_proj.weight': "
            "data_offsets [0, 100] hold 100 bytes, expected 117440512 for BF16 [14336, 4096]");
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  std::string h =
      R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}})";
  expect_error(make_st(h, 16), ErrorCode::kCorrupt, {"tensor 'b'", "overlap tensor 'a'"});
  // Containment: b sits wholly inside a, after another tensor c starting earlier.
  std::string h2 =
      R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})";
  expect_error(make_st(h2, 16), ErrorCode::kCorrupt, {"overlap"});
  // Two tensors aliasing the same bytes.
  std::string h3 =
      R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
  expect_error(make_st(h3, 4), ErrorCode::kCorrupt, {"overlap"});
}

TEST(SafetensorsCorrupt, EmptyTensorsMayShareAnOffset) {
  std::string h =
      R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
      R"("z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})";
  EXPECT_TRUE(parse_str(make_st(h, 4)).has_value());
}

TEST(SafetensorsCorrupt, DuplicateTensorName) {
  std::string h =
      R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  expect_error(make_st(h, 2), ErrorCode::kCorrupt, {"tensor 'w' more than once"});
}

TEST(SafetensorsCorrupt, DuplicateFieldInEntry) {
  std::string h = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"data_offsets":[1,2]}})";
  expect_error(make_st(h, 2), ErrorCode::kCorrupt, {"repeats the key 'data_offsets'"});
}

TEST(SafetensorsCorrupt, MetadataNotStringToString) {
  expect_error(make_st(R"({"__metadata__":{"format":1}})", 0), ErrorCode::kCorrupt,
               {"__metadata__['format']", "expected a string"});
  expect_error(make_st(R"({"__metadata__":["pt"]})", 0), ErrorCode::kCorrupt,
               {"__metadata__ is an array"});
  expect_error(make_st(R"({"__metadata__":{"a":{"b":"c"}}})", 0), ErrorCode::kCorrupt,
               {"__metadata__['a']"});
}

TEST(SafetensorsCorrupt, OpenMissingFile) {
  auto r = SafetensorsFile::open("/nonexistent/herd/model.safetensors");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

// Every cut of a valid file must be rejected (its last tensor ends at EOF), and
// parsed from a heap buffer of exactly the cut's size so ASan sees any overread.
TEST(SafetensorsTruncation, EveryLength) {
  TempDir dir;
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  ASSERT_TRUE(w.add_tensor("a", StDType::kF32, {2, 3}, pattern_fill(1)).has_value());
  ASSERT_TRUE(w.add_tensor("b", StDType::kBF16, {5}, pattern_fill(2)).has_value());
  ASSERT_TRUE(w.write(dir.file("t.safetensors")).has_value());
  auto text = read_text_file(dir.file("t.safetensors"));
  ASSERT_TRUE(text.has_value());
  const std::string& full = *text;
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    auto r = SafetensorsFile::parse(cut.data(), cut.size());
    EXPECT_FALSE(r.has_value()) << "accepted a file cut to " << n << " of " << full.size();
  }
  std::vector<uint8_t> all(full.begin(), full.end());
  auto r = SafetensorsFile::parse(all.data(), all.size());
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(has_pattern(r->find("b")->data, 10, 2));
}

// Flipping each header byte must never crash (results may parse or not).
TEST(SafetensorsTruncation, ByteFlipsInHeader) {
  std::string h =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[24,34]}})";
  std::string good = make_st(h, 34);
  for (size_t i = 8; i < 8 + h.size(); ++i) {
    for (char c : {'\0', '"', '9', '-', '[', '}', '\xff'}) {
      std::string bad = good;
      bad[i] = c;
      std::vector<uint8_t> buf(bad.begin(), bad.end());
      auto r = SafetensorsFile::parse(buf.data(), buf.size());
      if (r.has_value()) {
        for (const StTensor& t : r->tensors()) {
          ASSERT_GE(t.data, buf.data());
          ASSERT_LE(t.data + t.nbytes, buf.data() + buf.size());
        }
      }
    }
  }
}

// --- writer ----------------------------------------------------------------------

TEST(SafetensorsWriterTest, RoundTrip) {
  TempDir dir;
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("note", "hello");
  ASSERT_TRUE(w.add_tensor("z.first", StDType::kF32, {2, 3}, pattern_fill(1)).has_value());
  ASSERT_TRUE(w.add_tensor("a.second", StDType::kBF16, {3}, pattern_fill(2)).has_value());
  ASSERT_TRUE(w.add_tensor("scalar", StDType::kI64, {}, pattern_fill(3)).has_value());
  ASSERT_TRUE(w.add_tensor("empty", StDType::kF16, {0, 5}, pattern_fill(4)).has_value());
  ASSERT_TRUE(w.add_tensor("fp8", StDType::kF8E4M3, {7}, pattern_fill(5)).has_value());
  EXPECT_EQ(w.data_bytes(), 24u + 6 + 8 + 0 + 7);
  ASSERT_TRUE(w.write(dir.file("m.safetensors")).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.safetensors.tmp")));

  auto f = SafetensorsFile::open(dir.file("m.safetensors"));
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_EQ(f->header_bytes() % 8, 0u) << "data buffer must start 8-byte aligned";
  EXPECT_EQ(f->path(), dir.file("m.safetensors"));
  ASSERT_EQ(f->tensors().size(), 5u);
  const char* order[] = {"z.first", "a.second", "scalar", "empty", "fp8"};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(f->tensors()[i].name, order[i]);
  EXPECT_EQ(f->metadata().at("note"), "hello");
  const StTensor* a = f->find("z.first");
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a->data) % 8, 0u);
  EXPECT_TRUE(has_pattern(a->data, 24, 1));
  EXPECT_TRUE(has_pattern(f->find("a.second")->data, 6, 2));
  EXPECT_TRUE(has_pattern(f->find("scalar")->data, 8, 3));
  EXPECT_TRUE(f->find("scalar")->shape.empty());
  EXPECT_EQ(f->find("empty")->nbytes, 0u);
  EXPECT_TRUE(has_pattern(f->find("fp8")->data, 7, 5));

  // The header is what Python's safetensors expects: metadata first, then
  // the tensors in layout order, padded with spaces.
  auto text = read_text_file(dir.file("m.safetensors"));
  ASSERT_TRUE(text.has_value());
  std::string header = text->substr(8, f->header_bytes());
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"hello\"},\"z.first\":"
                         "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}",
                         0),
            0u)
      << header;
  EXPECT_EQ(text->size(), 8 + f->header_bytes() + 45);
}

TEST(SafetensorsWriterTest, TensorBytesFromMemoryInSlices) {
  // add_tensor_bytes copies in 16 MiB slices: a tensor of 20 MiB + 3 bytes
  // (two slices, the last one short) between two filled ones.
  TempDir dir;
  std::vector<uint8_t> big((size_t{20} << 20) + 3);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_tensor("before", StDType::kF32, {3}, pattern_fill(1)).has_value());
  ASSERT_TRUE(w.add_tensor_bytes("big", StDType::kU8, {static_cast<int64_t>(big.size())}, big.data()).has_value());
  ASSERT_TRUE(w.add_tensor_bytes("none", StDType::kF32, {0}, nullptr).has_value());
  EXPECT_FALSE(w.add_tensor_bytes("null", StDType::kF32, {2}, nullptr).has_value());
  ASSERT_TRUE(w.add_tensor("after", StDType::kF16, {5}, pattern_fill(2)).has_value());
  ASSERT_TRUE(w.write(dir.file("b.safetensors")).has_value());
  auto f = SafetensorsFile::open(dir.file("b.safetensors"));
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  const StTensor* b = f->find("big");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->nbytes, big.size());
  EXPECT_EQ(std::memcmp(b->data, big.data(), big.size()), 0);
  EXPECT_TRUE(has_pattern(f->find("before")->data, 12, 1));
  EXPECT_TRUE(has_pattern(f->find("after")->data, 10, 2));
  EXPECT_EQ(f->find("null"), nullptr);
}

TEST(SafetensorsWriterTest, MovedFileKeepsData) {
  TempDir dir;
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_tensor("x", StDType::kU8, {100}, pattern_fill(9)).has_value());
  ASSERT_TRUE(w.write(dir.file("x.safetensors")).has_value());
  auto f = SafetensorsFile::open(dir.file("x.safetensors"));
  ASSERT_TRUE(f.has_value());
  SafetensorsFile moved = std::move(*f);
  SafetensorsFile again;
  again = std::move(moved);
  EXPECT_TRUE(has_pattern(again.find("x")->data, 100, 9));
}

TEST(SafetensorsWriterTest, RejectsBadTensors) {
  SafetensorsWriter w;
  EXPECT_FALSE(w.add_tensor("", StDType::kU8, {1}, pattern_fill(0)).has_value());
  EXPECT_FALSE(w.add_tensor("__metadata__", StDType::kU8, {1}, pattern_fill(0)).has_value());
  EXPECT_FALSE(w.add_tensor("n", StDType::kU8, {-1}, pattern_fill(0)).has_value());
  EXPECT_FALSE(w.add_tensor("n", StDType::kU8, {1}, nullptr).has_value());
  EXPECT_FALSE(
      w.add_tensor("n", StDType::kF64, {int64_t{1} << 40, int64_t{1} << 40}, pattern_fill(0))
          .has_value());
  ASSERT_TRUE(w.add_tensor("n", StDType::kU8, {1}, pattern_fill(0)).has_value());
  auto dup = w.add_tensor("n", StDType::kU8, {1}, pattern_fill(0));
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().message().find("added twice"), std::string::npos);
}

TEST(SafetensorsWriterTest, FailedFillLeavesNoFile) {
  TempDir dir;
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_tensor("ok", StDType::kU8, {4}, pattern_fill(0)).has_value());
  ASSERT_TRUE(w.add_tensor("bad", StDType::kU8, {4}, [](uint8_t*, uint64_t) -> Status {
                 return err(ErrorCode::kIo, "source went away");
               }).has_value());
  auto s = w.write(dir.file("f.safetensors"));
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().to_string().find("writing tensor 'bad'"), std::string::npos);
  EXPECT_NE(s.error().to_string().find("source went away"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("f.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("f.safetensors.tmp")));
}

TEST(SafetensorsWriterTest, InvalidUtf8NameIsAnError) {
  TempDir dir;
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_tensor("bad\xff", StDType::kU8, {1}, pattern_fill(0)).has_value());
  auto s = w.write(dir.file("u.safetensors"));
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("UTF-8"), std::string::npos);
}

// --- HF directories ------------------------------------------------------------------

std::vector<HfTensorSpec> tiny_specs() {
  std::vector<HfTensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", StDType::kBF16, {16, 8}, pattern_fill(1)});  // 256 B
  specs.push_back({"model.layers.0.self_attn.q_proj.weight", StDType::kBF16, {8, 8}, pattern_fill(2)});  // 128
  specs.push_back({"model.layers.0.input_layernorm.weight", StDType::kF32, {8}, pattern_fill(3)});  // 32
  specs.push_back({"model.norm.weight", StDType::kF32, {8}, pattern_fill(4)});  // 32
  specs.push_back({"lm_head.weight", StDType::kBF16, {16, 8}, pattern_fill(5)});  // 256
  return specs;
}

void expect_tiny(const HfCheckpoint& ck) {
  auto specs = tiny_specs();
  EXPECT_EQ(ck.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const StTensor* t = ck.find(specs[i].name);
    ASSERT_NE(t, nullptr) << specs[i].name;
    EXPECT_EQ(t->dtype, specs[i].dtype);
    EXPECT_EQ(t->shape, specs[i].shape);
    EXPECT_TRUE(has_pattern(t->data, t->nbytes, static_cast<uint32_t>(i + 1))) << specs[i].name;
  }
}

TEST(HfCheckpointTest, SingleFileRoundTrip) {
  TempDir dir;
  ASSERT_TRUE(write_hf_safetensors(dir.path(), tiny_specs(), 1 << 20).has_value());
  EXPECT_TRUE(std::filesystem::exists(dir.file("model.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors.index.json")));
  auto ck = HfCheckpoint::open(dir.path());
  ASSERT_TRUE(ck.has_value()) << ck.error().to_string();
  EXPECT_EQ(ck->files(), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(ck->dir(), dir.path());
  expect_tiny(*ck);
  auto f = SafetensorsFile::open(dir.file("model.safetensors"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->metadata().at("format"), "pt");
}

TEST(HfCheckpointTest, ShardedRoundTrip) {
  TempDir dir;
  // 300-byte shards: [embed 256] [q 128 + norm 32 + norm 32] [lm_head 256].
  ASSERT_TRUE(write_hf_safetensors(dir.path(), tiny_specs(), 300).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors")));
  for (const char* f : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                        "model-00003-of-00003.safetensors"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.file(f))) << f;
  }
  auto text = read_text_file(dir.file("model.safetensors.index.json"));
  ASSERT_TRUE(text.has_value());
  auto index = nlohmann::json::parse(*text);
  EXPECT_EQ(index["metadata"]["total_size"], 704);
  EXPECT_EQ(index["weight_map"].size(), 5u);
  EXPECT_EQ(index["weight_map"]["model.norm.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["lm_head.weight"], "model-00003-of-00003.safetensors");

  auto ck = HfCheckpoint::open(dir.path());
  ASSERT_TRUE(ck.has_value()) << ck.error().to_string();
  EXPECT_EQ(ck->files().size(), 3u);
  EXPECT_EQ(ck->file_of("model.embed_tokens.weight"), "model-00001-of-00003.safetensors");
  EXPECT_EQ(ck->file_of("nope"), "");
  expect_tiny(*ck);
  HfCheckpoint moved = std::move(*ck);
  expect_tiny(moved);
}

TEST(HfCheckpointTest, TensorLargerThanShardGetsItsOwn) {
  TempDir dir;
  ASSERT_TRUE(write_hf_safetensors(dir.path(), tiny_specs(), 100).has_value());
  auto ck = HfCheckpoint::open(dir.path());
  ASSERT_TRUE(ck.has_value()) << ck.error().to_string();
  EXPECT_EQ(ck->files().size(), 4u);  // [256] [128] [32+32] [256]
  expect_tiny(*ck);
}

TEST(HfCheckpointTest, RewriteAsShardsRemovesStaleSingleFile) {
  TempDir dir;
  ASSERT_TRUE(write_hf_safetensors(dir.path(), tiny_specs(), 1 << 20).has_value());
  ASSERT_TRUE(write_hf_safetensors(dir.path(), tiny_specs(), 300).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors")));
  auto ck = HfCheckpoint::open(dir.path());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->files().size(), 3u);
}

TEST(HfCheckpointTest, WriterRejectsDuplicateNames) {
  TempDir dir;
  auto specs = tiny_specs();
  specs.push_back({"model.norm.weight", StDType::kF32, {8}, pattern_fill(4)});
  EXPECT_FALSE(write_hf_safetensors(dir.path(), std::move(specs), 300).has_value());
}

// Corrupt directories: write a valid sharded one, then break the index.
class HfCheckpointCorrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(write_hf_safetensors(dir_.path(), tiny_specs(), 300).has_value());
  }
  void write_index(const nlohmann::json& weight_map) {
    nlohmann::json j = {{"metadata", {{"total_size", 704}}}, {"weight_map", weight_map}};
    write_text(dir_.file("model.safetensors.index.json"), j.dump(2));
  }
  nlohmann::json good_map() {
    auto text = read_text_file(dir_.file("model.safetensors.index.json"));
    return nlohmann::json::parse(*text)["weight_map"];
  }
  void expect_open_error(ErrorCode code, std::initializer_list<const char*> needles) {
    auto r = HfCheckpoint::open(dir_.path());
    ASSERT_FALSE(r.has_value());
    const std::string msg = r.error().to_string();
    EXPECT_EQ(r.error().code(), code) << msg;
    for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " in: " << msg;
  }
  TempDir dir_;
};

TEST_F(HfCheckpointCorrupt, NotADirectory) {
  auto r = HfCheckpoint::open(dir_.file("nope"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST_F(HfCheckpointCorrupt, NoWeightsInDirectory) {
  std::filesystem::remove(dir_.file("model.safetensors.index.json"));
  expect_open_error(ErrorCode::kNotFound, {"neither model.safetensors nor"});
}

TEST_F(HfCheckpointCorrupt, MissingShardFile) {
  std::filesystem::remove(dir_.file("model-00002-of-00003.safetensors"));
  expect_open_error(ErrorCode::kNotFound, {"model-00002-of-00003.safetensors", "missing"});
}

TEST_F(HfCheckpointCorrupt, IndexNamesWrongShard) {
  auto m = good_map();
  m["model.norm.weight"] = "model-00001-of-00003.safetensors";
  write_index(m);
  expect_open_error(ErrorCode::kCorrupt, {"model.norm.weight"});
}

TEST_F(HfCheckpointCorrupt, DuplicateTensorAcrossShards) {
  // A fourth shard that repeats a tensor from shard 2, listed in the index.
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_tensor("model.norm.weight", StDType::kF32, {8}, pattern_fill(4)).has_value());
  ASSERT_TRUE(w.add_tensor("extra", StDType::kF32, {1}, pattern_fill(4)).has_value());
  ASSERT_TRUE(w.write(dir_.file("model-extra.safetensors")).has_value());
  auto m = good_map();
  m["extra"] = "model-extra.safetensors";
  write_index(m);
  expect_open_error(ErrorCode::kCorrupt, {"model.norm.weight", "duplicate tensor across shards"});
}

TEST_F(HfCheckpointCorrupt, ShardTensorNotInIndex) {
  auto m = good_map();
  m.erase("model.norm.weight");
  write_index(m);
  expect_open_error(ErrorCode::kCorrupt, {"model.norm.weight", "not listed"});
}

TEST_F(HfCheckpointCorrupt, IndexTensorNotInShard) {
  auto m = good_map();
  m["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00003.safetensors";
  write_index(m);
  expect_open_error(ErrorCode::kCorrupt, {"model.layers.9.mlp.up_proj.weight", "does not contain"});
}

TEST_F(HfCheckpointCorrupt, ShardPathTraversal) {
  for (const char* evil : {"../model-00001-of-00003.safetensors", "/etc/passwd.safetensors",
                           "sub/x.safetensors", "model.bin", ".safetensors"}) {
    auto m = good_map();
    m["model.norm.weight"] = evil;
    write_index(m);
    expect_open_error(ErrorCode::kCorrupt, {"not a plain"});
  }
}

TEST_F(HfCheckpointCorrupt, IndexNotJsonOrWrongShape) {
  write_text(dir_.file("model.safetensors.index.json"), "{\"weight_map\": ");
  expect_open_error(ErrorCode::kCorrupt, {"not valid JSON"});
  write_text(dir_.file("model.safetensors.index.json"), "{\"metadata\": {}}");
  expect_open_error(ErrorCode::kCorrupt, {"weight_map"});
  write_text(dir_.file("model.safetensors.index.json"), "{\"weight_map\": {\"a\": 3}}");
  expect_open_error(ErrorCode::kCorrupt, {"weight_map['a']"});
  write_text(dir_.file("model.safetensors.index.json"),
             R"({"weight_map": {"a": "model-00001-of-00003.safetensors",)"
             R"( "a": "model-00002-of-00003.safetensors"}})");
  expect_open_error(ErrorCode::kCorrupt, {"'a' appears twice"});
}

TEST_F(HfCheckpointCorrupt, CorruptShardNamesFile) {
  write_text(dir_.file("model-00003-of-00003.safetensors"), std::string(4, 'x'));
  expect_open_error(ErrorCode::kCorrupt, {"model-00003-of-00003.safetensors", "too short"});
}

// --- q/k permutation -----------------------------------------------------------------

TEST(HfPermuteTest, HandCheckedHeadDim4) {
  // Two heads of hd = 4, one byte per row. Per head, HF row c*2 + j = Meta row
  // 2j + c: HF rows are Meta rows [0, 2, 1, 3].
  const uint8_t meta[8] = {10, 11, 12, 13, 20, 21, 22, 23};
  uint8_t hf[8] = {};
  ASSERT_TRUE(permute_qk_rows(QkOrder::kMetaToHf, meta, hf, 8, 2, 1).has_value());
  const uint8_t want[8] = {10, 12, 11, 13, 20, 22, 21, 23};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(hf[i], want[i]) << "row " << i;
  uint8_t back[8] = {};
  ASSERT_TRUE(permute_qk_rows(QkOrder::kHfToMeta, hf, back, 8, 2, 1).has_value());
  EXPECT_EQ(std::memcmp(back, meta, 8), 0);
  EXPECT_EQ(hf_row_of_meta_row(1, 4), 2);
  EXPECT_EQ(hf_row_of_meta_row(2, 4), 1);
  EXPECT_EQ(meta_row_of_hf_row(2, 4), 1);
  EXPECT_EQ(meta_row_of_hf_row(3, 4), 3);
}

TEST(HfPermuteTest, HandCheckedHeadDim8) {
  // hd = 8: HF rows are Meta rows [0, 2, 4, 6, 1, 3, 5, 7].
  uint8_t meta[8], hf[8];
  for (int i = 0; i < 8; ++i) meta[i] = static_cast<uint8_t>(i);
  ASSERT_TRUE(permute_qk_rows(QkOrder::kMetaToHf, meta, hf, 8, 1, 1).has_value());
  const uint8_t want[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  EXPECT_EQ(std::memcmp(hf, want, 8), 0);
}

TEST(HfPermuteTest, RoundTripWideRows) {
  // 3 heads of hd = 6, rows of 5 BF16 values (10 bytes).
  const int64_t rows = 18;
  const uint64_t rb = 10;
  std::vector<uint8_t> a(rows * rb), b(rows * rb), c(rows * rb);
  std::mt19937 rng(7);
  for (auto& x : a) x = static_cast<uint8_t>(rng());
  ASSERT_TRUE(permute_qk_rows(QkOrder::kMetaToHf, a.data(), b.data(), rows, 3, rb).has_value());
  EXPECT_NE(a, b);
  ASSERT_TRUE(permute_qk_rows(QkOrder::kHfToMeta, b.data(), c.data(), rows, 3, rb).has_value());
  EXPECT_EQ(a, c);
  for (int64_t r = 0; r < 6; ++r) {
    EXPECT_EQ(meta_row_of_hf_row(hf_row_of_meta_row(r, 6), 6), r);
  }
}

TEST(HfPermuteTest, RejectsBadArguments) {
  uint8_t a[12] = {}, b[12] = {};
  EXPECT_FALSE(permute_qk_rows(QkOrder::kMetaToHf, a, b, 12, 0, 1).has_value());
  EXPECT_FALSE(permute_qk_rows(QkOrder::kMetaToHf, a, b, 12, 5, 1).has_value());  // 12 % 5
  EXPECT_FALSE(permute_qk_rows(QkOrder::kMetaToHf, a, b, 12, 4, 1).has_value());  // hd 3 odd
  EXPECT_FALSE(permute_qk_rows(QkOrder::kMetaToHf, a, a, 12, 3, 1).has_value());  // in place
  EXPECT_FALSE(permute_qk_rows(QkOrder::kMetaToHf, a + 1, a, 4, 1, 2).has_value());  // overlap
  EXPECT_TRUE(permute_qk_rows(QkOrder::kMetaToHf, a, b, 12, 3, 1).has_value());
}

// The reason for the permutation: interleaved RoPE on Meta-order q equals
// rotate-half RoPE on HF-order q, element for element after reordering.
TEST(HfPermuteTest, InterleavedRopeOnMetaEqualsRotateHalfOnHf) {
  const int64_t n_heads = 2, hd = 8, d = 5, rows = n_heads * hd;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w_meta(rows * d), x(d);
  for (auto& v : w_meta) v = u(rng);
  for (auto& v : x) v = u(rng);
  std::vector<float> w_hf(rows * d);
  ASSERT_TRUE(permute_qk_rows(QkOrder::kMetaToHf, reinterpret_cast<const uint8_t*>(w_meta.data()),
                              reinterpret_cast<uint8_t*>(w_hf.data()), rows, n_heads, d * 4)
                  .has_value());
  auto matvec = [&](const std::vector<float>& w) {
    std::vector<float> q(rows, 0.f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < d; ++k) q[r] += w[r * d + k] * x[k];
    return q;
  };
  std::vector<float> qm = matvec(w_meta), qh = matvec(w_hf);
  const int pos = 37;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* m = qm.data() + h * hd;
    float* f = qh.data() + h * hd;
    for (int64_t i = 0; i < hd / 2; ++i) {
      float a = pos * std::pow(500000.f, -2.f * i / hd);
      float c = std::cos(a), s = std::sin(a);
      float m0 = m[2 * i], m1 = m[2 * i + 1];
      m[2 * i] = m0 * c - m1 * s;
      m[2 * i + 1] = m0 * s + m1 * c;
      float f0 = f[i], f1 = f[i + hd / 2];
      f[i] = f0 * c - f1 * s;
      f[i + hd / 2] = f1 * c + f0 * s;
    }
    for (int64_t r = 0; r < hd; ++r) {
      float want = m[r];
      float got = f[hf_row_of_meta_row(r, hd)];
      EXPECT_NEAR(got, want, 1e-5f * (1 + std::fabs(want))) << "head " << h << " row " << r;
    }
  }
}

}  // namespace
}  // namespace herd::formats
