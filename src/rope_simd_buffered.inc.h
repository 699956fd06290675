/*
 * rope_simd_buffered.inc.h: the data operations of rope_simd.h for a level whose loads and
 * stores cannot be masked, built from its operations on whole vectors:
 *   rope_load_full_X(p), rope_store_full_X(p, v)                    `lanes` contiguous elements
 *   rope_load_pairs_full_X(p, a, b), rope_store_pairs_full_X(p, a, b)  `lanes` contiguous pairs
 * A vector of fewer elements, or of every other element, goes through a packed buffer on the
 * stack, element by element: only the row's own elements are read and written. Whole contiguous vectors (the
 * kernels' main loops, where n and spacing are constants) take the whole-vector operation.
 * Included once per data type with ROPE_X, ROPE_D and ROPE_T set (see rope_rotate.inc.c).
 */
#define ROPE_BUF_V ROPE_GLUE(rope_v, ROPE_T)
#define ROPE_BUF_LANES ROPE_GLUE(ROPE_LANES, ROPE_T)
#define ROPE_BUF_OP(op) ROPE_GLUE(rope_##op, ROPE_X)

ROPE_INLINE ROPE_BUF_V ROPE_BUF_OP(load)(const ROPE_D *p, ptrdiff_t n, int spacing)
{
    if (spacing == 1 && n == ROPE_BUF_LANES) {
        return ROPE_BUF_OP(load_full)(p);
    }
    ROPE_D packed[ROPE_BUF_LANES] = {0};
    for (ptrdiff_t e = 0; e < n && e < ROPE_BUF_LANES; e++) {
        packed[e] = p[spacing * e];
    }
    return ROPE_BUF_OP(load_full)(packed);
}

ROPE_INLINE void ROPE_BUF_OP(store)(ROPE_D *p, ROPE_BUF_V v, ptrdiff_t n, int spacing)
{
    if (spacing == 1 && n == ROPE_BUF_LANES) {
        ROPE_BUF_OP(store_full)(p, v);
        return;
    }
    ROPE_D packed[ROPE_BUF_LANES];
    ROPE_BUF_OP(store_full)(packed, v);
    for (ptrdiff_t e = 0; e < n && e < ROPE_BUF_LANES; e++) {
        p[spacing * e] = packed[e];
    }
}

ROPE_INLINE void ROPE_BUF_OP(load_pairs)(const ROPE_D *p, ptrdiff_t n, int spacing,
                                         ROPE_BUF_V *a, ROPE_BUF_V *b)
{
    if (spacing == 1 && n == ROPE_BUF_LANES) {
        ROPE_BUF_OP(load_pairs_full)(p, a, b);
        return;
    }
    ROPE_D packed[2 * ROPE_BUF_LANES] = {0};
    for (ptrdiff_t e = 0; e < 2 * n && e < 2 * ROPE_BUF_LANES; e++) {
        packed[e] = p[spacing * e];
    }
    ROPE_BUF_OP(load_pairs_full)(packed, a, b);
}

ROPE_INLINE void ROPE_BUF_OP(store_pairs)(ROPE_D *p, ptrdiff_t n, int spacing, ROPE_BUF_V a,
                                          ROPE_BUF_V b)
{
    if (spacing == 1 && n == ROPE_BUF_LANES) {
        ROPE_BUF_OP(store_pairs_full)(p, a, b);
        return;
    }
    ROPE_D packed[2 * ROPE_BUF_LANES];
    ROPE_BUF_OP(store_pairs_full)(packed, a, b);
    for (ptrdiff_t e = 0; e < 2 * n && e < 2 * ROPE_BUF_LANES; e++) {
        p[spacing * e] = packed[e];
    }
}

#undef ROPE_BUF_V
#undef ROPE_BUF_LANES
#undef ROPE_BUF_OP
