// Kernel micro-benchmarks (Google Benchmark): matmul for every weight dtype on the
// Llama 3.2-1B shapes, attention, activation quantization and a streaming-read loop,
// each for every ISA this host supports (kernels::supported_isas()).
//
// Names (filter them with --benchmark_filter, a regex; a leading '-' negates):
//   matmul/ISA/DTYPE/LAYOUT/NxK/T:T/pool:P     LAYOUT file | r8 (tensor/repack_r8.h) |
//                                               r16 (tensor/repack_r16.h), each only
//                                               where the ISA repacks the dtype to it;
//                                               ISA ref only at T <= 64
//   matmul_t/ISA/DTYPE/LAYOUT/NxK/T:512/pool:P  the transposed product dY . W (training)
//   train/ISA/DTYPE/NxK/T:256/pool:P/DIR_PROD   training's products: DIR fwd (x . W^T) or
//                                               bwd (dY . W), PROD f32 (exact_f32) or bf16
//                                               (bf16_products; ISAs with gemm_bf16_pairs)
//   attention/ISA/T:T/n_past:P/pool:P           H 32, KV 8, hd 64
//   quantize_q8/ISA/T:T/K:K                     one thread, the table's quantize_q8
//   stream_read/pool:P                          the bandwidth the decode shares refer to
//
// Counters (rates per wall-clock second, 10^9 units):
//   GFLOP  2 N K T per matmul (attention: 4 hd per (query head, visible key))
//   GB     bytes of weights (attention: K and V cache; quantize_q8: f32 input) per call
//   bw%    decode (T = 1) only: GB/s as a share of the stream_read bandwidth at the same
//          pool size, measured once per process (best of 5 passes) on first use
// The label names the matmul path taken: q8, q8_r8, f32_r8, bf16 or f32 (kernels/ops.h).
//
// Weights are random values through herd's reference quantizers (tensor/quant.h),
// made once per (dtype, shape) and shared by every ISA, T, pool and layout that uses
// them (benchmarks are registered in that order). To keep decode honest about memory,
// each iteration reads a different copy of the weights: enough copies to exceed
// kColdBytes, far above the 32 MiB L3 of the project's hosts, so a T = 1 matmul
// streams its weights from DRAM as it does in a model, where the other layers' weights
// pass through the caches in between. Timing does not depend on the values, so the
// copies repeat kDistinctRows quantized rows.
//
// Run with bench/kernels_bench.sh (docs/kernels.md, "Micro-benchmarks").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/result.h"
#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/repack_r16.h"
#include "tensor/repack_r8.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {
namespace {

using Clock = std::chrono::steady_clock;

// Working set a benchmark cycles through per iteration (weights, KV cache).
constexpr int64_t kColdBytes = int64_t{256} << 20;
// Distinct random rows per weight matrix (the rest repeat them).
constexpr int64_t kDistinctRows = 256;
// The streaming-read buffer: 8x the L3.
constexpr int64_t kStreamBytes = int64_t{256} << 20;

// Llama 3.2-1B: d_model 2048, d_ff 8192, vocab 128256; 32 heads, 8 KV heads, hd 64.
struct MatmulShape {
  int64_t N, K;
  bool output;  // the LM head: decode only, no F32 (it would be 1 GB)
};
constexpr MatmulShape kShapes[] = {
    {2048, 2048, false},    // wq, wo (wk/wv are 512 x 2048)
    {8192, 2048, false},    // w_gate, w_up
    {2048, 8192, false},    // w_down
    {128256, 2048, true},   // output
};
constexpr DType kDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                             DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kF8_E4M3};
// 128: the feed-forward's token chunk (model/feed_forward.h), the T most prefill FLOPs run at.
constexpr int64_t kTokens[] = {1, 64, 128, 512};
constexpr int64_t kHeads = 32, kKvHeads = 8, kHeadDim = 64;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<uint8_t[], FreeDeleter>;

// 64-byte aligned, zero-filled (every page faulted in before timing).
Bytes alloc_bytes(int64_t n) {
  const size_t size = static_cast<size_t>((n + 63) / 64 * 64);
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, size));
  HERD_CHECK(p != nullptr, "out of memory allocating %zu bytes for a benchmark fixture", size);
  std::memset(p, 0, size);
  return Bytes(p);
}

