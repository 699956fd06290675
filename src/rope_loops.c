/*
 * rope_loops.c: gufunc inner loops over the pure kernels (see rope_loops.h).
 */
#include "rope_loops.h"

#include <fenv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pairs per scratch run in the strided paths: 4 runs of 256 eight-byte slots, 8 KiB of stack. */
#define ROPE_CHUNK 256

static const rope_kernel_table *rope_kernels_in_use;

const rope_kernel_table *rope_active_kernels(void)
{
    return rope_atomic_load_ptr(&rope_kernels_in_use);
}

void rope_set_active_kernels(const rope_kernel_table *kernels)
{
    rope_atomic_store_ptr(&rope_kernels_in_use, kernels);
}

/* Bytes per data element and per table element, by rope_dtype (F16, F32, F32_F64, F64, BF16). */
static const npy_intp rope_item_size[ROPE_NDTYPES] = {2, 4, 4, 8, 2};
static const npy_intp rope_table_item_size[ROPE_NDTYPES] = {4, 4, 8, 8, 4};

/* Gathers into scratch and scatters out of it move 16 bytes (16 / item elements) per access
 * of the scratch run. The kernel reads and writes scratch 16 bytes or more at once, and a
 * load that spans several smaller stores still in the store buffer (or only part of a larger
 * one, on some CPUs) cannot take its value from them: it waits until they reach the cache.
 * Element by element, the strided-view path ran 13.6 or 22 ms for 64 MiB depending only on
 * the code's alignment. */
ROPE_INLINE void
rope_gather(char *dst, const char *src, npy_intp src_stride, npy_intp count, const npy_intp item)
{
    npy_intp i = 0;
    if (src_stride == 2 * item) {
        /* Every other element (x[..., ::2]): gcc vectorizes this loop, whole vectors of src
         * reduced to their even elements by shuffles. */
        for (; i < count; i++) {
            memcpy(dst + i * item, src + 2 * i * item, (size_t)item);
        }
        return;
    }
    for (; i + 16 / item <= count; i += 16 / item) {
        char run[16];
        for (npy_intp j = 0; j < 16 / item; j++) {
            memcpy(run + j * item, src + (i + j) * src_stride, (size_t)item);
        }
        memcpy(dst + i * item, run, 16);
    }
    for (; i < count; i++) {
        memcpy(dst + i * item, src + i * src_stride, (size_t)item);
    }
}

ROPE_INLINE void
rope_scatter(char *dst, npy_intp dst_stride, const char *src, npy_intp count, const npy_intp item)
{
    npy_intp i = 0;
    for (; i + 16 / item <= count; i += 16 / item) {
        char run[16];
        memcpy(run, src + i * item, 16);
        for (npy_intp j = 0; j < 16 / item; j++) {
            memcpy(dst + (i + j) * dst_stride, run + j * item, (size_t)item);
        }
    }
    for (; i < count; i++) {
        memcpy(dst + i * dst_stride, src + i * item, (size_t)item);
    }
}

/* Copy `count` elements of `item` bytes between runs with any byte strides, including zero
 * and negative ones. */
ROPE_INLINE void
rope_copy_items(char *dst, npy_intp dst_stride, const char *src, npy_intp src_stride,
                npy_intp count, const npy_intp item)
{
    if (dst_stride == item) {
        rope_gather(dst, src, src_stride, count, item);
    }
    else if (src_stride == item) {
        rope_scatter(dst, dst_stride, src, count, item);
    }
    else {
        for (npy_intp i = 0; i < count; i++) {
            memcpy(dst + i * dst_stride, src + i * src_stride, (size_t)item);
        }
    }
}

/* The same for `item` 2, 4 or 8. */
static void rope_strided_copy(char *dst, npy_intp dst_stride, const char *src,
                              npy_intp src_stride, npy_intp count, npy_intp item)
{
    if (dst_stride == item && src_stride == item) {
        memcpy(dst, src, (size_t)(count * item));
        return;
    }
    switch (item) {
    case 2: rope_copy_items(dst, dst_stride, src, src_stride, count, 2); break;
    case 4: rope_copy_items(dst, dst_stride, src, src_stride, count, 4); break;
    default: rope_copy_items(dst, dst_stride, src, src_stride, count, 8); break;
    }
}

/* 1 where x and out are contiguous rows, 2 where they are every other element of wider rows
 * (x[..., ::2]), which the kernels rotate in place; 0 for any other strides (scratch). */
static int rope_spacing(npy_intp x_stride, npy_intp out_stride, npy_intp item)
{
    if (x_stride == item && out_stride == item) {
        return 1;
    }
    return x_stride == 2 * item && out_stride == 2 * item ? 2 : 0;
}

/* Rotate pairs j0 ... j0 + m - 1 of one row whose tables are contiguous runs of m values:
 * directly where the row's spacing is one the kernels take, else through scratch runs. */
