/*
 * rope_kernels.c: instantiates the kernels of rope_kernels_body.h once per SIMD level and
 * tells which level the CPU runs. Pure C: no Python, no NumPy.
 */
#include "rope_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define ROPE_X86 1
#include <immintrin.h>
#else
#define ROPE_X86 0
#endif
#include <string.h>

/* IEEE binary16 <-> binary32, exact and round-to-nearest-even, branch-light scalar code for
 * CPUs without F16C and for the tails of vector loops (after F. Giesen, public domain). */
static inline float rope_half_to_float(uint16_t h)
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

static inline uint16_t rope_float_to_half(float f)
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

#define ROPE_LEVEL baseline
#define ROPE_LEVEL_NAME "baseline"
#define ROPE_HAVE_AVX2 0
#define ROPE_HAVE_AVX512 0
#include "rope_kernels_body.h"
#undef ROPE_LEVEL
#undef ROPE_LEVEL_NAME
#undef ROPE_HAVE_AVX2
#undef ROPE_HAVE_AVX512

#if ROPE_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define ROPE_LEVEL avx2
#define ROPE_LEVEL_NAME "avx2"
#define ROPE_HAVE_AVX2 1
#define ROPE_HAVE_AVX512 0
#include "rope_kernels_body.h"
#undef ROPE_LEVEL
#undef ROPE_LEVEL_NAME
#undef ROPE_HAVE_AVX2
#undef ROPE_HAVE_AVX512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,prefer-vector-width=512")
#define ROPE_LEVEL avx512
#define ROPE_LEVEL_NAME "avx512"
#define ROPE_HAVE_AVX2 1
#define ROPE_HAVE_AVX512 1
#include "rope_kernels_body.h"
#undef ROPE_LEVEL
#undef ROPE_LEVEL_NAME
#undef ROPE_HAVE_AVX2
#undef ROPE_HAVE_AVX512
#pragma GCC pop_options
#endif /* ROPE_X86 */

const rope_kernel_table *rope_kernels_of(rope_simd_level level)
{
    switch (level) {
#if ROPE_X86
    case ROPE_SIMD_AVX512: return &rope_kernels_avx512;
    case ROPE_SIMD_AVX2: return &rope_kernels_avx2;
#endif
    default: return &rope_kernels_baseline;
    }
}

rope_simd_level rope_cpu_best_level(void)
{
#if ROPE_X86
    /* libgcc's checks include the OS side (XCR0), so a CPU whose OS does not save the wide
     * registers reports no AVX. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        return ROPE_SIMD_AVX512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c")) {
        return ROPE_SIMD_AVX2;
    }
#endif
    return ROPE_SIMD_BASELINE;
}
