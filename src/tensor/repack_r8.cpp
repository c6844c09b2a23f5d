// Repacking to and from the r8 layouts (repack_r8.h). One function per format
// moves one unit (block or super-block) of 8 rows in either direction, so the
// packing and its inverse cannot drift apart.
#include "tensor/repack_r8.h"

#include <cstring>

#include "base/check.h"

namespace herd {
namespace {

constexpr int kRows = 8;

// Copies n bytes packed <- row (kPack) or row <- packed.
template <bool kPack>
inline void xfer(uint8_t* packed, uint8_t* row, size_t n) {
  if (kPack)
    std::memcpy(packed, row, n);
  else
    std::memcpy(row, packed, n);
}

// `n_chunks` chunks of 4 bytes per row: row j's bytes 4c..4c+3 <-> packed
// chunk c, lane j.
template <bool kPack>
inline void chunks(uint8_t* packed, uint8_t* const* rows, int row_off, int n_chunks) {
  for (int c = 0; c < n_chunks; ++c)
    for (int j = 0; j < kRows; ++j) xfer<kPack>(packed + (c * kRows + j) * 4, rows[j] + row_off + 4 * c, 4);
}

// A per-row field of n bytes at row_off <-> packed[j * n].
template <bool kPack>
inline void fields(uint8_t* packed, uint8_t* const* rows, int row_off, int n) {
  for (int j = 0; j < kRows; ++j) xfer<kPack>(packed + j * n, rows[j] + row_off, static_cast<size_t>(n));
}

template <bool kPack>
void unit_q4_0(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 0, 2);
  chunks<kPack>(p + 16, rows, 2, 4);
}

template <bool kPack>
void unit_q4_1(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 0, 2);       // d
  fields<kPack>(p + 16, rows, 2, 2);  // m
  chunks<kPack>(p + 32, rows, 4, 4);
}

template <bool kPack>
void unit_q5_0(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 0, 2);       // d
  fields<kPack>(p + 16, rows, 2, 4);  // qh
  chunks<kPack>(p + 48, rows, 6, 4);
}

template <bool kPack>
void unit_q5_1(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 0, 2);       // d
  fields<kPack>(p + 16, rows, 2, 2);  // m
  fields<kPack>(p + 32, rows, 4, 4);  // qh
  chunks<kPack>(p + 64, rows, 8, 4);
}

template <bool kPack>
void unit_q8_0(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 0, 2);
  chunks<kPack>(p + 16, rows, 2, 8);
}

// Q4_K's 12 scale bytes <-> 8 six-bit scales and 8 six-bit mins
// (tensor/quant_kquants.cpp: get_scale_min_k4 and its inverse).
void decode_scales_q4_k(const uint8_t* sc, uint8_t* s, uint8_t* m) {
  for (int k = 0; k < 8; ++k) {
    if (k < 4) {
      s[k] = sc[k] & 63;
      m[k] = sc[k + 4] & 63;
    } else {
      s[k] = static_cast<uint8_t>((sc[k + 4] & 0x0f) | ((sc[k - 4] >> 6) << 4));
      m[k] = static_cast<uint8_t>((sc[k + 4] >> 4) | ((sc[k] >> 6) << 4));
    }
  }
}

void encode_scales_q4_k(const uint8_t* s, const uint8_t* m, uint8_t* sc) {
  for (int k = 0; k < 4; ++k) {
    sc[k] = static_cast<uint8_t>((s[k] & 63) | ((s[k + 4] >> 4) << 6));
    sc[k + 4] = static_cast<uint8_t>((m[k] & 63) | ((m[k + 4] >> 4) << 6));
    sc[k + 8] = static_cast<uint8_t>((s[k + 4] & 0x0f) | ((m[k + 4] & 0x0f) << 4));
  }
}

// Q4_K / Q5_K: d, dmin and the 8 decoded scale/min pairs of each row.
template <bool kPack>
void k_scales(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 0, 2);       // d
  fields<kPack>(p + 16, rows, 2, 2);  // dmin
  uint8_t* scales = p + 32;           // [8 sub][8 rows]
  uint8_t* mins = p + 96;
  for (int j = 0; j < kRows; ++j) {
    uint8_t s[8], m[8];
    if (kPack) decode_scales_q4_k(rows[j] + 4, s, m);
    for (int k = 0; k < 8; ++k) {
      if (kPack) {
        scales[k * kRows + j] = s[k];
        mins[k * kRows + j] = m[k];
      } else {
        s[k] = scales[k * kRows + j];
        m[k] = mins[k * kRows + j];
      }
    }
    if (!kPack) encode_scales_q4_k(s, m, rows[j] + 4);
  }
}

template <bool kPack>
void unit_q4_k(uint8_t* p, uint8_t* const* rows) {
  k_scales<kPack>(p, rows);
  chunks<kPack>(p + 160, rows, 16, 32);
}

template <bool kPack>
void unit_q5_k(uint8_t* p, uint8_t* const* rows) {
  k_scales<kPack>(p, rows);
  chunks<kPack>(p + 160, rows, 48, 32);   // qs
  chunks<kPack>(p + 1184, rows, 16, 8);   // qh
}

