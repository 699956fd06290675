/*
 * rope_loops.h: the gufunc inner loops. They adapt NumPy's (args, dimensions, steps) to the
 * pure kernels: outer loop, byte strides, partial rotary pass-through, views of every other
 * element to the kernels that rotate them in place, and the strided fallback that gathers
 * pairs into contiguous scratch runs. They never touch the Python API
 * (NumPy runs them without the GIL); everything that can fail is checked before they run.
 */
#ifndef ROPE_LOOPS_H
#define ROPE_LOOPS_H

#include "rope_numpy.h"
#include "rope_kernels.h"

/* What one registered loop rotates; passed to it as the ufunc's `data` entry. */
typedef struct {
    rope_dtype dtype;
    int interleaved;    /* pairs (2j, 2j+1) instead of (j, j + k) */
} rope_rotate_spec;

/* What one registered table loop reads and writes. */
typedef struct {
    int position_type;          /* NPY_INT64, NPY_INT32 or NPY_FLOAT64 */
    rope_table_type table;
} rope_cos_sin_spec;

/* What one registered rotate-at-positions loop reads: the rotation, and the position type. */
typedef struct {
    rope_rotate_spec rotate;
    int position_type;          /* NPY_INT64 or NPY_FLOAT64 */
} rope_rotate_at_spec;

/* The kernels in use: chosen at import, changeable (for tests and benchmarks) at run time. */
const rope_kernel_table *rope_active_kernels(void);
void rope_set_active_kernels(const rope_kernel_table *kernels);

/* (n),(k),(k)->(n) */
void rope_rotate_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                      void *data);
/* (r,n),(k),(k)->(r,n): the r rows of a block share their tables (heads of a token). */
void rope_rotate_rows_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                           void *data);
/* (r,n),(),(k)->(r,n): r rows of x at one position (the heads of a token), float64
 * frequencies; each position's tables are built in the loop, once for its r rows. */
void rope_rotate_at_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                         void *data);
/* (h,s,n),(s),(k)->(h,s,n): h planes of s rows, row t of each at position pos[t] (the heads
 * of a (batch, heads, seq, dim) x); tables built in the loop, a block of rows at a time. */
void rope_rotate_seq_at_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                             void *data);
/* (h,s,n),(s,k),(s,k)->(h,s,n): those planes by given tables, row t of each by row t. */
void rope_rotate_planes_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                             void *data);
/* (),(k)->(k),(k) */
void rope_cos_sin_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                       void *data);

/* (),(k)->(2,k): the tables of rotate_at's loop (by angle addition where it takes it). */
void rope_tables_loop(char **args, npy_intp const *dimensions, npy_intp const *steps,
                      void *data);

#endif
