/*
 * rope_level.inc.c: one SIMD level's kernels and their table. Each rope_level_*.c file
 * includes its vocabulary (rope_simd_*.h), then this file; setup.py compiles it with the
 * level's flags, so every instruction here is one the level allows.
 */
#include "rope_kernels.h"

#define ROPE_HELD_SLOTS (ROPE_HELD_VECTORS > 0 ? ROPE_HELD_VECTORS : 1)
#if ROPE_HELD_VECTORS > 8
#error "rope_rotate.inc.c holds at most 8 vectors of a table"
#endif

/* How many rows ahead a row with gaps before the next (the q heads of a fused qkv, rows of a
 * wider array) prefetches: the hardware prefetchers do not follow such rows. */
#define ROPE_ROWS_AHEAD 8

/* The prefetch for row `row` (at xr, `span` bytes) of r, `gaps` when x_step != span. Rows
 * without gaps ask for the bytes `ahead` past them, across the end of the call where the
 * caller's stream goes on (the next token's heads), never past it (the k heads after the q
 * heads of a fused qkv, say). */
ROPE_INLINE void rope_prefetch_ahead(const void *xr, const rope_rows *r, ptrdiff_t row,
                                     ptrdiff_t span, int gaps, ptrdiff_t ahead)
{
    if (!gaps) {
        if (row * span + ahead + span <= r->stream) {
            rope_prefetch((const char *)xr + ahead, span);
        }
    }
    else if (row + ROPE_ROWS_AHEAD < r->rows) {
        rope_prefetch((const char *)xr + ROPE_ROWS_AHEAD * r->x_step, span);
    }
}

#define ROPE_TEMPLATE "rope_rotate.inc.c"
#include "rope_each_dtype.inc.h"
#include "rope_trig.inc.c"

/* The kernel table of the level called `level`, whose bfloat16 kernels are those of data type
 * `bf16` (bf16, or another instance of the template: see rope_level_avx512.c). */
#define ROPE_KERNEL_TABLE(level, bf16)                                                        \
    {                                                                                         \
        .name = (level), .fused = ROPE_FUSED,                                                 \
        .rotate = {{rope_rotate_split_f16, rope_rotate_split_f32, rope_rotate_split_f32_f64,  \
                    rope_rotate_split_f64, rope_rotate_split_##bf16},                         \
                   {rope_rotate_interleaved_f16, rope_rotate_interleaved_f32,                 \
                    rope_rotate_interleaved_f32_f64, rope_rotate_interleaved_f64,             \
                    rope_rotate_interleaved_##bf16}},                                         \
        .cos_sin = {rope_cos_sin_f32, rope_cos_sin_f64},                                      \
    }

const rope_kernel_table ROPE_LEVEL_TABLE = ROPE_KERNEL_TABLE(ROPE_LEVEL_NAME, bf16);
