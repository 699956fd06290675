/*
 * rope_kernels_body.h: the kernels, written once and compiled once per SIMD level.
 *
 * rope_kernels.c includes this file three times, each time inside a `#pragma GCC target`
 * region and with these macros set:
 *   ROPE_LEVEL       the level's suffix (baseline, avx2, avx512), appended to every name here;
 *   ROPE_LEVEL_NAME  the same as a string;
 *   ROPE_HAVE_AVX2   1 where AVX2, FMA and F16C exist: fused multiply-add is an instruction
 *                    (not a slow libm call) and half<->float converts eight lanes at a time.
 * Plain loops carry `#pragma omp simd` (built with -fopenmp-simd, no OpenMP runtime): it lets
 * the compiler vectorize without run-time alias checks, which is sound because every loop
 * loads both members of a pair before it stores either, and outputs either equal their
 * inputs exactly or do not overlap them (NumPy copies partially overlapping operands first).
 * The build uses -ffp-contract=off, so every fused multiply-add below is written out: each
 * level rounds the same way wherever an element sits in the array.
 */
#define ROPE_CAT2(a, b) a##_##b
#define ROPE_CAT(a, b) ROPE_CAT2(a, b)
#define ROPE_FN(name) ROPE_CAT(rope_##name, ROPE_LEVEL)
#define ROPE_INLINE static inline __attribute__((always_inline))
#define ROPE_PRAGMA(x) _Pragma(#x)

/* a*c - b*s and b*c + a*s, with one rounding fewer where FMA exists. */
#if ROPE_HAVE_AVX2
#define ROPE_ROT_A(a, b, c, s, fma) fma((a), (c), -((b) * (s)))
#define ROPE_ROT_B(a, b, c, s, fma) fma((b), (c), (a) * (s))
#else
#define ROPE_ROT_A(a, b, c, s, fma) ((a) * (c) - (b) * (s))
#define ROPE_ROT_B(a, b, c, s, fma) ((b) * (c) + (a) * (s))
#endif

/* ---- rotation, float32 and float64 -------------------------------------------------------- */

/* The interleaved kernels (pairs_*) take `paired` (a constant: each is compiled twice): tables
 * of m values, pair j's at t[j], or tables of 2m values with each pair's value twice,
 * [c0 c0 c1 c1 ...], which load as x does, without the permutes that spread m values over 2m
 * lanes. In L1 on Zen 4: float32 data with float64 tables 45 -> 59 GB/s, float16 40 -> 44
 * GB/s. rotate_at builds such tables for its interleaved rows. The same arithmetic, the same
 * bits. ROPE_EVEN(t) and ROPE_ODD(t) are pair j's value for its first and second member. */
#define ROPE_EVEN(t) ((t)[paired ? 2 * j : j])
#define ROPE_ODD(t) ((t)[paired ? 2 * j + 1 : j])

#if ROPE_HAVE_AVX2
/* [t0 t0 t1 t1 t2 t2 t3 t3]: the tables of four interleaved pairs. One lane-crossing permute;
 * the unpack-and-insert it replaced took three shuffles and held the float16 kernel to 27 GB/s
 * in cache on Zen 4 (41 GB/s with this). */
ROPE_INLINE __m256 ROPE_FN(each_twice)(const float *t)
{
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(t)),
                                    _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0));
}
#endif
#if ROPE_HAVE_AVX512
ROPE_INLINE __m512 ROPE_FN(twice16)(__m256 t)
{
    return _mm512_permutexvar_ps(
        _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0),
        _mm512_castps256_ps512(t));
}
ROPE_INLINE __m512 ROPE_FN(each_twice16)(const float *t)
{
    return ROPE_FN(twice16)(_mm256_loadu_ps(t));
}
#endif

ROPE_INLINE void ROPE_FN(split_f32_row)(void *oa_, void *ob_, const void *a_, const void *b_,
                                   const void *cos_, const void *sin_, ptrdiff_t m)
{
    float *oa = oa_, *ob = ob_;
    const float *a = a_, *b = b_, *c = cos_, *s = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        const float x0 = a[j], x1 = b[j];
        oa[j] = ROPE_ROT_A(x0, x1, c[j], s[j], __builtin_fmaf);
        ob[j] = ROPE_ROT_B(x0, x1, c[j], s[j], __builtin_fmaf);
    }
}

ROPE_INLINE void ROPE_FN(split_f64_row)(void *oa_, void *ob_, const void *a_, const void *b_,
                                   const void *cos_, const void *sin_, ptrdiff_t m)
{
    double *oa = oa_, *ob = ob_;
    const double *a = a_, *b = b_, *c = cos_, *s = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        const double x0 = a[j], x1 = b[j];
        oa[j] = ROPE_ROT_A(x0, x1, c[j], s[j], __builtin_fma);
        ob[j] = ROPE_ROT_B(x0, x1, c[j], s[j], __builtin_fma);
    }
}

/* float32 data with float64 tables, computed in float64: the products of a float and a double
 * carry 53 bits, so the one rounding that matters is the final one to float32.
 * With AVX2 the loops are written out in 256-bit vectors, also at the AVX-512 level: the
 * float<->double conversions bound these kernels, and gcc's 512-bit version (extracts and
 * inserts around each conversion) ran 20% slower on Zen 4. */
ROPE_INLINE void ROPE_FN(split_f32_f64_row)(void *oa_, void *ob_, const void *a_,
                                            const void *b_, const void *cos_, const void *sin_,
                                            ptrdiff_t m)
{
    float *oa = oa_, *ob = ob_;
    const float *a = a_, *b = b_;
    const double *c = cos_, *s = sin_;
    ptrdiff_t j = 0;
#if ROPE_HAVE_AVX2
    for (; j + 4 <= m; j += 4) {
        const __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(a + j));
        const __m256d x1 = _mm256_cvtps_pd(_mm_loadu_ps(b + j));
        const __m256d vc = _mm256_loadu_pd(c + j), vs = _mm256_loadu_pd(s + j);
        const __m256d y0 = _mm256_fmsub_pd(x0, vc, _mm256_mul_pd(x1, vs));
        const __m256d y1 = _mm256_fmadd_pd(x1, vc, _mm256_mul_pd(x0, vs));
        _mm_storeu_ps(oa + j, _mm256_cvtpd_ps(y0));
        _mm_storeu_ps(ob + j, _mm256_cvtpd_ps(y1));
    }
#endif
    for (; j < m; j++) {
        const double x0 = a[j], x1 = b[j];
        oa[j] = (float)ROPE_ROT_A(x0, x1, c[j], s[j], __builtin_fma);
        ob[j] = (float)ROPE_ROT_B(x0, x1, c[j], s[j], __builtin_fma);
    }
}

