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
