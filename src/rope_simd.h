/*
 * rope_simd.h: what every level's vector vocabulary shares, and the vocabulary's contract.
 *
 * A level (rope_simd_sse2.h, rope_simd_avx2.h, rope_simd_avx512.h, rope_simd_neon.h,
 * rope_simd_scalar.h) defines, for the compute types f32 and f64:
 *   rope_v_f32, rope_v_f64          its vector types, ROPE_LANES_f32 / ROPE_LANES_f64 lanes
 *   rope_load_table_T(t, n)         n <= lanes values of a cos/sin table, the rest zero
 *   rope_mul_T(a, b)                a*b
 *   rope_mul_add_T(a, b, c)         a*b + c  } rounded once where ROPE_FUSED is 1 (FMA),
 *   rope_mul_sub_T(a, b, c)         a*b - c  } twice where it is 0
 * and, for each data type X of rope_dtype (f16, f32, f32_f64, f64, bf16: data D computed in T):
 *   rope_load_X(p, n, spacing)             elements 0 ... n-1 of the row at p, widened to T
 *                                          (element e at p[spacing * e]); lanes past n zero
 *   rope_store_X(p, v, n, spacing)         narrowed (rounded to nearest even) and stored;
 *                                          only those n elements are written
 *   rope_load_pairs_X(p, n, spacing, a, b) pairs 0 ... n-1 of an interleaved row, their
 *                                          first members to *a and second ones to *b
 *   rope_store_pairs_X(p, n, spacing, a, b)
 * with n <= lanes and spacing 1 or 2. Nothing outside those elements is read or written: the
 * last element of a view may be the last of its buffer, and the elements between those of a
 * view (spacing 2) may be written by another thread. Each level also sets
 *   ROPE_LEVEL_NAME, ROPE_LEVEL_TABLE  its name and the symbol of its kernel table;
 *   ROPE_FUSED                         as above;
 *   ROPE_HELD_VECTORS                  how many vectors of a table (of cos, and as many of
 *                                      sin) the rows kernels keep in registers across rows
 *                                      that share them: 0 where the registers are too few;
 *   rope_two_prod_lo(a, b, hi)         the low part of a*b, hi being its rounded value.
 */
#ifndef ROPE_SIMD_H
#define ROPE_SIMD_H

#include "rope_portable.h"

#include <math.h>
#include <string.h>

#define ROPE_GLUE_(a, b) a##_##b
#define ROPE_GLUE(a, b) ROPE_GLUE_(a, b)

/* IEEE binary16 <-> binary32, exact and round-to-nearest-even, for levels without hardware
 * conversions (after F. Giesen, public domain). */
ROPE_INLINE float rope_half_to_float(uint16_t h)
{
    const uint32_t shifted_exp = 0x7c00u << 13;
    uint32_t u = (uint32_t)(h & 0x7fffu) << 13;
    const uint32_t exp = shifted_exp & u;
    float f;
    u += (uint32_t)(127 - 15) << 23;
    if (exp == shifted_exp) {           /* inf or NaN */
        u += (uint32_t)(128 - 16) << 23;
    }
    else if (exp == 0) {                /* zero or subnormal: renormalize through the FPU */
        const uint32_t magic_bits = 113u << 23;
        float magic;
        memcpy(&magic, &magic_bits, 4);
        u += 1u << 23;
        memcpy(&f, &u, 4);
        f -= magic;
        memcpy(&u, &f, 4);
    }
    u |= (uint32_t)(h & 0x8000u) << 16;
    memcpy(&f, &u, 4);
    return f;
}

ROPE_INLINE uint16_t rope_float_to_half(float f)
{
    const uint32_t f32_inf = 255u << 23, f16_overflow = (127u + 16u) << 23;
    const uint32_t denorm_magic_bits = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t sign = u & 0x80000000u;
    uint16_t h;
    u ^= sign;
    if (u >= f16_overflow) {            /* too large for half: inf, or NaN stays NaN */
        h = u > f32_inf ? 0x7e00u : 0x7c00u;
    }
    else if (u < (113u << 23)) {        /* subnormal half: let the FPU round the mantissa */
        float v, magic;
        memcpy(&v, &u, 4);
        memcpy(&magic, &denorm_magic_bits, 4);
        v += magic;
        memcpy(&u, &v, 4);
        h = (uint16_t)(u - denorm_magic_bits);
    }
    else {                              /* normal: rebias, round to nearest even by hand */
        const uint32_t mant_odd = (u >> 13) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xfffu;
        u += mant_odd;
        h = (uint16_t)(u >> 13);
    }
    return (uint16_t)(h | (sign >> 16));
}

/* bfloat16 <-> binary32. A bfloat16 is the high half of a float: widening shifts it up;
 * narrowing rounds to nearest even by adding 0x7fff plus the lowest kept bit before dropping
 * the low half (a carry into the exponent rounds up to the next binade, or to inf), and sets a
 * NaN's quiet bit, keeping its sign and payload, as AVX-512 BF16's vcvtneps2bf16 does. The
 * vector levels use the same integer operations lane by lane. */
#define ROPE_BF16_BIAS 0x7fffu
#define ROPE_BF16_QUIET 0x40u

ROPE_INLINE float rope_bfloat16_to_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

ROPE_INLINE uint16_t rope_float_to_bfloat16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((u >> 16) | ROPE_BF16_QUIET);
    }
    return (uint16_t)((u + ROPE_BF16_BIAS + ((u >> 16) & 1u)) >> 16);
}

#endif
