/*
 * roof.c: the in-place memory roof of the benchmarks. One trivial pass over the bytes a
 * rotation in place reads and writes: each 32-bit word multiplied by `one` (1, unknown to the
 * compiler, so the loop is not removed). bench.py compiles it for this machine's own
 * instruction set (-march=native: a limit to compare with, not part of the package) and
 * loads it with ctypes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

void roof_multiply(void *data, size_t nbytes, uint32_t one)
{
    uint32_t *words = data;
    const size_t n = nbytes / 4;
    for (size_t i = 0; i < n; i++) {
        words[i] *= one;
    }
    for (size_t b = 4 * n; b < nbytes; b++) { /* a trailing byte or two of a float16 array */
        ((uint8_t *)data)[b] = (uint8_t)(((uint8_t *)data)[b] * one);
    }
}

/*
 * The arithmetic floor of the float32 rotation rope promises (within one ulp of the largest
 * output): each pair widened to float64, rotated by float64 cos and sin, rounded once back to
 * float32, in place. `rows` rows of 2k floats (half-split pairs) share one row of tables, held
 * in cache, as the heads of a token share theirs. The compiler vectorizes it for this machine;
 * no Python, no dispatch, no table building: what any exact float32 rotation costs here.
 */
void floor_rotate_f32(float *x, size_t rows, size_t k, const double *cos, const double *sin)
{
    for (size_t r = 0; r < rows; r++) {
        float *a = x + 2 * k * r, *b = a + k;
        for (size_t j = 0; j < k; j++) {
            const double xa = a[j], xb = b[j];
            a[j] = (float)(xa * cos[j] - xb * sin[j]);
            b[j] = (float)(xb * cos[j] + xa * sin[j]);
        }
    }
}

/*
 * The cheapest float32 rotation found that stays within about one ulp of the largest output:
 * float32 arithmetic, each table value held as two floats (hi + lo, 48 bits), and the rounding
 * error of the product subtracted recovered by a fused multiply-add, so that only the sum of
 * the two large terms and the final addition round (each by at most half an ulp: one ulp in
 * all, plus about 2^-40 of one). Six operations an output, no conversions. Not what rope does
 * (rope's float64 rounds once: half an ulp); here to show what a cheaper promise would buy.
 */
void floor_compensated_f32(float *x, size_t rows, size_t k, const float *cos_hi,
                           const float *cos_lo, const float *sin_hi, const float *sin_lo)
{
    for (size_t r = 0; r < rows; r++) {
        float *a = x + 2 * k * r, *b = a + k;
        for (size_t j = 0; j < k; j++) {
            const float xa = a[j], xb = b[j];
            const float pb = xb * sin_hi[j], eb = fmaf(xb, sin_hi[j], -pb);
            const float pa = xa * sin_hi[j], ea = fmaf(xa, sin_hi[j], -pa);
            const float ta = fmaf(-xb, sin_lo[j], fmaf(xa, cos_lo[j], -eb));
            const float tb = fmaf(xa, sin_lo[j], fmaf(xb, cos_lo[j], ea));
            a[j] = fmaf(xa, cos_hi[j], -pb) + ta;
            b[j] = fmaf(xb, cos_hi[j], pa) + tb;
        }
    }
}
