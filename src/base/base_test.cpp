// Unit tests of the base layer: Result/Error, half conversions, checked math,
// ThreadPool, Rng, MappedFile and the small-file helpers.
//
// Most checks here are exact (integers, bit patterns, strings). Where a float
// is compared, the comment beside it says why the value must be bit-exact.
// f16 conversion is tested exhaustively in tensor/quant_test.cpp; the cases
// here only pin the corners the base layer promises in half.h.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/checked_math.h"
#include "base/half.h"
#include "base/host_memory.h"
#include "base/json_depth.h"
#include "base/mapped_file.h"
#include "base/progress.h"
#include "base/result.h"
#include "base/rng.h"
#include "base/thread_pool.h"

namespace herd {
namespace {

// ---------------------------------------------------------------------------
// Result / Error

Result<int> parse_positive(int v) {
  if (v <= 0) return err(ErrorCode::kInvalidArgument, "value %d is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  HERD_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

Status check_then_flag(int v, bool* reached_end) {
  HERD_TRY(parse_positive(v));
  *reached_end = true;
  return Ok{};
}

TEST(Result, ValueAndError) {
  Result<int> ok = parse_positive(3);
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(*ok, 3);
  EXPECT_EQ(ok.value(), 3);

  Result<int> bad = parse_positive(-2);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "value -2 is not positive");
  EXPECT_TRUE(bad.error().context().empty());
}

TEST(Result, ContextChainsOutermostFirst) {
  Error e = err(ErrorCode::kCorrupt, "tensor %d has %s", 3, "bad shape");
  e.with_context("reading tensor info 3").with_context("loading model /x.gguf");
  ASSERT_EQ(e.context().size(), 2u);
  EXPECT_EQ(e.context()[0], "reading tensor info 3");  // innermost first in storage
  EXPECT_EQ(e.to_string(), "loading model /x.gguf: reading tensor info 3: tensor 3 has bad shape");
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);

  Error bare(ErrorCode::kIo, "disk full");
  EXPECT_EQ(bare.to_string(), "disk full");
}

TEST(Result, ErrorCodeNamesAreDistinct) {
  const ErrorCode all[] = {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kCorrupt,
                           ErrorCode::kUnsupported,     ErrorCode::kIo,       ErrorCode::kOutOfRange,
                           ErrorCode::kInternal,        ErrorCode::kCancelled};
  std::set<std::string> names;
  for (ErrorCode c : all) names.insert(error_code_name(c));
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_STREQ(error_code_name(ErrorCode::kNotFound), "not found");
}

TEST(Result, AssignOrReturnPropagates) {
  Result<int> ok = doubled(21);
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ(*ok, 42);

  Result<int> bad = doubled(0);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "value 0 is not positive");
}

TEST(Result, TryPropagatesAndStopsEarly) {
  bool reached = false;
  Status ok = check_then_flag(5, &reached);
  EXPECT_TRUE(ok.has_value());
  EXPECT_TRUE(reached);

  reached = false;
  Status bad = check_then_flag(-1, &reached);
  ASSERT_FALSE(bad.has_value());
  EXPECT_FALSE(reached) << "HERD_TRY must return before the rest of the function runs";
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Result, ContextAddedWhilePropagating) {
  auto load = [](int v) -> Result<int> {
    Result<int> r = parse_positive(v);
    if (!r) return std::move(r.error().with_context("reading field 'n'"));
    return r;
  };
  auto outer = [&](int v) -> Result<int> {
    Result<int> r = load(v);
    if (!r) return std::move(r.error().with_context("loading config.json"));
    return r;
  };
  Result<int> r = outer(-7);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "loading config.json: reading field 'n': value -7 is not positive");
}

TEST(Result, MoveOnlyValue) {
  auto make = []() -> Result<std::unique_ptr<int>> { return std::make_unique<int>(9); };
  auto use = [&]() -> Result<int> {
    HERD_ASSIGN_OR_RETURN(std::unique_ptr<int> p, make());
    return *p;
  };
  Result<int> r = use();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 9);
}

TEST(Result, StrPrintf) {
  EXPECT_EQ(str_printf("%s=%d", "k", 7), "k=7");
  EXPECT_EQ(str_printf("%s", ""), "");
  std::string long_arg(5000, 'x');
  EXPECT_EQ(str_printf("<%s>", long_arg.c_str()), "<" + long_arg + ">");
}