ROPE_INLINE void ROPE_FN(pairs_f32_f64_row)(void *o_, const void *x_, const void *cos_,
                                            const void *sin_, ptrdiff_t m, const int paired)
{
    float *o = o_;
    const float *x = x_;
    const double *c = cos_, *s = sin_;
    ptrdiff_t j = 0;
#if ROPE_HAVE_AVX2
    /* Two pairs per vector, v = [a0 b0 a1 b1] in double; as in pairs_f32, fmaddsub(v, C, w*S)
     * with w = v pair-swapped and C = [c0 c0 c1 c1], S likewise. */
    for (; j + 4 <= m; j += 4) {
        const __m256d c4 = _mm256_loadu_pd(c + j), s4 = _mm256_loadu_pd(s + j);
        const __m256d c0 = paired ? _mm256_loadu_pd(c + 2 * j) : _mm256_permute4x64_pd(c4, 0x50);
        const __m256d s0 = paired ? _mm256_loadu_pd(s + 2 * j) : _mm256_permute4x64_pd(s4, 0x50);
        const __m256d c1 = paired ? _mm256_loadu_pd(c + 2 * j + 4)
                                  : _mm256_permute4x64_pd(c4, 0xFA);
        const __m256d s1 = paired ? _mm256_loadu_pd(s + 2 * j + 4)
                                  : _mm256_permute4x64_pd(s4, 0xFA);
        const __m256d v0 = _mm256_cvtps_pd(_mm_loadu_ps(x + 2 * j));
        const __m256d v1 = _mm256_cvtps_pd(_mm_loadu_ps(x + 2 * j + 4));
        const __m256d w0 = _mm256_permute_pd(v0, 0x5), w1 = _mm256_permute_pd(v1, 0x5);
        const __m256d y0 = _mm256_fmaddsub_pd(v0, c0, _mm256_mul_pd(w0, s0));
        const __m256d y1 = _mm256_fmaddsub_pd(v1, c1, _mm256_mul_pd(w1, s1));
        _mm_storeu_ps(o + 2 * j, _mm256_cvtpd_ps(y0));
        _mm_storeu_ps(o + 2 * j + 4, _mm256_cvtpd_ps(y1));
    }
#endif
    for (; j < m; j++) {
        const double x0 = x[2 * j], x1 = x[2 * j + 1];
        o[2 * j] = (float)ROPE_ROT_A(x0, x1, ROPE_EVEN(c), ROPE_EVEN(s), __builtin_fma);
        o[2 * j + 1] = (float)ROPE_ROT_B(x0, x1, ROPE_ODD(c), ROPE_ODD(s), __builtin_fma);
    }
}

ROPE_INLINE void ROPE_FN(pairs_f32_row)(void *o_, const void *x_, const void *cos_,
                                        const void *sin_, ptrdiff_t m, const int paired)
{
    float *o = o_;
    const float *x = x_, *c = cos_, *s = sin_;
    ptrdiff_t j = 0;
#if ROPE_HAVE_AVX2
    /* Four pairs per step: v = [a0 b0 a1 b1 ...], w = v with each pair swapped, and
     * fmaddsub(v, C, w*S) = [a0 c0 - b0 s0, b0 c0 + a0 s0, ...] with C, S repeated per pair. */
    for (; j + 4 <= m; j += 4) {
        const __m256 cc = paired ? _mm256_loadu_ps(c + 2 * j) : ROPE_FN(each_twice)(c + j);
        const __m256 ss = paired ? _mm256_loadu_ps(s + 2 * j) : ROPE_FN(each_twice)(s + j);
        const __m256 v = _mm256_loadu_ps(x + 2 * j);
        const __m256 w = _mm256_permute_ps(v, 0xB1);
        _mm256_storeu_ps(o + 2 * j, _mm256_fmaddsub_ps(v, cc, _mm256_mul_ps(w, ss)));
    }
#endif
    for (; j < m; j++) {
        const float x0 = x[2 * j], x1 = x[2 * j + 1];
        o[2 * j] = ROPE_ROT_A(x0, x1, ROPE_EVEN(c), ROPE_EVEN(s), __builtin_fmaf);
        o[2 * j + 1] = ROPE_ROT_B(x0, x1, ROPE_ODD(c), ROPE_ODD(s), __builtin_fmaf);
    }
}

ROPE_INLINE void ROPE_FN(pairs_f64_row)(void *o_, const void *x_, const void *cos_,
                                        const void *sin_, ptrdiff_t m, const int paired)
{
    double *o = o_;
    const double *x = x_, *c = cos_, *s = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        const double x0 = x[2 * j], x1 = x[2 * j + 1];
        o[2 * j] = ROPE_ROT_A(x0, x1, ROPE_EVEN(c), ROPE_EVEN(s), __builtin_fma);
        o[2 * j + 1] = ROPE_ROT_B(x0, x1, ROPE_ODD(c), ROPE_ODD(s), __builtin_fma);
    }
}

/* ---- rotation, float16 data computed in float32 and rounded once --------------------------- */

ROPE_INLINE void ROPE_FN(split_f16_row)(void *oa_, void *ob_, const void *a_, const void *b_,
                                   const void *cos_, const void *sin_, ptrdiff_t m)
{
    uint16_t *oa = oa_, *ob = ob_;
    const uint16_t *a = a_, *b = b_;
    const float *c = cos_, *s = sin_;
    ptrdiff_t j = 0;
#if ROPE_HAVE_AVX512
    /* The half<->float conversions bound the float16 kernels. On Intel's cores a 512-bit one
     * converts twice the values of a 256-bit one on the same ports (Emerald Rapids: rotate_at
     * 5-17% less time); on Zen 4 both convert as many values a cycle. */
    for (; j + 16 <= m; j += 16) {
        const __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + j)));
        const __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + j)));
        const __m512 vc = _mm512_loadu_ps(c + j), vs = _mm512_loadu_ps(s + j);
        const __m512 y0 = _mm512_fmsub_ps(x0, vc, _mm512_mul_ps(x1, vs));
        const __m512 y1 = _mm512_fmadd_ps(x1, vc, _mm512_mul_ps(x0, vs));
        _mm256_storeu_si256((__m256i *)(oa + j), _mm512_cvtps_ph(y0, _MM_FROUND_TO_NEAREST_INT));
        _mm256_storeu_si256((__m256i *)(ob + j), _mm512_cvtps_ph(y1, _MM_FROUND_TO_NEAREST_INT));
    }
#endif
#if ROPE_HAVE_AVX2
    for (; j + 8 <= m; j += 8) {
        const __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + j)));
        const __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + j)));
        const __m256 vc = _mm256_loadu_ps(c + j), vs = _mm256_loadu_ps(s + j);
        const __m256 y0 = _mm256_fmsub_ps(x0, vc, _mm256_mul_ps(x1, vs));
        const __m256 y1 = _mm256_fmadd_ps(x1, vc, _mm256_mul_ps(x0, vs));
        _mm_storeu_si128((__m128i *)(oa + j), _mm256_cvtps_ph(y0, _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(ob + j), _mm256_cvtps_ph(y1, _MM_FROUND_TO_NEAREST_INT));
    }
