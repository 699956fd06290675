/*
 * rope_dispatch.c: the levels compiled into this build and which of them the CPU runs.
 * Pure C: no Python, no NumPy.
 */
#include "rope_kernels.h"

#if ROPE_X86_64
extern const rope_kernel_table rope_kernels_sse2, rope_kernels_avx2, rope_kernels_avx512,
    rope_kernels_avx512bf16;
const rope_kernel_table *const rope_levels[] = {
    &rope_kernels_sse2, &rope_kernels_avx2, &rope_kernels_avx512,
#if ROPE_HAVE_AVX512BF16
    &rope_kernels_avx512bf16,
#endif
};
#elif ROPE_AARCH64
extern const rope_kernel_table rope_kernels_scalar, rope_kernels_neon;
const rope_kernel_table *const rope_levels[] = {&rope_kernels_scalar, &rope_kernels_neon};
#else
extern const rope_kernel_table rope_kernels_scalar;
const rope_kernel_table *const rope_levels[] = {&rope_kernels_scalar};
#endif
const int rope_nlevels = (int)(sizeof rope_levels / sizeof rope_levels[0]);

#if ROPE_X86_64
#define ROPE_BIT(reg, bit) (((reg) >> (bit)) & 1u)

/* The levels the CPU runs: cpuid says what the CPU has, xgetbv whether the OS saves the wide
 * registers (a CPU with AVX-512 under an OS that does not save zmm registers runs AVX2). */
int rope_cpu_levels(void)
{
    unsigned basic[4], features[4], extended[4] = {0, 0, 0, 0}, extended1[4] = {0, 0, 0, 0};
    rope_cpuid(0, 0, basic);
    rope_cpuid(1, 0, features);
    if (basic[0] >= 7) {
        rope_cpuid(7, 0, extended);
        if (extended[0] >= 1) { /* leaf 7 has a subleaf 1 */
            rope_cpuid(7, 1, extended1);
        }
    }
    const unsigned ecx = features[2], ebx7 = extended[1];
    if (!ROPE_BIT(ecx, 27)) { /* OSXSAVE: without it, xgetbv faults */
        return 1;
    }
    const uint64_t xcr0 = rope_xgetbv0();
    const int avx2 = (xcr0 & 0x6) == 0x6 && ROPE_BIT(ecx, 28) && ROPE_BIT(ecx, 12) &&
                     ROPE_BIT(ecx, 29) && ROPE_BIT(ebx7, 5); /* AVX, FMA, F16C, AVX2 */
    const int avx512 = (xcr0 & 0xe6) == 0xe6 && ROPE_BIT(ebx7, 16) && ROPE_BIT(ebx7, 17) &&
                       ROPE_BIT(ebx7, 30) && ROPE_BIT(ebx7, 31); /* F, DQ, BW, VL */
    const int avx512bf16 = ROPE_BIT(extended1[0], 5); /* AVX512_BF16 */
    return !avx2 ? 1 : !avx512 ? 2 : !avx512bf16 ? 3 : rope_nlevels;
}
#else
/* NEON is part of every aarch64 CPU; the portable level runs anywhere. */
int rope_cpu_levels(void) { return rope_nlevels; }
#endif
