// Tests of the multi-token attention (kernels/ops.h attention_tokens and the
// tables' attn_tokens): a tile of B consecutive tokens must give, bit for
// bit, what B separate attention_rows calls give (the per-token arithmetic is
// the specification; kernels_test.cpp checks attention_rows against a naive
// double-precision attention). Every ISA the host runs, every pair of f32,
// f16 and q8_0 key/value caches, contiguous and paged, tile sizes 1..8
// against key counts on and off the 8-key block boundary; and attention()
// over a whole prefill against per-token calls, for 1 and 2 threads.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "kernels/isa_test.h"
#include "kernels/ops.h"

namespace herd::kernels {
namespace {

// A cache of `rows` rows of KV heads x hd elements of type t, rows stored in
// the order of `place` (place[j / bs] is row j's block; identity: contiguous).
struct Cache {
  std::vector<uint8_t> k, v;
  int64_t row_bytes = 0;
};

Cache make_cache(const ExecContext& ctx, DType t, int64_t rows, int64_t width, const std::vector<int32_t>& place,
                 int64_t bs, uint64_t seed) {
  Cache c;
  c.row_bytes = kv_row_bytes(t, width);
  c.k.assign(static_cast<size_t>(rows * c.row_bytes), 0);
  c.v.assign(c.k.size(), 0);
  const std::vector<float> k = normals(seed, 3, rows * width), v = normals(seed + 1, 3, rows * width);
  for (int64_t j = 0; j < rows; ++j) {
    const int64_t phys = static_cast<int64_t>(place[static_cast<size_t>(j / bs)]) * bs + j % bs;
    kv_store(ctx, t, k.data() + j * width, c.k.data() + phys * c.row_bytes, width);
    kv_store(ctx, t, v.data() + j * width, c.v.data() + phys * c.row_bytes, width);
  }
  return c;
}

TEST(AttentionTokens, TileEqualsOneCallPerTokenBitwise) {
  const DType types[] = {DType::kF32, DType::kF16, DType::kQ8_0};
  int runs = 0;
  for (const std::string& isa : all_isas()) {
    if (!isa_runs_here(isa)) continue;
    Result<KernelTable> table = select_kernels(isa);
    ASSERT_TRUE(table.has_value()) << isa;
    ThreadPool pool(1);
    const ExecContext ctx{&pool, &*table};
    for (int64_t hd : {int64_t{64}, int64_t{128}}) {
      const int64_t KV = 2, width = KV * hd, bs = 16, rows = 64;
      std::vector<int32_t> ident(rows / bs), shuffled(rows / bs);
      for (int64_t b = 0; b < rows / bs; ++b) {
        ident[static_cast<size_t>(b)] = static_cast<int32_t>(b);
        shuffled[static_cast<size_t>(b)] = static_cast<int32_t>(rows / bs - 1 - b);
      }
      for (DType kt : types) {
        for (DType vt : types) {
          for (bool paged : {false, true}) {
            const std::vector<int32_t>& place = paged ? shuffled : ident;
            const Cache ck = make_cache(ctx, kt, rows, width, place, bs, 40);
            const Cache cv = make_cache(ctx, vt, rows, width, place, bs, 50);
            for (int64_t g : {int64_t{1}, int64_t{4}}) {
              const int64_t H = KV * g, qs = H * hd + 3;  // a token's query rows, padded
              const std::vector<float> q = normals(60, 3, kAttnTokenTile * qs);
              for (int64_t n0 : {int64_t{1}, int64_t{5}, int64_t{8}, int64_t{37}}) {
                const int64_t kvh = 1;
                KvRows kv;
                kv.k = ck.k.data() + kv_row_bytes(kt, kvh * hd);
                kv.v = cv.v.data() + kv_row_bytes(vt, kvh * hd);
                kv.k_stride = ck.row_bytes;
                kv.v_stride = cv.row_bytes;
                kv.kt = kt;
                kv.vt = vt;
                if (paged) {
                  kv.blocks = place.data();
                  kv.block_rows = bs;
                }
                const float* qh = q.data() + kvh * g * hd;
                for (int64_t B = 1; B <= kAttnTokenTile; ++B) {
                  // NaN: a read of a score the kernel did not write poisons the output.
                  std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(g, n0 + B - 1, hd)), NAN);
                  std::vector<float> got(static_cast<size_t>(B * qs), NAN), want(got.size(), NAN);
                  attention_tokens(ctx, qh, qs, B, g, hd, kv, n0, scratch.data(), got.data(), qs);
                  for (int64_t i = 0; i < B; ++i)
                    attention_rows(ctx, qh + i * qs, g, hd, kv, n0 + i, scratch.data(), want.data() + i * qs);
                  for (int64_t i = 0; i < B; ++i)
                    ASSERT_EQ(std::memcmp(got.data() + i * qs, want.data() + i * qs,
                                          static_cast<size_t>(g * hd) * sizeof(float)),
                              0)
                        << "isa=" << isa << " k " << dtype_name(kt) << " v " << dtype_name(vt)
                        << (paged ? " paged" : " contiguous") << " hd=" << hd << " g=" << g << " n0=" << n0
                        << " B=" << B << ": token " << i << " differs from its own attention_rows call";
                  ++runs;
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(runs, 0);
}

// attention() over a prefill of T tokens after n_past cached ones: tiles,
// their balanced order and the last short tile give each token what its own
// attention_rows call gives, for 1 and 2 threads.
TEST(AttentionTokens, PrefillEqualsOneCallPerToken) {
  for (const std::string& isa : all_isas()) {
    if (!isa_runs_here(isa)) continue;
    Result<KernelTable> table = select_kernels(isa);
    ASSERT_TRUE(table.has_value()) << isa;
    const int64_t H = 8, KV = 2, hd = 64, g = H / KV, n_past = 5, T = 19, rows = n_past + T;
    const DType kt = DType::kF16, vt = DType::kQ8_0;
    ThreadPool pool1(1);
    const ExecContext ctx1{&pool1, &*table};
    const std::vector<int32_t> ident = {0};
    const Cache ck = make_cache(ctx1, kt, rows, KV * hd, ident, rows, 70);
    const Cache cv = make_cache(ctx1, vt, rows, KV * hd, ident, rows, 80);
    const std::vector<float> q = normals(90, 3, T * H * hd);
    std::vector<float> want(static_cast<size_t>(T * H * hd));
    std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(g, rows, hd)));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t kvh = 0; kvh < KV; ++kvh) {
        KvRows kv{ck.k.data() + kv_row_bytes(kt, kvh * hd), cv.v.data() + kv_row_bytes(vt, kvh * hd), ck.row_bytes,
                  cv.row_bytes, nullptr, 0, kt, vt};
        attention_rows(ctx1, q.data() + (t * H + kvh * g) * hd, g, hd, kv, n_past + t + 1, scratch.data(),
                       want.data() + (t * H + kvh * g) * hd);
      }
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      const ExecContext ctx{&pool, &*table};
      std::vector<std::vector<float>> bufs(static_cast<size_t>(pool.size()), scratch);
      std::vector<float*> ptrs;
      for (auto& b : bufs) ptrs.push_back(b.data());
      std::vector<float> got(want.size(), NAN);
      attention(ctx, q.data(), T, H, KV, hd, ck.k.data(), cv.v.data(), kt, vt, n_past, ptrs.data(), got.data());
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
          << "isa=" << isa << " threads=" << threads;
    }
  }
}

}  // namespace
}  // namespace herd::kernels