#endif
    for (; j < m; j++) {
        const float x0 = rope_half_to_float(a[j]), x1 = rope_half_to_float(b[j]);
        oa[j] = rope_float_to_half(ROPE_ROT_A(x0, x1, c[j], s[j], __builtin_fmaf));
        ob[j] = rope_float_to_half(ROPE_ROT_B(x0, x1, c[j], s[j], __builtin_fmaf));
    }
}

ROPE_INLINE void ROPE_FN(pairs_f16_row)(void *o_, const void *x_, const void *cos_,
                                        const void *sin_, ptrdiff_t m, const int paired)
{
    uint16_t *o = o_;
    const uint16_t *x = x_;
    const float *c = cos_, *s = sin_;
    ptrdiff_t j = 0;
#if ROPE_HAVE_AVX512
    for (; j + 8 <= m; j += 8) {
        const __m512 cc = paired ? _mm512_loadu_ps(c + 2 * j) : ROPE_FN(each_twice16)(c + j);
        const __m512 ss = paired ? _mm512_loadu_ps(s + 2 * j) : ROPE_FN(each_twice16)(s + j);
        const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 2 * j)));
        const __m512 w = _mm512_permute_ps(v, 0xB1);
        const __m512 y = _mm512_fmaddsub_ps(v, cc, _mm512_mul_ps(w, ss));
        _mm256_storeu_si256((__m256i *)(o + 2 * j), _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT));
    }
#endif
#if ROPE_HAVE_AVX2
    for (; j + 4 <= m; j += 4) {
        const __m256 cc = paired ? _mm256_loadu_ps(c + 2 * j) : ROPE_FN(each_twice)(c + j);
        const __m256 ss = paired ? _mm256_loadu_ps(s + 2 * j) : ROPE_FN(each_twice)(s + j);
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * j)));
        const __m256 w = _mm256_permute_ps(v, 0xB1);
        const __m256 y = _mm256_fmaddsub_ps(v, cc, _mm256_mul_ps(w, ss));
        _mm_storeu_si128((__m128i *)(o + 2 * j), _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT));
    }
#endif
    for (; j < m; j++) {
        const float x0 = rope_half_to_float(x[2 * j]), x1 = rope_half_to_float(x[2 * j + 1]);
        o[2 * j] = rope_float_to_half(
            ROPE_ROT_A(x0, x1, ROPE_EVEN(c), ROPE_EVEN(s), __builtin_fmaf));
        o[2 * j + 1] = rope_float_to_half(
            ROPE_ROT_B(x0, x1, ROPE_ODD(c), ROPE_ODD(s), __builtin_fmaf));
    }
}

/* dst[2j] = dst[2j + 1] = src[j]: a table spread over the coordinates of its pairs. */
#define ROPE_TWICE(name, T)                                                                   \
    static void ROPE_FN(name)(void *dst_, const void *src_, ptrdiff_t m)                      \
    {                                                                                         \
        T *dst = dst_;                                                                        \
        const T *src = src_;                                                                  \
        _Pragma("omp simd") for (ptrdiff_t j = 0; j < m; j++)                                 \
        {                                                                                     \
            dst[2 * j] = src[j];                                                              \
            dst[2 * j + 1] = src[j];                                                          \
        }                                                                                     \
    }
ROPE_TWICE(twice_f32, float)
ROPE_TWICE(twice_f64, double)
#undef ROPE_TWICE

/* ---- many rows per call ------------------------------------------------------------------ */

/* Rows are streamed with software prefetches. Rows with gaps between them (q of a fused qkv
 * projection, rows of a wider array) streamed 2.5x slower than the bytes they hold on Zen 4:
 * the hardware prefetchers do not follow them. Each such row asks for the one ROPE_AHEAD rows
 * on; (4096, 32, 128) rows of a (4096, 32, 256) array: 20.5 -> 13.6 ms, np.multiply on the
 * same view 12.2 ms. Rows without gaps ask for the bytes ROPE_STREAM_AHEAD past them, across
 * the end of the call where the caller's stream goes on (the next token's heads in
 * rotate_at), never past it (the k heads after the q heads of a fused qkv, say). On
 * Emerald Rapids one stream of loads got far less of the memory's bandwidth than the
 * prefetches ask for: rotate_at took 11-26% less time for float32 and float16 at 8 and 32
 * heads a token (2, 4 and 8 KiB ahead all helped; 4 KiB most). The same prefetches also
 * cover the stall while rotate_at builds a token's tables, which the prefetch of each block's
 * first 2 KiB covered before. (On Zen 4, with older kernels, 8 rows ahead was 14% slower for
 * (4096, 32, 128) float32 and 13% faster for (32768, 8, 128): re-measure there.) */
#define ROPE_AHEAD 8

/* The prefetch of row `row` (at xr, row_bytes long) of r; gaps: r->x_step != row_bytes. */
ROPE_INLINE void ROPE_FN(prefetch_ahead)(const void *xr, const rope_rows *r, ptrdiff_t row,
                                         ptrdiff_t row_bytes, int gaps)
{
    if (!gaps) {
        if (row * row_bytes + ROPE_STREAM_AHEAD + row_bytes <= r->stream) {
            rope_prefetch((const char *)xr + ROPE_STREAM_AHEAD, row_bytes);
        }
    }
    else if (row + ROPE_AHEAD < r->rows) {
        rope_prefetch((const char *)xr + ROPE_AHEAD * r->x_step, row_bytes);
    }
}

/* The loops hand whole runs of rows to one call (every head of a token shares its tables,
 * table_step 0): per row only a few pointer additions, not a call through the kernel table.
 * A row's pairs span 2m values when second == m, the only case with more than one row. */
#define ROPE_ROWS_KERNEL(name, T, TT, row_call)                                                \
    static void ROPE_FN(name)(void *out, const void *x, const void *cos, const void *sin,     \
                              const rope_rows *r)                                             \
    {                                                                                         \
        const ptrdiff_t row_bytes = 2 * r->m * (ptrdiff_t)sizeof(T);                          \
        const int gaps = r->x_step != row_bytes;                                              \
        for (ptrdiff_t i = 0; i < r->rows; i++) {                                             \
            T *o = (T *)((char *)out + i * r->out_step);                                      \
            const T *xi = (const T *)((const char *)x + i * r->x_step);                       \
            const TT *c = (const TT *)((const char *)cos + i * r->table_step);                \
            const TT *s = (const TT *)((const char *)sin + i * r->table_step);                \
            ROPE_FN(prefetch_ahead)(xi, r, i, row_bytes, gaps);                               \
            row_call;                                                                         \
        }                                                                                     \
    }
#define ROPE_SPLIT(name, T, TT) \
    ROPE_ROWS_KERNEL(name, T, TT, ROPE_FN(name##_row)(o, o + r->second, xi, xi + r->second, \
                                                      c, s, r->m))
