/*
 * rope_simd_avx2.h: the AVX2 + FMA + F16C level (x86-64 since 2013-2015): 256-bit vectors,
 * fused multiply-adds, float16 converted eight at a time. See rope_simd.h for the vocabulary.
 */
#include "rope_simd.h"

#include <immintrin.h>

#define ROPE_LEVEL_NAME "avx2"
#define ROPE_LEVEL_TABLE rope_kernels_avx2
#define ROPE_FUSED 1
/* 16 registers: the rows' own vectors need most of them. */
#define ROPE_HELD_VECTORS 0

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

/* ---- f16: float16 data, float32 compute (8 lanes) ---- */
ROPE_INLINE __m256 rope_load_full_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
ROPE_INLINE void rope_store_full_f16(uint16_t *p, __m256 v)
{
    _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
/* 8 pairs of halves: each 128-bit lane's first members to its low 64 bits and second ones to
 * its high 64 bits, then the four 64-bit quarters reordered (a0-3 a4-7 b0-3 b4-7). */
ROPE_INLINE void rope_load_pairs_full_f16(const uint16_t *p, __m256 *a, __m256 *b)
{
    const __m256i apart_in_lanes = _mm256_setr_epi8(
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p), apart_in_lanes);
    const __m256i apart = _mm256_permute4x64_epi64(v, 0xD8);
    *a = _mm256_cvtph_ps(_mm256_castsi256_si128(apart));
    *b = _mm256_cvtph_ps(_mm256_extracti128_si256(apart, 1));
}
ROPE_INLINE void rope_store_pairs_full_f16(uint16_t *p, __m256 a, __m256 b)
{
    const __m128i ha = _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT);
    const __m128i hb = _mm256_cvtps_ph(b, _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128((__m128i *)p, _mm_unpacklo_epi16(ha, hb));
    _mm_storeu_si128((__m128i *)p + 1, _mm_unpackhi_epi16(ha, hb));
}

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
