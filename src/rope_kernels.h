/*
 * rope_kernels.h: the pure C kernels of rope.
 *
 * Nothing here knows Python or NumPy: kernels see pointers, pair counts and (in the loop layer
 * that calls them) byte strides. Every kernel exists once per SIMD level (baseline x86-64,
 * AVX2+FMA+F16C, AVX-512), compiled from one body with different target options; the module
 * picks a table at import and the loops call through it.
 */
#ifndef ROPE_KERNELS_H
#define ROPE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Data type of the rotated elements, with the type of their cos/sin tables:
 *   ROPE_F16      float16 data, float32 tables, computed in float32;
 *   ROPE_F32      float32 data, float32 tables, computed in float32 (fast, ~1 ulp);
 *   ROPE_F32_F64  float32 data, float64 tables, computed in float64 and rounded once: within
 *                 half an ulp of the exact rotation plus a double rounding, what rope.apply uses;
 *   ROPE_F64      float64 data, float64 tables. */
typedef enum {
    ROPE_F16 = 0, ROPE_F32 = 1, ROPE_F32_F64 = 2, ROPE_F64 = 3, ROPE_NDTYPES = 4
} rope_dtype;

/* Table element types produced by the cos/sin builder. */
typedef enum { ROPE_TABLE_F32 = 0, ROPE_TABLE_F64 = 1, ROPE_NTABLES = 2 } rope_table_type;

typedef enum {
    ROPE_SIMD_BASELINE = 0, /* x86-64 SSE2, any CPU */
    ROPE_SIMD_AVX2 = 1,     /* AVX2 + FMA + F16C (Haswell, Zen and later) */
    ROPE_SIMD_AVX512 = 2,   /* AVX-512 F/BW/DQ/VL + FMA + F16C (Skylake-X, Zen 4 and later) */
    ROPE_SIMD_NLEVELS = 3
} rope_simd_level;

/*
 * Rows of pairs to rotate, all with the same layout. Row i reads x + i*x_step and writes
 * out + i*out_step (bytes); its tables are cos + i*table_step and sin + i*table_step, m values
 * each (table_step 0: every row at the same position, e.g. the heads of one token).
 *   half-split (rotate[0]): pair j is (x[j], x[j + second]): second is the row's pair count
 *                 for a row in place, or the distance between two scratch runs;
 *   interleaved (rotate[1]): pair j is (x[2j], x[2j + 1]); `second` is unused.
 * Each pair becomes (x0 cos - x1 sin, x1 cos + x0 sin). Both members are loaded before either
 * is stored, so out == x (in place) is allowed; any other overlap is not (NumPy resolves
 * partial overlap before a loop runs). cos/sin are float or double as the rope_dtype says.
 *   stream: where the rows lie back to back (x_step is a row's bytes), how many bytes from x
 *           on the caller rotates in this run of calls; the kernel prefetches only inside
 *           them (0: not at all).
 */
typedef struct {
    ptrdiff_t rows, m, second;
    ptrdiff_t x_step, out_step, table_step;
    ptrdiff_t stream;
} rope_rows;

typedef void rope_rotate_fn(void *out, const void *x, const void *cos, const void *sin,
                            const rope_rows *rows);

/* How far ahead of the bytes being rotated a stream of rows is prefetched (see the rows
 * kernels in rope_kernels_body.h), by the kernels and by the loops around them. */
#define ROPE_STREAM_AHEAD 4096

/* Always inlined: gcc takes a function that only prefetches for one without effects and drops
 * the calls to it that it does not inline. */
static inline __attribute__((always_inline)) void rope_prefetch(const void *p, ptrdiff_t bytes)
{
    for (ptrdiff_t b = 0; b < bytes; b += 64) {
        __builtin_prefetch((const char *)p + b, 0, 3);
    }
}

/*
 * cos[j] = cos(pos * theta[j]), sin[j] = sin(pos * theta[j]) for j < m, written as float or
 * double. The product pos * theta[j] is formed exactly (as a sum of two doubles) and reduced
 * modulo 2 pi in double-double arithmetic, so the result is the correctly reduced angle of the
 * given float64 frequency at any |pos| <= 2^53, not the float32 product other libraries use.
 */
typedef void rope_cos_sin_fn(void *cos, void *sin, double pos, const double *theta,
                             ptrdiff_t m);

/*
 * Tables at the sum of two angles from the tables of each (m values of each, of the type
 * written: float or double):
 *     cos = cos_a cos_b - sin_a sin_b,  sin = sin_a cos_b + cos_a sin_b,
 * computed in that type (the rotation of the pair (cos_a, sin_a) by the angle b).
 */
typedef void rope_angle_add_fn(void *cos, void *sin, const void *cos_a, const void *sin_a,
                               const void *cos_b, const void *sin_b, ptrdiff_t m);

/* dst[2j] = dst[2j + 1] = src[j] for j < m, float or double: the tables of rotate_paired. */
typedef void rope_twice_fn(void *dst, const void *src, ptrdiff_t m);

typedef struct {
    const char *name;
    rope_rotate_fn *rotate[2][ROPE_NDTYPES]; /* [interleaved][dtype] */
    /* Interleaved too, with tables of 2m values per row, each pair's value twice:
     * cos[2j] = cos[2j + 1] is the cos of pair j (the same for sin). Same bits as rotate[1]. */
    rope_rotate_fn *rotate_paired[ROPE_NDTYPES];
    rope_twice_fn *twice[ROPE_NTABLES];
    rope_cos_sin_fn *cos_sin[ROPE_NTABLES];
    rope_angle_add_fn *angle_add[ROPE_NTABLES];
    /* rotate[1][dtype] holds the tables of interleaved rows that share them (table_step 0)
     * in registers when m is a multiple of 8 and at most held_pairs[dtype] (0: never). Those
     * rows are then faster with tables of m values than with rotate_paired's 2m. */
    ptrdiff_t held_pairs[ROPE_NDTYPES];
    /* As rotate, for rows of every other element (x[..., ::2] of a wider array): element e
     * of row i at x + i*x_step + 2e items, and likewise for out; `second` counts the row's
     * elements, not the span's, and the rows lie back to back where x_step is their span
     * (4m items). Nothing outside the rows is read or written. NULL where a level has none
     * (below AVX-512, and for float32 tables and float64 data): the loops then go through
     * scratch. */
    rope_rotate_fn *rotate_every_other[2][ROPE_NDTYPES]; /* [interleaved][dtype] */
} rope_kernel_table;

static inline int rope_tables_held(const rope_kernel_table *kernels, rope_dtype dtype,
                                   ptrdiff_t m)
{
    return m % 8 == 0 && m <= kernels->held_pairs[dtype];
}


/* The kernel table of a level. Every level is compiled in on x86; elsewhere only the baseline
 * (portable C) exists and is returned for every level. Whether the CPU runs it is separate. */
const rope_kernel_table *rope_kernels_of(rope_simd_level level);

/* The highest level this CPU (and its OS) supports. */
rope_simd_level rope_cpu_best_level(void);

#endif
