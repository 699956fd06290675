/*
 * rope_module.c: module init of rope._core. Imports NumPy, chooses the kernels for this CPU
 * once, and registers the gufuncs: rotate, rotate_rows, rotate_planes, rotate_at,
 * rotate_seq_at (each also interleaved), cos_sin and tables.
 */
#define ROPE_IMPORT_NUMPY
#include "rope_numpy.h"
#include "rope_loops.h"
#include "rope_tensors.h"

#include <math.h>
#include <string.h>

/* How many of rope_levels (lowest first) this CPU runs: chosen at import. */
static int rope_cpu_level_count;

/* ---- the gufuncs' loop tables (static: NumPy keeps pointers to them) ----------------------- */

static PyUFuncGenericFunction rope_rotate_funcs[] = {
    rope_rotate_loop, rope_rotate_loop, rope_rotate_loop, rope_rotate_loop, rope_rotate_loop};
/* NumPy takes the first loop the inputs cast to safely. Half first, so that float16 data with
 * float32 tables is not promoted to a float32 loop; then uint16, which holds bfloat16 data
 * (rope's arrays of dtype bfloat16_bits: rope.rotate refuses any other uint16 x) and would
 * otherwise cast to float32; float32 data takes float32 tables (fast) or float64 ones
 * (computed in float64 and rounded once, what rope.apply passes). */
static const char rope_rotate_types[] = {
    NPY_HALF,   NPY_FLOAT,  NPY_FLOAT,  NPY_HALF,
    NPY_UINT16, NPY_FLOAT,  NPY_FLOAT,  NPY_UINT16,
    NPY_FLOAT,  NPY_FLOAT,  NPY_FLOAT,  NPY_FLOAT,
    NPY_FLOAT,  NPY_DOUBLE, NPY_DOUBLE, NPY_FLOAT,
    NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
};
static rope_rotate_spec rope_split_specs[] = {
    {ROPE_F16, 0}, {ROPE_BF16, 0}, {ROPE_F32, 0}, {ROPE_F32_F64, 0}, {ROPE_F64, 0}};
static rope_rotate_spec rope_pairs_specs[] = {
    {ROPE_F16, 1}, {ROPE_BF16, 1}, {ROPE_F32, 1}, {ROPE_F32_F64, 1}, {ROPE_F64, 1}};
static void *rope_split_data[] = {&rope_split_specs[0], &rope_split_specs[1],
                                  &rope_split_specs[2], &rope_split_specs[3],
                                  &rope_split_specs[4]};
static void *rope_pairs_data[] = {&rope_pairs_specs[0], &rope_pairs_specs[1],
                                  &rope_pairs_specs[2], &rope_pairs_specs[3],
                                  &rope_pairs_specs[4]};

/* The same loops over blocks of rows that share their tables: (r,n),(k),(k)->(r,n). */
static PyUFuncGenericFunction rope_rotate_rows_funcs[] = {
    rope_rotate_rows_loop, rope_rotate_rows_loop, rope_rotate_rows_loop, rope_rotate_rows_loop,
    rope_rotate_rows_loop};

/* The same loops over planes of rows, row t of every plane by row t of the tables:
 * (h,s,n),(s,k),(s,k)->(h,s,n). */
static PyUFuncGenericFunction rope_rotate_planes_funcs[] = {
    rope_rotate_planes_loop, rope_rotate_planes_loop, rope_rotate_planes_loop,
    rope_rotate_planes_loop, rope_rotate_planes_loop};

/* x, one position per row, float64 frequencies -> x: the tables are built inside the loop. */
static PyUFuncGenericFunction rope_rotate_at_funcs[] = {
    rope_rotate_at_loop, rope_rotate_at_loop, rope_rotate_at_loop, rope_rotate_at_loop,
    rope_rotate_at_loop, rope_rotate_at_loop, rope_rotate_at_loop, rope_rotate_at_loop,
};
/* Half, then uint16 (bfloat16), as for rotate; int64 positions before float64 ones (int32
 * casts to int64). */