static void rope_rotate_pairs_of_row(const rope_kernel_table *kern, const rope_rotate_spec *spec,
                                     char *out, const char *x, const char *cos, const char *sin,
                                     npy_intp j0, npy_intp m, npy_intp k, npy_intp x_stride,
                                     npy_intp out_stride, int spacing)
{
    const npy_intp item = rope_item_size[spec->dtype];
    rope_rows one = {.rows = 1, .m = m, .second = k, .spacing = spacing};
    if (!spacing) {
        /* Gather the two members of each pair into two runs, rotate them as half-split pairs
         * (whatever the layout), scatter them back. */
        double ab[2 * ROPE_CHUNK];
        char *a = (char *)ab, *b = a + m * item;
        const npy_intp x_pair = spec->interleaved ? 2 * x_stride : x_stride;
        const npy_intp x_second = spec->interleaved ? x_stride : k * x_stride;
        const npy_intp out_pair = spec->interleaved ? 2 * out_stride : out_stride;
        const npy_intp out_second = spec->interleaved ? out_stride : k * out_stride;
        x += j0 * x_pair;
        out += j0 * out_pair;
        rope_strided_copy(a, item, x, x_pair, m, item);
        rope_strided_copy(b, item, x + x_second, x_pair, m, item);
        one.second = m;
        one.spacing = 1;
        kern->rotate[0][spec->dtype](a, a, cos, sin, &one);
        rope_strided_copy(out, out_pair, a, item, m, item);
        rope_strided_copy(out + out_second, out_pair, b, item, m, item);
        return;
    }
    const npy_intp offset = (spec->interleaved ? 2 : 1) * spacing * j0 * item;
    kern->rotate[spec->interleaved][spec->dtype](out + offset, x + offset, cos, sin, &one);
}

/*
 * One row whose core strides the kernels do not take: chunk by chunk, gather its tables into
 * contiguous runs (unless they are already) and rotate the chunk's pairs through scratch runs
 * (rope_rotate_pairs_of_row).
 */
static void rope_rotate_row_strided(const rope_kernel_table *kern, const rope_rotate_spec *spec,
                                    char *out, const char *x, const char *cos, const char *sin,
                                    npy_intp k, npy_intp x_stride, npy_intp out_stride,
                                    npy_intp cos_stride, npy_intp sin_stride, int spacing)
{
    const npy_intp table_item = rope_table_item_size[spec->dtype];
    const int tables_contiguous = cos_stride == table_item && sin_stride == table_item;
    double c[ROPE_CHUNK], s[ROPE_CHUNK];

    for (npy_intp j = 0; j < k; j += ROPE_CHUNK) {
        const npy_intp m = k - j < ROPE_CHUNK ? k - j : ROPE_CHUNK;
        const char *cj = cos + j * cos_stride, *sj = sin + j * sin_stride;
        if (!tables_contiguous) {
            rope_strided_copy((char *)c, table_item, cj, cos_stride, m, table_item);
            rope_strided_copy((char *)s, table_item, sj, sin_stride, m, table_item);
            cj = (const char *)c;
            sj = (const char *)s;
        }
        rope_rotate_pairs_of_row(kern, spec, out, x, cj, sj, j, m, k, x_stride, out_stride,
                                 spacing);
    }
}

/* Coordinates past the 2k rotated ones, copied row by row into an output that is not x. */
static void rope_copy_rest(char *out, npy_intp out_step, npy_intp out_stride, const char *x,
                           npy_intp x_step, npy_intp x_stride, npy_intp rows, npy_intp n,
                           npy_intp k, npy_intp item)
{
    for (npy_intp i = 0; i < rows; i++) {
        rope_strided_copy(out + i * out_step + 2 * k * out_stride, out_stride,
                          x + i * x_step + 2 * k * x_stride, x_stride, n - 2 * k, item);
    }
}

/* Where the last call of rope_rotate_loop on this thread stopped reading x. NumPy hands the
 * loop one outer index per call (a token's heads, with tables broadcast over them), in memory
 * order; a call that begins where the last one ended is taken to go on, and prefetches
 * ROPE_STREAM_AHEAD bytes past its own rows (NumPy's calls are too short for the prefetch
 * inside them to start). A call that begins elsewhere (the q heads of a fused qkv, token after
 * token) prefetches only inside its own rows. */
static ROPE_THREAD_LOCAL const char *rope_stream_end;

static void rope_rotate_loop_bare(char **args, npy_intp const *dimensions,
                                  npy_intp const *steps, void *data)
{
    const rope_rotate_spec *spec = data;
    const rope_kernel_table *kern = rope_active_kernels();
    const npy_intp count = dimensions[0], n = dimensions[1], k = dimensions[2];
    const npy_intp item = rope_item_size[spec->dtype];
    const npy_intp table_item = rope_table_item_size[spec->dtype];
    const npy_intp x_step = steps[0], cos_step = steps[1], sin_step = steps[2],
                   out_step = steps[3];
    const npy_intp x_stride = steps[4], cos_stride = steps[5], sin_stride = steps[6],
                   out_stride = steps[7];
    char *x = args[0], *cos = args[1], *sin = args[2], *out = args[3];

    /* out=x reaches us as the same memory; its pass-through coordinates are then in place. */
    const int in_place = x == out && x_step == out_step && x_stride == out_stride;
    const int tables_contiguous = cos_stride == table_item && sin_stride == table_item;
    const int spacing = rope_spacing(x_stride, out_stride, item);

    if (spacing && tables_contiguous && cos_step == sin_step) {
        const npy_intp ahead = x == rope_stream_end ? ROPE_STREAM_AHEAD : 0;
        rope_stream_end = x + count * x_step;
        const rope_rows rows = {.rows = count, .m = k, .second = k, .x_step = x_step,
                                .out_step = out_step, .table_step = cos_step,
                                .stream = count * x_step + ahead, .spacing = spacing};
        kern->rotate[spec->interleaved][spec->dtype](out, x, cos, sin, &rows);
    }
    else {
        for (npy_intp i = 0; i < count; i++) {
            rope_rotate_row_strided(kern, spec, out + i * out_step, x + i * x_step,
                                    cos + i * cos_step, sin + i * sin_step, k, x_stride,
                                    out_stride, cos_stride, sin_stride, spacing);
        }
    }
    /* An output NumPy allocated or buffered is write-only: every element gets written. */
    if (!in_place && n > 2 * k) {
        rope_copy_rest(out, out_step, out_stride, x, x_step, x_stride, count, n, k, item);
    }
}