int64_t copies_for(int64_t bytes) { return std::max<int64_t>(1, (kColdBytes + bytes - 1) / bytes); }

// `copies` matrices [N, K] of one dtype in the file layout, and in the repacked
// layout (r8 or r16) the table uses for it.
struct WeightSet {
  DType dtype = DType::kF32;
  int64_t N = 0, K = 0;
  int64_t copies = 0;
  int64_t file_bytes = 0;  // one matrix, file layout
  int64_t packed_bytes = 0;  // one matrix, repacked (0 until made)
  int interleave = 1;        // of `packed`: 8 (r8) or 16 (r16)
  Bytes file;                // [copies][file_bytes]
  Bytes packed;              // [copies][packed_bytes]

  std::vector<TensorView> views(bool repacked) const {
    std::vector<TensorView> v;
    for (int64_t c = 0; c < copies; ++c) {
      const uint8_t* base = repacked ? packed.get() + c * packed_bytes : file.get() + c * file_bytes;
      v.push_back(TensorView{dtype, {N, K}, base, repacked ? interleave : 1});
    }
    return v;
  }
};

float uniform(Rng& rng) { return 2.0f * rng.next_float() - 1.0f; }

// The fixtures every benchmark shares. Not thread-safe: benchmarks run one at a
// time on the main thread (their kernels use the pools).
class Fixtures {
 public:
  // Weights of (dtype, N, K), with copies repacked to interleave `il` (8 or 16) if
  // il > 1. One set is kept at a time: asking for another frees the previous one first.
  const WeightSet& weights(DType dt, int64_t N, int64_t K, int il) {
    if (!w_ || w_->dtype != dt || w_->N != N || w_->K != K || (il > 1 && w_->packed && w_->interleave != il)) {
      w_.reset();
      w_ = make_weights(dt, N, K);
    }
    if (il > 1 && !w_->packed) {
      WeightSet& w = *w_;
      w.interleave = il;
      w.packed_bytes = il == 8 ? N / 8 * r8_group_bytes(dt, K) : N / kR16Rows * r16_group_bytes(K);
      w.packed = alloc_bytes(w.copies * w.packed_bytes);
      for (int64_t c = 0; c < w.copies; ++c) {
        const uint8_t* src = w.file.get() + c * w.file_bytes;
        uint8_t* dst = w.packed.get() + c * w.packed_bytes;
        if (il == 8)
          repack_r8(dt, src, N, K, dst);
        else
          repack_r16(dt, src, N, K, dst, dt);
      }
    }
    return *w_;
  }

  // x[T, K], uniform in [-1, 1); kept for the whole run (a few MB).
  const std::vector<float>& activations(int64_t T, int64_t K) {
    std::vector<float>& x = acts_[{T, K}];
    if (x.empty()) {
      Rng rng(7, static_cast<uint64_t>(T * 100003 + K));
      x.resize(static_cast<size_t>(T * K));
      for (float& v : x) v = uniform(rng);
    }
    return x;
  }

  // n floats uniform in [-1, 1), `copies` times back to back, 64-byte aligned. Kept
  // until a buffer with the same seed (the caller's role for it) and another size is
  // asked for, so the benchmark's repeated calls do not refill hundreds of MB.
  const float* random_floats(int64_t n, int64_t copies, uint64_t seed) {
    const auto key = std::make_tuple(seed, n, copies);
    auto it = floats_.find(key);
    if (it != floats_.end()) return reinterpret_cast<const float*>(it->second.get());
    std::erase_if(floats_, [&](const auto& e) { return std::get<0>(e.first) == seed; });
    Bytes b = alloc_bytes(n * copies * 4);
    auto* f = reinterpret_cast<float*>(b.get());
    Rng rng(seed, 0);
    for (int64_t i = 0; i < n; ++i) f[i] = uniform(rng);
    for (int64_t c = 1; c < copies; ++c) std::memcpy(f + c * n, f, static_cast<size_t>(n) * 4);
    return reinterpret_cast<const float*>(floats_.emplace(key, std::move(b)).first->second.get());
  }

