/*
 * rope_simd_avx512.h: the AVX-512 level (F, BW, DQ and VL, with FMA and F16C): 512-bit
 * vectors and masked loads and stores. Masks give the partial
 * vectors and the views of every other element without a buffer: masked-off lanes are neither
 * read nor written, so a view whose last element is its buffer's last, or whose other
 * elements another thread writes, is safe. See rope_simd.h for the vocabulary.
 */
#include "rope_simd.h"

#include <immintrin.h>

#define ROPE_LEVEL_NAME "avx512"
#define ROPE_LEVEL_TABLE rope_kernels_avx512
#define ROPE_FUSED 1
/* 32 registers: up to 8 of cos and 8 of sin, kept across rows that share them. */
#define ROPE_HELD_VECTORS 8
#define ROPE_MASKED 1

typedef __m512 rope_v_f32;
typedef __m512d rope_v_f64;
#define ROPE_LANES_f32 16
#define ROPE_LANES_f64 8

/* The first n lanes; the even lanes among the first 2n (element e of a view at lane 2e); the
 * lanes 4j and 4j + 2 for j < n (pair j of an interleaved view), as one 64-bit mask. */
ROPE_INLINE uint64_t rope_first(ptrdiff_t n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }
ROPE_INLINE uint64_t rope_evens(ptrdiff_t n) { return 0x5555555555555555ull & rope_first(2 * n); }
ROPE_INLINE uint64_t rope_pair_evens(ptrdiff_t n)
{
    return 0x5555555555555555ull & rope_first(4 * n);
}

/* Lane indices for the permutes: APART16 takes the even then the odd 16-bit lanes of 32;
 * TOGETHER16 interleaves the low 16 lanes of two vectors (index 32 + i: lane i of the second);
 * the others likewise for 32-bit lanes. */
