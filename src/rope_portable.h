/*
 * rope_portable.h: the one place that spells compiler- and architecture-specific things.
 *
 * gcc and clang (any architecture) and MSVC (x86-64, arm64) each get the same small set of
 * names: forced inlining, loop unrolling, prefetch, a thread-local, an atomic pointer, CPU
 * identification on x86. Everything else in src/ is standard C11 plus the SIMD intrinsics of
 * the level it is compiled for.
 */
#ifndef ROPE_PORTABLE_H
#define ROPE_PORTABLE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(_M_X64)
#define ROPE_X86_64 1
#else
#define ROPE_X86_64 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define ROPE_AARCH64 1
#else
#define ROPE_AARCH64 0
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define ROPE_INLINE static __forceinline
#define ROPE_THREAD_LOCAL __declspec(thread)
#define ROPE_UNROLL
#if ROPE_X86_64
#define rope_prefetch_line(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define rope_prefetch_line(p) __prefetch((const void *)(p))
#endif
/* Aligned pointer loads and stores are atomic on x86-64 and arm64; the barriers keep the
 * compiler from moving other accesses across them. */
#define rope_atomic_load_ptr(p) (_ReadWriteBarrier(), *(void *const volatile *)(p))
#define rope_atomic_store_ptr(p, v) \
    ((void)_InterlockedExchangePointer((void *volatile *)(p), (void *)(v)))
#else
/* always_inline: the kernels are written as small functions with constant arguments (the
 * pairing, the spacing, the count of held table vectors) that must fold away. */
#define ROPE_INLINE static inline __attribute__((always_inline))
#define ROPE_THREAD_LOCAL _Thread_local
#if defined(__clang__)
#define ROPE_UNROLL _Pragma("unroll")
#else
#define ROPE_UNROLL _Pragma("GCC unroll 16")
#endif
#define rope_prefetch_line(p) __builtin_prefetch((const void *)(p), 0, 3)
#define rope_atomic_load_ptr(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define rope_atomic_store_ptr(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#endif

/* Always inlined: gcc takes a function that only prefetches for one without effects and drops
 * the calls to it that it does not inline. */
ROPE_INLINE void rope_prefetch(const void *p, ptrdiff_t bytes)
{
    for (ptrdiff_t b = 0; b < bytes; b += 64) {
        rope_prefetch_line((const char *)p + b);
    }
}

#if ROPE_X86_64
#if defined(_MSC_VER) && !defined(__clang__)
ROPE_INLINE void rope_cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4])
{
    int r[4];
    __cpuidex(r, (int)leaf, (int)subleaf);
    for (int i = 0; i < 4; i++) {
        regs[i] = (unsigned)r[i];
    }
}
ROPE_INLINE uint64_t rope_xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
ROPE_INLINE void rope_cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4])
{
    regs[0] = regs[1] = regs[2] = regs[3] = 0;
    __get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]);
}
/* The instruction itself: the _xgetbv intrinsic needs the xsave target in gcc. */
ROPE_INLINE uint64_t rope_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* AVX-512 BF16 (vcvtneps2bf16), which the avx512bf16 level adds to the avx512 one: compilers
 * that know it, and the pragmas that let the functions between ROPE_TARGET_AVX512BF16_BEGIN and
 * ROPE_TARGET_AVX512BF16_END use it beyond their file's flags (MSVC needs none). */
#if (defined(_MSC_VER) && !defined(__clang__) && _MSC_VER >= 1930) || \
    (defined(__clang__) && __clang_major__ >= 9) || \
    (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10)
#define ROPE_HAVE_AVX512BF16 1
#else
#define ROPE_HAVE_AVX512BF16 0
#endif
#if defined(_MSC_VER) && !defined(__clang__)
#define ROPE_TARGET_AVX512BF16_BEGIN
#define ROPE_TARGET_AVX512BF16_END
#elif defined(__clang__)
#define ROPE_TARGET_AVX512BF16_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx512bf16\"))), apply_to = function)")
#define ROPE_TARGET_AVX512BF16_END _Pragma("clang attribute pop")
#else
#define ROPE_TARGET_AVX512BF16_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512bf16\")")
#define ROPE_TARGET_AVX512BF16_END _Pragma("GCC pop_options")
#endif
#endif /* ROPE_X86_64 */

#endif
