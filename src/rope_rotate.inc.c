/*
 * rope_rotate.inc.c: the rotation kernels, written once over the vector vocabulary.
 *
 * rope_level.inc.c includes this file once per data type X (through rope_each_dtype.inc.h),
 * inside a level file compiled with that level's flags. It defines rope_rotate_split_X and
 * rope_rotate_interleaved_X, the rope_rotate_fn of that type (see rope_rows).
 *
 * One routine serves both pairings and both spacings: a vector's worth of pairs is loaded as
 * two vectors, the pairs' first members and their second members (from two places for the
 * split pairing; from one, deinterleaved, for the interleaved one), rotated lane by lane and
 * stored back the same way. Whole vectors first, then one vector of the pairs left, through
 * the vocabulary's partial loads and stores: every element is rounded by the same operations
 * wherever it sits in the row.
 */
#define ROPE_V ROPE_GLUE(rope_v, ROPE_T)
#define ROPE_LANES ROPE_GLUE(ROPE_LANES, ROPE_T)
#define ROPE_OP(op) ROPE_GLUE(rope_##op, ROPE_X)   /* of data type X: vocabulary and kernels */
#define ROPE_TOP(op) ROPE_GLUE(rope_##op, ROPE_T)  /* of the compute type */

/* (a c - b s, b c + a s) in every lane: each product of the second term is rounded, then
 * added in the fused operation. The same bits at every level where ROPE_FUSED is 1. */
ROPE_INLINE void ROPE_OP(rotate_lanes)(ROPE_V *a, ROPE_V *b, ROPE_V c, ROPE_V s)
{
    const ROPE_V a0 = *a, b0 = *b;
    *a = ROPE_TOP(mul_sub)(a0, c, ROPE_TOP(mul)(b0, s));
    *b = ROPE_TOP(mul_add)(b0, c, ROPE_TOP(mul)(a0, s));
}

/* Pairs j ... j + n - 1 (n <= lanes) of the row at x, rotated into the row at o, and with
 * `twins` 2 those of its twin row (x + x_twin into o + o_twin, bytes), by the same c and s.
 * Every member of every row is loaded before any is stored, so o may be x; and a twin a
 * multiple of 4 KiB away (the same row of the next head) is never loaded just after a store
 * whose address it matches in the low bits, which the core would take for a dependency. */
ROPE_INLINE void ROPE_OP(rotate_vector)(ROPE_D *o, const ROPE_D *x, ptrdiff_t j, ptrdiff_t n,
                                        ROPE_V c, ROPE_V s, ptrdiff_t second,
                                        const int interleaved, const int spacing,
                                        const int twins, ptrdiff_t x_twin, ptrdiff_t o_twin)
{
    ROPE_V a[2], b[2];
    const ptrdiff_t at = interleaved ? 2 * spacing * j : spacing * j;
    const ptrdiff_t bt = spacing * (j + second);
    ROPE_UNROLL for (int t = 0; t < twins; t++) {
        const ROPE_D *xt = (const ROPE_D *)((const char *)x + t * x_twin);
        if (interleaved) {
            ROPE_OP(load_pairs)(xt + at, n, spacing, &a[t], &b[t]);
        }
        else {
            a[t] = ROPE_OP(load)(xt + at, n, spacing);
            b[t] = ROPE_OP(load)(xt + bt, n, spacing);
        }
    }
    ROPE_UNROLL for (int t = 0; t < twins; t++) {
        ROPE_D *ot = (ROPE_D *)((char *)o + t * o_twin);
        ROPE_OP(rotate_lanes)(&a[t], &b[t], c, s);
        if (interleaved) {
            ROPE_OP(store_pairs)(ot + at, n, spacing, a[t], b[t]);
        }
        else {
            ROPE_OP(store)(ot + at, a[t], n, spacing);
            ROPE_OP(store)(ot + bt, b[t], n, spacing);
        }
    }
}

/* The rows of r. With `held` > 0 (rows that share their tables, m == held * lanes), the
 * tables are loaded into registers once and kept across the rows: loaded again for every
 * row, they cost as much as the rows' own loads. With `twins` 2 (r->x_plane set), each row is
 * rotated with its twin in the next plane, each vector of the tables loaded once for both.
 * `held` and `twins` are constants in every call, so that C and S are registers, not memory. */