// ---------------------------------------------------------------------------
// half.h. Every expected value is exactly representable, so comparisons are
// exact (the conversions are specified as exact or correctly rounded).

TEST(Half, F16Corners) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);                   // largest finite
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));      // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));      // smallest normal
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));

  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // tie: rounds to even, i.e. to infinity
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  // 1 + 2^-11 is the tie between 1 and 1 + 2^-10: even mantissa (1.0) wins.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3*2^-11 ties between 1+2^-10 (odd) and 1+2^-9 (even).
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Subnormal ties: 0.5 * 2^-24 rounds to 0 (even), 1.5 * 2^-24 to 2 * 2^-24.
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -26)), 0x0001);  // 0.75 * 2^-24: not a tie
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
}

TEST(Half, Bf16Corners) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-3.0f), 0xc040);
  // 1 + 2^-8 is the tie between 1 and 1 + 2^-7: even (1.0) wins.
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3*2^-8 ties between 1+2^-7 (odd) and 1+2^-6 (even).
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  // Just above the tie rounds up.
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x3f808001u)), 0x3f81);
  // Largest finite float rounds past bf16's largest finite to infinity.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // NaN stays NaN even when its payload lives only in the low 16 bits
  // (plain truncation would turn it into infinity).
  uint16_t n = f32_to_bf16(bits_to_float(0x7f800001u));
  EXPECT_TRUE(std::isnan(bf16_to_f32(n))) << std::hex << n;
  // Round trip is exact for every bf16 value that is not NaN.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h) << "bf16 0x" << std::hex << h;
  }
}

// ---------------------------------------------------------------------------
// checked_math.h

TEST(CheckedMath, AddMulAlign) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  uint64_t out = 0;
  EXPECT_TRUE(checked_add(1, 2, &out));
  EXPECT_EQ(out, 3u);
  EXPECT_TRUE(checked_add(max - 1, 1, &out));
  EXPECT_EQ(out, max);
  EXPECT_FALSE(checked_add(max, 1, &out));
  EXPECT_FALSE(checked_add(max / 2 + 1, max / 2 + 1, &out));

  EXPECT_TRUE(checked_mul(0, max, &out));
  EXPECT_EQ(out, 0u);
  EXPECT_TRUE(checked_mul(uint64_t{1} << 32, (uint64_t{1} << 32) - 1, &out));
  EXPECT_EQ(out, (uint64_t{1} << 32) * ((uint64_t{1} << 32) - 1));
  EXPECT_FALSE(checked_mul(uint64_t{1} << 32, uint64_t{1} << 32, &out));
  EXPECT_FALSE(checked_mul(max, 2, &out));
  // A GGUF-style hostile shape: 2^40 elements of 2^30 bytes each.
  EXPECT_FALSE(checked_mul(uint64_t{1} << 40, uint64_t{1} << 30, &out));

  EXPECT_TRUE(checked_align_up(0, 32, &out));
  EXPECT_EQ(out, 0u);
  EXPECT_TRUE(checked_align_up(1, 32, &out));
  EXPECT_EQ(out, 32u);
  EXPECT_TRUE(checked_align_up(64, 32, &out));
  EXPECT_EQ(out, 64u);
  EXPECT_TRUE(checked_align_up(65, 1, &out));
  EXPECT_EQ(out, 65u);
  EXPECT_FALSE(checked_align_up(max - 3, 32, &out));
  EXPECT_TRUE(checked_align_up(max - 31, 32, &out));  // max - 31 is a multiple of 32
  EXPECT_EQ(out, max - 31);
}

// ---------------------------------------------------------------------------
// ThreadPool

