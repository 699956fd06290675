/*
 * rope_simd_sse2.h: the x86-64 baseline level, SSE2 (every x86-64 CPU): 128-bit vectors,
 * multiply and add rounded separately (no FMA), float16 and bfloat16 converted by integer
 * operations.
 * See rope_simd.h for the vocabulary.
 */
#include "rope_simd.h"

#include <emmintrin.h>

#define ROPE_LEVEL_NAME "baseline"
#define ROPE_LEVEL_TABLE rope_kernels_sse2
#define ROPE_FUSED 0
#define ROPE_HELD_VECTORS 0
#define ROPE_MASKED 0

typedef __m128 rope_v_f32;
typedef __m128d rope_v_f64;
#define ROPE_LANES_f32 4
#define ROPE_LANES_f64 2

ROPE_INLINE __m128 rope_load_table_f32(const float *t, ptrdiff_t n)
{
    float packed[4] = {0};
    return n == 4 ? _mm_loadu_ps(t) : _mm_loadu_ps(memcpy(packed, t, (size_t)n * 4));
}
ROPE_INLINE __m128d rope_load_table_f64(const double *t, ptrdiff_t n)
{
    double packed[2] = {0};
    return n == 2 ? _mm_loadu_pd(t) : _mm_loadu_pd(memcpy(packed, t, (size_t)n * 8));
}
ROPE_INLINE __m128 rope_mul_f32(__m128 a, __m128 b) { return _mm_mul_ps(a, b); }
ROPE_INLINE __m128d rope_mul_f64(__m128d a, __m128d b) { return _mm_mul_pd(a, b); }
ROPE_INLINE __m128 rope_mul_add_f32(__m128 a, __m128 b, __m128 c)
{
    return _mm_add_ps(_mm_mul_ps(a, b), c);
}
ROPE_INLINE __m128 rope_mul_sub_f32(__m128 a, __m128 b, __m128 c)
{
    return _mm_sub_ps(_mm_mul_ps(a, b), c);
}
ROPE_INLINE __m128d rope_mul_add_f64(__m128d a, __m128d b, __m128d c)
{
    return _mm_add_pd(_mm_mul_pd(a, b), c);
}
ROPE_INLINE __m128d rope_mul_sub_f64(__m128d a, __m128d b, __m128d c)
{
    return _mm_sub_pd(_mm_mul_pd(a, b), c);
}
/* Dekker: each factor split into 26-bit halves, whose products are exact. */
ROPE_INLINE double rope_two_prod_lo(double a, double b, double hi)
{
    const double ta = 134217729.0 * a, tb = 134217729.0 * b;
    const double ah = ta - (ta - a), al = a - ah;
    const double bh = tb - (tb - b), bl = b - bh;
    return ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
}

/* Four halves, one in the low 16 bits of each 32-bit lane, to floats: the exponent rebased by
 * a multiply by 2^112, which also normalizes subnormals; inf and NaN get the float's all-ones
 * exponent (after F. Giesen, public domain). */
ROPE_INLINE __m128 rope_half_to_float_sse2(__m128i h)
{
    const __m128i expmant = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
    const __m128i sign = _mm_slli_epi32(_mm_xor_si128(h, expmant), 16);
    const __m128 scaled = _mm_mul_ps(_mm_castsi128_ps(_mm_slli_epi32(expmant, 13)),
                                     _mm_castsi128_ps(_mm_set1_epi32((254 - 15) << 23)));
    const __m128i inf_nan = _mm_and_si128(_mm_cmpgt_epi32(expmant, _mm_set1_epi32(0x7bff)),
                                          _mm_set1_epi32(255 << 23));
    return _mm_or_ps(scaled, _mm_castsi128_ps(_mm_or_si128(sign, inf_nan)));
}

ROPE_INLINE __m128i rope_select_si128(__m128i mask, __m128i yes, __m128i no)
{
    return _mm_or_si128(_mm_and_si128(mask, yes), _mm_andnot_si128(mask, no));
}