static const char rope_rotate_at_types[] = {
    NPY_HALF,   NPY_INT64,  NPY_DOUBLE, NPY_HALF,
    NPY_HALF,   NPY_DOUBLE, NPY_DOUBLE, NPY_HALF,
    NPY_UINT16, NPY_INT64,  NPY_DOUBLE, NPY_UINT16,
    NPY_UINT16, NPY_DOUBLE, NPY_DOUBLE, NPY_UINT16,
    NPY_FLOAT,  NPY_INT64,  NPY_DOUBLE, NPY_FLOAT,
    NPY_FLOAT,  NPY_DOUBLE, NPY_DOUBLE, NPY_FLOAT,
    NPY_DOUBLE, NPY_INT64,  NPY_DOUBLE, NPY_DOUBLE,
    NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
};
static rope_rotate_at_spec rope_split_at_specs[] = {
    {{ROPE_F16, 0}, NPY_INT64}, {{ROPE_F16, 0}, NPY_DOUBLE}, {{ROPE_BF16, 0}, NPY_INT64},
    {{ROPE_BF16, 0}, NPY_DOUBLE}, {{ROPE_F32_F64, 0}, NPY_INT64},
    {{ROPE_F32_F64, 0}, NPY_DOUBLE}, {{ROPE_F64, 0}, NPY_INT64}, {{ROPE_F64, 0}, NPY_DOUBLE},
};
static rope_rotate_at_spec rope_pairs_at_specs[] = {
    {{ROPE_F16, 1}, NPY_INT64}, {{ROPE_F16, 1}, NPY_DOUBLE}, {{ROPE_BF16, 1}, NPY_INT64},
    {{ROPE_BF16, 1}, NPY_DOUBLE}, {{ROPE_F32_F64, 1}, NPY_INT64},
    {{ROPE_F32_F64, 1}, NPY_DOUBLE}, {{ROPE_F64, 1}, NPY_INT64}, {{ROPE_F64, 1}, NPY_DOUBLE},
};
static void *rope_split_at_data[] = {
    &rope_split_at_specs[0], &rope_split_at_specs[1], &rope_split_at_specs[2],
    &rope_split_at_specs[3], &rope_split_at_specs[4], &rope_split_at_specs[5],
    &rope_split_at_specs[6], &rope_split_at_specs[7],
};
static void *rope_pairs_at_data[] = {
    &rope_pairs_at_specs[0], &rope_pairs_at_specs[1], &rope_pairs_at_specs[2],
    &rope_pairs_at_specs[3], &rope_pairs_at_specs[4], &rope_pairs_at_specs[5],
    &rope_pairs_at_specs[6], &rope_pairs_at_specs[7],
};

/* The same, with the rows of a position far apart: (h,s,n),(s),(k)->(h,s,n). */
static PyUFuncGenericFunction rope_rotate_seq_at_funcs[] = {
    rope_rotate_seq_at_loop, rope_rotate_seq_at_loop, rope_rotate_seq_at_loop,
    rope_rotate_seq_at_loop, rope_rotate_seq_at_loop, rope_rotate_seq_at_loop,
    rope_rotate_seq_at_loop, rope_rotate_seq_at_loop,
};

static PyUFuncGenericFunction rope_cos_sin_funcs[] = {
    rope_cos_sin_loop, rope_cos_sin_loop, rope_cos_sin_loop,
    rope_cos_sin_loop, rope_cos_sin_loop, rope_cos_sin_loop,
};
/* The same types, one output: cos and sin as the rows of a (2, k) block. */
static PyUFuncGenericFunction rope_tables_funcs[] = {
    rope_tables_loop, rope_tables_loop, rope_tables_loop,
    rope_tables_loop, rope_tables_loop, rope_tables_loop,
};
static const char rope_tables_types[] = {
    NPY_INT64,  NPY_DOUBLE, NPY_DOUBLE,
    NPY_INT32,  NPY_DOUBLE, NPY_DOUBLE,
    NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
    NPY_INT64,  NPY_DOUBLE, NPY_FLOAT,
    NPY_INT32,  NPY_DOUBLE, NPY_FLOAT,
    NPY_DOUBLE, NPY_DOUBLE, NPY_FLOAT,
};
/* float64 tables by default; float32 ones with dtype=np.float32. int64 before int32: a Python
 * int position (weakly typed under NEP 50) must land in the int64 loop, not overflow int32;
 * the int32 loop serves int32 positions requested by signature=. */
static const char rope_cos_sin_types[] = {
    NPY_INT64,  NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
    NPY_INT32,  NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
    NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
    NPY_INT64,  NPY_DOUBLE, NPY_FLOAT,  NPY_FLOAT,
    NPY_INT32,  NPY_DOUBLE, NPY_FLOAT,  NPY_FLOAT,
    NPY_DOUBLE, NPY_DOUBLE, NPY_FLOAT,  NPY_FLOAT,
};
static rope_cos_sin_spec rope_cos_sin_specs[] = {
    {NPY_INT64, ROPE_TABLE_F64}, {NPY_INT32, ROPE_TABLE_F64}, {NPY_DOUBLE, ROPE_TABLE_F64},
    {NPY_INT64, ROPE_TABLE_F32}, {NPY_INT32, ROPE_TABLE_F32}, {NPY_DOUBLE, ROPE_TABLE_F32},
};
static void *rope_cos_sin_data[] = {
    &rope_cos_sin_specs[0], &rope_cos_sin_specs[1], &rope_cos_sin_specs[2],
    &rope_cos_sin_specs[3], &rope_cos_sin_specs[4], &rope_cos_sin_specs[5],
};

/* NumPy checks that equal core names have equal sizes, not relations between them. */
static int rope_check_k(PyUFuncObject *ufunc, npy_intp n, npy_intp k, const char *tables)
{
    if (k > n / 2) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s k=%zd frequencies, which rotate 2*k=%zd coordinates, but x has "
                     "only n=%zd on its last axis; pass k <= n/2 (coordinates past 2*k pass "
                     "through unchanged)",
                     ufunc->name, tables, (Py_ssize_t)k, (Py_ssize_t)(2 * k), (Py_ssize_t)n);
        return -1;
    }
    return 0;
}

