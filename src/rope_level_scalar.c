/* The one-lane portable level: the baseline everywhere but x86-64 (where SSE2 is). */
#include "rope_portable.h"

#if !ROPE_X86_64
#include "rope_simd_scalar.h"
#include "rope_level.inc.c"
#endif