// Runs parallel_for and records, for each index, how many times it was
// visited and by which worker; checks ranges are contiguous and well formed.
void expect_exact_cover(ThreadPool& pool, int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int> calls{0};
  std::atomic<bool> bad_range{false}, bad_worker{false};
  pool.parallel_for(
      n,
      [&](int64_t b, int64_t e, int worker) {
        ++calls;
        if (!(0 <= b && b < e && e <= n)) bad_range = true;
        if (worker < 0 || worker >= pool.size()) bad_worker = true;
        for (int64_t i = b; i < e && i >= 0 && i < n; ++i) ++hits[static_cast<size_t>(i)];
      },
      grain);
  EXPECT_FALSE(bad_range) << "an empty or out-of-bounds range was passed (n=" << n << ")";
  EXPECT_FALSE(bad_worker);
  EXPECT_LE(calls.load(), pool.size());
  if (n == 0) {
    EXPECT_EQ(calls.load(), 0);
  }
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
        << "index " << i << " of n=" << n << " pool=" << pool.size() << " grain=" << grain;
}

TEST(ThreadPool, CoversEachIndexExactlyOnce) {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 17, 1000}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) + " n=" + std::to_string(n));
      expect_exact_cover(pool, n, 1);
      expect_exact_cover(pool, n, 16);
    }
  }
}

TEST(ThreadPool, NonPositiveSizeMeansCallerOnly) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  expect_exact_cover(pool, 10, 1);
}

TEST(ThreadPool, UsesAllWorkersAndRespectsGrain) {
  ThreadPool pool(4);
  std::mutex mu;
  std::set<int> workers;
  int64_t min_len = INT64_MAX;
  auto record = [&](int64_t b, int64_t e, int w) {
    std::lock_guard<std::mutex> lock(mu);
    workers.insert(w);
    min_len = std::min(min_len, e - b);
  };
  pool.parallel_for(1000, record, 1);
  EXPECT_EQ(workers.size(), 4u) << "1000 items over 4 threads should use every worker";

  // grain 16 over 40 items: at most 40/16 = 2 ranges, each >= 16 items.
  workers.clear();
  min_len = INT64_MAX;
  pool.parallel_for(40, record, 16);
  EXPECT_EQ(workers.size(), 2u);
  EXPECT_GE(min_len, 16);

  // Fewer items than one grain: a single call on the caller (worker 0).
  workers.clear();
  pool.parallel_for(15, record, 16);
  EXPECT_EQ(workers, std::set<int>{0});
}

TEST(ThreadPool, ResultsIndependentOfPoolSize) {
  // Each index writes a value that depends only on the index; the sum per
  // range is also reduced in a fixed order. Output must be identical.
  const int64_t n = 1000;
  std::vector<double> want;
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    std::vector<double> out(static_cast<size_t>(n), -1.0);
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) out[static_cast<size_t>(i)] = std::sin(static_cast<double>(i)) * 1e3;
    });
    if (want.empty()) {
      want = out;
    } else {
      ASSERT_EQ(out, want) << "threads=" << threads;
    }
  }
}

TEST(ThreadPool, ManyCallsInARow) {
  // Hammers the generation hand-off: a lost wake-up or a worker running a
  // generation twice shows up as a wrong count or a hang.
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 2000; ++rep) {
    int64_t n = 1 + rep % 7;
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) { total += e - b; });
  }
  int64_t want = 0;
  for (int rep = 0; rep < 2000; ++rep) want += 1 + rep % 7;
  EXPECT_EQ(total.load(), want);
}

// ---------------------------------------------------------------------------
// Rng

TEST(Rng, AddressableAndDeterministic) {
  Rng a(42, 7), b(42, 7);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(a.at(i), b.at(i));
  // next_u64 walks the same sequence as at(counter).
  std::vector<uint64_t> seq;
  for (int i = 0; i < 10; ++i) seq.push_back(a.next_u64());
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(seq[i], b.at(i));
  EXPECT_EQ(a.counter(), 10u);
  // A copy continues identically.
  Rng c = a;
  EXPECT_EQ(c.next_u64(), a.next_u64());
}

TEST(Rng, StreamsAndSeedsDiffer) {
  Rng s0(1, 0), s1(1, 1), t0(2, 0);
  int same_stream = 0, same_seed = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    same_stream += s0.at(i) == s1.at(i);
    same_seed += s0.at(i) == t0.at(i);
  }
  // A collision of two 64-bit values has probability 2^-64 per draw.
  EXPECT_EQ(same_stream, 0);
  EXPECT_EQ(same_seed, 0);
  // Swapping seed and stream gives a different generator too.
  EXPECT_NE(Rng(3, 5).at(0), Rng(5, 3).at(0));
}

