/* The avx512 level's kernels: compiled with its own flags (setup.py), on x86-64 only. */
#include "rope_portable.h"

#if ROPE_X86_64
#include "rope_simd_avx512.h"
#include "rope_level.inc.c"
#endif