/* Four floats to halves rounded to nearest even, each in the low 16 bits of a 32-bit lane:
 * subnormal results rounded by an add that puts their bits at the bottom, normal ones by
 * adding half an ulp (less one, plus the kept lowest bit) before the shift; NaN becomes the
 * quiet NaN 0x7e00 (after F. Giesen, public domain). */
ROPE_INLINE __m128i rope_float_to_half_sse2(__m128 f)
{
    const __m128i bits = _mm_castps_si128(f);
    const __m128i sign = _mm_and_si128(bits, _mm_set1_epi32((int)0x80000000u));
    const __m128i abs_bits = _mm_xor_si128(bits, sign);
    const __m128 absf = _mm_castsi128_ps(abs_bits);
    const __m128i subnormal_magic = _mm_set1_epi32(((127 - 15) + (23 - 10) + 1) << 23);
    const __m128i subnormal = _mm_sub_epi32(
        _mm_castps_si128(_mm_add_ps(absf, _mm_castsi128_ps(subnormal_magic))), subnormal_magic);
    const __m128i odd = _mm_srai_epi32(_mm_slli_epi32(abs_bits, 31 - 13), 31);
    const __m128i normal = _mm_srli_epi32(
        _mm_sub_epi32(_mm_add_epi32(abs_bits, _mm_set1_epi32(0xfff - ((127 - 15) << 23))), odd),
        13);
    const __m128i finite = rope_select_si128(
        _mm_cmpgt_epi32(_mm_set1_epi32((127 - 14) << 23), abs_bits), subnormal, normal);
    const __m128i nan_bit = _mm_and_si128(_mm_castps_si128(_mm_cmpunord_ps(absf, absf)),
                                          _mm_set1_epi32(0x200));
    const __m128i inf_nan = _mm_or_si128(nan_bit, _mm_set1_epi32(0x7c00));
    const __m128i in_range = _mm_cmpgt_epi32(_mm_set1_epi32((127 + 16) << 23), abs_bits);
    return _mm_or_si128(rope_select_si128(in_range, finite, inf_nan), _mm_srli_epi32(sign, 16));
}

/* Four floats to bfloat16, each in the low 16 bits of a 32-bit lane (see
 * rope_float_to_bfloat16). */
ROPE_INLINE __m128i rope_float_to_bfloat16_sse2(__m128 f)
{
    const __m128i bits = _mm_castps_si128(f), high = _mm_srli_epi32(bits, 16);
    const __m128i bias = _mm_add_epi32(_mm_and_si128(high, _mm_set1_epi32(1)),
                                       _mm_set1_epi32(ROPE_BF16_BIAS));
    const __m128i rounded = _mm_srli_epi32(_mm_add_epi32(bits, bias), 16);
    const __m128i quiet = _mm_or_si128(high, _mm_set1_epi32(ROPE_BF16_QUIET));
    return rope_select_si128(_mm_castps_si128(_mm_cmpunord_ps(f, f)), quiet, rounded);
}

/* ---- f16 and bf16: 16-bit data, float32 compute (4 lanes) ----
 * Moved as four 32-bit lanes, each with one element in its low 16 bits (rope_halves), and
 * converted by type: float16 by the integer routines above, bfloat16 by a shift up and the
 * rounding above. */
typedef __m128i rope_halves;
ROPE_INLINE __m128 rope_widen_f16(__m128i h) { return rope_half_to_float_sse2(h); }
ROPE_INLINE __m128i rope_narrow_f16(__m128 v) { return rope_float_to_half_sse2(v); }
ROPE_INLINE __m128 rope_widen_bf16(__m128i h) { return _mm_castsi128_ps(_mm_slli_epi32(h, 16)); }
ROPE_INLINE __m128i rope_narrow_bf16(__m128 v) { return rope_float_to_bfloat16_sse2(v); }