/* Interleaved: pairs_* with tables of m values, paired_* with each value twice. */
#define ROPE_PAIRS(type, T, TT)                                                             \
    ROPE_ROWS_KERNEL(pairs##type, T, TT, ROPE_FN(pairs##type##_row)(o, xi, c, s, r->m, 0))  \
    ROPE_ROWS_KERNEL(paired##type, T, TT, ROPE_FN(pairs##type##_row)(o, xi, c, s, r->m, 1))

ROPE_SPLIT(split_f16, uint16_t, float)
ROPE_SPLIT(split_f32, float, float)
ROPE_SPLIT(split_f32_f64, float, double)
ROPE_SPLIT(split_f64, double, double)
ROPE_PAIRS(_f16, uint16_t, float)
ROPE_PAIRS(_f32, float, float)
ROPE_PAIRS(_f32_f64, float, double)
ROPE_PAIRS(_f64, double, double)

#undef ROPE_ROWS_KERNEL
#undef ROPE_SPLIT
#undef ROPE_PAIRS
#undef ROPE_EVEN
#undef ROPE_ODD

#if ROPE_HAVE_AVX512
/* ---- rows sharing their tables, the tables held in registers (AVX-512) ----------------------
 *
 * The heads of a token share one table (table_step 0). With the float64 tables of float32
 * data reloaded from L1 for every row, rows streamed from memory on Zen 4 took 1.5-1.7x the
 * in-place roof, though the same kernel ran in cache in about the roof's time: the loads
 * themselves cost. Held in at most 16 of the 32 zmm registers, the tables are loaded once per
 * call: on Zen 4 the rows ran at 1.15-1.2x the roof, on Emerald Rapids in 18-23% less time
 * than with the tables reloaded. Each
 * kernel is the arithmetic of the loaded-tables kernel of its type in 512-bit vectors: the
 * same bits. Instantiated for each count nv (1 ... ROPE_HELD_VECTORS) of vectors of a table,
 * so that C and S are registers, not arrays in memory. */
#define ROPE_HELD_VECTORS 8

/* Vector i of the held tables is load(c + step * i), likewise for s. */
#define ROPE_HELD_TABLES(V, load, step)                                                       \
    V C[ROPE_HELD_VECTORS], S[ROPE_HELD_VECTORS];                                             \
    _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++)                                      \
    {                                                                                         \
        C[i] = load(c + (step) * i);                                                          \
        S[i] = load(s + (step) * i);                                                          \
    }

/* The loop over rows; `row_bytes` is what one row holds; the body (the arguments after it)
 * rotates vector i of the row from xr into o. */
#define ROPE_HELD_ROWS(T, row_bytes, ...)                                                     \
    const int gaps = r->x_step != (row_bytes);                                                \
    for (ptrdiff_t row = 0; row < r->rows; row++) {                                           \
        const T *xr = (const T *)((const char *)x + row * r->x_step);                         \
        T *o = (T *)((char *)out + row * r->out_step);                                        \
        ROPE_FN(prefetch_ahead)(xr, r, row, (row_bytes), gaps);                               \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) { __VA_ARGS__ }                  \
    }

/* Rows of every other element (x[..., ::2] of a wider array): element e of a row is at
 * x[2e], and the view spans twice its bytes. Each vector of the span is loaded whole, its
 * even lanes rotated as the contiguous kernel rotates its lanes (the same bits), and stored
 * under the mask of those lanes. The loads are masked too: the odd lanes are not the view's,
 * and past its last element they may not be memory at all. Nothing outside the view is read
 * or written. Through scratch instead (gathered, rotated, scattered back element by
 * element), rotate_at in place on (4096, 32, 128) views of (4096, 32, 256) arrays took
 * 2.5-3.1x the time of their contiguous twins for float32 and 2.9-5.4x for float16; with
 * these kernels 1.8-1.95x, where the span's bytes make it 2x (Emerald Rapids, paired
 * repeats). Rows that share tables hold them as the contiguous kernels do; others (at their
 * own positions, or more pairs than the registers hold) load them for each vector. */
#define ROPE_EVENS32 ((__mmask16)0x5555)
#define ROPE_EVENS16 ((__mmask32)0x55555555)

/* The view's elements among the first 16 floats or 32 halves at p (`lanes`: the even lanes,
 * or the first of them), packed; and packed ones stored back to those lanes. */
ROPE_INLINE __m256 ROPE_FN(load_evens_ps)(__mmask16 lanes, const float *p)
{
    const __m512i evens = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(evens, _mm512_maskz_loadu_ps(lanes, p)));
}
ROPE_INLINE void ROPE_FN(store_evens_ps)(__mmask16 lanes, float *p, __m256 v)
{
    /* zero-extended: element j to lane 2j */
    _mm512_mask_storeu_ps(p, lanes, _mm512_castsi512_ps(_mm512_cvtepu32_epi64(
                                        _mm256_castps_si256(v))));
}
ROPE_INLINE __m256i ROPE_FN(load_evens_ph)(__mmask32 lanes, const uint16_t *p)
{
    const __m512i evens = _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5,
                                           3, 1, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8,
                                           6, 4, 2, 0);
    return _mm512_castsi512_si256(
        _mm512_permutexvar_epi16(evens, _mm512_maskz_loadu_epi16(lanes, p)));
}
ROPE_INLINE void ROPE_FN(store_evens_ph)(__mmask32 lanes, uint16_t *p, __m256i v)
{
    _mm512_mask_storeu_epi16(p, lanes, _mm512_cvtepu16_epi32(v));
}

/* Interleaved pairs among the first 32 floats at p, pair j's members in lanes 4j and 4j + 2
 * (`lo`, `hi`: the lanes read of the two halves of 16): the 8 pairs moved apart, first
 * members in the low half, second ones in the high (as the contiguous kernel's `apart`
 * does); and rotated members a, b put back in those lanes. */
ROPE_INLINE __m512 ROPE_FN(load_pairs_evens)(__mmask16 lo, __mmask16 hi, const float *p)
{
    const __m512i apart =
        _mm512_set_epi32(30, 26, 22, 18, 14, 10, 6, 2, 28, 24, 20, 16, 12, 8, 4, 0);
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, p), apart,
                                  _mm512_maskz_loadu_ps(hi, p + 16));
}
ROPE_INLINE void ROPE_FN(store_pairs_evens)(__mmask16 lo, __mmask16 hi, float *p, __m256 a,
                                            __m256 b)
{
    /* lane 4j: a[j], lane 4j + 2: b[j] (b is the second source), for j < 4 and j >= 4 */
    const __m512i back_lo = _mm512_set_epi32(0, 19, 0, 3, 0, 18, 0, 2, 0, 17, 0, 1, 0, 16, 0, 0);
    const __m512i back_hi = _mm512_set_epi32(0, 23, 0, 7, 0, 22, 0, 6, 0, 21, 0, 5, 0, 20, 0, 4);
    const __m512 za = _mm512_castps256_ps512(a), zb = _mm512_castps256_ps512(b);
    _mm512_mask_storeu_ps(p, lo, _mm512_permutex2var_ps(za, back_lo, zb));
    _mm512_mask_storeu_ps(p + 16, hi, _mm512_permutex2var_ps(za, back_hi, zb));
}