static void rope_rotate_rows_loop_bare(char **args, npy_intp const *dimensions,
                                       npy_intp const *steps, void *data)
{
    /* Each block is rotate's loop over r rows with table step 0: its rows share the tables,
     * read once from memory for all of them. */
    const rope_rotate_spec *spec = data;
    const npy_intp count = dimensions[0], rows = dimensions[1], n = dimensions[2],
                   k = dimensions[3];
    const npy_intp item = rope_item_size[spec->dtype];
    const npy_intp table_item = rope_table_item_size[spec->dtype];
    const npy_intp x_row = steps[4], x_stride = steps[5], cos_stride = steps[6],
                   sin_stride = steps[7], out_row = steps[8], out_stride = steps[9];
    const int in_place = args[0] == args[3] && steps[0] == steps[3] && x_row == out_row &&
                         x_stride == out_stride;
    const int spacing = rope_spacing(x_stride, out_stride, item);
    /* Blocks with nothing to copy past the rotated coordinates go to the kernel block by block
     * (one call each, not one per row). */
    if (spacing && cos_stride == table_item && sin_stride == table_item &&
        steps[1] == steps[2] && (in_place || n == 2 * k)) {
        rope_rotate_fn *rotate = rope_active_kernels()->rotate[spec->interleaved][spec->dtype];
        const npy_intp block = rows * x_row;
        for (npy_intp i = 0; i < count; i++) {
            /* blocks back to back: the stream goes on to the last one */
            const rope_rows r = {.rows = rows, .m = k, .second = k, .x_step = x_row,
                                 .out_step = out_row, .table_step = 0,
                                 .stream = steps[0] == block ? (count - i) * block : block,
                                 .spacing = spacing};
            rotate(args[3] + i * steps[3], args[0] + i * steps[0], args[1] + i * steps[1],
                   args[2] + i * steps[2], &r);
        }
        return;
    }
    const npy_intp block_dimensions[3] = {rows, n, k};
    const npy_intp block_steps[8] = {x_row, 0, 0, out_row, x_stride, cos_stride, sin_stride,
                                     out_stride};
    for (npy_intp i = 0; i < count; i++) {
        char *block[4] = {args[0] + i * steps[0], args[1] + i * steps[1],
                          args[2] + i * steps[2], args[3] + i * steps[3]};
        rope_rotate_loop_bare(block, block_dimensions, block_steps, data);
    }
}

