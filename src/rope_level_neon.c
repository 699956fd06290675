/* The NEON level's kernels, on aarch64 only (where NEON is every CPU's baseline). */
#include "rope_portable.h"

#if ROPE_AARCH64
#include "rope_simd_neon.h"
#include "rope_level.inc.c"
#endif