  // Streaming-read bandwidth with `pool` (GB/s, best of 5 passes), measured on first use.
  double stream_gbs(ThreadPool& pool) {
    double& bw = stream_gbs_[pool.size()];
    if (bw == 0) {
      for (int p = 0; p < 5; ++p) {
        const auto t0 = Clock::now();
        stream_read(pool);
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        bw = std::max(bw, static_cast<double>(kStreamBytes) / s / 1e9);
      }
    }
    return bw;
  }

  // One pass over the stream buffer: each pool worker sums its contiguous share, with
  // 4 independent accumulators so the loads pipeline (the loop of `herd bench`).
  void stream_read(ThreadPool& pool) {
    if (!stream_) stream_ = alloc_bytes(kStreamBytes);
    const auto* buf = reinterpret_cast<const uint64_t*>(stream_.get());
    const int64_t lines = kStreamBytes / 64;
    sinks_.resize(static_cast<size_t>(pool.size()) * 8);  // one cache line per worker
    pool.parallel_for(
        lines,
        [&](int64_t b, int64_t e, int w) {
          const uint64_t* q = buf + b * 8;
          const uint64_t* end = buf + e * 8;
          uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (; q < end; q += 8) {
            s0 += q[0] ^ q[4];
            s1 += q[1] ^ q[5];
            s2 += q[2] ^ q[6];
            s3 += q[3] ^ q[7];
          }
          sinks_[static_cast<size_t>(w) * 8] += s0 + s1 + s2 + s3;
        },
        1);
    benchmark::DoNotOptimize(sinks_.data());
    benchmark::ClobberMemory();
  }

 private:
  static std::unique_ptr<WeightSet> make_weights(DType dt, int64_t N, int64_t K) {
    auto w = std::make_unique<WeightSet>();
    w->dtype = dt;
    w->N = N;
    w->K = K;
    const int64_t rb = row_bytes(dt, K);
    w->file_bytes = N * rb;
    w->copies = copies_for(w->file_bytes);
    // kDistinctRows random rows through the reference quantizer.
    const int64_t distinct = std::min(N, kDistinctRows);
    std::vector<uint8_t> rows(static_cast<size_t>(distinct * rb));
    std::vector<float> x(static_cast<size_t>(K));
    Rng rng(1, static_cast<uint64_t>(dt));
    for (int64_t r = 0; r < distinct; ++r) {
      for (float& v : x) v = uniform(rng);
      quantize_row_ref(dt, x.data(), rows.data() + r * rb, K);
    }
    w->file = alloc_bytes(w->copies * w->file_bytes);
    for (int64_t c = 0; c < w->copies; ++c)
      for (int64_t r = 0; r < N; ++r)
        std::memcpy(w->file.get() + c * w->file_bytes + r * rb, rows.data() + ((r + 7 * c) % distinct) * rb,
                    static_cast<size_t>(rb));
    return w;
  }

  std::unique_ptr<WeightSet> w_;
  std::map<std::pair<int64_t, int64_t>, std::vector<float>> acts_;
  std::map<std::tuple<uint64_t, int64_t, int64_t>, Bytes> floats_;  // (seed, n, copies)
  std::map<int, double> stream_gbs_;
  Bytes stream_;
  std::vector<uint64_t> sinks_;
};

struct Env {
  Fixtures* fx;
  const KernelTable* table;
  ThreadPool* pool;
};