/* 8 floats or 16 halves of a row, loaded and stored: contiguous, or every other element. */
#define ROPE_LOAD_PS(p) _mm256_loadu_ps(p)
#define ROPE_STORE_PS(p, v) _mm256_storeu_ps((p), (v))
#define ROPE_LOAD_PH(p) _mm256_loadu_si256((const __m256i *)(p))
#define ROPE_STORE_PH(p, v) _mm256_storeu_si256((__m256i *)(p), (v))
#define ROPE_LOAD_EVENS_PS(p) ROPE_FN(load_evens_ps)(ROPE_EVENS32, (p))
#define ROPE_STORE_EVENS_PS(p, v) ROPE_FN(store_evens_ps)(ROPE_EVENS32, (p), (v))
#define ROPE_LOAD_EVENS_PH(p) ROPE_FN(load_evens_ph)(ROPE_EVENS16, (p))
#define ROPE_STORE_EVENS_PH(p, v) ROPE_FN(store_evens_ph)(ROPE_EVENS16, (p), (v))

/* The kernels below are each written once for rows whose elements are `spacing` apart (1:
 * contiguous, 2: every other), with that layout's loads and stores. */

/* float32 data, float64 tables: 8 pairs a vector. */
#define ROPE_SPLIT_F32_F64_HELD(name, spacing, load, store)                                   \
    ROPE_INLINE void ROPE_FN(name)(void *out, const void *x, const double *c,                 \
                                   const double *s, const rope_rows *r, const int nv)         \
    {                                                                                         \
        const ptrdiff_t b = (spacing) * r->second; /* where the pairs' second members are */  \
        ROPE_HELD_TABLES(__m512d, _mm512_loadu_pd, 8)                                         \
        ROPE_HELD_ROWS(float, (spacing) * 16 * nv * (ptrdiff_t)sizeof(float), {               \
            const __m512d x0 = _mm512_cvtps_pd(load(xr + (spacing) * 8 * i));                 \
            const __m512d x1 = _mm512_cvtps_pd(load(xr + b + (spacing) * 8 * i));             \
            const __m512d y0 = _mm512_fmsub_pd(x0, C[i], _mm512_mul_pd(x1, S[i]));            \
            const __m512d y1 = _mm512_fmadd_pd(x1, C[i], _mm512_mul_pd(x0, S[i]));            \
            store(o + (spacing) * 8 * i, _mm512_cvtpd_ps(y0));                                \
            store(o + b + (spacing) * 8 * i, _mm512_cvtpd_ps(y1));                            \
        })                                                                                    \
    }
ROPE_SPLIT_F32_F64_HELD(split_f32_f64_held_nv, 1, ROPE_LOAD_PS, ROPE_STORE_PS)
ROPE_SPLIT_F32_F64_HELD(split_f32_f64_every_other_nv, 2, ROPE_LOAD_EVENS_PS, ROPE_STORE_EVENS_PS)
#undef ROPE_SPLIT_F32_F64_HELD

/* Interleaved: the two members of the 8 pairs in 16 floats moved apart (one permute), each
 * half converted and rotated as split pairs with the held tables of m values, and the results
 * put back together (one two-source permute). Spreading the tables over the pairs' lanes
 * instead took four permutes per 8 pairs, on the port the conversions also need. */
ROPE_INLINE void ROPE_FN(pairs_f32_f64_held_nv)(void *out, const void *x, const double *c,
                                                const double *s, const rope_rows *r,
                                                const int nv)
{
    const __m512i apart = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i together =
        _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    ROPE_HELD_TABLES(__m512d, _mm512_loadu_pd, 8)
    ROPE_HELD_ROWS(float, 16 * nv * (ptrdiff_t)sizeof(float), {
        const __m512 v = _mm512_permutexvar_ps(apart, _mm512_loadu_ps(xr + 16 * i));
        const __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        const __m512d x1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        const __m512d y0 = _mm512_fmsub_pd(x0, C[i], _mm512_mul_pd(x1, S[i]));
        const __m512d y1 = _mm512_fmadd_pd(x1, C[i], _mm512_mul_pd(x0, S[i]));
        _mm512_storeu_ps(o + 16 * i,
                         _mm512_permutex2var_ps(_mm512_castps256_ps512(_mm512_cvtpd_ps(y0)),
                                                together,
                                                _mm512_castps256_ps512(_mm512_cvtpd_ps(y1))));
    })
}

/* Every other element: 8 pairs from 32 floats of the span. */
ROPE_INLINE void ROPE_FN(pairs_f32_f64_every_other_nv)(void *out, const void *x, const double *c,
                                                       const double *s, const rope_rows *r,
                                                       const int nv)
{
    ROPE_HELD_TABLES(__m512d, _mm512_loadu_pd, 8)
    ROPE_HELD_ROWS(float, 32 * nv * (ptrdiff_t)sizeof(float), {
        const __m512 v = ROPE_FN(load_pairs_evens)(ROPE_EVENS32, ROPE_EVENS32, xr + 32 * i);
        const __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        const __m512d x1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        const __m512d y0 = _mm512_fmsub_pd(x0, C[i], _mm512_mul_pd(x1, S[i]));
        const __m512d y1 = _mm512_fmadd_pd(x1, C[i], _mm512_mul_pd(x0, S[i]));
        ROPE_FN(store_pairs_evens)(ROPE_EVENS32, ROPE_EVENS32, o + 32 * i, _mm512_cvtpd_ps(y0),
                                   _mm512_cvtpd_ps(y1));
    })
}

/* float16 data, float32 tables: 16 pairs a vector. */
#define ROPE_SPLIT_F16_HELD(name, spacing, load, store)                                       \
    ROPE_INLINE void ROPE_FN(name)(void *out, const void *x, const float *c, const float *s,  \
                                   const rope_rows *r, const int nv)                          \
    {                                                                                         \
        const ptrdiff_t b = (spacing) * r->second;                                            \
        ROPE_HELD_TABLES(__m512, _mm512_loadu_ps, 16)                                         \
        ROPE_HELD_ROWS(uint16_t, (spacing) * 32 * nv * (ptrdiff_t)sizeof(uint16_t), {         \
            const __m512 x0 = _mm512_cvtph_ps(load(xr + (spacing) * 16 * i));                 \
            const __m512 x1 = _mm512_cvtph_ps(load(xr + b + (spacing) * 16 * i));             \
            const __m512 y0 = _mm512_fmsub_ps(x0, C[i], _mm512_mul_ps(x1, S[i]));             \
            const __m512 y1 = _mm512_fmadd_ps(x1, C[i], _mm512_mul_ps(x0, S[i]));             \
            store(o + (spacing) * 16 * i, _mm512_cvtps_ph(y0, _MM_FROUND_TO_NEAREST_INT));    \
            store(o + b + (spacing) * 16 * i, _mm512_cvtps_ph(y1, _MM_FROUND_TO_NEAREST_INT)); \
        })                                                                                    \
    }
ROPE_SPLIT_F16_HELD(split_f16_held_nv, 1, ROPE_LOAD_PH, ROPE_STORE_PH)
ROPE_SPLIT_F16_HELD(split_f16_every_other_nv, 2, ROPE_LOAD_EVENS_PH, ROPE_STORE_EVENS_PH)
#undef ROPE_SPLIT_F16_HELD