/* (n),(k),(k)->(n): core_dim_sizes is [n, k]. */
static int rope_rotate_core_dims(PyUFuncObject *ufunc, npy_intp *core_dim_sizes)
{
    return rope_check_k(ufunc, core_dim_sizes[0], core_dim_sizes[1], "cos and sin hold");
}

/* (r,n),(k),(k)->(r,n): core_dim_sizes is [r, n, k]. */
static int rope_rotate_rows_core_dims(PyUFuncObject *ufunc, npy_intp *core_dim_sizes)
{
    return rope_check_k(ufunc, core_dim_sizes[1], core_dim_sizes[2], "cos and sin hold");
}

/* (r,n),(),(k)->(r,n): core_dim_sizes is [r, n, k]. */
static int rope_rotate_at_core_dims(PyUFuncObject *ufunc, npy_intp *core_dim_sizes)
{
    return rope_check_k(ufunc, core_dim_sizes[1], core_dim_sizes[2], "theta holds");
}

/* (h,s,n),(s,k),(s,k)->(h,s,n): core_dim_sizes is [h, s, n, k]. */
static int rope_rotate_planes_core_dims(PyUFuncObject *ufunc, npy_intp *core_dim_sizes)
{
    return rope_check_k(ufunc, core_dim_sizes[2], core_dim_sizes[3], "cos and sin hold");
}

/* (h,s,n),(s),(k)->(h,s,n): core_dim_sizes is [h, s, n, k]. */
static int rope_rotate_seq_at_core_dims(PyUFuncObject *ufunc, npy_intp *core_dim_sizes)
{
    return rope_check_k(ufunc, core_dim_sizes[2], core_dim_sizes[3], "theta holds");
}

static const char rope_rotate_doc[] =
    "Rotate pairs (x[j], x[j + k]) of the last axis by the angles whose cos and sin are given.\n"
    "\n"
    "The half-split pairing of GPT-NeoX and Hugging Face's ``rotate_half``. For each j < k::\n"
    "\n"
    "    out[j]     = x[j] * cos[j] - x[j + k] * sin[j]\n"
    "    out[j + k] = x[j + k] * cos[j] + x[j] * sin[j]\n"
    "\n"
    "Coordinates from 2*k on are copied unchanged (partial rotary). Pass ``out=x`` to rotate in\n"
    "place without a copy. Loops: float16 data with float32 tables (computed in float32,\n"
    "rounded once); bfloat16 data, held as uint16 of dtype ``bfloat16_bits``, likewise;\n"
    "float32 data with float32 tables (float32 arithmetic) or with float64 tables (float64\n"
    "arithmetic, rounded once: exact to float32 rounding); float64 with float64.\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "x : array_like, core dimension n\n"
    "    Vectors to rotate, last axis the head dimension.\n"
    "cos, sin : array_like, core dimension k, k <= n/2\n"
    "    cos and sin of the angle of each pair, for example from ``rope.cos_sin``.\n"
    "out : ndarray, optional\n"
    "    Where to write the result; may be ``x`` itself.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    The rotated vectors.\n"
    "\n"
    "See Also\n"
    "--------\n"
    "rotate_interleaved : the (2j, 2j+1) pairing.\n"
    "cos_sin : the tables.\n"
    "apply : the whole operation, with positions and frequencies.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np, rope\n"
    ">>> x = np.array([1.0, 0.0, 0.0, 1.0])\n"
    ">>> c, s = rope.cos_sin(1, np.array([np.pi / 2, np.pi]))\n"
    ">>> np.round(rope.rotate(x, c, s), 12) + 0.0\n"
    "array([ 0.,  0.,  1., -1.])\n";

static const char rope_rotate_interleaved_doc[] =
    "Rotate adjacent pairs (x[2j], x[2j + 1]) of the last axis by the given cos and sin.\n"
    "\n"
    "The interleaved pairing of the RoFormer paper, GPT-J, Meta's Llama and ggml's normal mode.\n"
    "For each j < k::\n"
    "\n"
    "    out[2j]     = x[2j] * cos[j] - x[2j + 1] * sin[j]\n"
    "    out[2j + 1] = x[2j + 1] * cos[j] + x[2j] * sin[j]\n"
    "\n"
    "Coordinates from 2*k on are copied unchanged. ``out=x`` rotates in place. Loops as for\n"
    "``rotate``.\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "x : array_like, core dimension n\n"
    "    Vectors to rotate, last axis the head dimension.\n"
    "cos, sin : array_like, core dimension k, k <= n/2\n"
    "    cos and sin of the angle of each pair.\n"
    "out : ndarray, optional\n"
    "    Where to write the result; may be ``x`` itself.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    The rotated vectors.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np, rope\n"
    ">>> x = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)\n"
    ">>> c, s = rope.cos_sin(1, np.array([np.pi / 2, np.pi]), dtype=np.float32)\n"
    ">>> rope.rotate_interleaved(x, c, s, out=x) is x\n"
    "True\n"
    ">>> np.round(x, 6) + 0.0\n"
    "array([ 0.,  1.,  0., -1.], dtype=float32)\n";

