/*
 * The avx512 level's kernels, and the avx512bf16 level's: compiled with avx512's flags
 * (setup.py), on x86-64 only. The avx512bf16 level is the avx512 one with bfloat16 results
 * narrowed by AVX-512 BF16's vcvtneps2bf16, one instruction for the integer rounding's six:
 * its bfloat16 kernels (data type bf16_native) are compiled here for that extension too, and
 * it shares every other kernel with avx512.
 */
#include "rope_portable.h"

#if ROPE_X86_64
#include "rope_simd_avx512.h"
#include "rope_level.inc.c"

#if ROPE_HAVE_AVX512BF16
ROPE_TARGET_AVX512BF16_BEGIN

ROPE_INLINE __m512 rope_widen_bf16_native(__m256i h) { return rope_widen_bf16(h); }

/* vcvtneps2bf16 rounds as rope_narrow_bf16 does, NaN included, but takes float32 subnormals
 * for zeros: lanes that hold one (almost never) are rounded by the integer operations. */
ROPE_INLINE __m256i rope_narrow_bf16_native(__m512 v)
{
    const __m256bh converted = _mm512_cvtneps_pbh(v);
    __m256i h;
    memcpy(&h, &converted, sizeof h);
    const __mmask16 subnormal = _mm512_fpclass_ps_mask(v, 0x20);
    return subnormal ? _mm256_mask_blend_epi16(subnormal, h, rope_narrow_bf16(v)) : h;
}

#define ROPE_X bf16_native
#include "rope_simd_halves.inc.h"
#define ROPE_D uint16_t
#define ROPE_T f32
#define ROPE_TT float
#include "rope_rotate.inc.c"
#undef ROPE_X
#undef ROPE_D
#undef ROPE_T
#undef ROPE_TT

ROPE_TARGET_AVX512BF16_END

const rope_kernel_table rope_kernels_avx512bf16 = ROPE_KERNEL_TABLE("avx512bf16", bf16_native);
#endif
#endif
