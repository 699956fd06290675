/*
 * rope_simd_scalar.h: the portable level, one lane of plain C (see rope_simd.h for the
 * vocabulary). The baseline on every architecture without vector code here (aarch64 included,
 * where the tests compare NEON with it) and the level every compiler builds. Multiply-adds are
 * fused where the C library says fma is as fast as a multiply (FP_FAST_FMA: aarch64, ppc64le,
 * s390x), so that the level rounds as the vector levels of the same CPU do.
 */
#include "rope_simd.h"

#define ROPE_LEVEL_NAME "baseline"
#define ROPE_LEVEL_TABLE rope_kernels_scalar
#define ROPE_HELD_VECTORS 0
#if defined(FP_FAST_FMA) && defined(FP_FAST_FMAF)
#define ROPE_FUSED 1
#else
#define ROPE_FUSED 0
#endif

typedef float rope_v_f32;
typedef double rope_v_f64;
#define ROPE_LANES_f32 1
#define ROPE_LANES_f64 1

ROPE_INLINE float rope_load_table_f32(const float *t, ptrdiff_t n) { return n ? t[0] : 0.0f; }
ROPE_INLINE double rope_load_table_f64(const double *t, ptrdiff_t n) { return n ? t[0] : 0.0; }
ROPE_INLINE float rope_mul_f32(float a, float b) { return a * b; }
ROPE_INLINE double rope_mul_f64(double a, double b) { return a * b; }
#if ROPE_FUSED
ROPE_INLINE float rope_mul_add_f32(float a, float b, float c) { return fmaf(a, b, c); }
ROPE_INLINE float rope_mul_sub_f32(float a, float b, float c) { return fmaf(a, b, -c); }
ROPE_INLINE double rope_mul_add_f64(double a, double b, double c) { return fma(a, b, c); }
ROPE_INLINE double rope_mul_sub_f64(double a, double b, double c) { return fma(a, b, -c); }
ROPE_INLINE double rope_two_prod_lo(double a, double b, double hi) { return fma(a, b, -hi); }
#else
ROPE_INLINE float rope_mul_add_f32(float a, float b, float c) { return a * b + c; }
ROPE_INLINE float rope_mul_sub_f32(float a, float b, float c) { return a * b - c; }
ROPE_INLINE double rope_mul_add_f64(double a, double b, double c) { return a * b + c; }
ROPE_INLINE double rope_mul_sub_f64(double a, double b, double c) { return a * b - c; }
/* Dekker: each factor split into 26-bit halves, whose products are exact. */
ROPE_INLINE double rope_two_prod_lo(double a, double b, double hi)
{
    const double ta = 134217729.0 * a, tb = 134217729.0 * b;
    const double ah = ta - (ta - a), al = a - ah;
    const double bh = tb - (tb - b), bl = b - bh;
    return ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
}
#endif

/* One element widened to its compute type and narrowed back, per data type. */
ROPE_INLINE float rope_widen_f16(uint16_t h) { return rope_half_to_float(h); }
ROPE_INLINE uint16_t rope_narrow_f16(float v) { return rope_float_to_half(v); }
ROPE_INLINE float rope_widen_bf16(uint16_t h) { return rope_bfloat16_to_float(h); }
ROPE_INLINE uint16_t rope_narrow_bf16(float v) { return rope_float_to_bfloat16(v); }
ROPE_INLINE float rope_widen_f32(float v) { return v; }
ROPE_INLINE float rope_narrow_f32(float v) { return v; }
ROPE_INLINE double rope_widen_f32_f64(float v) { return v; }
ROPE_INLINE float rope_narrow_f32_f64(double v) { return (float)v; }
ROPE_INLINE double rope_widen_f64(double v) { return v; }
ROPE_INLINE double rope_narrow_f64(double v) { return v; }

#define ROPE_TEMPLATE "rope_simd_scalar_data.inc.h"
#include "rope_each_dtype.inc.h"