static const char rope_rotate_rows_doc[] =
    "rotate(x, cos[..., None, :], sin[..., None, :]) with the r rows of a block together.\n"
    "\n"
    "The r rows of each (r, n) block of x share one row of tables (a group of heads at one\n"
    "position) and are rotated (half-split pairs, as ``rotate``) one block after another, so\n"
    "the tables are read from memory once for the r rows. For a (batch, heads, seq, dim) x,\n"
    "whose heads are far apart, view a few heads as the block (``rope.apply`` does): reading\n"
    "the whole table once per head costs as much as the rotation.\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "x : array_like, core dimensions (r, n)\n"
    "    Vectors to rotate, last axis the head dimension.\n"
    "cos, sin : array_like, core dimension k, k <= n/2\n"
    "    cos and sin of the angle of each pair, one row per block.\n"
    "out : ndarray, optional\n"
    "    Where to write the result; may be ``x`` itself.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    The rotated vectors.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np, rope\n"
    ">>> from rope import _core\n"
    ">>> x = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])  # two rows, one position\n"
    ">>> c, s = rope.cos_sin(1, np.array([np.pi / 2, np.pi]))\n"
    ">>> np.round(_core.rotate_rows(x, c, s), 12) + 0.0\n"
    "array([[ 0.,  0.,  1., -1.],\n"
    "       [-1., -1.,  0.,  0.]])\n";

static const char rope_rotate_interleaved_rows_doc[] =
    "rotate_interleaved with the r rows of a block together; see ``rotate_rows``.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np, rope\n"
    ">>> from rope import _core\n"
    ">>> x = np.array([[1.0, 0.0, 0.0, 1.0]])\n"
    ">>> c, s = rope.cos_sin(1, np.array([np.pi / 2, np.pi]))\n"
    ">>> np.round(_core.rotate_interleaved_rows(x, c, s), 12) + 0.0\n"
    "array([[ 0.,  1.,  0., -1.]])\n";

static const char rope_rotate_at_doc[] =
    "rotate(x, *cos_sin(pos, theta)) in one call, without materializing the tables.\n"
    "\n"
    "The r rows of each (r, n) block of x share one position (the heads of a token, a decode\n"
    "step) and are rotated (half-split pairs, as ``rotate``) by the angles pos * theta, formed\n"
    "exactly and reduced modulo 2 pi as in ``cos_sin``. Each position's tables are built\n"
    "inside the loop, once for its r rows, and stay in cache. For 16-bit and float32 data,\n"
    "a call over many integer positions builds them by angle addition from exact tables of\n"
    "multiples of 32 and of 0 ... 31 (a few float64 ulps, invisible after rounding).\n"
    "\n"
    "The angles are exact for |pos * theta| <= 2**54; the loop does not check the range\n"
    "(rope.apply and Rope.apply refuse positions past it before x is touched): a pair whose\n"
    "angle is past it is rotated by NaN cos and sin, and becomes NaN. Results past the data\n"
    "type's largest finite value round to inf, without a warning, at every SIMD level.\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "x : array_like, core dimensions (r, n)\n"
    "    Vectors to rotate, last axis the head dimension; the r rows of a block share a\n"
    "    position (``axes=`` picks which axis of x that is).\n"
    "pos : array_like of int64 or float64\n"
    "    One position per block (broadcast over x's other axes).\n"
    "theta : array_like of float64, core dimension k, k <= n/2\n"
    "    Frequencies, radians per position.\n"
    "out : ndarray, optional\n"
    "    Where to write the result; may be ``x`` itself.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    The rotated vectors.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> x = np.array([[1.0, 0.0, 0.0, 1.0]])       # one row at position 1\n"
    ">>> np.round(_core.rotate_at(x, 1, np.array([np.pi / 2, np.pi])), 12) + 0.0\n"
    "array([[ 0.,  0.,  1., -1.]])\n";

static const char rope_rotate_interleaved_at_doc[] =
    "rotate_interleaved(x, *cos_sin(pos, theta)) in one call; see ``rotate_at``.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> x = np.array([[1.0, 0.0, 0.0, 1.0]])\n"
    ">>> np.round(_core.rotate_interleaved_at(x, 1, np.array([np.pi / 2, np.pi])), 12) + 0.0\n"
    "array([[ 0.,  1.,  0., -1.]])\n";

