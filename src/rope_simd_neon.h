/*
 * rope_simd_neon.h: the aarch64 level, Advanced SIMD (every aarch64 CPU): 128-bit vectors,
 * fused multiply-adds, float16 converted four at a time by fcvtl/fcvtn (bfloat16 by integer
 * operations), interleaved pairs loaded and stored apart by ld2/st2. See rope_simd.h for the
 * vocabulary.
 */
#include "rope_simd.h"

#include <arm_neon.h>

#define ROPE_LEVEL_NAME "neon"
#define ROPE_LEVEL_TABLE rope_kernels_neon
#define ROPE_FUSED 1
/* Tables are loaded for every vector: whether holding them pays has not been measured on
 * any aarch64 CPU. */
#define ROPE_HELD_VECTORS 0
#define ROPE_MASKED 0

typedef float32x4_t rope_v_f32;
typedef float64x2_t rope_v_f64;
#define ROPE_LANES_f32 4
#define ROPE_LANES_f64 2

ROPE_INLINE float32x4_t rope_load_table_f32(const float *t, ptrdiff_t n)
{
    float packed[4] = {0};
    return n == 4 ? vld1q_f32(t) : vld1q_f32(memcpy(packed, t, (size_t)n * 4));
}
ROPE_INLINE float64x2_t rope_load_table_f64(const double *t, ptrdiff_t n)
{
    double packed[2] = {0};
    return n == 2 ? vld1q_f64(t) : vld1q_f64(memcpy(packed, t, (size_t)n * 8));
}
ROPE_INLINE float32x4_t rope_mul_f32(float32x4_t a, float32x4_t b) { return vmulq_f32(a, b); }
ROPE_INLINE float64x2_t rope_mul_f64(float64x2_t a, float64x2_t b) { return vmulq_f64(a, b); }
ROPE_INLINE float32x4_t rope_mul_add_f32(float32x4_t a, float32x4_t b, float32x4_t c)
{
    return vfmaq_f32(c, a, b);
}
/* a*b - c as a*b + (-c): one rounding, the same bits as x86's fmsub. */
ROPE_INLINE float32x4_t rope_mul_sub_f32(float32x4_t a, float32x4_t b, float32x4_t c)
{
    return vfmaq_f32(vnegq_f32(c), a, b);
}
ROPE_INLINE float64x2_t rope_mul_add_f64(float64x2_t a, float64x2_t b, float64x2_t c)
{
    return vfmaq_f64(c, a, b);
}
ROPE_INLINE float64x2_t rope_mul_sub_f64(float64x2_t a, float64x2_t b, float64x2_t c)
{
    return vfmaq_f64(vnegq_f64(c), a, b);
}
ROPE_INLINE double rope_two_prod_lo(double a, double b, double hi) { return fma(a, b, -hi); }

/* ---- f16 and bf16: 16-bit data, float32 compute (4 lanes) ----
 * Moved as four 16-bit elements in 64 bits (rope_halves), converted by fcvtl/fcvtn (float16)
 * or by a shift up and the integer rounding of rope_float_to_bfloat16 (bfloat16: the base
 * aarch64 instruction set has no bfloat16 conversion). */
typedef uint16x4_t rope_halves;
ROPE_INLINE float32x4_t rope_widen_f16(uint16x4_t h)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}
ROPE_INLINE uint16x4_t rope_narrow_f16(float32x4_t v)
{
    return vreinterpret_u16_f16(vcvt_f16_f32(v));
}
ROPE_INLINE float32x4_t rope_widen_bf16(uint16x4_t h)
{
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}
ROPE_INLINE uint16x4_t rope_narrow_bf16(float32x4_t v)
{
    const uint32x4_t bits = vreinterpretq_u32_f32(v), high = vshrq_n_u32(bits, 16);
    const uint32x4_t bias =
        vaddq_u32(vandq_u32(high, vdupq_n_u32(1)), vdupq_n_u32(ROPE_BF16_BIAS));
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(bits, bias), 16);
    const uint32x4_t quiet = vorrq_u32(high, vdupq_n_u32(ROPE_BF16_QUIET));
    return vmovn_u32(vbslq_u32(vceqq_f32(v, v), rounded, quiet)); /* v == v: not NaN */
}