/* Interleaved: 8 pairs a vector, each table value spread over its pair's two lanes once per
 * call, as the vectors are loaded (2m floats fit in 16 registers). rotate_at then needs no
 * tables with each value twice, built for every token. Every other element: the even lanes
 * of 32 halves, packed, are the contiguous layout [a0 b0 a1 b1 ...]. */
#define ROPE_PAIRS_F16_HELD(name, spacing, load, store)                                       \
    ROPE_INLINE void ROPE_FN(name)(void *out, const void *x, const float *c, const float *s,  \
                                   const rope_rows *r, const int nv)                          \
    {                                                                                         \
        ROPE_HELD_TABLES(__m512, ROPE_FN(each_twice16), 8)                                    \
        ROPE_HELD_ROWS(uint16_t, (spacing) * 16 * nv * (ptrdiff_t)sizeof(uint16_t), {         \
            const __m512 v = _mm512_cvtph_ps(load(xr + (spacing) * 16 * i));                  \
            const __m512 w = _mm512_permute_ps(v, 0xB1);                                      \
            const __m512 y = _mm512_fmaddsub_ps(v, C[i], _mm512_mul_ps(w, S[i]));             \
            store(o + (spacing) * 16 * i, _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT));     \
        })                                                                                    \
    }
ROPE_PAIRS_F16_HELD(pairs_f16_held_nv, 1, ROPE_LOAD_PH, ROPE_STORE_PH)
ROPE_PAIRS_F16_HELD(pairs_f16_every_other_nv, 2, ROPE_LOAD_EVENS_PH, ROPE_STORE_EVENS_PH)
#undef ROPE_PAIRS_F16_HELD

/* Every other element, tables loaded for each vector (rows at their own positions, or tables
 * too long to hold) and any m: the last vector of a row is masked to the pairs left. */
#define ROPE_EVERY_OTHER_LOADED(name, T, TT, pairs_a_vector, ...)                             \
    static void ROPE_FN(name)(void *out, const void *x, const void *cos, const void *sin,     \
                              const rope_rows *r)                                             \
    {                                                                                         \
        const ptrdiff_t m = r->m, row_bytes = 4 * m * (ptrdiff_t)sizeof(T);                   \
        const int gaps = r->x_step != row_bytes;                                              \
        for (ptrdiff_t row = 0; row < r->rows; row++) {                                       \
            const T *xr = (const T *)((const char *)x + row * r->x_step);                     \
            T *o = (T *)((char *)out + row * r->out_step);                                    \
            const TT *c = (const TT *)((const char *)cos + row * r->table_step);              \
            const TT *s = (const TT *)((const char *)sin + row * r->table_step);              \
            ROPE_FN(prefetch_ahead)(xr, r, row, row_bytes, gaps);                             \
            for (ptrdiff_t j = 0; j < m; j += (pairs_a_vector)) {                             \
                const unsigned t = (unsigned)(m - j < (pairs_a_vector) ? m - j                \
                                                                       : (pairs_a_vector));  \
                const unsigned tables = (1u << t) - 1; /* the mask of t pairs' tables */     \
                __VA_ARGS__                                                                   \
            }                                                                                 \
        }                                                                                     \
    }
/* The even lanes of the first `lanes` lanes of a span vector. */
#define ROPE_EVENS_UP_TO(lanes) (0x55555555u & (uint32_t)((1ull << (lanes)) - 1))

ROPE_EVERY_OTHER_LOADED(split_f32_f64_every_other_loaded, float, double, 8, {
    const ptrdiff_t b = 2 * r->second;
    const __mmask16 e = (__mmask16)ROPE_EVENS_UP_TO(2 * t);
    const __m512d vc = _mm512_maskz_loadu_pd((__mmask8)tables, c + j);
    const __m512d vs = _mm512_maskz_loadu_pd((__mmask8)tables, s + j);
    const __m512d x0 = _mm512_cvtps_pd(ROPE_FN(load_evens_ps)(e, xr + 2 * j));
    const __m512d x1 = _mm512_cvtps_pd(ROPE_FN(load_evens_ps)(e, xr + b + 2 * j));
    const __m512d y0 = _mm512_fmsub_pd(x0, vc, _mm512_mul_pd(x1, vs));
    const __m512d y1 = _mm512_fmadd_pd(x1, vc, _mm512_mul_pd(x0, vs));
    ROPE_FN(store_evens_ps)(e, o + 2 * j, _mm512_cvtpd_ps(y0));
    ROPE_FN(store_evens_ps)(e, o + b + 2 * j, _mm512_cvtpd_ps(y1));
})

ROPE_EVERY_OTHER_LOADED(pairs_f32_f64_every_other_loaded, float, double, 8, {
    const uint32_t e = ROPE_EVENS_UP_TO(4 * t); /* pair j in lanes 4j and 4j + 2 */
    const __mmask16 lo = (__mmask16)e, hi = (__mmask16)(e >> 16);
    const __m512d vc = _mm512_maskz_loadu_pd((__mmask8)tables, c + j);
    const __m512d vs = _mm512_maskz_loadu_pd((__mmask8)tables, s + j);
    const __m512 v = ROPE_FN(load_pairs_evens)(lo, hi, xr + 4 * j);
    const __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d x1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    const __m512d y0 = _mm512_fmsub_pd(x0, vc, _mm512_mul_pd(x1, vs));
    const __m512d y1 = _mm512_fmadd_pd(x1, vc, _mm512_mul_pd(x0, vs));
    ROPE_FN(store_pairs_evens)(lo, hi, o + 4 * j, _mm512_cvtpd_ps(y0), _mm512_cvtpd_ps(y1));
})

ROPE_EVERY_OTHER_LOADED(split_f16_every_other_loaded, uint16_t, float, 16, {
    const ptrdiff_t b = 2 * r->second;
    const __mmask32 e = (__mmask32)ROPE_EVENS_UP_TO(2 * t);
    const __m512 vc = _mm512_maskz_loadu_ps((__mmask16)tables, c + j);
    const __m512 vs = _mm512_maskz_loadu_ps((__mmask16)tables, s + j);
    const __m512 x0 = _mm512_cvtph_ps(ROPE_FN(load_evens_ph)(e, xr + 2 * j));
    const __m512 x1 = _mm512_cvtph_ps(ROPE_FN(load_evens_ph)(e, xr + b + 2 * j));
    const __m512 y0 = _mm512_fmsub_ps(x0, vc, _mm512_mul_ps(x1, vs));
    const __m512 y1 = _mm512_fmadd_ps(x1, vc, _mm512_mul_ps(x0, vs));
    ROPE_FN(store_evens_ph)(e, o + 2 * j, _mm512_cvtps_ph(y0, _MM_FROUND_TO_NEAREST_INT));
    ROPE_FN(store_evens_ph)(e, o + b + 2 * j, _mm512_cvtps_ph(y1, _MM_FROUND_TO_NEAREST_INT));
})

