/*
 * rope_simd_avx2.h: the AVX2 + FMA + F16C level (x86-64 since 2013-2015): 256-bit vectors,
 * fused multiply-adds, float16 and bfloat16 converted eight at a time. See rope_simd.h for the
 * vocabulary.
 */
#include "rope_simd.h"

#include <immintrin.h>

#define ROPE_LEVEL_NAME "avx2"
#define ROPE_LEVEL_TABLE rope_kernels_avx2
#define ROPE_FUSED 1
/* 16 registers: the rows' own vectors need most of them. */
#define ROPE_HELD_VECTORS 0
#define ROPE_MASKED 0

typedef __m256 rope_v_f32;
typedef __m256d rope_v_f64;
#define ROPE_LANES_f32 8
#define ROPE_LANES_f64 4

ROPE_INLINE __m256 rope_load_table_f32(const float *t, ptrdiff_t n)
{
    float packed[8] = {0};
    return n == 8 ? _mm256_loadu_ps(t) : _mm256_loadu_ps(memcpy(packed, t, (size_t)n * 4));
}
ROPE_INLINE __m256d rope_load_table_f64(const double *t, ptrdiff_t n)
{
    double packed[4] = {0};
    return n == 4 ? _mm256_loadu_pd(t) : _mm256_loadu_pd(memcpy(packed, t, (size_t)n * 8));
}
ROPE_INLINE __m256 rope_mul_f32(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
ROPE_INLINE __m256d rope_mul_f64(__m256d a, __m256d b) { return _mm256_mul_pd(a, b); }
ROPE_INLINE __m256 rope_mul_add_f32(__m256 a, __m256 b, __m256 c)
{
    return _mm256_fmadd_ps(a, b, c);
}
ROPE_INLINE __m256 rope_mul_sub_f32(__m256 a, __m256 b, __m256 c)
{
    return _mm256_fmsub_ps(a, b, c);
}
ROPE_INLINE __m256d rope_mul_add_f64(__m256d a, __m256d b, __m256d c)
{
    return _mm256_fmadd_pd(a, b, c);
}
ROPE_INLINE __m256d rope_mul_sub_f64(__m256d a, __m256d b, __m256d c)
{
    return _mm256_fmsub_pd(a, b, c);
}
ROPE_INLINE double rope_two_prod_lo(double a, double b, double hi) { return fma(a, b, -hi); }

/* ---- f16 and bf16: 16-bit data, float32 compute (8 lanes) ----
 * Moved as eight 16-bit elements in 128 bits (rope_halves), converted by F16C (float16) or by
 * a shift up and the integer rounding of rope_float_to_bfloat16 (bfloat16). */
typedef __m128i rope_halves;
ROPE_INLINE __m256 rope_widen_f16(__m128i h) { return _mm256_cvtph_ps(h); }
ROPE_INLINE __m128i rope_narrow_f16(__m256 v)
{
    return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
}
ROPE_INLINE __m256 rope_widen_bf16(__m128i h)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
ROPE_INLINE __m128i rope_narrow_bf16(__m256 v)
{
    const __m256i bits = _mm256_castps_si256(v), high = _mm256_srli_epi32(bits, 16);
    const __m256i bias = _mm256_add_epi32(_mm256_and_si256(high, _mm256_set1_epi32(1)),
                                          _mm256_set1_epi32(ROPE_BF16_BIAS));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, bias), 16);
    const __m256i quiet = _mm256_or_si256(high, _mm256_set1_epi32(ROPE_BF16_QUIET));
    const __m256i h = _mm256_blendv_epi8(rounded, quiet,
                                         _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    /* each lane below 2^16: the unsigned saturation of packus leaves it as it is */
    return _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

ROPE_INLINE __m128i rope_load_halves(const uint16_t *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}
ROPE_INLINE void rope_store_halves(uint16_t *p, __m128i h) { _mm_storeu_si128((__m128i *)p, h); }
/* 8 pairs of 16-bit elements: each 128-bit lane's first members to its low 64 bits and second
 * ones to its high 64 bits, then the four 64-bit quarters reordered (a0-3 a4-7 b0-3 b4-7). */
ROPE_INLINE void rope_load_pairs_halves(const uint16_t *p, __m128i *a, __m128i *b)
{
    const __m256i apart_in_lanes = _mm256_setr_epi8(
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p), apart_in_lanes);
    const __m256i apart = _mm256_permute4x64_epi64(v, 0xD8);
    *a = _mm256_castsi256_si128(apart);
    *b = _mm256_extracti128_si256(apart, 1);
}
ROPE_INLINE void rope_store_pairs_halves(uint16_t *p, __m128i a, __m128i b)
{
    _mm_storeu_si128((__m128i *)p, _mm_unpacklo_epi16(a, b));
    _mm_storeu_si128((__m128i *)p + 1, _mm_unpackhi_epi16(a, b));
}