ROPE_INLINE __m128i rope_load_halves(const uint16_t *p)
{
    return _mm_unpacklo_epi16(_mm_loadl_epi64((const __m128i *)p), _mm_setzero_si128());
}
ROPE_INLINE void rope_store_halves(uint16_t *p, __m128i h)
{
    /* sign-extended first, so that the signed saturation of packs leaves them as they are */
    const __m128i extended = _mm_srai_epi32(_mm_slli_epi32(h, 16), 16);
    _mm_storel_epi64((__m128i *)p, _mm_packs_epi32(extended, extended));
}
/* A pair of 16-bit elements is one 32-bit lane: its first member in the low 16 bits. */
ROPE_INLINE void rope_load_pairs_halves(const uint16_t *p, __m128i *a, __m128i *b)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    *a = _mm_and_si128(v, _mm_set1_epi32(0xffff));
    *b = _mm_srli_epi32(v, 16);
}
ROPE_INLINE void rope_store_pairs_halves(uint16_t *p, __m128i a, __m128i b)
{
    _mm_storeu_si128((__m128i *)p, _mm_or_si128(a, _mm_slli_epi32(b, 16)));
}

#define ROPE_X f16
#include "rope_simd_halves.inc.h"
#undef ROPE_X
#define ROPE_X bf16
#include "rope_simd_halves.inc.h"
#undef ROPE_X

/* ---- f32: float32 data and compute (4 lanes) ---- */
ROPE_INLINE __m128 rope_load_full_f32(const float *p) { return _mm_loadu_ps(p); }
ROPE_INLINE void rope_store_full_f32(float *p, __m128 v) { _mm_storeu_ps(p, v); }
ROPE_INLINE void rope_load_pairs_full_f32(const float *p, __m128 *a, __m128 *b)
{
    const __m128 v0 = _mm_loadu_ps(p), v1 = _mm_loadu_ps(p + 4);
    *a = _mm_shuffle_ps(v0, v1, 0x88);
    *b = _mm_shuffle_ps(v0, v1, 0xDD);
}
ROPE_INLINE void rope_store_pairs_full_f32(float *p, __m128 a, __m128 b)
{
    _mm_storeu_ps(p, _mm_unpacklo_ps(a, b));
    _mm_storeu_ps(p + 4, _mm_unpackhi_ps(a, b));
}

/* ---- f32_f64: float32 data, float64 compute (2 lanes) ---- */
ROPE_INLINE __m128d rope_load_full_f32_f64(const float *p)
{
    return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)p)));
}
ROPE_INLINE void rope_store_full_f32_f64(float *p, __m128d v)
{
    _mm_storel_epi64((__m128i *)p, _mm_castps_si128(_mm_cvtpd_ps(v)));
}
ROPE_INLINE void rope_load_pairs_full_f32_f64(const float *p, __m128d *a, __m128d *b)
{
    const __m128 v = _mm_loadu_ps(p);
    const __m128 apart = _mm_shuffle_ps(v, v, 0xD8); /* a0 a1 b0 b1 */
    *a = _mm_cvtps_pd(apart);
    *b = _mm_cvtps_pd(_mm_movehl_ps(apart, apart));
}
ROPE_INLINE void rope_store_pairs_full_f32_f64(float *p, __m128d a, __m128d b)
{
    _mm_storeu_ps(p, _mm_unpacklo_ps(_mm_cvtpd_ps(a), _mm_cvtpd_ps(b)));
}

/* ---- f64: float64 data and compute (2 lanes) ---- */
ROPE_INLINE __m128d rope_load_full_f64(const double *p) { return _mm_loadu_pd(p); }
ROPE_INLINE void rope_store_full_f64(double *p, __m128d v) { _mm_storeu_pd(p, v); }
ROPE_INLINE void rope_load_pairs_full_f64(const double *p, __m128d *a, __m128d *b)
{
    const __m128d v0 = _mm_loadu_pd(p), v1 = _mm_loadu_pd(p + 2);
    *a = _mm_unpacklo_pd(v0, v1);
    *b = _mm_unpackhi_pd(v0, v1);
}
ROPE_INLINE void rope_store_pairs_full_f64(double *p, __m128d a, __m128d b)
{
    _mm_storeu_pd(p, _mm_unpacklo_pd(a, b));
    _mm_storeu_pd(p + 2, _mm_unpackhi_pd(a, b));
}

#define ROPE_TEMPLATE "rope_simd_buffered.inc.h"
#include "rope_each_dtype.inc.h"