ROPE_EVERY_OTHER_LOADED(pairs_f16_every_other_loaded, uint16_t, float, 8, {
    const __mmask32 e = (__mmask32)ROPE_EVENS_UP_TO(4 * t);
    const __m512 vc = ROPE_FN(twice16)(_mm256_maskz_loadu_ps((__mmask8)tables, c + j));
    const __m512 vs = ROPE_FN(twice16)(_mm256_maskz_loadu_ps((__mmask8)tables, s + j));
    const __m512 v = _mm512_cvtph_ps(ROPE_FN(load_evens_ph)(e, xr + 4 * j));
    const __m512 w = _mm512_permute_ps(v, 0xB1);
    const __m512 y = _mm512_fmaddsub_ps(v, vc, _mm512_mul_ps(w, vs));
    ROPE_FN(store_evens_ph)(e, o + 4 * j, _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT));
})
#undef ROPE_EVERY_OTHER_LOADED
#undef ROPE_EVENS_UP_TO
#undef ROPE_LOAD_PS
#undef ROPE_STORE_PS
#undef ROPE_LOAD_PH
#undef ROPE_STORE_PH
#undef ROPE_LOAD_EVENS_PS
#undef ROPE_STORE_EVENS_PS
#undef ROPE_LOAD_EVENS_PH
#undef ROPE_STORE_EVENS_PH
#undef ROPE_EVENS32
#undef ROPE_EVENS16
#undef ROPE_HELD_TABLES
#undef ROPE_HELD_ROWS

/* Whether rows hold their tables: they share them, and m is a multiple of the pairs a vector,
 * at most ROPE_HELD_VECTORS vectors. */
#define ROPE_HELD_FITS(r, pairs_a_vector)                                                     \
    ((r)->table_step == 0 && (r)->m % (pairs_a_vector) == 0 &&                                \
     (r)->m <= ROPE_HELD_VECTORS * (pairs_a_vector))
/* kernel(out, x, c, s, r, nv) for nv = m / pairs_a_vector, a constant in each call. */
#define ROPE_HELD_CALL(kernel, pairs_a_vector)                                                \
    switch (r->m / (pairs_a_vector)) {                                                        \
    case 1: kernel(out, x, c, s, r, 1); break;                                                \
    case 2: kernel(out, x, c, s, r, 2); break;                                                \
    case 3: kernel(out, x, c, s, r, 3); break;                                                \
    case 4: kernel(out, x, c, s, r, 4); break;                                                \
    case 5: kernel(out, x, c, s, r, 5); break;                                                \
    case 6: kernel(out, x, c, s, r, 6); break;                                                \
    case 7: kernel(out, x, c, s, r, 7); break;                                                \
    default: kernel(out, x, c, s, r, 8); break;                                               \
    }

/* A rows kernel that holds the tables where they fit and is the loaded-tables kernel else. */
#define ROPE_HELD_KERNEL(name, TT, pairs_a_vector, held_nv, loaded)                           \
    static void ROPE_FN(name)(void *out, const void *x, const void *cos, const void *sin,     \
                              const rope_rows *r)                                             \
    {                                                                                         \
        const TT *c = cos, *s = sin;                                                          \
        if (!ROPE_HELD_FITS(r, pairs_a_vector)) {                                             \
            loaded(out, x, cos, sin, r);                                                      \
            return;                                                                           \
        }                                                                                     \
        ROPE_HELD_CALL(held_nv, pairs_a_vector)                                               \
    }