TEST(Rng, UnitIntervalDraws) {
  Rng r(123, 0);
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    double d = r.next_double();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    float f = r.next_float();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    sum += d;
  }
  // Mean of n uniforms has sd sqrt(1/12/n) ~ 9.1e-4; 5 sigma ~ 4.6e-3.
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12.0 / n));

  // The largest possible draws stay below 1 (the bound is exact, not statistical).
  EXPECT_LT(static_cast<double>(~uint64_t{0} >> 11) * (1.0 / 9007199254740992.0), 1.0);

  // Normals: mean 0, variance 1 within 5 sigma (sd of the mean 1/sqrt(n),
  // sd of the sample variance ~ sqrt(2/n)).
  Rng g(9, 9);
  double m = 0, m2 = 0;
  for (int i = 0; i < n; ++i) {
    double z = g.next_normal();
    ASSERT_TRUE(std::isfinite(z));
    m += z;
    m2 += z * z;
  }
  m /= n;
  m2 /= n;
  EXPECT_NEAR(m, 0.0, 5 / std::sqrt(n));
  EXPECT_NEAR(m2 - m * m, 1.0, 5 * std::sqrt(2.0 / n));
}

// ---------------------------------------------------------------------------
// MappedFile, read_text_file, write_file

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/herd_base_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& p : created_) std::remove(p.c_str());
    rmdir(dir_.c_str());
  }
  std::string path(const std::string& name) {
    created_.push_back(dir_ + "/" + name);
    created_.push_back(dir_ + "/" + name + ".tmp");
    return dir_ + "/" + name;
  }
  std::string dir_;
  std::vector<std::string> created_;
};

using Files = TempDir;

TEST_F(Files, OpenMissingIsNotFoundAndNamesPath) {
  std::string p = path("does_not_exist.gguf");
  Result<MappedFile> f = MappedFile::open(p);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(f.error().to_string().find(p), std::string::npos) << f.error().to_string();

  Result<std::string> t = read_text_file(p);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(t.error().to_string().find(p), std::string::npos) << t.error().to_string();
}

TEST_F(Files, OpenDirectoryIsRejected) {
  Result<MappedFile> f = MappedFile::open(dir_);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(f.error().message().find(dir_), std::string::npos);
}

TEST_F(Files, WriteThenMapAndRead) {
  std::string p = path("data.bin");
  std::string bytes = "hello\0world\n";
  bytes.push_back('\0');
  for (int i = 0; i < 70000; ++i) bytes.push_back(static_cast<char>(i * 31));  // > 64 KiB read buffer
  ASSERT_TRUE(write_file(p, bytes.data(), bytes.size()));
  EXPECT_NE(access((p + ".tmp").c_str(), F_OK), 0) << "temporary file left behind";

  Result<MappedFile> f = MappedFile::open(p);
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_EQ(f->size(), bytes.size());
  EXPECT_EQ(f->path(), p);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()), f->size()), bytes);

  // Move keeps the mapping and empties the source.
  MappedFile moved = std::move(*f);
  EXPECT_EQ(moved.size(), bytes.size());
  EXPECT_EQ(f->data(), nullptr);
  EXPECT_EQ(f->size(), 0u);
  MappedFile assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), bytes.size());
  EXPECT_EQ(assigned.data()[0], 'h');

  Result<std::string> t = read_text_file(p);
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(*t, bytes);

  // Overwriting replaces the contents.
  ASSERT_TRUE(write_file(p, "ab", 2));
  EXPECT_EQ(*read_text_file(p), "ab");
}

TEST_F(Files, EmptyFile) {
  std::string p = path("empty");
  ASSERT_TRUE(write_file(p, nullptr, 0));
  Result<MappedFile> f = MappedFile::open(p);
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->size(), 0u);
  EXPECT_EQ(f->data(), nullptr);
  Result<std::string> t = read_text_file(p);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "");
}

TEST_F(Files, ReadTextFileSizeLimit) {
  std::string p = path("ten.txt");
  ASSERT_TRUE(write_file(p, "0123456789", 10));
  Result<std::string> exact = read_text_file(p, 10);  // at the limit: allowed
  ASSERT_TRUE(exact) << exact.error().to_string();
  EXPECT_EQ(*exact, "0123456789");
  Result<std::string> over = read_text_file(p, 9);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), ErrorCode::kOutOfRange);
  EXPECT_NE(over.error().message().find(p), std::string::npos);
  Result<std::string> zero = read_text_file(p, 0);
  EXPECT_FALSE(zero);
}