static double rope_read_position(const char *p, int position_type)
{
    if (position_type == NPY_INT64) {
        npy_int64 v;
        memcpy(&v, p, sizeof v);
        return (double)v; /* exact for |v| <= 2^53, the bound rope.apply enforces */
    }
    if (position_type == NPY_INT32) {
        npy_int32 v;
        memcpy(&v, p, sizeof v);
        return (double)v;
    }
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void rope_cos_sin_loop_bare(char **args, npy_intp const *dimensions,
                                   npy_intp const *steps, void *data)
{
    const rope_cos_sin_spec *spec = data;
    const rope_kernel_table *kern = rope_active_kernels();
    rope_cos_sin_fn *cos_sin = kern->cos_sin[spec->table];
    const npy_intp count = dimensions[0], k = dimensions[1];
    const npy_intp pos_step = steps[0], theta_step = steps[1], cos_step = steps[2],
                   sin_step = steps[3];
    const npy_intp theta_stride = steps[4], cos_stride = steps[5], sin_stride = steps[6];
    const npy_intp table_item = spec->table == ROPE_TABLE_F32 ? 4 : 8;
    const int contiguous = theta_stride == 8 && cos_stride == table_item &&
                           sin_stride == table_item;
    char *pos = args[0], *theta = args[1], *cos = args[2], *sin = args[3];
    double t[ROPE_CHUNK], c[ROPE_CHUNK], s[ROPE_CHUNK];

    for (npy_intp i = 0; i < count; i++) {
        const double p = rope_read_position(pos, spec->position_type);
        if (contiguous) {
            cos_sin(cos, sin, p, (const double *)theta, k);
        }
        else {
            for (npy_intp j = 0; j < k; j += ROPE_CHUNK) {
                const npy_intp m = k - j < ROPE_CHUNK ? k - j : ROPE_CHUNK;
                rope_strided_copy((char *)t, 8, theta + j * theta_stride, theta_stride, m, 8);
                cos_sin(c, s, p, t, m);
                rope_strided_copy(cos + j * cos_stride, cos_stride, (const char *)c, table_item,
                                  m, table_item);
                rope_strided_copy(sin + j * sin_stride, sin_stride, (const char *)s, table_item,
                                  m, table_item);
            }
        }
        pos += pos_step;
        theta += theta_step;
        cos += cos_step;
        sin += sin_step;
    }
}

/*
 * Exact tables by angle addition. The exact builder (double-double reduction, polynomials) costs
 * more than rotating eight heads with the result; prefill needs one table per token. Integer
 * positions p = a + r, with a a multiple of ROPE_OFFSETS (32) and 0 <= r < ROPE_OFFSETS, take
 * the exact tables of a (one per 32 tokens) and of r (one per offset, built on first use) and
 * combine them:
 *     cos(p t) = cos(a t) cos(r t) - sin(a t) sin(r t),  sin(p t) = sin(a t) cos(r t) + ...
 * which is the rotation of the pair (cos(a t), sin(a t)) by the angle r t: the split rotation
 * kernel of the table type, rotating the anchor's tables by the offset's. float64 tables
 * (float32 data): each factor is within an ulp of float64, so the sum is within a few
 * (~1e-16), invisible once the data is rounded. float32 tables (float16 data) are added in
 * float32: within ~2 ulps of float32 where the direct builder is within half of one. Against
 * correctly rounded float16 results, 1.5 in 10^4 elements differ either way (the rotation
 * itself is float32 arithmetic), 2.0 in 10^4 with these tables. float64 data keeps the
 * direct builder.
 */
#define ROPE_OFFSETS 32 /* a power of two, at most 64 (the bits of `built`) */

typedef struct {
    const rope_kernel_table *kern;
    rope_table_type table;   /* the type of the tables it writes, and of those it keeps */
    npy_intp table_item;     /* its size in bytes */
    const double *theta;     /* k contiguous frequencies */
    npy_intp k;
    char *offsets;           /* ROPE_OFFSETS rows of cos | sin of r*theta, or NULL: direct */
    unsigned long long built; /* bit r: offsets row r holds its values */
    int have_anchor;
    double anchor;
    double anchor_cs[2 * ROPE_CHUNK]; /* cos | sin of anchor*theta, of the table type */
} rope_table_builder;

static int rope_integral(double p)
{
    /* tested without libm's floor, a call at the baseline level */
    return fabs(p) <= 0x1p53 && (double)(long long)p == p;
}

/* cos then sin (k values each, of tb->table's type) of (p + i)*theta for i < run, into rows
 * `row_bytes` apart at cs. A run of integer positions shares p's anchor (p mod ROPE_OFFSETS +
 * run <= ROPE_OFFSETS, see rope_run_length): the offsets' pairs (cos r t, sin r t) are rotated
 * by the anchor's angle, one call of the split kernel for the run, the anchor's tables held
 * across its rows. A float -0.0 takes the exact builder, whose sin keeps its sign. */
static void rope_tables_at(rope_table_builder *tb, double p, npy_intp run, char *cs,
                           npy_intp row_bytes)
{
    rope_cos_sin_fn *exact = tb->kern->cos_sin[tb->table];
    const npy_intp k = tb->k, half = k * tb->table_item; /* bytes from cos to sin */
    if (tb->offsets == NULL || !rope_integral(p) || (p == 0.0 && signbit(p))) {
        for (npy_intp i = 0; i < run; i++) {
            exact(cs + i * row_bytes, cs + i * row_bytes + half, p + (double)i, tb->theta, k);
        }
        return;
    }
    const long long ip = (long long)p;
    const long long r = ip & (ROPE_OFFSETS - 1); /* p mod ROPE_OFFSETS, also for p < 0 */
    const double a = (double)(ip - r);
    char *anchor = (char *)tb->anchor_cs;
    if (!tb->have_anchor || a != tb->anchor) {
        exact(anchor, anchor + half, a, tb->theta, k);
        tb->anchor = a;
        tb->have_anchor = 1;
    }
    for (long long o = r; o < r + run; o++) {
        if (!(tb->built & (1ull << o))) {
            char *offset = tb->offsets + 2 * half * (npy_intp)o;
            exact(offset, offset + half, (double)o, tb->theta, k);
            tb->built |= 1ull << o;
        }
    }
    const rope_rows rows = {.rows = run, .m = k, .second = k, .x_step = 2 * half,
                            .out_step = row_bytes, .table_step = 0, .spacing = 1};
    const rope_dtype of_tables = tb->table == ROPE_TABLE_F32 ? ROPE_F32 : ROPE_F64;
    tb->kern->rotate[0][of_tables](cs, tb->offsets + 2 * half * (npy_intp)r, anchor,
                                   anchor + half, &rows);
}

/* How many positions, at most `left`, from the one at pos (p) on go up by one each while
 * sharing p's anchor: the run rope_tables_at builds at once (1 without angle addition). */
static npy_intp rope_run_length(const rope_table_builder *tb, const char *pos, npy_intp stride,
                                int position_type, double p, npy_intp left)
{
    if (tb->offsets == NULL || !rope_integral(p)) {
        return 1;
    }
    const long long r = (long long)p & (ROPE_OFFSETS - 1);
    npy_intp run = 1;
    while (run < left && r + run < ROPE_OFFSETS &&
           rope_read_position(pos + run * stride, position_type) == p + (double)run) {
        run++;
    }
    return run;
}

/* The kernels prefetch the rows of a block, and past its end where the next block follows it
 * (see rope_rows.stream). Blocks apart (the q heads of a fused qkv, token after token) have
 * the next block's first ROPE_STREAM_AHEAD bytes asked for before each block instead. */
static void rope_rotate_at_loop_bare(char **args, npy_intp const *dimensions,
                                     npy_intp const *steps, void *data)
{
    const rope_rotate_at_spec *spec = data;
    const rope_rotate_spec *rotate = &spec->rotate;
    const rope_kernel_table *kern = rope_active_kernels();
    const npy_intp count = dimensions[0], nrows = dimensions[1], n = dimensions[2],
                   k = dimensions[3];
    const npy_intp item = rope_item_size[rotate->dtype];
    const npy_intp x_step = steps[0], pos_step = steps[1], theta_step = steps[2],
                   out_step = steps[3];
    const npy_intp x_row = steps[4], x_stride = steps[5], theta_stride = steps[6],
                   out_row = steps[7], out_stride = steps[8];
    char *x = args[0], *pos = args[1], *theta = args[2], *out = args[3];
    const int in_place = x == out && x_step == out_step && x_row == out_row &&
                         x_stride == out_stride;
    const int spacing = rope_spacing(x_stride, out_stride, item);
    const npy_intp table_item = rope_table_item_size[rotate->dtype];
    const rope_table_type table = table_item == 4 ? ROPE_TABLE_F32 : ROPE_TABLE_F64;
    double t[ROPE_CHUNK];
    double cs[2 * ROPE_CHUNK]; /* a position's cos then sin, float or double values */
    char *c = (char *)cs, *s = c + k * table_item;
    rope_table_builder tb = {.kern = kern, .table = table, .table_item = table_item,
                             .theta = t, .k = k};
    const char *tb_theta = NULL; /* whose frequencies are in t */
    int have_tables = 0;
    double last_pos = 0.0;

    /* Angle addition pays off once a call covers many positions: prefill, not decode. */
    if (rotate->dtype != ROPE_F64 && k <= ROPE_CHUNK && pos_step != 0 &&
        count >= 2 * ROPE_OFFSETS) {
        tb.offsets = malloc((size_t)(2 * ROPE_OFFSETS * k * table_item)); /* NULL: direct */
    }
    for (npy_intp i = 0; i < count; i++) {
        const double p = rope_read_position(pos, spec->position_type);
        if (k <= ROPE_CHUNK) {
            if (theta != tb_theta) { /* new frequencies: nothing built so far holds */
                rope_strided_copy((char *)t, 8, theta, theta_stride, k, 8);
                tb.built = 0;
                tb.have_anchor = 0;
                have_tables = 0;
                tb_theta = theta;
            }
            /* The same position as the last (bit for bit: -0.0 and 0.0 differ in sin's sign):
             * its tables are still in cs. */
            if (!have_tables || memcmp(&p, &last_pos, sizeof p) != 0) {
                rope_tables_at(&tb, p, 1, c, 0);
                have_tables = 1;
                last_pos = p;
            }
            /* Blocks back to back: the stream goes on to the last block. */
            const npy_intp block = nrows * x_row;
            const int apart = x_step != block;
            if (spacing && apart && x_row == n * x_stride && i + 1 < count) {
                const npy_intp ahead = block < ROPE_STREAM_AHEAD ? block : ROPE_STREAM_AHEAD;
                rope_prefetch(x + x_step, ahead);
            }
            if (spacing) {
                const rope_rows rows = {.rows = nrows, .m = k, .second = k, .x_step = x_row,
                                        .out_step = out_row, .table_step = 0,
                                        .stream = apart ? block : (count - i) * x_step,
                                        .spacing = spacing};
                kern->rotate[rotate->interleaved][rotate->dtype](out, x, c, s, &rows);
            }
            else {
                for (npy_intp r = 0; r < nrows; r++) {
                    rope_rotate_pairs_of_row(kern, rotate, out + r * out_row, x + r * x_row,
                                             c, s, 0, k, k, x_stride, out_stride, 0);
                }
            }
        }
        else { /* rows longer than the scratch: chunk by chunk, direct tables */
            rope_cos_sin_fn *cos_sin = kern->cos_sin[table];
            for (npy_intp j = 0; j < k; j += ROPE_CHUNK) {
                const npy_intp m = k - j < ROPE_CHUNK ? k - j : ROPE_CHUNK;
                rope_strided_copy((char *)t, 8, theta + j * theta_stride, theta_stride, m, 8);
                cos_sin(cs, (char *)cs + m * table_item, p, t, m);
                for (npy_intp r = 0; r < nrows; r++) {
                    rope_rotate_pairs_of_row(kern, rotate, out + r * out_row, x + r * x_row,
                                             (const char *)cs,
                                             (const char *)cs + m * table_item, j, m, k,
                                             x_stride, out_stride, spacing);
                }
            }
        }
        if (!in_place && n > 2 * k) {
            rope_copy_rest(out, out_row, out_stride, x, x_row, x_stride, nrows, n, k, item);
        }
        x += x_step;
        pos += pos_step;
        theta += theta_step;
        out += out_step;
    }
    free(tb.offsets);
}

/* Rows of planes that share their tables row by row (the heads of a (batch, heads, seq,
 * dim) x): `rows` rows in each of `planes` planes, x_plane and out_plane bytes apart; row t's
 * tables at cos + t*table_step and sin + t*table_step (k contiguous values each). */
typedef struct {
    npy_intp planes, rows, n, k, item;
    npy_intp x_plane, x_row, x_stride, out_plane, out_row, out_stride, table_step;
    int spacing, in_place;
} rope_plane_rows;

/* The rows of pr from x into out, two planes at a time where they lie apart (the kernels' twin
 * planes: every vector of the tables read once for both), a plane alone otherwise. `next` is
 * where the planes rotated after these begin (asked for while the last ones rotate), or NULL. */
static void rope_rotate_plane_rows(const rope_kernel_table *kern, const rope_rotate_spec *rotate,
                                   const rope_plane_rows *pr, char *out, const char *x,
                                   const char *cos, const char *sin, const char *next)
{
    const npy_intp rows = pr->rows, k = pr->k;
    npy_intp twins = 1;
    for (npy_intp p = 0; p < pr->planes; p += twins) {
        /* (a plane step of 0, x broadcast into out, has no twin to read at once) */
        twins = p + 1 < pr->planes && pr->x_plane != 0 && pr->out_plane != 0 ? 2 : 1;
        const char *xp = x + p * pr->x_plane;
        char *op = out + p * pr->out_plane;
        if (!pr->spacing) {
            for (npy_intp u = 0; u < twins; u++) {
                for (npy_intp t = 0; t < rows; t++) {
                    rope_rotate_pairs_of_row(kern, rotate,
                                             op + u * pr->out_plane + t * pr->out_row,
                                             xp + u * pr->x_plane + t * pr->x_row,
                                             cos + t * pr->table_step, sin + t * pr->table_step,
                                             0, k, k, pr->x_stride, pr->out_stride, 0);
                }
            }
        }
        else {
            /* The next planes' rows: asked for while these rotate, half the distance each. */
            const char *after = p + twins < pr->planes ? xp + twins * pr->x_plane : next;
            const npy_intp ahead = rows * pr->x_row < ROPE_STREAM_AHEAD / 2
                                       ? rows * pr->x_row : ROPE_STREAM_AHEAD / 2;
            for (npy_intp u = 0; after != NULL && u < 2 && u < pr->planes; u++) {
                rope_prefetch(after + u * pr->x_plane, ahead);
            }
            const rope_rows r = {.rows = rows, .m = k, .second = k, .x_step = pr->x_row,
                                 .out_step = pr->out_row, .table_step = pr->table_step,
                                 .stream = rows * pr->x_row,
                                 .x_plane = twins == 2 ? pr->x_plane : 0,
                                 .out_plane = twins == 2 ? pr->out_plane : 0,
                                 .spacing = pr->spacing};
            kern->rotate[rotate->interleaved][rotate->dtype](op, xp, cos, sin, &r);
        }
        if (!pr->in_place && pr->n > 2 * k) {
            for (npy_intp u = 0; u < twins; u++) {
                rope_copy_rest(op + u * pr->out_plane, pr->out_row, pr->out_stride,
                               xp + u * pr->x_plane, pr->x_row, pr->x_stride, rows, pr->n, k,
                               pr->item);
            }
        }
    }
}

/*
 * (h,s,n),(s),(k)->(h,s,n): h planes (the heads of a (batch, heads, seq, dim) x) of s rows,
 * row t of every plane at position pos[t]. The rows are taken in blocks of tokens: a block's
 * tables are built once (by angle addition, as rotate_at builds them) into ROPE_BLOCK_TABLES
 * bytes of scratch, a quarter of a 1 MiB L2 (the smallest of the cores rope runs on), then
 * each plane's rows of the block are rotated in turn, in every item at the same positions.
 * x is read plane by plane in runs of whole rows (128 KiB of float32 rows of 128): no set of
 * far-apart streams, whose addresses a multiple of 4 KiB apart alias in the load/store queues,
 * and runs long enough for the prefetchers to follow.
 */
#define ROPE_BLOCK_TABLES (256 * 1024)

static void rope_rotate_seq_at_loop_bare(char **args, npy_intp const *dimensions,
                                         npy_intp const *steps, void *data)
{
    const rope_rotate_at_spec *spec = data;
    const rope_rotate_spec *rotate = &spec->rotate;
    const rope_kernel_table *kern = rope_active_kernels();
    const npy_intp count = dimensions[0], planes = dimensions[1], seq = dimensions[2],
                   n = dimensions[3], k = dimensions[4];
    const npy_intp item = rope_item_size[rotate->dtype];
    const npy_intp table_item = rope_table_item_size[rotate->dtype];
    const npy_intp x_step = steps[0], pos_step = steps[1], theta_step = steps[2],
                   out_step = steps[3];
    const npy_intp x_plane = steps[4], x_row = steps[5], x_stride = steps[6],
                   pos_stride = steps[7], theta_stride = steps[8], out_plane = steps[9],
                   out_row = steps[10], out_stride = steps[11];
    const int in_place = args[0] == args[3] && x_step == out_step && x_plane == out_plane &&
                         x_row == out_row && x_stride == out_stride;
    const int spacing = rope_spacing(x_stride, out_stride, item);
    if (k > ROPE_CHUNK) {
        /* Rows longer than the scratch: each plane through rotate_at's loop, a row a block. */
        for (npy_intp i = 0; i < count; i++) {
            for (npy_intp p = 0; p < planes; p++) {
                char *plane_args[4] = {args[0] + i * x_step + p * x_plane,
                                       args[1] + i * pos_step, args[2] + i * theta_step,
                                       args[3] + i * out_step + p * out_plane};
                const npy_intp at_dims[4] = {seq, 1, n, k};
                const npy_intp at_steps[9] = {x_row, pos_stride, 0, out_row, 0, x_stride,
                                              theta_stride, 0, out_stride};
                rope_rotate_at_loop_bare(plane_args, at_dims, at_steps, data);
            }
        }
        return;
    }
    double theta[ROPE_CHUNK];
    double one_row[2 * ROPE_CHUNK]; /* the scratch if there is no memory for a block */
    const npy_intp row_tables = 2 * k * table_item; /* a row's cos then sin */
    char *tables = malloc(ROPE_BLOCK_TABLES);
    const npy_intp block = row_tables == 0 ? seq
                           : tables != NULL ? ROPE_BLOCK_TABLES / row_tables : 1;
    if (tables == NULL) {
        tables = (char *)one_row;
    }
    const rope_table_type table = table_item == 4 ? ROPE_TABLE_F32 : ROPE_TABLE_F64;
    rope_table_builder tb = {.kern = kern, .table = table, .table_item = table_item,
                             .theta = theta, .k = k};
    if (rotate->dtype != ROPE_F64 && k <= ROPE_CHUNK) {
        tb.offsets = malloc((size_t)(2 * ROPE_OFFSETS * k * table_item)); /* NULL: direct */
    }
    /* Items (batches) at the same positions and frequencies share each block's tables: the
     * block is built once and rotated in all of them before the next is built. */
    const npy_intp per_build = pos_step == 0 && theta_step == 0 ? count : 1;
    rope_plane_rows pr = {.planes = planes, .n = n, .k = k, .item = item, .x_plane = x_plane,
                          .x_row = x_row, .x_stride = x_stride, .out_plane = out_plane,
                          .out_row = out_row, .out_stride = out_stride,
                          .table_step = row_tables, .spacing = spacing, .in_place = in_place};
    for (npy_intp i0 = 0; i0 < count; i0 += per_build) {
        const char *pos = args[1] + i0 * pos_step;
        if (i0 == 0 || theta_step != 0) {
            rope_strided_copy((char *)theta, 8, args[2] + i0 * theta_step, theta_stride, k, 8);
            tb.built = 0;
            tb.have_anchor = 0;
        }
        for (npy_intp t0 = 0; t0 < seq; t0 += block) {
            const npy_intp rows = seq - t0 < block ? seq - t0 : block;
            for (npy_intp t = 0; t < rows;) {
                const char *at = pos + (t0 + t) * pos_stride;
                const double p = rope_read_position(at, spec->position_type);
                const npy_intp run = rope_run_length(&tb, at, pos_stride, spec->position_type,
                                                     p, rows - t);
                rope_tables_at(&tb, p, run, tables + t * row_tables, row_tables);
                t += run;
            }
            /* The block's rows in every item that shares its tables. */
            for (npy_intp i = i0; i < i0 + per_build; i++) {
                const char *next = i + 1 < i0 + per_build
                                       ? args[0] + (i + 1) * x_step + t0 * x_row : NULL;
                pr.rows = rows;
                rope_rotate_plane_rows(kern, rotate, &pr,
                                       args[3] + i * out_step + t0 * out_row,
                                       args[0] + i * x_step + t0 * x_row, tables,
                                       tables + k * table_item, next);
            }
        }
    }
    free(tb.offsets);
    if (tables != (char *)one_row) {
        free(tables);
    }
}

/*
 * (h,s,n),(s,k),(s,k)->(h,s,n): rotate_seq_at's planes by given tables (those of an attention
 * factor, say), row t of every plane by row t of cos and sin. The rows are taken in blocks of
 * tokens whose tables fill ROPE_BLOCK_TABLES, as rotate_seq_at builds them, every plane's rows
 * of a block (in every item with the same tables) before the next block: its tables stay in
 * L2 while the planes stream past them.
 */
static void rope_rotate_planes_loop_bare(char **args, npy_intp const *dimensions,
                                         npy_intp const *steps, void *data)
{
    const rope_rotate_spec *spec = data;
    const rope_kernel_table *kern = rope_active_kernels();
    const npy_intp count = dimensions[0], planes = dimensions[1], seq = dimensions[2],
                   n = dimensions[3], k = dimensions[4];
    const npy_intp item = rope_item_size[spec->dtype];
    const npy_intp table_item = rope_table_item_size[spec->dtype];
    const npy_intp x_step = steps[0], cos_step = steps[1], sin_step = steps[2],
                   out_step = steps[3];
    const npy_intp x_plane = steps[4], x_row = steps[5], x_stride = steps[6],
                   cos_row = steps[7], cos_stride = steps[8], sin_row = steps[9],
                   sin_stride = steps[10], out_plane = steps[11], out_row = steps[12],
                   out_stride = steps[13];
    const int in_place = args[0] == args[3] && x_step == out_step && x_plane == out_plane &&
                         x_row == out_row && x_stride == out_stride;
    const int spacing = rope_spacing(x_stride, out_stride, item);
    if (cos_stride != table_item || sin_stride != table_item || cos_row != sin_row) {
        /* Tables of other strides: row by row, each row's tables gathered. */
        for (npy_intp i = 0; i < count; i++) {
            for (npy_intp p = 0; p < planes; p++) {
                for (npy_intp t = 0; t < seq; t++) {
                    rope_rotate_row_strided(
                        kern, spec, args[3] + i * out_step + p * out_plane + t * out_row,
                        args[0] + i * x_step + p * x_plane + t * x_row,
                        args[1] + i * cos_step + t * cos_row,
                        args[2] + i * sin_step + t * sin_row, k, x_stride, out_stride,
                        cos_stride, sin_stride, spacing);
                }
                if (!in_place && n > 2 * k) {
                    rope_copy_rest(args[3] + i * out_step + p * out_plane, out_row, out_stride,
                                   args[0] + i * x_step + p * x_plane, x_row, x_stride, seq,
                                   n, k, item);
                }
            }
        }
        return;
    }
    const npy_intp block = k == 0 ? seq : ROPE_BLOCK_TABLES / (2 * k * table_item) > 1
                                              ? ROPE_BLOCK_TABLES / (2 * k * table_item) : 1;
    const npy_intp per_block = cos_step == 0 && sin_step == 0 ? count : 1;
    rope_plane_rows pr = {.planes = planes, .n = n, .k = k, .item = item, .x_plane = x_plane,
                          .x_row = x_row, .x_stride = x_stride, .out_plane = out_plane,
                          .out_row = out_row, .out_stride = out_stride, .table_step = cos_row,
                          .spacing = spacing, .in_place = in_place};
    for (npy_intp i0 = 0; i0 < count; i0 += per_block) {
        for (npy_intp t0 = 0; t0 < seq; t0 += block) {
            pr.rows = seq - t0 < block ? seq - t0 : block;
            for (npy_intp i = i0; i < i0 + per_block; i++) {
                const char *next = i + 1 < i0 + per_block
                                       ? args[0] + (i + 1) * x_step + t0 * x_row : NULL;
                rope_rotate_plane_rows(kern, spec, &pr, args[3] + i * out_step + t0 * out_row,
                                       args[0] + i * x_step + t0 * x_row,
                                       args[1] + i * cos_step + t0 * cos_row,
                                       args[2] + i * sin_step + t0 * sin_row, next);
            }
        }
    }
}

/*
 * (),(k)->(2,k): the tables rotate_at builds in its loop, for many positions at once, cos and
 * sin of a position as one row of 2k values (rope_tables_at writes them so, without a copy).
 * With 64 or more positions and k <= ROPE_CHUNK, integer positions take angle addition from
 * exact anchors and offsets: the same values, bit for bit, as rotate_at rotates by, at a
 * fraction of the exact builder's cost. Other positions take the exact builder.
 */
static void rope_tables_loop_bare(char **args, npy_intp const *dimensions,
                                  npy_intp const *steps, void *data)
{
    const rope_cos_sin_spec *spec = data;
    const rope_kernel_table *kern = rope_active_kernels();
    const npy_intp count = dimensions[0], k = dimensions[1]; /* the 2 is dimensions[2] */
    const npy_intp pos_step = steps[0], theta_step = steps[1], out_step = steps[2];
    const npy_intp theta_stride = steps[3], out_half = steps[4], out_stride = steps[5];
    const npy_intp table_item = spec->table == ROPE_TABLE_F32 ? 4 : 8;
    /* Rows of cos then sin, each contiguous: written in place. */
    const int direct = out_stride == table_item && out_half == k * table_item;
    double theta[ROPE_CHUNK];
    double cs[2 * ROPE_CHUNK];
    rope_table_builder tb = {.kern = kern, .table = spec->table, .table_item = table_item,
                             .theta = theta, .k = k};
    if (k > ROPE_CHUNK) { /* one chunk of frequencies at a time, exact */
        rope_cos_sin_fn *exact = kern->cos_sin[spec->table];
        for (npy_intp i = 0; i < count; i++) {
            const double p = rope_read_position(args[0] + i * pos_step, spec->position_type);
            for (npy_intp j = 0; j < k; j += ROPE_CHUNK) {
                const npy_intp m = k - j < ROPE_CHUNK ? k - j : ROPE_CHUNK;
                char *out = args[2] + i * out_step + j * out_stride;
                rope_strided_copy((char *)theta, 8, args[1] + i * theta_step + j * theta_stride,
                                  theta_stride, m, 8);
                exact(cs, (char *)cs + m * table_item, p, theta, m);
                rope_strided_copy(out, out_stride, (const char *)cs, table_item, m, table_item);
                rope_strided_copy(out + out_half, out_stride,
                                  (const char *)cs + m * table_item, table_item, m, table_item);
            }
        }
        return;
    }
    if (count >= 2 * ROPE_OFFSETS && pos_step != 0) {
        tb.offsets = malloc((size_t)(2 * ROPE_OFFSETS * k * table_item)); /* NULL: direct */
    }
    for (npy_intp i = 0; i < count;) {
        if (i == 0 || theta_step != 0) {
            rope_strided_copy((char *)theta, 8, args[1] + i * theta_step, theta_stride, k, 8);
            tb.built = 0;
            tb.have_anchor = 0;
        }
        const char *at = args[0] + i * pos_step;
        const double p = rope_read_position(at, spec->position_type);
        char *out = args[2] + i * out_step;
        if (direct) { /* a run of positions, theta the same for them */
            const npy_intp run = theta_step != 0 ? 1 : rope_run_length(
                &tb, at, pos_step, spec->position_type, p, count - i);
            rope_tables_at(&tb, p, run, out, out_step);
            i += run;
            continue;
        }
        i++;
        rope_tables_at(&tb, p, 1, (char *)cs, 0);
        rope_strided_copy(out, out_stride, (const char *)cs, table_item, k, table_item);
        rope_strided_copy(out + out_half, out_stride, (const char *)cs + k * table_item,
                          table_item, k, table_item);
    }
    free(tb.offsets);
}

/*
 * The registered loops: each leaves the floating-point status flags as it found them. NumPy
 * reads the flags after a loop to warn or raise (np.errstate); a float16 conversion that
 * overflows to inf sets them at the levels that convert in hardware (F16C, AVX-512) and not at
 * those that convert in integer code, and a FloatingPointError after the loop would come with
 * x already rotated. So overflow rounds to inf without a warning at every level: the flags a
 * loop raises are cleared, those raised before it are kept. Inexact, which nearly every
 * rounding raises and NumPy never reads, is left alone.
 */
#define ROPE_FP_WATCHED (FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID) /* NumPy's */

#define ROPE_KEEPING_FP_STATUS(name)                                                          \
    void name(char **args, npy_intp const *dimensions, npy_intp const *steps, void *data)     \
    {                                                                                         \
        const int before = fetestexcept(ROPE_FP_WATCHED);                                     \
        name##_bare(args, dimensions, steps, data);                                           \
        const int raised = fetestexcept(ROPE_FP_WATCHED) & ~before;                           \
        if (raised) { /* rarely: clearing rewrites the x87 environment too */                 \
            feclearexcept(raised);                                                            \
        }                                                                                     \
    }

ROPE_KEEPING_FP_STATUS(rope_rotate_loop)
ROPE_KEEPING_FP_STATUS(rope_rotate_rows_loop)
ROPE_KEEPING_FP_STATUS(rope_cos_sin_loop)
ROPE_KEEPING_FP_STATUS(rope_rotate_at_loop)
ROPE_KEEPING_FP_STATUS(rope_rotate_seq_at_loop)
ROPE_KEEPING_FP_STATUS(rope_rotate_planes_loop)
ROPE_KEEPING_FP_STATUS(rope_tables_loop)