#define ROPE_X f16
#include "rope_simd_halves.inc.h"
#undef ROPE_X
#define ROPE_X bf16
#include "rope_simd_halves.inc.h"
#undef ROPE_X

/* ---- f32: float32 data and compute (8 lanes) ---- */
ROPE_INLINE __m256 rope_load_full_f32(const float *p) { return _mm256_loadu_ps(p); }
ROPE_INLINE void rope_store_full_f32(float *p, __m256 v) { _mm256_storeu_ps(p, v); }
/* Even and odd elements of each 128-bit lane of the two vectors, then the 64-bit quarters
 * reordered. */
ROPE_INLINE void rope_load_pairs_full_f32(const float *p, __m256 *a, __m256 *b)
{
    const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
    *a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0x88)),
                                                0xD8));
    *b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0xDD)),
                                                0xD8));
}
ROPE_INLINE void rope_store_pairs_full_f32(float *p, __m256 a, __m256 b)
{
    const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

/* ---- f32_f64: float32 data, float64 compute (4 lanes) ---- */
ROPE_INLINE __m256d rope_load_full_f32_f64(const float *p)
{
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
}
ROPE_INLINE void rope_store_full_f32_f64(float *p, __m256d v)
{
    _mm_storeu_ps(p, _mm256_cvtpd_ps(v));
}
ROPE_INLINE void rope_load_pairs_full_f32_f64(const float *p, __m256d *a, __m256d *b)
{
    const __m256 apart = _mm256_permutevar8x32_ps(_mm256_loadu_ps(p),
                                                  _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    *a = _mm256_cvtps_pd(_mm256_castps256_ps128(apart));
    *b = _mm256_cvtps_pd(_mm256_extractf128_ps(apart, 1));
}
ROPE_INLINE void rope_store_pairs_full_f32_f64(float *p, __m256d a, __m256d b)
{
    const __m128 fa = _mm256_cvtpd_ps(a), fb = _mm256_cvtpd_ps(b);
    _mm_storeu_ps(p, _mm_unpacklo_ps(fa, fb));
    _mm_storeu_ps(p + 4, _mm_unpackhi_ps(fa, fb));
}

/* ---- f64: float64 data and compute (4 lanes) ---- */
ROPE_INLINE __m256d rope_load_full_f64(const double *p) { return _mm256_loadu_pd(p); }
ROPE_INLINE void rope_store_full_f64(double *p, __m256d v) { _mm256_storeu_pd(p, v); }
ROPE_INLINE void rope_load_pairs_full_f64(const double *p, __m256d *a, __m256d *b)
{
    const __m256d v0 = _mm256_loadu_pd(p), v1 = _mm256_loadu_pd(p + 4);
    *a = _mm256_permute4x64_pd(_mm256_unpacklo_pd(v0, v1), 0xD8);
    *b = _mm256_permute4x64_pd(_mm256_unpackhi_pd(v0, v1), 0xD8);
}
ROPE_INLINE void rope_store_pairs_full_f64(double *p, __m256d a, __m256d b)
{
    const __m256d qa = _mm256_permute4x64_pd(a, 0xD8), qb = _mm256_permute4x64_pd(b, 0xD8);
    _mm256_storeu_pd(p, _mm256_unpacklo_pd(qa, qb));
    _mm256_storeu_pd(p + 4, _mm256_unpackhi_pd(qa, qb));
}

#define ROPE_TEMPLATE "rope_simd_buffered.inc.h"
#include "rope_each_dtype.inc.h"