TEST_F(Files, WriteIntoMissingDirectoryFails) {
  std::string p = dir_ + "/no/such/dir/file";
  Status s = write_file(p, "x", 1);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kIo);
  EXPECT_NE(s.error().message().find(p), std::string::npos) << s.error().message();
}

// The depth counts brackets outside strings only, and stops early on deep input.
TEST(JsonDepth, CountsNestingOutsideStrings) {
  EXPECT_EQ(json_nesting_depth("1", 100), 0);
  EXPECT_EQ(json_nesting_depth("[]", 100), 1);
  EXPECT_EQ(json_nesting_depth("{\"a\":[1,{\"b\":[]}],\"c\":{}}", 100), 4);
  // Brackets inside strings, also after escaped quotes and backslashes, do not count.
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[{{{","b":"\\\"[[["})", 100), 1);
  EXPECT_EQ(json_nesting_depth(R"(["\\"][[]])", 100), 2);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(json_nesting_depth(deep, 64), 65);  // stops at the first level past the limit
  EXPECT_FALSE(json_depth_within(deep));
  const std::string at_limit = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(json_depth_within(at_limit));
  EXPECT_FALSE(json_depth_within("[" + at_limit + "]"));
  // Unbalanced closers cannot drive the depth negative and hide a deep suffix.
  EXPECT_FALSE(json_depth_within(std::string(1000, ']') + std::string(65, '[')));
}

}  // namespace
}  // namespace herd

namespace herd {
namespace {

// What a Progress writes to a file (not a terminal): nothing for a short job but its
// final line; counts from several threads add up; the line names done, total, percent.
TEST(Progress, CountsAndPrintsPlainLinesOffATerminal) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p("job: writing", 4u << 20, f);
    ThreadPool pool(2);
    pool.parallel_for(4, [&](int64_t a, int64_t b, int) {
      for (int64_t i = a; i < b; ++i) p.add(1u << 20);
    });
    EXPECT_EQ(p.done(), 4u << 20);
    EXPECT_EQ(p.line().rfind("job: writing 4.0 / 4.0 MiB 100%", 0), 0u) << p.line();
    p.finish();
    p.finish();  // once
  }
  std::rewind(f);
  char buf[256] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string out(buf, n);
  EXPECT_EQ(out.find("job: writing 4.0 MiB done in "), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  Progress quiet("job", 10, nullptr);  // silent: counting only
  quiet.add(3);
  quiet.finish();
  EXPECT_EQ(quiet.done(), 3u);
}

// Ctrl-C sets the flag long jobs poll (instead of killing the process).
TEST(Progress, CaughtInterruptSetsTheFlag) {
  EXPECT_FALSE(interrupted());
  catch_interrupts();
  raise(SIGINT);
  EXPECT_TRUE(interrupted());
  signal(SIGINT, SIG_DFL);
}

TEST(HostMemory, ParsesMemAvailable) {
  EXPECT_EQ(parse_mem_available("MemTotal:       24589012 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n"),
            int64_t{20000000} * 1024);
  EXPECT_EQ(parse_mem_available("MemAvailable: 7 kB"), 7 * 1024);  // last line, no newline
  EXPECT_EQ(parse_mem_available("MemTotal: 5 kB\n"), std::nullopt);  // missing
  EXPECT_EQ(parse_mem_available("MemAvailable: kB\n"), std::nullopt);
  EXPECT_EQ(parse_mem_available("MemAvailable: 12 MB\n"), std::nullopt);  // not the kernel's unit
  EXPECT_EQ(parse_mem_available("MemAvailable: 99999999999999999999 kB\n"), std::nullopt);  // overflow
  EXPECT_EQ(parse_mem_available("XMemAvailable: 5 kB\n"), std::nullopt);
  // This host's own: Linux CI has /proc/meminfo, and some memory is available.
  const std::optional<int64_t> here = available_memory_bytes();
  ASSERT_TRUE(here.has_value());
  EXPECT_GT(*here, 0);
}

}  // namespace
}  // namespace herd