ROPE_INLINE uint16x4_t rope_load_halves(const uint16_t *p) { return vld1_u16(p); }
ROPE_INLINE void rope_store_halves(uint16_t *p, uint16x4_t h) { vst1_u16(p, h); }
ROPE_INLINE void rope_load_pairs_halves(const uint16_t *p, uint16x4_t *a, uint16x4_t *b)
{
    const uint16x4x2_t v = vld2_u16(p);
    *a = v.val[0];
    *b = v.val[1];
}
ROPE_INLINE void rope_store_pairs_halves(uint16_t *p, uint16x4_t a, uint16x4_t b)
{
    const uint16x4x2_t v = {{a, b}};
    vst2_u16(p, v);
}

#define ROPE_X f16
#include "rope_simd_halves.inc.h"
#undef ROPE_X
#define ROPE_X bf16
#include "rope_simd_halves.inc.h"
#undef ROPE_X

/* ---- f32: float32 data and compute (4 lanes) ---- */
ROPE_INLINE float32x4_t rope_load_full_f32(const float *p) { return vld1q_f32(p); }
ROPE_INLINE void rope_store_full_f32(float *p, float32x4_t v) { vst1q_f32(p, v); }
ROPE_INLINE void rope_load_pairs_full_f32(const float *p, float32x4_t *a, float32x4_t *b)
{
    const float32x4x2_t v = vld2q_f32(p);
    *a = v.val[0];
    *b = v.val[1];
}
ROPE_INLINE void rope_store_pairs_full_f32(float *p, float32x4_t a, float32x4_t b)
{
    const float32x4x2_t v = {{a, b}};
    vst2q_f32(p, v);
}

/* ---- f32_f64: float32 data, float64 compute (2 lanes) ---- */
ROPE_INLINE float64x2_t rope_load_full_f32_f64(const float *p)
{
    return vcvt_f64_f32(vld1_f32(p));
}
ROPE_INLINE void rope_store_full_f32_f64(float *p, float64x2_t v)
{
    vst1_f32(p, vcvt_f32_f64(v));
}
ROPE_INLINE void rope_load_pairs_full_f32_f64(const float *p, float64x2_t *a, float64x2_t *b)
{
    const float32x2x2_t v = vld2_f32(p);
    *a = vcvt_f64_f32(v.val[0]);
    *b = vcvt_f64_f32(v.val[1]);
}
ROPE_INLINE void rope_store_pairs_full_f32_f64(float *p, float64x2_t a, float64x2_t b)
{
    const float32x2x2_t v = {{vcvt_f32_f64(a), vcvt_f32_f64(b)}};
    vst2_f32(p, v);
}

/* ---- f64: float64 data and compute (2 lanes) ---- */
ROPE_INLINE float64x2_t rope_load_full_f64(const double *p) { return vld1q_f64(p); }
ROPE_INLINE void rope_store_full_f64(double *p, float64x2_t v) { vst1q_f64(p, v); }
ROPE_INLINE void rope_load_pairs_full_f64(const double *p, float64x2_t *a, float64x2_t *b)
{
    const float64x2x2_t v = vld2q_f64(p);
    *a = v.val[0];
    *b = v.val[1];
}
ROPE_INLINE void rope_store_pairs_full_f64(double *p, float64x2_t a, float64x2_t b)
{
    const float64x2x2_t v = {{a, b}};
    vst2q_f64(p, v);
}

#define ROPE_TEMPLATE "rope_simd_buffered.inc.h"
#include "rope_each_dtype.inc.h"