static const char rope_rotate_seq_at_doc[] =
    "rotate_at for planes of rows: row t of each of the h planes at position pos[t].\n"
    "\n"
    "The heads of a (batch, heads, seq, dim) x are h planes of s rows each, and the rows of a\n"
    "token are a whole plane apart. The loop builds the tables of a block of tokens once (as\n"
    "``rotate_at`` does, exact angles) and rotates every plane's rows of that block with them,\n"
    "reading x plane by plane (half-split pairs, as ``rotate``). Angles past 2**54 and\n"
    "overflow as for ``rotate_at``: NaN, and inf without a warning.\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "x : array_like, core dimensions (h, s, n)\n"
    "    Vectors to rotate, last axis the head dimension.\n"
    "pos : array_like of int64 or float64, core dimension s\n"
    "    The position of each row of a plane.\n"
    "theta : array_like of float64, core dimension k, k <= n/2\n"
    "    Frequencies, radians per position.\n"
    "out : ndarray, optional\n"
    "    Where to write the result; may be ``x`` itself.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    The rotated vectors.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> x = np.zeros((2, 3, 2)); x[..., 0] = 1.0     # two heads, three tokens, one pair\n"
    ">>> out = _core.rotate_seq_at(x, np.array([0, 1, 2]), np.array([np.pi / 2]))\n"
    ">>> np.round(out[1], 12) + 0.0                   # (cos, sin) of 0, pi/2, pi\n"
    "array([[ 1.,  0.],\n"
    "       [ 0.,  1.],\n"
    "       [-1.,  0.]])\n";

static const char rope_rotate_planes_doc[] =
    "rotate for planes of rows: row t of each of the h planes by row t of cos and sin.\n"
    "\n"
    "The heads of a (batch, heads, seq, dim) x are h planes of s rows each, and the rows of a\n"
    "token are a whole plane apart: ``rotate_seq_at`` with tables given instead of built (an\n"
    "attention factor's, say). The loop takes the rows a block of tokens at a time, every\n"
    "plane's rows of a block before the next, two planes at a time, each row of the tables read\n"
    "once for both (half-split pairs, as ``rotate``; the same loops and types).\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "x : array_like, core dimensions (h, s, n)\n"
    "    Vectors to rotate, last axis the head dimension.\n"
    "cos, sin : array_like, core dimensions (s, k), k <= n/2\n"
    "    cos and sin of the angle of each pair of each row of a plane.\n"
    "out : ndarray, optional\n"
    "    Where to write the result; may be ``x`` itself.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    The rotated vectors.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> x = np.zeros((2, 3, 2)); x[..., 0] = 1.0     # two heads, three tokens, one pair\n"
    ">>> angles = np.array([[0.0], [np.pi / 2], [np.pi]])\n"
    ">>> out = _core.rotate_planes(x, np.cos(angles), np.sin(angles))\n"
    ">>> np.round(out[1], 12) + 0.0                   # (cos, sin) of 0, pi/2, pi\n"
    "array([[ 1.,  0.],\n"
    "       [ 0.,  1.],\n"
    "       [-1.,  0.]])\n";

static const char rope_rotate_interleaved_planes_doc[] =
    "rotate_interleaved for planes of rows; see ``rotate_planes``.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> x = np.zeros((2, 1, 4)); x[..., 0] = x[..., 2] = 1.0\n"
    ">>> t = np.array([[np.pi / 2, np.pi]])\n"
    ">>> np.round(_core.rotate_interleaved_planes(x, np.cos(t), np.sin(t))[0], 12) + 0.0\n"
    "array([[ 0.,  1., -1.,  0.]])\n";

static const char rope_rotate_interleaved_seq_at_doc[] =
    "rotate_interleaved_at for planes of rows; see ``rotate_seq_at``.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> x = np.array([[[1.0, 0.0]]])                 # one plane, one token, one pair\n"
    ">>> np.round(_core.rotate_interleaved_seq_at(x, np.array([1]), np.array([np.pi])), 12) + 0.0\n"
    "array([[[-1.,  0.]]])\n";

static const char rope_tables_doc[] =
    "The cos and sin tables rotate_at rotates by, for many positions at once: out[..., 0, :]\n"
    "is cos and out[..., 1, :] sin.\n"
    "\n"
    "For 64 or more integer positions, cos and sin of every 32nd position and of the offsets\n"
    "0 ... 31 are built exactly (as ``cos_sin``) and combined by angle addition in the tables'\n"
    "type: within a few ulps of that type, at a small part of the exact builder's cost, and\n"
    "the same bits as rotate_at's tables. Fewer positions, or others, take the exact builder.\n"
    "Angles |pos * theta| > 2**54, past the exact range, give NaN, as in ``cos_sin``.\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "pos : array_like of int32, int64 or float64\n"
    "    Positions; each gives one row of k values.\n"
    "theta : array_like of float64, core dimension k\n"
    "    Frequencies, radians per position.\n"
    "dtype : {numpy.float64, numpy.float32}, optional\n"
    "    Type of the tables; float64 by default.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "out : ndarray\n"
    "    Shape ``pos.shape + (2, k)`` (after broadcasting): cos, then sin.\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np\n"
    ">>> from rope import _core\n"
    ">>> c, s = np.moveaxis(_core.tables(np.arange(1000), np.array([0.001, 0.5])), -2, 0)\n"
    ">>> bool(np.allclose(c, np.cos(np.outer(np.arange(1000), [0.001, 0.5])), rtol=0, atol=1e-15))\n"
    "True\n";

