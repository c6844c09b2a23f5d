// repack_matrix (see repack_matrix.h).
#include "model/repack_matrix.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tensor/repack_r16.h"
#include "tensor/repack_r8.h"

namespace herd::model {
namespace {

// Drops the whole pages inside [p, p + n) from this process.
void release_pages(const uint8_t* p, int64_t n) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(n)) & ~(page - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

// Asks for transparent huge pages over the whole 2 MiB pages inside [p, p + n),
// before anything is written there, so the first writes fault huge pages in.
// A decode step streams every weight once; with 4 KiB pages that is a TLB miss
// (and a page walk) every 64 cache lines. HERD_HUGEPAGES=0 turns it off.
void advise_huge_pages(uint8_t* p, int64_t n) {
  static const bool off = [] {
    const char* e = std::getenv("HERD_HUGEPAGES");
    return e != nullptr && std::strcmp(e, "0") == 0;
  }();
  if (off) return;
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(n)) & ~(kHuge - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
}

// F16/BF16/FP8 weights on the bf16 path keep the file's layout (the tile reads it
// as stored), but not the file's pages: a file mapping has 4 KiB pages, and a
// decode step streaming 2.5 GB through them misses the TLB every 4 KiB. The
// bytes are copied unchanged into memory advised for huge pages, in 16 MiB
// slices whose file pages are released at once (peak RSS: the file plus one
// slice). Measured on 1B F16, tg64, 2 threads (Zen 4): 13.1 -> 15.4 and up to
// 17-18.5 tokens/s against the file mapping; kernels_bench's T:1 streams
// (anonymous memory) read 46-52 GB/s against the model's 33 GB/s before.
}  // namespace

void copy_to_huge_pages(TensorView* t, ThreadPool& pool, PackedBuffers* owned) {
  const int64_t bytes = row_bytes(t->dtype, t->cols()) * t->rows();
  std::unique_ptr<uint8_t[]> buf(new uint8_t[static_cast<size_t>(bytes)]);  // not zeroed: no page touched yet
  advise_huge_pages(buf.get(), bytes);
  const int64_t slice = int64_t{16} << 20;
  for (int64_t s0 = 0; s0 < bytes; s0 += slice) {
    const int64_t n = std::min(slice, bytes - s0);
    pool.parallel_for(n, [&](int64_t b0, int64_t b1, int) {
      std::memcpy(buf.get() + s0 + b0, t->data + s0 + b0, static_cast<size_t>(b1 - b0));
    }, int64_t{1} << 20);
    release_pages(t->data + s0, n);
  }
  t->data = buf.get();
  owned->push_back(std::move(buf));
}

namespace {

// t in groups of `il` rows, each group gb bytes, rearranged by fn(src, rows,
// dst) from the file's rows.
template <class Fn>
void repack_groups(TensorView* t, ThreadPool& pool, int il, int64_t gb, PackedBuffers* owned, Fn&& fn) {
  const int64_t groups = t->rows() / il, rb = row_bytes(t->dtype, t->cols());
  std::unique_ptr<uint8_t[]> buf(new uint8_t[static_cast<size_t>(groups * gb)]);  // not zeroed: no page touched yet
  advise_huge_pages(buf.get(), groups * gb);
  uint8_t* dst = buf.get();
  const uint8_t* src = t->data;
  // In slices of about 16 MiB, each slice's source pages released as soon
  // as it is copied: the transient is one slice, not one tensor (a tied
  // 128256-row output table is 200+ MB). Every format's tensors are views
  // of a read-only MAP_PRIVATE file mapping (base/mapped_file.cpp), never
  // written, so dropping their pages loses nothing.
  const int64_t slice = std::max<int64_t>(1, (int64_t{16} << 20) / (il * rb));
  for (int64_t s0 = 0; s0 < groups; s0 += slice) {
    const int64_t s1 = std::min(groups, s0 + slice);
    pool.parallel_for(s1 - s0, [&](int64_t g0, int64_t g1, int) {
      fn(src + (s0 + g0) * il * rb, (g1 - g0) * il, dst + (s0 + g0) * gb);
    });
    release_pages(src + s0 * il * rb, (s1 - s0) * il * rb);
  }
  t->data = dst;
  t->interleave = il;
  owned->push_back(std::move(buf));
}

}  // namespace

bool repack_disabled() {
  const char* e = std::getenv("HERD_REPACK");
  return e != nullptr && std::strcmp(e, "0") == 0;
}

bool repack_matrix(TensorView* t, const kernels::KernelTable& table, ThreadPool& pool, bool keep_bits,
                   PackedBuffers* owned, bool f32_to_bf16) {
  if (t->interleave != 1) return false;
  const DType dt = t->dtype;
  const int64_t K = t->cols();
  if (f32_to_bf16 && dt == DType::kF32 && t->row_scale == nullptr && table.repacks_r16(DType::kBF16) &&
      t->rows() % kR16Rows == 0 && K % 2 == 0) {
    repack_groups(t, pool, kR16Rows, r16_group_bytes(K), owned, [&](const uint8_t* src, int64_t rows, uint8_t* dst) {
      repack_r16(dt, src, rows, K, dst, DType::kBF16);
    });
    t->dtype = DType::kBF16;
    return true;
  }
  if (table.repacks_r16(dt) && t->rows() % kR16Rows == 0 && K % 2 == 0) {
    // F16 becomes BF16 here, the rounding the bf16 path applies to every F16
    // operand anyway: the same products, without converting each block again
    // in every prefill (kernels_bench f16 8192 x 2048, T 128, 2 threads:
    // ~600 GFLOP/s staged against BF16's ~700-745).
    const DType to = dt == DType::kF16 && !keep_bits && table.repacks_r16(DType::kBF16) ? DType::kBF16 : dt;
    repack_groups(t, pool, kR16Rows, r16_group_bytes(K), owned,
                  [&](const uint8_t* src, int64_t rows, uint8_t* dst) { repack_r16(dt, src, rows, K, dst, to); });
    t->rounded_from_f16 = to != dt;
    t->dtype = to;
    return true;
  }
  if (table.tile_bf16_for(dt) != nullptr) {
    copy_to_huge_pages(t, pool, owned);
    return true;
  }
  if (!has_r8_layout(dt) || !table.repacks(dt) || t->rows() % 8 != 0 || K % 32 != 0) return false;
  repack_groups(t, pool, 8, r8_group_bytes(dt, K), owned,
                [&](const uint8_t* src, int64_t rows, uint8_t* dst) { repack_r8(dt, src, rows, K, dst); });
  return true;
}

}  // namespace herd::model
