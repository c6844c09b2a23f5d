// AVX2 forms of AdamW's f32 update and its 8-bit block (adamw.h has the
// scalar specification; these run the same IEEE operations lane by lane, so
// they equal it bit for bit): 8 elements at a time, the maps (decoding) and
// the code cuts (coding, adamw.h MomentCodeCuts) read with gathers. A block's
// tail (under 8 elements) runs the reference's loop, the same operations one
// lane at a time.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/adamw.h"
#include "kernels/kernel_table.h"

// Every multiply and add stays its own rounding, as in the reference: the
// file is built with -mfma, and GCC contracts a * b + c into an FMA in C++
// unless told not to.
#pragma GCC optimize("fp-contract=off")

namespace herd::kernels::avx2 {
namespace {

struct Consts8 {
  __m256 decay, b1, one_b1, b2, one_b2, neg_step, bc2_sqrt, eps;
  explicit Consts8(const AdamWConsts& c)
      : decay(_mm256_set1_ps(c.decay)), b1(_mm256_set1_ps(c.b1)), one_b1(_mm256_set1_ps(c.one_b1)),
        b2(_mm256_set1_ps(c.b2)), one_b2(_mm256_set1_ps(c.one_b2)), neg_step(_mm256_set1_ps(-c.step_size)),
        bc2_sqrt(_mm256_set1_ps(c.bc2_sqrt)), eps(_mm256_set1_ps(c.eps)) {}
};

// adamw_f32_ref's body on 8 lanes (same operations, same order).
inline void update8(const Consts8& c, float* p, const float* g, __m256& m, __m256& v) {
  const __m256 gv = _mm256_loadu_ps(g);
  __m256 pv = _mm256_mul_ps(_mm256_loadu_ps(p), c.decay);
  m = _mm256_add_ps(_mm256_mul_ps(m, c.b1), _mm256_mul_ps(c.one_b1, gv));
  v = _mm256_add_ps(_mm256_mul_ps(v, c.b2), _mm256_mul_ps(_mm256_mul_ps(c.one_b2, gv), gv));
  const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), c.bc2_sqrt), c.eps);
  pv = _mm256_add_ps(pv, _mm256_mul_ps(c.neg_step, _mm256_div_ps(m, denom)));
  _mm256_storeu_ps(p, pv);
}

void adamw_f32(const AdamWConsts& c, float* p, const float* g, float* m, float* v, int64_t n) {
  const Consts8 k(c);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 mv = _mm256_loadu_ps(m + j), vv = _mm256_loadu_ps(v + j);
    update8(k, p + j, g + j, mv, vv);
    _mm256_storeu_ps(m + j, mv);
    _mm256_storeu_ps(v + j, vv);
  }
  adamw_f32_ref(c, p + j, g + j, m + j, v + j, n - j);
}

// quantize_moment_block_ref on 8 lanes: the codes of s = min(1, max(-1, x * r))
// by the key's first code and its two cuts (adamw.h MomentCodeCuts).
inline __m256i code8(__m256 x, __m256 r, const MomentCodeCuts& t) {
  const __m256 s = _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_set1_ps(-1.0f), _mm256_mul_ps(x, r)));
  const __m256i bits = _mm256_castps_si256(s);
  const __m256i flip = _mm256_or_si256(_mm256_srai_epi32(bits, 31), _mm256_set1_epi32(static_cast<int>(0x80000000u)));
  const __m256i order = _mm256_xor_si256(bits, flip);  // moment_order
  const __m256i key = _mm256_srli_epi32(order, 16), low = _mm256_and_si256(order, _mm256_set1_epi32(0xffff));
  const __m256i first = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(t.first.data()), key, 1),
                                         _mm256_set1_epi32(0xff));
  const __m256i cuts = _mm256_i32gather_epi32(reinterpret_cast<const int*>(t.cuts.data()), key, 4);
  const __m256i step0 = _mm256_cmpgt_epi32(low, _mm256_and_si256(cuts, _mm256_set1_epi32(0xffff)));
  const __m256i step1 = _mm256_cmpgt_epi32(low, _mm256_srli_epi32(cuts, 16));
  return _mm256_sub_epi32(_mm256_sub_epi32(first, step0), step1);  // a step is -1
}

float quantize_block(const float* x, int64_t n, bool is_signed, uint8_t* codes) {
  __m256 mx = _mm256_setzero_ps();
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float amax = 0.0f;
  for (float l : lanes) amax = std::max(amax, l);
  for (; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) return quantize_moment_block_ref(x, n, is_signed, codes);  // the map's 0 everywhere
  const MomentCodeCuts& cuts = moment_code_cuts(is_signed);
  const __m256 r = _mm256_set1_ps(1.0f / amax);
  alignas(32) int32_t q[8];
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), code8(_mm256_loadu_ps(x + j), r, cuts));
    for (int k = 0; k < 8; ++k) codes[j + k] = static_cast<uint8_t>(q[k]);
  }
  if (j < n) {  // the tail through the same lanes, padded with zeros
    alignas(32) float t[8] = {};
    std::copy(x + j, x + n, t);
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), code8(_mm256_load_ps(t), r, cuts));
    for (int64_t k = 0; k < n - j; ++k) codes[j + k] = static_cast<uint8_t>(q[k]);
  }
  return amax;
}

void adamw_8bit_block(const AdamWConsts& c, float* p, const float* g, uint8_t* qm, float* am, uint8_t* qv, float* av,
                      int64_t n) {
  const float* smap = dynamic_map(true).data();
  const float* umap = dynamic_map(false).data();
  const Consts8 k(c);
  alignas(32) float m[kMomentBlock], v[kMomentBlock];
  const __m256 ams = _mm256_set1_ps(*am), avs = _mm256_set1_ps(*av);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m128i cm = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qm + j));
    const __m128i cv = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qv + j));
    __m256 mv = _mm256_mul_ps(_mm256_i32gather_ps(smap, _mm256_cvtepu8_epi32(cm), 4), ams);
    __m256 vv = _mm256_mul_ps(_mm256_i32gather_ps(umap, _mm256_cvtepu8_epi32(cv), 4), avs);
    update8(k, p + j, g + j, mv, vv);
    _mm256_store_ps(m + j, mv);
    _mm256_store_ps(v + j, vv);
  }
  for (int64_t t = j; t < n; ++t) {
    m[t] = smap[qm[t]] * *am;
    v[t] = umap[qv[t]] * *av;
  }
  adamw_f32_ref(c, p + j, g + j, m + j, v + j, n - j);
  *am = quantize_block(m, n, true, qm);
  *av = quantize_block(v, n, false, qv);
}

}  // namespace

void fill_table_adamw(KernelTable* t) {
  t->adamw_f32 = adamw_f32;
  t->adamw_8bit_block = adamw_8bit_block;
}

}  // namespace herd::kernels::avx2