static const char rope_cos_sin_doc[] =
    "cos and sin of pos * theta, with the angle formed exactly and reduced modulo 2 pi.\n"
    "\n"
    "The product of a position and a float64 frequency is formed without rounding (as a sum\n"
    "of two doubles) and reduced modulo 2 pi in double-double arithmetic, so the tables are\n"
    "those of the exact angle at any position with |pos| <= 2**53, rounded once to the output\n"
    "type. Angles |pos * theta| > 2**54, past the exact range, give NaN (never a wrong value).\n"
    "(Forming the angle as a float32 product, as most deep-learning code does, is off by\n"
    "about 0.008 rad at position 1e5.)\n"
    "\n"
    "Parameters\n"
    "----------\n"
    "pos : array_like of int32, int64 or float64\n"
    "    Positions; each gives one row of k values.\n"
    "theta : array_like of float64, core dimension k\n"
    "    Frequencies, radians per position.\n"
    "out : tuple of two ndarrays, optional\n"
    "    Where to write cos and sin.\n"
    "dtype : {numpy.float64, numpy.float32}, optional\n"
    "    Type of the tables; float64 by default.\n"
    "\n"
    "Returns\n"
    "-------\n"
    "cos, sin : ndarray\n"
    "    Shape ``pos.shape + (k,)`` (after broadcasting).\n"
    "\n"
    "Examples\n"
    "--------\n"
    ">>> import numpy as np, rope\n"
    ">>> c, s = rope.cos_sin(np.arange(3), np.array([1.0, 0.5]))\n"
    ">>> bool(np.allclose(c, np.cos(np.outer(np.arange(3), [1.0, 0.5]))))\n"
    "True\n"
    ">>> c, s = rope.cos_sin(10**15, np.array([1.0]))\n"
    ">>> bool(abs(s[0] - np.sin(1e15)) < 1e-15)  # NumPy's sin of a double is exact too\n"
    "True\n";

/* ---- module functions ---------------------------------------------------------------------- */

static PyObject *rope_simd_levels(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    PyObject *levels = PyTuple_New(rope_cpu_level_count);
    if (levels == NULL) {
        return NULL;
    }
    for (int i = 0; i < rope_cpu_level_count; i++) {
        PyObject *name = PyUnicode_FromString(rope_levels[i]->name);
        if (name == NULL) {
            Py_DECREF(levels);
            return NULL;
        }
        PyTuple_SET_ITEM(levels, i, name);
    }
    return levels;
}

static PyObject *rope_get_simd_level(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyUnicode_FromString(rope_active_kernels()->name);
}

static PyObject *rope_set_simd_level(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "set_simd_level: the level must be a str such as '%s'; "
                     "got %.100s", rope_levels[rope_cpu_level_count - 1]->name,
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_ssize_t size;
    const char *name = PyUnicode_AsUTF8AndSize(arg, &size);
    if (name == NULL) {
        return NULL;
    }
    for (int i = 0; i < rope_nlevels; i++) {
        if ((size_t)size == strlen(name) && strcmp(name, rope_levels[i]->name) == 0) {
            if (i >= rope_cpu_level_count) {
                PyErr_Format(PyExc_ValueError,
                             "set_simd_level: this CPU cannot run the '%s' kernels; its highest "
                             "level is '%s'", name, rope_levels[rope_cpu_level_count - 1]->name);
                return NULL;
            }
            rope_set_active_kernels(rope_levels[i]);
            Py_RETURN_NONE;
        }
    }
    PyObject *known = PyUnicode_FromString("");
    for (int i = 0; known != NULL && i < rope_nlevels; i++) {
        Py_SETREF(known, PyUnicode_FromFormat("%U%s'%s'", known, i ? ", " : "",
                                              rope_levels[i]->name));
    }
    if (known != NULL) {
        PyErr_Format(PyExc_ValueError, "set_simd_level: unknown level %R; the levels of this "
                     "build are %U", arg, known);
        Py_DECREF(known);
    }
    return NULL;
}

static PyObject *rope_fused_levels(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    PyObject *levels = PyList_New(0);
    for (int i = 0; levels != NULL && i < rope_cpu_level_count; i++) {
        if (rope_levels[i]->fused) {
            PyObject *name = PyUnicode_FromString(rope_levels[i]->name);
            if (name == NULL || PyList_Append(levels, name) < 0) {
                Py_XDECREF(name);
                Py_CLEAR(levels);
                break;
            }
            Py_DECREF(name);
        }
    }
    if (levels == NULL) {
        return NULL;
    }
    Py_SETREF(levels, PyList_AsTuple(levels));
    return levels;
}

/*
 * rotate_at_one(x, pos, theta, interleaved) -> bool
 *
 * A decode step's rotation without NumPy's ufunc dispatch, which costs more than rotating a
 * token's heads: every row of a small contiguous x at one int position. It runs the gufunc's
 * own loop (the same bits as rotate_at) and returns True, or returns False without touching x
 * when anything is off the fast case, and the caller takes the gufunc.
 */
