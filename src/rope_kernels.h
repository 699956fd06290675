/*
 * rope_kernels.h: the pure C kernels of rope.
 *
 * Nothing here knows Python or NumPy: kernels see pointers, pair counts and byte strides.
 * Every kernel is written once (rope_rotate.inc.c, rope_trig.inc.c) over a small vocabulary
 * of vector operations (rope_simd_*.h) and compiled once per SIMD level, each level in its own
 * file with its own compiler flags (rope_level_*.c). rope_dispatch.c tells which levels the
 * CPU runs; the module picks one at import and the loops call through its table.
 */
#ifndef ROPE_KERNELS_H
#define ROPE_KERNELS_H

#include "rope_portable.h"

/* Data type of the rotated elements, with the type of their cos/sin tables:
 *   ROPE_F16      float16 data, float32 tables, computed in float32;
 *   ROPE_BF16     bfloat16 data, float32 tables, computed in float32;
 *   ROPE_F32      float32 data, float32 tables, computed in float32 (fast, ~1 ulp);
 *   ROPE_F32_F64  float32 data, float64 tables, computed in float64 and rounded once: within
 *                 half an ulp of the exact rotation plus a double rounding, what rope.apply uses;
 *   ROPE_F64      float64 data, float64 tables. */
typedef enum {
    ROPE_F16 = 0, ROPE_F32 = 1, ROPE_F32_F64 = 2, ROPE_F64 = 3, ROPE_BF16 = 4, ROPE_NDTYPES = 5
} rope_dtype;

/* Table element types produced by the cos/sin builder. */
typedef enum { ROPE_TABLE_F32 = 0, ROPE_TABLE_F64 = 1, ROPE_NTABLES = 2 } rope_table_type;

/*
 * Rows of pairs to rotate, all with the same layout. Row i reads x + i*x_step and writes
 * out + i*out_step (bytes); its tables are cos + i*table_step and sin + i*table_step, m values
 * each (table_step 0: every row at the same position, e.g. the heads of one token).
 *   spacing: 1 where a row's elements are contiguous, 2 where they are every other element
 *            of a wider array (x[..., ::2]); element e of a row is then at x[2e]. Nothing
 *            outside the row's elements is read or written.
 *   second:  split pairing: pair j is (x[j], x[j + second]) (elements, not bytes): the row's
 *            pair count for a row in place, or the distance between two scratch runs;
 *            interleaved pairing: pair j is (x[2j], x[2j + 1]) and `second` is unused.
 * Each pair becomes (x0 cos - x1 sin, x1 cos + x0 sin). Both members are loaded before either
 * is stored, so out == x (in place) is allowed; any other overlap is not (NumPy resolves
 * partial overlap before a loop runs). cos/sin are float or double as the rope_dtype says.
 * m == 0 or rows == 0 rotates nothing and reads nothing.
 *   stream:  where the rows lie back to back (x_step is a row's span), how many bytes from x
 *            on the caller rotates in this run of calls; the kernel prefetches only inside
 *            them (0: not at all).
 *   x_plane, out_plane: 0, or the bytes from every row to its twin, a row at the same
 *            position in another plane (the next head of a (batch, heads, seq, dim) x),
 *            rotated with it by the same tables, read once for both; the twins' rows must not
 *            overlap the rows, and their streams are as long.
 */
typedef struct {
    ptrdiff_t rows, m, second;
    ptrdiff_t x_step, out_step, table_step;
    ptrdiff_t stream;
    ptrdiff_t x_plane, out_plane;
    int spacing;
} rope_rows;

typedef void rope_rotate_fn(void *out, const void *x, const void *cos, const void *sin,
                            const rope_rows *rows);

/* How far ahead of the bytes being rotated the kernels and the loops around them prefetch,
 * shared by the streams read side by side (twin planes): one stream of loads gets less of the
 * memory's bandwidth than the prefetches ask for, and the table building between a token's
 * rows leaves the memory idle unless the next rows are already asked for. About what one
 * core's stream has in flight (memory latency times bandwidth). -DROPE_STREAM_AHEAD=...
 * builds another distance, to compare (docs/performance.md). */
#ifndef ROPE_STREAM_AHEAD
#define ROPE_STREAM_AHEAD 8192
#endif

/*
 * cos[j] = cos(pos * theta[j]), sin[j] = sin(pos * theta[j]) for j < m, written as float or
 * double. The product pos * theta[j] is formed exactly (as a sum of two doubles) and reduced
 * modulo 2 pi in double-double arithmetic, so the result is the correctly reduced angle of the
 * given float64 frequency at any |pos * theta| <= 2^54, not the float32 product other
 * libraries use. Larger angles give NaN.
 */
typedef void rope_cos_sin_fn(void *cos, void *sin, double pos, const double *theta,
                             ptrdiff_t m);

typedef struct {
    const char *name;
    /* 1 where a*b + c is rounded once (FMA): such levels give the same bits as each other. */
    int fused;
    rope_rotate_fn *rotate[2][ROPE_NDTYPES]; /* [interleaved][dtype] */
    rope_cos_sin_fn *cos_sin[ROPE_NTABLES];
} rope_kernel_table;

/* The levels compiled into this build, lowest first, and how many of them the CPU (and its
 * OS) runs: rope_levels[0 ... rope_cpu_levels() - 1]. */
extern const rope_kernel_table *const rope_levels[];
extern const int rope_nlevels;
int rope_cpu_levels(void);

#endif