template <bool kPack>
void unit_q6_k(uint8_t* p, uint8_t* const* rows) {
  fields<kPack>(p, rows, 208, 2);  // d
  uint8_t* scales = p + 16;        // [16 sub][8 rows]
  for (int j = 0; j < kRows; ++j)
    for (int k = 0; k < 16; ++k) xfer<kPack>(scales + k * kRows + j, rows[j] + 192 + k, 1);
  chunks<kPack>(p + 144, rows, 0, 32);         // ql
  chunks<kPack>(p + 144 + 1024, rows, 128, 16);  // qh
}

// F16 / BF16: element k of the 8 rows side by side (16 bytes), so one
// 8-lane conversion gives the 8 rows' element k; a unit is 8 elements.
template <bool kPack>
void unit_16bit(uint8_t* p, uint8_t* const* rows) {
  for (int k = 0; k < 8; ++k) fields<kPack>(p + 16 * k, rows, 2 * k, 2);
}

struct Format {
  int64_t unit_elems;
  int64_t unit_bytes;  // one unit of 8 rows, packed
  void (*pack)(uint8_t*, uint8_t* const*);
  void (*unpack)(uint8_t*, uint8_t* const*);
};

const Format* format_of(DType t) {
  static const Format q4_0{32, 144, unit_q4_0<true>, unit_q4_0<false>};
  static const Format q4_1{32, 160, unit_q4_1<true>, unit_q4_1<false>};
  static const Format q5_0{32, 176, unit_q5_0<true>, unit_q5_0<false>};
  static const Format q5_1{32, 192, unit_q5_1<true>, unit_q5_1<false>};
  static const Format q8_0{32, 272, unit_q8_0<true>, unit_q8_0<false>};
  static const Format q4_k{256, 1184, unit_q4_k<true>, unit_q4_k<false>};
  static const Format q5_k{256, 1440, unit_q5_k<true>, unit_q5_k<false>};
  static const Format q6_k{256, 1680, unit_q6_k<true>, unit_q6_k<false>};
  static const Format f16{8, 128, unit_16bit<true>, unit_16bit<false>};  // BF16 too
  switch (t) {
    case DType::kQ4_0: return &q4_0;
    case DType::kQ4_1: return &q4_1;
    case DType::kQ5_0: return &q5_0;
    case DType::kQ5_1: return &q5_1;
    case DType::kQ8_0: return &q8_0;
    case DType::kQ4_K: return &q4_k;
    case DType::kQ5_K: return &q5_k;
    case DType::kQ6_K: return &q6_k;
    case DType::kF16:
    case DType::kBF16: return &f16;
    default: return nullptr;
  }
}

}  // namespace

bool has_r8_layout(DType t) { return format_of(t) != nullptr; }

int64_t r8_group_bytes(DType t, int64_t K) {
  const Format* f = format_of(t);
  HERD_CHECK(f != nullptr && K % f->unit_elems == 0, "no r8 layout for %s with K=%lld", dtype_name(t),
             static_cast<long long>(K));
  return K / f->unit_elems * f->unit_bytes;
}

void repack_r8(DType t, const uint8_t* src, int64_t rows, int64_t K, uint8_t* dst) {
  const Format* f = format_of(t);
  HERD_CHECK(f != nullptr && rows % kRows == 0, "repack_r8: %s with %lld rows", dtype_name(t),
             static_cast<long long>(rows));
  const int64_t rb = row_bytes(t, K), units = K / f->unit_elems, ub = rb / units;
  // The unit functions read rows through non-const pointers (one signature for
  // both directions); packing never writes them.
  for (int64_t g = 0; g < rows / kRows; ++g) {
    uint8_t* out = dst + g * r8_group_bytes(t, K);
    for (int64_t u = 0; u < units; ++u) {
      uint8_t* r[kRows];
      for (int j = 0; j < kRows; ++j) r[j] = const_cast<uint8_t*>(src + (g * kRows + j) * rb + u * ub);
      f->pack(out + u * f->unit_bytes, r);
    }
  }
}

void unpack_row_r8(DType t, const uint8_t* group, int64_t K, int j, uint8_t* dst) {
  const Format* f = format_of(t);
  HERD_CHECK(f != nullptr && j >= 0 && j < kRows, "unpack_row_r8: %s row %d", dtype_name(t), j);
  const int64_t units = K / f->unit_elems, ub = row_bytes(t, K) / units;
  // On the stack: this runs per token for a tied, repacked embedding table.
  uint8_t rows[kRows * 256];  // one unit of each row: at most 210 bytes (Q6_K)
  uint8_t unit[2048];         // one packed unit: at most 1680 bytes (Q6_K)
  HERD_CHECK(ub <= 256 && f->unit_bytes <= 2048, "unpack_row_r8: unit too large");
  for (int64_t u = 0; u < units; ++u) {
    std::memcpy(unit, group + u * f->unit_bytes, static_cast<size_t>(f->unit_bytes));  // unpack modifies it
    uint8_t* r[kRows];
    for (int i = 0; i < kRows; ++i) r[i] = rows + i * ub;
    f->unpack(unit, r);
    std::memcpy(dst + u * ub, r[j], static_cast<size_t>(ub));
  }
}

}  // namespace herd