#define ROPE_ONE_MAX_SIZE (1 << 16) /* elements; larger arrays go through the gufunc, GIL off */

static PyObject *rope_rotate_at_one(PyObject *Py_UNUSED(module), PyObject *const *args,
                                    Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "rotate_at_one(x, pos, theta, interleaved)");
        return NULL;
    }
    PyObject *x_obj = args[0], *pos_obj = args[1], *theta_obj = args[2];
    const int interleaved = PyObject_IsTrue(args[3]);
    if (interleaved < 0) {
        return NULL;
    }
    if (!PyArray_CheckExact(x_obj) || !PyArray_CheckExact(theta_obj) ||
        !PyLong_CheckExact(pos_obj)) {
        Py_RETURN_FALSE;
    }
    PyArrayObject *x = (PyArrayObject *)x_obj, *theta = (PyArrayObject *)theta_obj;
    const int flags = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE;
    if (PyArray_NDIM(x) < 1 || (PyArray_FLAGS(x) & flags) != flags ||
        PyArray_SIZE(x) == 0 || PyArray_SIZE(x) > ROPE_ONE_MAX_SIZE ||
        PyArray_NDIM(theta) != 1 || PyArray_TYPE(theta) != NPY_DOUBLE ||
        !PyArray_ISCARRAY_RO(theta) || !PyArray_ISNBO(PyArray_DESCR(x)->byteorder) ||
        !PyArray_ISNBO(PyArray_DESCR(theta)->byteorder)) {
        Py_RETURN_FALSE;
    }
    int overflow;
    const long long pos = PyLong_AsLongLongAndOverflow(pos_obj, &overflow);
    if (overflow || pos > (1LL << 53) || pos < -(1LL << 53)) {
        Py_RETURN_FALSE;
    }
    rope_dtype dtype;
    switch (PyArray_TYPE(x)) {
    case NPY_HALF: dtype = ROPE_F16; break;
    case NPY_UINT16: /* bfloat16 data, never any other uint16 array */
        if (PyArray_DESCR(x) != rope_bfloat16_bits) {
            Py_RETURN_FALSE;
        }
        dtype = ROPE_BF16;
        break;
    case NPY_FLOAT: dtype = ROPE_F32_F64; break;
    case NPY_DOUBLE: dtype = ROPE_F64; break;
    default: Py_RETURN_FALSE;
    }
    const npy_intp n = PyArray_DIM(x, PyArray_NDIM(x) - 1), k = PyArray_DIM(theta, 0);
    if (2 * k > n) {
        Py_RETURN_FALSE;
    }
    /* Angles past the exact range would rotate by NaN: the caller's general path explains. */
    const double *t = PyArray_DATA(theta);
    for (npy_intp j = 0; j < k; j++) {
        if (!(fabs((double)pos * t[j]) <= 0x1p54)) {
            Py_RETURN_FALSE;
        }
    }
    const rope_rotate_at_spec spec = {{dtype, interleaved}, NPY_INT64};
    const npy_int64 p = pos;
    const npy_intp item = PyArray_ITEMSIZE(x);
    /* One block of every row: (count, r, n, k) and the steps rope_rotate_at_loop reads. */
    char *loop_args[4] = {PyArray_DATA(x), (char *)&p, PyArray_DATA(theta), PyArray_DATA(x)};
    const npy_intp dims[4] = {1, PyArray_SIZE(x) / n, n, k};
    const npy_intp steps[9] = {0, 0, 0, 0, n * item, item, 8, n * item, item};
    rope_rotate_at_loop(loop_args, dims, steps, (void *)&spec);
    Py_RETURN_TRUE;
}