/* Contiguous, and every other element, for each rotation that holds its tables. */
#define ROPE_HELD_KERNELS(name, TT, pairs_a_vector)                                           \
    ROPE_HELD_KERNEL(name##_held, TT, pairs_a_vector, ROPE_FN(name##_held_nv), ROPE_FN(name)) \
    ROPE_HELD_KERNEL(name##_every_other, TT, pairs_a_vector, ROPE_FN(name##_every_other_nv),  \
                     ROPE_FN(name##_every_other_loaded))
ROPE_HELD_KERNELS(split_f32_f64, double, 8)
ROPE_HELD_KERNELS(pairs_f32_f64, double, 8)
ROPE_HELD_KERNELS(split_f16, float, 16)
ROPE_HELD_KERNELS(pairs_f16, float, 8)
#undef ROPE_HELD_KERNELS
#undef ROPE_HELD_KERNEL
#undef ROPE_HELD_FITS
#undef ROPE_HELD_CALL
#define ROPE_ROWS(name) ROPE_FN(name##_held)
#define ROPE_EVERY_OTHER(name) ROPE_FN(name##_every_other)
/* The interleaved kernels hold tables of m values for up to 64 pairs. */
#define ROPE_HELD_PAIRS (ROPE_HELD_VECTORS * 8)
#else
#define ROPE_ROWS(name) ROPE_FN(name)
#define ROPE_EVERY_OTHER(name) NULL
#define ROPE_HELD_PAIRS 0
#endif

/* ---- cos/sin tables: exact angle, reduced modulo 2 pi in double-double ---------------------- */

/* hi + lo == a * b exactly (barring overflow). */
ROPE_INLINE void ROPE_FN(two_prod)(double a, double b, double *hi, double *lo)
{
    *hi = a * b;
#if ROPE_HAVE_AVX2
    *lo = __builtin_fma(a, b, -*hi);
#else
    /* Dekker: split each factor into 26-bit halves whose products are exact. */
    const double ta = 134217729.0 * a, tb = 134217729.0 * b;
    const double ah = ta - (ta - a), al = a - ah;
    const double bh = tb - (tb - b), bl = b - bh;
    *lo = ((ah * bh - *hi) + ah * bl + al * bh) + al * bl;
#endif
}

/* Round to the nearest integer, ties to even, without a libm call (so loops vectorize). */
ROPE_INLINE double ROPE_FN(round_int)(double v)
{
    const double av = __builtin_fabs(v);
    return av < 0x1p52 ? __builtin_copysign((av + 0x1p52) - 0x1p52, v) : v;
}

ROPE_INLINE void ROPE_FN(cos_sin_one)(double pos, double theta, double *cos_out,
                                      double *sin_out)
{
    /* 2 pi = TWO_PI_HI + TWO_PI_MID + TWO_PI_LO to ~160 bits. */
    const double TWO_PI_HI = 0x1.921fb54442d18p+2, TWO_PI_MID = 0x1.1a62633145c07p-52,
                 TWO_PI_LO = -0x1.f1976b7ed8fbcp-108, INV_TWO_PI = 0x1.45f306dc9c883p-3;
    const double PIO2_HI = 0x1.921fb54442d18p+0, PIO2_LO = 0x1.1a62633145c07p-54,
                 TWO_OVER_PI = 0x1.45f306dc9c883p-1;
    /* fdlibm's minimax polynomials for sin and cos on [-pi/4, pi/4]. */
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                 S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                 S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                 C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                 C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;

    double hi, lo, th, tl;
    ROPE_FN(two_prod)(pos, theta, &hi, &lo);            /* angle = hi + lo, exactly */
    const double n = ROPE_FN(round_int)(hi * INV_TWO_PI);
    ROPE_FN(two_prod)(n, TWO_PI_HI, &th, &tl);         /* n * TWO_PI_HI = th + tl, exactly */
    /* hi - th is exact (Sterbenz: they are within a factor of two once n != 0). */
    double r = ((hi - th) - tl) + lo;
    r = (r - n * TWO_PI_MID) - n * TWO_PI_LO;
    /* Past |hi| = 2^52 the quotient hi/(2 pi) is rounded to a quarter or a half, and n can be
     * one off: r up to ~pi + 1.6, whose quadrant (+-3) the code below does not handle (cos at
     * positions in [2^52, 2^53] came out wrong). Wrap back once; r +- TWO_PI_HI is exact
     * (Sterbenz). */
    const double wrap = r > TWO_PI_HI * 0.5 ? -1.0 : (r < -TWO_PI_HI * 0.5 ? 1.0 : 0.0);
    r = (r + wrap * TWO_PI_HI) + wrap * TWO_PI_MID;    /* r in [-pi, pi], error ~1e-16 */

    const double q = ROPE_FN(round_int)(r * TWO_OVER_PI);  /* quadrant, -2 ... 2 */
    const double x = (r - q * PIO2_HI) - q * PIO2_LO;      /* |x| <= pi/4 */
    const double z = x * x;
    const double sin_x = x + x * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
    const double rc = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    const double hz = 0.5 * z, w = 1.0 - hz;
    const double cos_x = w + (((1.0 - w) - hz) + z * rc);

    /* sin(x + q pi/2) and cos(x + q pi/2) for q = 0, 1, -1, +-2. */
    const double aq = __builtin_fabs(q);
    const double s = aq == 1.0 ? cos_x : sin_x;
    const double c = aq == 1.0 ? sin_x : cos_x;
    /* Past |angle| = 2^54 the quotient n no longer rounds to an integer and the reduction
     * returns a wrong angle (cos(2^62) came out with the wrong sign): NaN, never a wrong value.
     * Positions |p| <= 2^53 with |theta| <= 1 stay inside. NaN and inf angles give NaN too.
     * `|`, not `||`: a short-circuit is a branch, and a branch stops vectorization. */
    const int in_range = __builtin_fabs(hi) <= 0x1p54;
    *sin_out = in_range ? (((q == -1.0) | (aq == 2.0)) ? -s : s) : __builtin_nan("");
    *cos_out = in_range ? (((q == 1.0) | (aq == 2.0)) ? -c : c) : __builtin_nan("");
}

static void ROPE_FN(cos_sin_f64)(void *cos_, void *sin_, double pos, const double *theta,
                                 ptrdiff_t m)
{
    double *co = cos_, *si = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        double c, s;
        ROPE_FN(cos_sin_one)(pos, theta[j], &c, &s);
        co[j] = c;
        si[j] = s;
    }
}

static void ROPE_FN(cos_sin_f32)(void *cos_, void *sin_, double pos, const double *theta,
                                 ptrdiff_t m)
{
    float *co = cos_, *si = sin_;
#pragma omp simd
    for (ptrdiff_t j = 0; j < m; j++) {
        double c, s;
        ROPE_FN(cos_sin_one)(pos, theta[j], &c, &s);
        co[j] = (float)c; /* the one rounding to the compute precision */
        si[j] = (float)s;
    }
}

/* float or double tables by angle addition, in the tables' type; the same operations as the
 * rotation of that type. In vectors as wide as the rows then load them: a load that spans
 * two narrower stores still in the store buffer waits for both to reach the cache. Below
 * AVX-512 that is 256 bits (with 512-bit stores read back in halves, rotate_at at 8 heads a
 * token took 2-4% longer on Zen 4); at AVX-512 the held tables load 512 bits (with 256-bit
 * stores, rotate_at took 1-5% longer on Emerald Rapids, at 8 and 32 heads a token). */
#define ROPE_ANGLE_ADD(name, T, FMA, LANES)                                                   \
    static void ROPE_FN(name)(void *cos_, void *sin_, const void *ca_, const void *sa_,       \
                              const void *cb_, const void *sb_, ptrdiff_t m)                  \
    {                                                                                         \
        T *co = cos_, *si = sin_;                                                             \
        const T *ca = ca_, *sa = sa_, *cb = cb_, *sb = sb_;                                   \
        ROPE_PRAGMA(omp simd simdlen(LANES)) for (ptrdiff_t j = 0; j < m; j++)                \
        {                                                                                     \
            co[j] = ROPE_ROT_A(ca[j], sa[j], cb[j], sb[j], FMA);                              \
            si[j] = ROPE_ROT_B(ca[j], sa[j], cb[j], sb[j], FMA);                              \
        }                                                                                     \
    }
#if ROPE_HAVE_AVX512
ROPE_ANGLE_ADD(angle_add_f32, float, __builtin_fmaf, 16)
ROPE_ANGLE_ADD(angle_add_f64, double, __builtin_fma, 8)
#else
ROPE_ANGLE_ADD(angle_add_f32, float, __builtin_fmaf, 8)
ROPE_ANGLE_ADD(angle_add_f64, double, __builtin_fma, 4)
#endif
#undef ROPE_ANGLE_ADD

static const rope_kernel_table ROPE_FN(kernels) = {
    .name = ROPE_LEVEL_NAME,
    .rotate = {{ROPE_ROWS(split_f16), ROPE_FN(split_f32), ROPE_ROWS(split_f32_f64),
                ROPE_FN(split_f64)},
               {ROPE_ROWS(pairs_f16), ROPE_FN(pairs_f32), ROPE_ROWS(pairs_f32_f64),
                ROPE_FN(pairs_f64)}},
    .rotate_paired = {ROPE_FN(paired_f16), ROPE_FN(paired_f32), ROPE_FN(paired_f32_f64),
                      ROPE_FN(paired_f64)},
    .twice = {ROPE_FN(twice_f32), ROPE_FN(twice_f64)},
    .cos_sin = {ROPE_FN(cos_sin_f32), ROPE_FN(cos_sin_f64)},
    .angle_add = {ROPE_FN(angle_add_f32), ROPE_FN(angle_add_f64)},
    .held_pairs = {ROPE_HELD_PAIRS, 0, ROPE_HELD_PAIRS, 0},
    .rotate_every_other = {{ROPE_EVERY_OTHER(split_f16), NULL, ROPE_EVERY_OTHER(split_f32_f64),
                            NULL},
                           {ROPE_EVERY_OTHER(pairs_f16), NULL, ROPE_EVERY_OTHER(pairs_f32_f64),
                            NULL}},
};

#undef ROPE_CAT2
#undef ROPE_CAT
#undef ROPE_FN
#undef ROPE_INLINE
#undef ROPE_ROT_A
#undef ROPE_ROT_B
#undef ROPE_ROWS
#undef ROPE_EVERY_OTHER
#undef ROPE_HELD_PAIRS
#undef ROPE_HELD_VECTORS