ROPE_INLINE void ROPE_OP(rotate_rows)(void *out, const void *x, const void *cos,
                                      const void *sin, const rope_rows *r,
                                      const int interleaved, const int spacing, const int held,
                                      const int twins)
{
    const ptrdiff_t m = r->m, second = r->second;
    const ptrdiff_t span = 2 * spacing * m * (ptrdiff_t)sizeof(ROPE_D);
    const int gaps = r->x_step != span;
    const ptrdiff_t x_twin = r->x_plane, o_twin = r->out_plane;
    ROPE_V C[ROPE_HELD_SLOTS], S[ROPE_HELD_SLOTS];
    ROPE_UNROLL for (int i = 0; i < held; i++) {
        C[i] = ROPE_TOP(load_table)((const ROPE_TT *)cos + i * ROPE_LANES, ROPE_LANES);
        S[i] = ROPE_TOP(load_table)((const ROPE_TT *)sin + i * ROPE_LANES, ROPE_LANES);
    }
    for (ptrdiff_t row = 0; row < r->rows; row++) {
        const ROPE_D *xr = (const ROPE_D *)((const char *)x + row * r->x_step);
        ROPE_D *o = (ROPE_D *)((char *)out + row * r->out_step);
        ROPE_UNROLL for (int t = 0; t < twins; t++) { /* twins share the bytes asked ahead */
            rope_prefetch_ahead((const char *)xr + t * x_twin, r, row, span, gaps,
                                ROPE_STREAM_AHEAD / twins);
        }
        if (held) {
            ROPE_UNROLL for (int i = 0; i < held; i++) {
                ROPE_OP(rotate_vector)(o, xr, i * ROPE_LANES, ROPE_LANES, C[i], S[i], second,
                                       interleaved, spacing, 1, 0, 0);
            }
            continue;
        }
        const ROPE_TT *c = (const ROPE_TT *)((const char *)cos + row * r->table_step);
        const ROPE_TT *s = (const ROPE_TT *)((const char *)sin + row * r->table_step);
        ptrdiff_t j = 0;
        for (; j + ROPE_LANES <= m; j += ROPE_LANES) {
            ROPE_OP(rotate_vector)(o, xr, j, ROPE_LANES, ROPE_TOP(load_table)(c + j, ROPE_LANES),
                                   ROPE_TOP(load_table)(s + j, ROPE_LANES), second,
                                   interleaved, spacing, twins, x_twin, o_twin);
        }
        if (j < m) {
            ROPE_OP(rotate_vector)(o, xr, j, m - j, ROPE_TOP(load_table)(c + j, m - j),
                                   ROPE_TOP(load_table)(s + j, m - j), second, interleaved,
                                   spacing, twins, x_twin, o_twin);
        }
    }
}

/* Rows that share their tables hold them when they are a whole number of vectors, at most
 * ROPE_HELD_VECTORS; every other case (no pairs at all included) loads them per vector. */
#define ROPE_HELD_CASE(k)                                                                     \
    case k:                                                                                   \
        if ((k) <= ROPE_HELD_VECTORS) {                                                       \
            ROPE_OP(rotate_rows)(out, x, cos, sin, r, interleaved, spacing, k, 1);            \
            return;                                                                           \
        }                                                                                     \
        break;

ROPE_INLINE void ROPE_OP(rotate_spaced)(void *out, const void *x, const void *cos,
                                        const void *sin, const rope_rows *r,
                                        const int interleaved, const int spacing)
{
    if (r->x_plane != 0) {
        ROPE_OP(rotate_rows)(out, x, cos, sin, r, interleaved, spacing, 0, 2);
        return;
    }
    const ptrdiff_t vectors = r->m % ROPE_LANES == 0 ? r->m / ROPE_LANES : 0;
    switch (r->table_step == 0 && vectors <= ROPE_HELD_VECTORS ? vectors : 0) {
        ROPE_HELD_CASE(1)
        ROPE_HELD_CASE(2)
        ROPE_HELD_CASE(3)
        ROPE_HELD_CASE(4)
        ROPE_HELD_CASE(5)
        ROPE_HELD_CASE(6)
        ROPE_HELD_CASE(7)
        ROPE_HELD_CASE(8)
    default:
        break;
    }
    ROPE_OP(rotate_rows)(out, x, cos, sin, r, interleaved, spacing, 0, 1);
}
#undef ROPE_HELD_CASE

static void ROPE_OP(rotate_split)(void *out, const void *x, const void *cos, const void *sin,
                                  const rope_rows *r)
{
    if (r->spacing == 2) {
        ROPE_OP(rotate_spaced)(out, x, cos, sin, r, 0, 2);
    }
    else {
        ROPE_OP(rotate_spaced)(out, x, cos, sin, r, 0, 1);
    }
}

static void ROPE_OP(rotate_interleaved)(void *out, const void *x, const void *cos,
                                        const void *sin, const rope_rows *r)
{
    if (r->spacing == 2) {
        ROPE_OP(rotate_spaced)(out, x, cos, sin, r, 1, 2);
    }
    else {
        ROPE_OP(rotate_spaced)(out, x, cos, sin, r, 1, 1);
    }
}

#undef ROPE_V
#undef ROPE_LANES
#undef ROPE_OP
#undef ROPE_TOP