static PyMethodDef rope_methods[] = {
    {"dlpack_view", (PyCFunction)(void (*)(void))rope_dlpack_view, METH_FASTCALL,
     "dlpack_view(capsule, name, /)\n--\n\n"
     "A NumPy array viewing the memory of the tensor in a DLPack capsule, without a copy:\n"
     "float16, float32, float64, or for bfloat16 uint16 of dtype bfloat16_bits. Writeable\n"
     "unless the exporter marks the tensor read-only; the array owns the tensor. `name` is\n"
     "what errors call it."},
    {"rotate_at_one", (PyCFunction)(void (*)(void))rope_rotate_at_one, METH_FASTCALL,
     "rotate_at_one(x, pos, theta, interleaved, /)\n--\n\n"
     "Rotate every row of a small C-contiguous x at one int position, as rotate_at (or\n"
     "rotate_interleaved_at) would, without the ufunc's dispatch. Returns False, x untouched,\n"
     "when x, pos or theta is off that fast case (a self-overlapping x is never C-contiguous;\n"
     "an angle |pos * theta| past 2**54 is off it too)."},
    {"simd_levels", rope_simd_levels, METH_NOARGS,
     "simd_levels()\n--\n\nThe kernel levels this CPU can run, lowest first."},
    {"fused_levels", rope_fused_levels, METH_NOARGS,
     "fused_levels()\n--\n\nThe levels this CPU runs whose multiply-adds are rounded once (FMA):\n"
     "their results are the same bits."},
    {"simd_level", rope_get_simd_level, METH_NOARGS,
     "simd_level()\n--\n\nThe kernel level in use."},
    {"set_simd_level", rope_set_simd_level, METH_O,
     "set_simd_level(level, /)\n--\n\nUse the kernels of `level` (one of simd_levels())."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef rope_module = {
    PyModuleDef_HEAD_INIT, "rope._core",
    "The C core of rope: gufuncs that rotate pairs and build exact cos/sin tables.", -1,
    rope_methods, NULL, NULL, NULL, NULL,
};

/* Create a gufunc and give it to the module under its name; steals nothing on failure. */
static int rope_add_gufunc(PyObject *module, PyUFuncGenericFunction *funcs, void **data,
                           const char *types, int ntypes, int nin, int nout, const char *name,
                           const char *doc, const char *signature,
                           PyUFunc_ProcessCoreDimsFunc *check_core_dims)
{
    PyObject *ufunc = PyUFunc_FromFuncAndDataAndSignature(
        funcs, data, (char *)types, ntypes, nin, nout, PyUFunc_None, name, doc, 0, signature);
    if (ufunc == NULL) {
        return -1;
    }
    ((PyUFuncObject *)ufunc)->process_core_dims_func = check_core_dims;
    if (PyModule_AddObject(module, name, ufunc) < 0) {
        Py_DECREF(ufunc);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__core(void)
{
    import_array();
    import_umath();

    rope_cpu_level_count = rope_cpu_levels();
    rope_set_active_kernels(rope_levels[rope_cpu_level_count - 1]);

    PyObject *module = PyModule_Create(&rope_module);
    if (module == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    /* The loops share no mutable state; the kernel table is swapped atomically. */
    if (PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(module);
        return NULL;
    }
#endif
    if (rope_add_tensor_support(module) < 0 ||
        rope_add_gufunc(module, rope_rotate_funcs, rope_split_data, rope_rotate_types, 5, 3, 1,
                        "rotate", rope_rotate_doc, "(n),(k),(k)->(n)",
                        rope_rotate_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_funcs, rope_pairs_data, rope_rotate_types, 5, 3, 1,
                        "rotate_interleaved", rope_rotate_interleaved_doc, "(n),(k),(k)->(n)",
                        rope_rotate_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_rows_funcs, rope_split_data, rope_rotate_types, 5,
                        3, 1, "rotate_rows", rope_rotate_rows_doc, "(r,n),(k),(k)->(r,n)",
                        rope_rotate_rows_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_rows_funcs, rope_pairs_data, rope_rotate_types, 5,
                        3, 1, "rotate_interleaved_rows", rope_rotate_interleaved_rows_doc,
                        "(r,n),(k),(k)->(r,n)", rope_rotate_rows_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_at_funcs, rope_split_at_data, rope_rotate_at_types,
                        8, 3, 1, "rotate_at", rope_rotate_at_doc, "(r,n),(),(k)->(r,n)",
                        rope_rotate_at_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_at_funcs, rope_pairs_at_data, rope_rotate_at_types,
                        8, 3, 1, "rotate_interleaved_at", rope_rotate_interleaved_at_doc,
                        "(r,n),(),(k)->(r,n)", rope_rotate_at_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_seq_at_funcs, rope_split_at_data,
                        rope_rotate_at_types, 8, 3, 1, "rotate_seq_at", rope_rotate_seq_at_doc,
                        "(h,s,n),(s),(k)->(h,s,n)", rope_rotate_seq_at_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_seq_at_funcs, rope_pairs_at_data,
                        rope_rotate_at_types, 8, 3, 1, "rotate_interleaved_seq_at",
                        rope_rotate_interleaved_seq_at_doc, "(h,s,n),(s),(k)->(h,s,n)",
                        rope_rotate_seq_at_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_planes_funcs, rope_split_data, rope_rotate_types,
                        5, 3, 1, "rotate_planes", rope_rotate_planes_doc,
                        "(h,s,n),(s,k),(s,k)->(h,s,n)", rope_rotate_planes_core_dims) < 0 ||
        rope_add_gufunc(module, rope_rotate_planes_funcs, rope_pairs_data, rope_rotate_types,
                        5, 3, 1, "rotate_interleaved_planes",
                        rope_rotate_interleaved_planes_doc, "(h,s,n),(s,k),(s,k)->(h,s,n)",
                        rope_rotate_planes_core_dims) < 0 ||
        rope_add_gufunc(module, rope_cos_sin_funcs, rope_cos_sin_data, rope_cos_sin_types, 6, 2,
                        2, "cos_sin", rope_cos_sin_doc, "(),(k)->(k),(k)", NULL) < 0 ||
        rope_add_gufunc(module, rope_tables_funcs, rope_cos_sin_data, rope_tables_types, 6, 2,
                        1, "tables", rope_tables_doc, "(),(k)->(2,k)", NULL) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
