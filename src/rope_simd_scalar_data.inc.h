/*
 * rope_simd_scalar_data.inc.h: the data operations of the one-lane level (rope_simd.h) for
 * data type ROPE_X, from its rope_widen_X and rope_narrow_X. A vector is one element or one
 * pair, so the spacing only moves a pair's second member.
 */
#define ROPE_SC_V ROPE_GLUE(rope_v, ROPE_T)
#define ROPE_SC_OP(op) ROPE_GLUE(rope_##op, ROPE_X)

ROPE_INLINE ROPE_SC_V ROPE_SC_OP(load)(const ROPE_D *p, ptrdiff_t n, int spacing)
{
    (void)spacing;
    return n ? ROPE_SC_OP(widen)(p[0]) : 0;
}

ROPE_INLINE void ROPE_SC_OP(store)(ROPE_D *p, ROPE_SC_V v, ptrdiff_t n, int spacing)
{
    (void)spacing;
    if (n) {
        p[0] = ROPE_SC_OP(narrow)(v);
    }
}

ROPE_INLINE void ROPE_SC_OP(load_pairs)(const ROPE_D *p, ptrdiff_t n, int spacing,
                                        ROPE_SC_V *a, ROPE_SC_V *b)
{
    *a = n ? ROPE_SC_OP(widen)(p[0]) : 0;
    *b = n ? ROPE_SC_OP(widen)(p[spacing]) : 0;
}

ROPE_INLINE void ROPE_SC_OP(store_pairs)(ROPE_D *p, ptrdiff_t n, int spacing, ROPE_SC_V a,
                                         ROPE_SC_V b)
{
    if (n) {
        p[0] = ROPE_SC_OP(narrow)(a);
        p[spacing] = ROPE_SC_OP(narrow)(b);
    }
}

#undef ROPE_SC_V
#undef ROPE_SC_OP