double elapsed_s(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The layout the table repacks dtype t to at load (8: r8, 16: r16), 0 if none.
int packed_interleave(const KernelTable& table, DType t) {
  return table.repacks(t) ? 8 : table.repacks_r16(t) ? static_cast<int>(kR16Rows) : 0;
}
const char* layout_name(int il) { return il == 1 ? "file" : il == 8 ? "r8" : "r16"; }

void set_rate(benchmark::State& state, const char* name, double per_iteration) {
  state.counters[name] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

void bench_matmul(benchmark::State& state, Env env, DType dt, int64_t N, int64_t K, int64_t T, int il) {
  const std::vector<TensorView> views = env.fx->weights(dt, N, K, il).views(il > 1);
  const std::vector<float>& x = env.fx->activations(T, K);
  std::vector<float> out(static_cast<size_t>(T * N));
  // The scratch LlamaContext preallocates, so the timed loop allocates nothing.
  std::vector<BlockQ8> q8(static_cast<size_t>(T * (K / 32)));
  std::vector<uint16_t> bf16(env.table->tile_bf16_for(dt) != nullptr ? static_cast<size_t>(T * K) : 0);
  const ExecContext ctx{.pool = env.pool,
                        .table = env.table,
                        .q8 = q8.data(),
                        .q8_blocks = static_cast<int64_t>(q8.size()),
                        .bf16 = bf16.data(),
                        .bf16_elems = static_cast<int64_t>(bf16.size())};
  size_t i = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    matmul(ctx, x.data(), T, views[i], out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    if (++i == views.size()) i = 0;
  }
  const double secs = elapsed_s(t0);
  const double bytes = static_cast<double>(views[0].nbytes());
  set_rate(state, "GFLOP", 2.0 * static_cast<double>(N * K * T) / 1e9);
  set_rate(state, "GB", bytes / 1e9);
  if (T == 1 && secs > 0) {
    const double gbs = bytes * static_cast<double>(state.iterations()) / secs / 1e9;
    state.counters["bw%"] = 100.0 * gbs / env.fx->stream_gbs(*env.pool);
  }
  state.SetLabel(matmul_path_name(matmul_path(*env.table, views[0])));
}

// The transposed product dY[T, N] . W[N, K] (backward through a frozen
// weight; kernels/ops.h matmul_t): the same FLOPs as the forward matmul of
// that shape, so its GFLOP/s compare directly.
void bench_matmul_t(benchmark::State& state, Env env, DType dt, int64_t N, int64_t K, int64_t T, int il) {
  const std::vector<TensorView> views = env.fx->weights(dt, N, K, il).views(il > 1);
  const std::vector<float>& dy = env.fx->activations(T, N);
  std::vector<float> out(static_cast<size_t>(T * K));
  const ExecContext ctx{.pool = env.pool, .table = env.table};
  size_t i = 0;
  for (auto _ : state) {
    matmul_t(ctx, dy.data(), T, views[i], out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    if (++i == views.size()) i = 0;
  }
  set_rate(state, "GFLOP", 2.0 * static_cast<double>(N * K * T) / 1e9);
  set_rate(state, "GB", static_cast<double>(views[0].nbytes()) / 1e9);
}

// One of training's products through weight W in the file layout (the exact
// path or the bf16 products, ExecContext::exact_f32 / bf16_products):
// forward out[T, N] = x . W^T, or backward dY[T, N] . W.
void bench_train_product(benchmark::State& state, Env env, DType dt, int64_t N, int64_t K, int64_t T, bool backward,
                         bool bf16) {
  const std::vector<TensorView> views = env.fx->weights(dt, N, K, 1).views(false);
  const std::vector<float>& in = env.fx->activations(T, backward ? N : K);
  std::vector<float> out(static_cast<size_t>(T * (backward ? K : N)));
  ExecContext ctx{.pool = env.pool, .table = env.table};
  ctx.exact_f32 = true;
  ctx.bf16_products = bf16;
  size_t i = 0;
  for (auto _ : state) {
    if (backward)
      matmul_t(ctx, in.data(), T, views[i], out.data());
    else
      matmul(ctx, in.data(), T, views[i], out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    if (++i == views.size()) i = 0;
  }
  set_rate(state, "GFLOP", 2.0 * static_cast<double>(N * K * T) / 1e9);
  set_rate(state, "GB", static_cast<double>(views[0].nbytes()) / 1e9);
}

// The KV cache is f32, f16 or q8_0 (kt == vt == t), its rows the random f32
// rows as kv_store writes them.
void bench_attention(benchmark::State& state, Env env, int64_t T, int64_t n_past, DType t) {
  const int64_t n_keys = n_past + T, kv_dim = kKvHeads * kHeadDim;
  const int64_t cache_elems = n_keys * kv_dim;
  const int64_t cache_bytes = kv_row_bytes(t, cache_elems);
  const int64_t copies = copies_for(2 * cache_bytes);  // cold K and V, as in decode
  const float* kf = env.fx->random_floats(cache_elems, copies, 11);
  const float* vf = env.fx->random_floats(cache_elems, copies, 12);
  std::vector<uint8_t> kc(static_cast<size_t>(cache_bytes * copies)), vc(kc.size());
  const ExecContext ctx{.pool = env.pool, .table = env.table};
  kv_store(ctx, t, kf, kc.data(), cache_elems * copies);
  kv_store(ctx, t, vf, vc.data(), cache_elems * copies);
  const uint8_t* kb = kc.data();
  const uint8_t* vb = vc.data();
  const float* q = env.fx->random_floats(T * kHeads * kHeadDim, 1, 13);
  std::vector<float> out(static_cast<size_t>(T * kHeads * kHeadDim));
  std::vector<std::vector<float>> scratch(
      static_cast<size_t>(env.pool->size()),
      std::vector<float>(static_cast<size_t>(attention_scratch_floats(kHeads / kKvHeads, n_keys, kHeadDim))));
  std::vector<float*> scratch_ptrs;
  for (auto& s : scratch) scratch_ptrs.push_back(s.data());
  int64_t c = 0;
  for (auto _ : state) {
    attention(ctx, q, T, kHeads, kKvHeads, kHeadDim, kb + c * cache_bytes, vb + c * cache_bytes, t, t, n_past,
              scratch_ptrs.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    if (++c == copies) c = 0;
  }
  // Query t sees n_past + t + 1 keys: a dot and an axpy of hd per key and head.
  const double visible = static_cast<double>(T * n_past + T * (T + 1) / 2);
  set_rate(state, "GFLOP", 4.0 * static_cast<double>(kHeads * kHeadDim) * visible / 1e9);
  set_rate(state, "GB", 2.0 * static_cast<double>(cache_bytes) / 1e9);
}

void bench_quantize_q8(benchmark::State& state, Env env, int64_t T, int64_t K) {
  const std::vector<float>& x = env.fx->activations(T, K);
  std::vector<BlockQ8> y(static_cast<size_t>(T * (K / 32)));
  const QuantizeQ8Fn quantize = env.table->quantize_q8;
  for (auto _ : state) {
    for (int64_t t = 0; t < T; ++t) quantize(x.data() + t * K, y.data() + t * (K / 32), K);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, "GB", static_cast<double>(T * K) * 4 / 1e9);
}

void bench_stream_read(benchmark::State& state, Env env) {
  env.fx->stream_read(*env.pool);  // fault the buffer in
  for (auto _ : state) env.fx->stream_read(*env.pool);
  set_rate(state, "GB", static_cast<double>(kStreamBytes) / 1e9);
}

template <typename Fn>
void add(const std::string& name, Fn&& fn) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<Fn>(fn))->UseRealTime()->Unit(benchmark::kMicrosecond);
}

// Registers every benchmark, in the order that lets one weight set serve all the
// benchmarks that use it.
void register_all(Fixtures* fx, const std::map<std::string, KernelTable>& tables,
                  const std::vector<std::string>& isas, const std::vector<std::unique_ptr<ThreadPool>>& pools) {
  for (const auto& p : pools) {
    const Env env{fx, nullptr, p.get()};
    add(str_printf("stream_read/pool:%d", p->size()), [=](benchmark::State& s) { bench_stream_read(s, env); });
  }
  for (const MatmulShape& sh : kShapes) {
    for (DType dt : kDTypes) {
      if (sh.output && dt == DType::kF32) continue;
      for (int64_t T : kTokens) {
        if (sh.output && T != 1) continue;
        for (const std::string& isa : isas) {
          // The scalar specification runs at ~0.5 GFLOP/s: a T = 512 call would take
          // 30 s, and its rate does not depend on T.
          if (isa == "ref" && T > 64) continue;
          const KernelTable* table = &tables.at(isa);
          for (const auto& p : pools) {
            const Env env{fx, table, p.get()};
            for (int il : {1, packed_interleave(*table, dt)}) {
              if (il == 0 || sh.N % il != 0) continue;
              add(str_printf("matmul/%s/%s/%s/%lldx%lld/T:%lld/pool:%d", isa.c_str(), dtype_name(dt), layout_name(il),
                      static_cast<long long>(sh.N), static_cast<long long>(sh.K), static_cast<long long>(T), p->size()),
                  [=, N = sh.N, K = sh.K](benchmark::State& s) { bench_matmul(s, env, dt, N, K, T, il); });
            }
          }
        }
      }
    }
  }
  // matmul_t at a training step's T (512 tokens), the layer shapes, every ISA but ref.
  for (const MatmulShape& sh : kShapes) {
    if (sh.output) continue;
    for (DType dt : kDTypes)
      for (const std::string& isa : isas) {
        if (isa == "ref") continue;
        const KernelTable* table = &tables.at(isa);
        for (const auto& p : pools)
          for (int il : {1, packed_interleave(*table, dt)}) {
            if (il == 0 || sh.N % il != 0) continue;
            const Env env{fx, table, p.get()};
            add(str_printf("matmul_t/%s/%s/%s/%lldx%lld/T:512/pool:%d", isa.c_str(), dtype_name(dt), layout_name(il),
                    static_cast<long long>(sh.N), static_cast<long long>(sh.K), p->size()),
                [=, N = sh.N, K = sh.K](benchmark::State& s) { bench_matmul_t(s, env, dt, N, K, 512, il); });
          }
      }
  }
  // Training's products at a 3.2-1B LoRA step's 256 tokens, exact f32 and bf16.
  for (const MatmulShape& sh : kShapes) {
    if (sh.output) continue;
    for (DType dt : kDTypes)
      for (const std::string& isa : isas) {
        if (isa == "ref") continue;
        const KernelTable* table = &tables.at(isa);
        for (const auto& p : pools)
          for (bool backward : {false, true})
            for (bool bf16 : {false, true}) {
              if (bf16 && table->gemm_bf16_pairs == nullptr) continue;
              const Env env{fx, table, p.get()};
              add(str_printf("train/%s/%s/%lldx%lld/T:256/pool:%d/%s_%s", isa.c_str(), dtype_name(dt),
                      static_cast<long long>(sh.N), static_cast<long long>(sh.K), p->size(), backward ? "bwd" : "fwd",
                      bf16 ? "bf16" : "f32"),
                  [=, N = sh.N, K = sh.K](benchmark::State& s) {
                    bench_train_product(s, env, dt, N, K, 256, backward, bf16);
                  });
            }
      }
  }
  const std::pair<int64_t, int64_t> attn[] = {{512, 0}, {1, 4096}};  // (T, n_past)
  for (auto [T, n_past] : attn)
    for (DType kv : {DType::kF32, DType::kF16, DType::kQ8_0})
      for (const std::string& isa : isas)
        for (const auto& p : pools) {
          const Env env{fx, &tables.at(isa), p.get()};
          add(str_printf("attention/%s/kv:%s/T:%lld/n_past:%lld/pool:%d", isa.c_str(), dtype_name(kv),
                  static_cast<long long>(T), static_cast<long long>(n_past), p->size()),
              [=, T = T, n_past = n_past](benchmark::State& s) { bench_attention(s, env, T, n_past, kv); });
        }
  const std::pair<int64_t, int64_t> quant[] = {{1, 2048}, {1, 8192}, {512, 2048}};  // (T, K)
  for (auto [T, K] : quant)
    for (const std::string& isa : isas) {
      const Env env{fx, &tables.at(isa), pools[0].get()};
      add(str_printf("quantize_q8/%s/T:%lld/K:%lld", isa.c_str(), static_cast<long long>(T), static_cast<long long>(K)),
          [=, T = T, K = K](benchmark::State& s) { bench_quantize_q8(s, env, T, K); });
    }
}

}  // namespace
}  // namespace herd::kernels

int main(int argc, char** argv) {
  using namespace herd;
  using namespace herd::kernels;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  std::vector<std::string> isas = supported_isas();
  std::map<std::string, KernelTable> tables;
  for (const std::string& isa : isas) {
    Result<KernelTable> t = select_kernels(isa);
    HERD_CHECK(t.has_value(), "select_kernels(%s): %s", isa.c_str(), t.error().to_string().c_str());
    tables.emplace(isa, std::move(t.value()));
  }
  // One pool per thread count: 1, and 2 where the host has two hardware threads.
  std::vector<std::unique_ptr<ThreadPool>> pools;
  pools.push_back(std::make_unique<ThreadPool>(1));
  if (std::thread::hardware_concurrency() >= 2) pools.push_back(std::make_unique<ThreadPool>(2));

  std::string isa_list;
  for (const std::string& isa : isas) isa_list += (isa_list.empty() ? "" : ",") + isa;
  benchmark::AddCustomContext("herd_isas", isa_list);

  Fixtures fx;
  register_all(&fx, tables, isas, pools);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
