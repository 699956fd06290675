/*
 * rope_simd_halves.inc.h: the data operations (rope_simd.h) of a 16-bit data type X, float16 or
 * bfloat16, for a vector level. The types differ only in how a register of 16-bit elements
 * becomes floats and back; the level moves such registers to and from memory once for both:
 *   rope_halves                          a register of ROPE_LANES_f32 16-bit elements
 *   rope_widen_X(h), rope_narrow_X(v)    the type's conversions (narrowing rounds to nearest
 *                                        even) between rope_halves and rope_v_f32
 * and, where ROPE_MASKED is 1 (loads and stores of any n elements, at spacing 1 or 2):
 *   rope_load_halves(p, n, spacing), rope_store_halves(p, h, n, spacing)
 *   rope_load_pairs_halves(p, n, spacing, a, b), rope_store_pairs_halves(p, n, spacing, a, b)
 * or else the whole-vector operations of rope_simd_buffered.inc.h:
 *   rope_load_halves(p), rope_store_halves(p, h), rope_load_pairs_halves(p, a, b),
 *   rope_store_pairs_halves(p, a, b).
 * Included once per 16-bit type with ROPE_X set.
 */
#define ROPE_HALVES_OP(op) ROPE_GLUE(rope_##op, ROPE_X)

#if ROPE_MASKED
ROPE_INLINE rope_v_f32 ROPE_HALVES_OP(load)(const uint16_t *p, ptrdiff_t n, int spacing)
{
    return ROPE_HALVES_OP(widen)(rope_load_halves(p, n, spacing));
}
ROPE_INLINE void ROPE_HALVES_OP(store)(uint16_t *p, rope_v_f32 v, ptrdiff_t n, int spacing)
{
    rope_store_halves(p, ROPE_HALVES_OP(narrow)(v), n, spacing);
}
ROPE_INLINE void ROPE_HALVES_OP(load_pairs)(const uint16_t *p, ptrdiff_t n, int spacing,
                                            rope_v_f32 *a, rope_v_f32 *b)
{
    rope_halves ha, hb;
    rope_load_pairs_halves(p, n, spacing, &ha, &hb);
    *a = ROPE_HALVES_OP(widen)(ha);
    *b = ROPE_HALVES_OP(widen)(hb);
}
ROPE_INLINE void ROPE_HALVES_OP(store_pairs)(uint16_t *p, ptrdiff_t n, int spacing,
                                             rope_v_f32 a, rope_v_f32 b)
{
    rope_store_pairs_halves(p, n, spacing, ROPE_HALVES_OP(narrow)(a), ROPE_HALVES_OP(narrow)(b));
}
#else
ROPE_INLINE rope_v_f32 ROPE_HALVES_OP(load_full)(const uint16_t *p)
{
    return ROPE_HALVES_OP(widen)(rope_load_halves(p));
}
ROPE_INLINE void ROPE_HALVES_OP(store_full)(uint16_t *p, rope_v_f32 v)
{
    rope_store_halves(p, ROPE_HALVES_OP(narrow)(v));
}
ROPE_INLINE void ROPE_HALVES_OP(load_pairs_full)(const uint16_t *p, rope_v_f32 *a, rope_v_f32 *b)
{
    rope_halves ha, hb;
    rope_load_pairs_halves(p, &ha, &hb);
    *a = ROPE_HALVES_OP(widen)(ha);
    *b = ROPE_HALVES_OP(widen)(hb);
}
ROPE_INLINE void ROPE_HALVES_OP(store_pairs_full)(uint16_t *p, rope_v_f32 a, rope_v_f32 b)
{
    rope_store_pairs_halves(p, ROPE_HALVES_OP(narrow)(a), ROPE_HALVES_OP(narrow)(b));
}
#endif

#undef ROPE_HALVES_OP