static const uint16_t rope_apart16[32] = {0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20,
                                          22, 24, 26, 28, 30, 1,  3,  5,  7,  9,  11,
                                          13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const uint16_t rope_together16[32] = {0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,
                                             37, 6,  38, 7,  39, 8,  40, 9,  41, 10, 42,
                                             11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
/* pair j of a view of every other half (members at 4j and 4j + 2 of 64 lanes): a to lane j,
 * b to lane 16 + j; and back, for the span's first and second 32 lanes */
static const uint16_t rope_pair_evens16[32] = {0,  4,  8,  12, 16, 20, 24, 28, 32, 36, 40,
                                               44, 48, 52, 56, 60, 2,  6,  10, 14, 18, 22,
                                               26, 30, 34, 38, 42, 46, 50, 54, 58, 62};
static const uint16_t rope_pair_evens16_back[2][32] = {
    {0, 0, 32, 0, 1, 0, 33, 0, 2, 0, 34, 0, 3, 0, 35, 0,
     4, 0, 36, 0, 5, 0, 37, 0, 6, 0, 38, 0, 7, 0, 39, 0},
    {8, 0, 40, 0, 9, 0, 41, 0, 10, 0, 42, 0, 11, 0, 43, 0,
     12, 0, 44, 0, 13, 0, 45, 0, 14, 0, 46, 0, 15, 0, 47, 0}};
static const uint32_t rope_evens32[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const uint32_t rope_odds32[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const uint32_t rope_apart32[16] = {0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15};
static const uint32_t rope_together32[2][16] = {
    {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23},
    {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}};
static const uint32_t rope_spread32[2][16] = {
    {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0},
    {8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0}};
static const uint32_t rope_pair_evens32[16] = {0, 4, 8, 12, 16, 20, 24, 28,
                                               2, 6, 10, 14, 18, 22, 26, 30};
static const uint32_t rope_pair_evens32_back[2][16] = {
    {0, 0, 16, 0, 1, 0, 17, 0, 2, 0, 18, 0, 3, 0, 19, 0},
    {4, 0, 20, 0, 5, 0, 21, 0, 6, 0, 22, 0, 7, 0, 23, 0}};
static const uint64_t rope_evens64[8] = {0, 2, 4, 6, 8, 10, 12, 14};
static const uint64_t rope_odds64[8] = {1, 3, 5, 7, 9, 11, 13, 15};
static const uint64_t rope_together64[2][8] = {{0, 8, 1, 9, 2, 10, 3, 11},
                                               {4, 12, 5, 13, 6, 14, 7, 15}};
static const uint64_t rope_spread64[2][8] = {{0, 0, 1, 0, 2, 0, 3, 0}, {4, 0, 5, 0, 6, 0, 7, 0}};
#define ROPE_INDEX(table) _mm512_loadu_si512((const void *)(table))

ROPE_INLINE __m512 rope_load_table_f32(const float *t, ptrdiff_t n)
{
    return n == 16 ? _mm512_loadu_ps(t) : _mm512_maskz_loadu_ps((__mmask16)rope_first(n), t);
}
ROPE_INLINE __m512d rope_load_table_f64(const double *t, ptrdiff_t n)
{
    return n == 8 ? _mm512_loadu_pd(t) : _mm512_maskz_loadu_pd((__mmask8)rope_first(n), t);
}
ROPE_INLINE __m512 rope_mul_f32(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
ROPE_INLINE __m512d rope_mul_f64(__m512d a, __m512d b) { return _mm512_mul_pd(a, b); }
ROPE_INLINE __m512 rope_mul_add_f32(__m512 a, __m512 b, __m512 c)
{
    return _mm512_fmadd_ps(a, b, c);
}
ROPE_INLINE __m512 rope_mul_sub_f32(__m512 a, __m512 b, __m512 c)
{
    return _mm512_fmsub_ps(a, b, c);
}
ROPE_INLINE __m512d rope_mul_add_f64(__m512d a, __m512d b, __m512d c)
{
    return _mm512_fmadd_pd(a, b, c);
}
ROPE_INLINE __m512d rope_mul_sub_f64(__m512d a, __m512d b, __m512d c)
{
    return _mm512_fmsub_pd(a, b, c);
}
ROPE_INLINE double rope_two_prod_lo(double a, double b, double hi) { return fma(a, b, -hi); }

/* ---- f16 and bf16: 16-bit data, float32 compute (16 lanes, from 256 bits) ----
 * Moved as sixteen 16-bit elements in 256 bits (rope_halves), converted by F16C (float16) or
 * by a shift up and the integer rounding of rope_float_to_bfloat16 (bfloat16). */
typedef __m256i rope_halves;
ROPE_INLINE __m512 rope_widen_f16(__m256i h) { return _mm512_cvtph_ps(h); }
ROPE_INLINE __m256i rope_narrow_f16(__m512 v)
{
    return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
}
ROPE_INLINE __m512 rope_widen_bf16(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
ROPE_INLINE __m256i rope_narrow_bf16(__m512 v)
{
    const __m512i bits = _mm512_castps_si512(v), high = _mm512_srli_epi32(bits, 16);
    const __m512i bias = _mm512_add_epi32(_mm512_and_si512(high, _mm512_set1_epi32(1)),
                                          _mm512_set1_epi32(ROPE_BF16_BIAS));
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, bias), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_cvtepi32_epi16(
        _mm512_mask_or_epi32(rounded, nan, high, _mm512_set1_epi32(ROPE_BF16_QUIET)));
}

ROPE_INLINE __m256i rope_load_halves(const uint16_t *p, ptrdiff_t n, int spacing)
{
    if (spacing == 2) {
        const __m512i span = _mm512_maskz_loadu_epi16((__mmask32)rope_evens(n), p);
        return _mm512_castsi512_si256(_mm512_permutexvar_epi16(ROPE_INDEX(rope_apart16), span));
    }
    return n == 16 ? _mm256_loadu_si256((const __m256i *)p)
                   : _mm256_maskz_loadu_epi16((__mmask16)rope_first(n), p);
}
ROPE_INLINE void rope_store_halves(uint16_t *p, __m256i h, ptrdiff_t n, int spacing)
{
    if (spacing == 2) { /* zero-extended: element e to lane 2e */
        _mm512_mask_storeu_epi16(p, (__mmask32)rope_evens(n), _mm512_cvtepu16_epi32(h));
    }
    else if (n == 16) {
        _mm256_storeu_si256((__m256i *)p, h);
    }
    else {
        _mm256_mask_storeu_epi16(p, (__mmask16)rope_first(n), h);
    }
}
ROPE_INLINE void rope_load_pairs_halves(const uint16_t *p, ptrdiff_t n, int spacing, __m256i *a,
                                        __m256i *b)
{
    __m512i apart;
    if (spacing == 2) {
        const uint64_t lanes = rope_pair_evens(n);
        apart = _mm512_permutex2var_epi16(_mm512_maskz_loadu_epi16((__mmask32)lanes, p),
                                          ROPE_INDEX(rope_pair_evens16),
                                          _mm512_maskz_loadu_epi16((__mmask32)(lanes >> 32),
                                                                   p + 32));
    }
    else {
        const __m512i v = n == 16 ? _mm512_loadu_si512((const void *)p)
                                  : _mm512_maskz_loadu_epi16((__mmask32)rope_first(2 * n), p);
        apart = _mm512_permutexvar_epi16(ROPE_INDEX(rope_apart16), v);
    }
    *a = _mm512_castsi512_si256(apart);
    *b = _mm512_extracti64x4_epi64(apart, 1);
}
ROPE_INLINE void rope_store_pairs_halves(uint16_t *p, ptrdiff_t n, int spacing, __m256i a,
                                         __m256i b)
{
    const __m512i ha = _mm512_castsi256_si512(a), hb = _mm512_castsi256_si512(b);
    if (spacing == 2) {
        const uint64_t lanes = rope_pair_evens(n);
        for (int half = 0; half < 2; half++) {
            _mm512_mask_storeu_epi16(
                p + 32 * half, (__mmask32)(lanes >> (32 * half)),
                _mm512_permutex2var_epi16(ha, ROPE_INDEX(rope_pair_evens16_back[half]), hb));
        }
        return;
    }
    const __m512i v = _mm512_permutex2var_epi16(ha, ROPE_INDEX(rope_together16), hb);
    if (n == 16) {
        _mm512_storeu_si512((void *)p, v);
    }
    else {
        _mm512_mask_storeu_epi16(p, (__mmask32)rope_first(2 * n), v);
    }
}

#define ROPE_X f16
#include "rope_simd_halves.inc.h"
#undef ROPE_X
#define ROPE_X bf16
#include "rope_simd_halves.inc.h"
#undef ROPE_X

/* ---- f32_f64: float32 data, float64 compute (8 lanes, from 256 bits of floats) ---- */
ROPE_INLINE __m512d rope_load_f32_f64(const float *p, ptrdiff_t n, int spacing)
{
    if (spacing == 2) {
        const __m512 span = _mm512_maskz_loadu_ps((__mmask16)rope_evens(n), p);
        return _mm512_cvtps_pd(_mm512_castps512_ps256(
            _mm512_permutexvar_ps(ROPE_INDEX(rope_apart32), span)));
    }
    return _mm512_cvtps_pd(n == 8 ? _mm256_loadu_ps(p)
                                  : _mm256_maskz_loadu_ps((__mmask8)rope_first(n), p));
}
ROPE_INLINE void rope_store_f32_f64(float *p, __m512d v, ptrdiff_t n, int spacing)
{
    const __m256 f = _mm512_cvtpd_ps(v);
    if (spacing == 2) { /* zero-extended: element e to lane 2e */
        _mm512_mask_storeu_ps(p, (__mmask16)rope_evens(n),
                              _mm512_castsi512_ps(_mm512_cvtepu32_epi64(_mm256_castps_si256(f))));
    }
    else if (n == 8) {
        _mm256_storeu_ps(p, f);
    }
    else {
        _mm256_mask_storeu_ps(p, (__mmask8)rope_first(n), f);
    }
}
ROPE_INLINE void rope_load_pairs_f32_f64(const float *p, ptrdiff_t n, int spacing, __m512d *a,
                                         __m512d *b)
{
    __m512 apart;
    if (spacing == 2) {
        const uint64_t lanes = rope_pair_evens(n);
        apart = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps((__mmask16)lanes, p),
                                       ROPE_INDEX(rope_pair_evens32),
                                       _mm512_maskz_loadu_ps((__mmask16)(lanes >> 16), p + 16));
    }
    else {
        const __m512 v = n == 8 ? _mm512_loadu_ps(p)
                                : _mm512_maskz_loadu_ps((__mmask16)rope_first(2 * n), p);
        apart = _mm512_permutexvar_ps(ROPE_INDEX(rope_apart32), v);
    }
    *a = _mm512_cvtps_pd(_mm512_castps512_ps256(apart));
    *b = _mm512_cvtps_pd(_mm512_extractf32x8_ps(apart, 1));
}
ROPE_INLINE void rope_store_pairs_f32_f64(float *p, ptrdiff_t n, int spacing, __m512d a,
                                          __m512d b)
{
    const __m512 fa = _mm512_castps256_ps512(_mm512_cvtpd_ps(a));
    const __m512 fb = _mm512_castps256_ps512(_mm512_cvtpd_ps(b));
    if (spacing == 2) {
        const uint64_t lanes = rope_pair_evens(n);
        for (int half = 0; half < 2; half++) {
            _mm512_mask_storeu_ps(
                p + 16 * half, (__mmask16)(lanes >> (16 * half)),
                _mm512_permutex2var_ps(fa, ROPE_INDEX(rope_pair_evens32_back[half]), fb));
        }
        return;
    }
    const __m512 v = _mm512_permutex2var_ps(fa, ROPE_INDEX(rope_together32[0]), fb);
    if (n == 8) {
        _mm512_storeu_ps(p, v);
    }
    else {
        _mm512_mask_storeu_ps(p, (__mmask16)rope_first(2 * n), v);
    }
}

/* ---- f32: float32 data and compute (16 lanes) ---- */
ROPE_INLINE __m512 rope_load_f32(const float *p, ptrdiff_t n, int spacing)
{
    if (spacing == 2) { /* the view's elements among 32 floats, two vectors of the span */
        const uint64_t lanes = rope_evens(n);
        return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps((__mmask16)lanes, p),
                                      ROPE_INDEX(rope_evens32),
                                      _mm512_maskz_loadu_ps((__mmask16)(lanes >> 16), p + 16));
    }
    return n == 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((__mmask16)rope_first(n), p);
}
ROPE_INLINE void rope_store_f32(float *p, __m512 v, ptrdiff_t n, int spacing)
{
    if (spacing == 2) {
        const uint64_t lanes = rope_evens(n);
        for (int half = 0; half < 2; half++) {
            _mm512_mask_storeu_ps(p + 16 * half, (__mmask16)(lanes >> (16 * half)),
                                  _mm512_permutexvar_ps(ROPE_INDEX(rope_spread32[half]), v));
        }
    }
    else if (n == 16) {
        _mm512_storeu_ps(p, v);
    }
    else {
        _mm512_mask_storeu_ps(p, (__mmask16)rope_first(n), v);
    }
}
/* Pairs: the 2n elements as two vectors (the second empty, neither read nor written, when
 * n <= 8), their even and odd lanes apart. */
ROPE_INLINE void rope_load_pairs_f32(const float *p, ptrdiff_t n, int spacing, __m512 *a,
                                     __m512 *b)
{
    const __m512 v0 = rope_load_f32(p, 2 * n < 16 ? 2 * n : 16, spacing);
    const __m512 v1 = rope_load_f32(p + 16 * spacing, 2 * n > 16 ? 2 * n - 16 : 0, spacing);
    *a = _mm512_permutex2var_ps(v0, ROPE_INDEX(rope_evens32), v1);
    *b = _mm512_permutex2var_ps(v0, ROPE_INDEX(rope_odds32), v1);
}
ROPE_INLINE void rope_store_pairs_f32(float *p, ptrdiff_t n, int spacing, __m512 a, __m512 b)
{
    rope_store_f32(p, _mm512_permutex2var_ps(a, ROPE_INDEX(rope_together32[0]), b),
                   2 * n < 16 ? 2 * n : 16, spacing);
    rope_store_f32(p + 16 * spacing, _mm512_permutex2var_ps(a, ROPE_INDEX(rope_together32[1]), b),
                   2 * n > 16 ? 2 * n - 16 : 0, spacing);
}

/* ---- f64: float64 data and compute (8 lanes) ---- */
ROPE_INLINE __m512d rope_load_f64(const double *p, ptrdiff_t n, int spacing)
{
    if (spacing == 2) {
        const uint64_t lanes = rope_evens(n);
        return _mm512_permutex2var_pd(_mm512_maskz_loadu_pd((__mmask8)lanes, p),
                                      ROPE_INDEX(rope_evens64),
                                      _mm512_maskz_loadu_pd((__mmask8)(lanes >> 8), p + 8));
    }
    return n == 8 ? _mm512_loadu_pd(p) : _mm512_maskz_loadu_pd((__mmask8)rope_first(n), p);
}
ROPE_INLINE void rope_store_f64(double *p, __m512d v, ptrdiff_t n, int spacing)
{
    if (spacing == 2) {
        const uint64_t lanes = rope_evens(n);
        for (int half = 0; half < 2; half++) {
            _mm512_mask_storeu_pd(p + 8 * half, (__mmask8)(lanes >> (8 * half)),
                                  _mm512_permutexvar_pd(ROPE_INDEX(rope_spread64[half]), v));
        }
    }
    else if (n == 8) {
        _mm512_storeu_pd(p, v);
    }
    else {
        _mm512_mask_storeu_pd(p, (__mmask8)rope_first(n), v);
    }
}
ROPE_INLINE void rope_load_pairs_f64(const double *p, ptrdiff_t n, int spacing, __m512d *a,
                                     __m512d *b)
{
    const __m512d v0 = rope_load_f64(p, 2 * n < 8 ? 2 * n : 8, spacing);
    const __m512d v1 = rope_load_f64(p + 8 * spacing, 2 * n > 8 ? 2 * n - 8 : 0, spacing);
    *a = _mm512_permutex2var_pd(v0, ROPE_INDEX(rope_evens64), v1);
    *b = _mm512_permutex2var_pd(v0, ROPE_INDEX(rope_odds64), v1);
}
ROPE_INLINE void rope_store_pairs_f64(double *p, ptrdiff_t n, int spacing, __m512d a, __m512d b)
{
    rope_store_f64(p, _mm512_permutex2var_pd(a, ROPE_INDEX(rope_together64[0]), b),
                   2 * n < 8 ? 2 * n : 8, spacing);
    rope_store_f64(p + 8 * spacing, _mm512_permutex2var_pd(a, ROPE_INDEX(rope_together64[1]), b),
                   2 * n > 8 ? 2 * n - 8 : 0, spacing);
}
