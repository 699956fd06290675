"""rope._core.rotate_at / rotate_interleaved_at (tables built inside the loop) and the
rope.apply paths that use them, against the float64 oracle."""
import numpy as np
import pytest

import rope
from rope import _core, reference

from conftest import BFLOAT16, random_array, tolerance, widened

DTYPES = [np.float16, BFLOAT16, np.float32, np.float64]


def gufunc(interleaved):
    return _core.rotate_interleaved_at if interleaved else _core.rotate_at


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
def test_rows_with_repeated_and_changing_positions(simd_level, dtype, interleaved):
    # Rows 0-2 share a position (tables reused), then it changes, then returns to an old one.
    x = random_array((7, 1, 64), dtype)              # blocks of one row each
    pos = np.array([5, 5, 5, -3, 100, 100, 5])  # small: the oracle forms p * theta in float64
    theta = reference.frequencies(64)
    expected = reference.rotate(widened(x), pos[:, None], theta, interleaved=interleaved)
    out = gufunc(interleaved)(x, pos, theta, out=x)
    assert out is x
    np.testing.assert_allclose(widened(x), expected, rtol=0, atol=tolerance(dtype) * 8)


@pytest.mark.parametrize("interleaved", [False, True])
def test_more_pairs_than_one_scratch_chunk(interleaved):
    x = random_array((3, 2, 1100), np.float32)  # k = 550 > 256: tables built chunk by chunk
    theta = reference.frequencies(1100)
    pos = np.array([1, 1, 2])
    expected = reference.rotate(x, pos[:, None], theta, interleaved=interleaved)
    gufunc(interleaved)(x, pos, theta, out=x)
    np.testing.assert_allclose(x, expected, rtol=0, atol=tolerance(np.float32) * 8)


@pytest.mark.parametrize("interleaved", [False, True])
def test_strided_partial_rotary_and_fresh_output(interleaved):
    base = random_array((4, 5, 80), np.float32)
    x = base[:, :, ::2]                           # last-axis stride 8 bytes, n = 40
    theta = reference.frequencies(24)             # rotary_dim 24: 16 coordinates pass through
    pos = np.arange(4.0, 8.0) + 0.25              # float64 positions, one per block of 5 rows
    before = base.copy()
    out = gufunc(interleaved)(x, pos, theta)
    np.testing.assert_array_equal(base, before)   # x untouched when out is fresh
    expected = reference.rotate(x, pos[:, None], theta, interleaved=interleaved)
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(np.float32) * 8)
    np.testing.assert_array_equal(out[..., 24:], x[..., 24:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("dim", [2, 6, 14, 32, 34, 128])
def test_same_bits_as_the_two_pass_path(simd_level, dtype, interleaved, dim):
    # rotate_at builds each position's tables in its loop, the two-pass path takes them from
    # cos_sin: the same tables and the same kernels, in vectors and in the tails.
    x = random_array((6, 3, dim), dtype)
    pos = np.arange(6) * 1000                     # few positions: exact tables, no addition
    theta = rope.frequencies(dim)
    cos, sin = rope.cos_sin(pos[:, None], theta,
                            dtype=np.float32 if np.dtype(dtype).itemsize == 2 else np.float64)
    two_pass = (rope.rotate_interleaved if interleaved else rope.rotate)(x, cos, sin)
    np.testing.assert_array_equal(gufunc(interleaved)(x, pos, theta), two_pass)


@pytest.mark.parametrize("dtype", [np.float16, BFLOAT16, np.float32])
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("start", [0, -40, 2**40 + 3, 2**53 - 100])
def test_angle_addition_tables(simd_level, dtype, interleaved, start):
    # Many integer positions in one call: tables of p = a + r (a a multiple of 32) come from
    # the exact tables of a and of r. Against the two-pass path with exact float64 tables:
    # equal but for rare last-bit flips (the sum is off by a few float64 ulps).
    x = random_array((100, 3, 64), dtype)
    pos = start + np.array([*range(70), 5, 5, 1000, 999, -7, 0, 16, 15, 31, 32, *range(20)])
    theta = rope.frequencies(64)
    table = np.float32 if np.dtype(dtype).itemsize == 2 else np.float64
    two_pass = rope.rotate_interleaved if interleaved else rope.rotate
    expected = two_pass(x, *rope.cos_sin(pos[:, None], theta, dtype=table))
    got = gufunc(interleaved)(x, pos, theta)
    assert np.mean(got == expected) > 0.999
    expected, got = widened(expected), widened(got)
    ulp = np.spacing(np.abs(expected).max(axis=-1, keepdims=True))
    if dtype is BFLOAT16:  # the spacing of bfloat16 values: 2**16 times float32's
        ulp = ulp * 2.0**16
    assert np.all(np.abs(got.astype(np.float64) - expected) <= ulp)


def test_blocks_along_any_axis():
    # (batch, heads, seq, dim) with heads as the block axis, through axes=.
    x = random_array((2, 3, 40, 32), np.float32)
    pos = np.arange(40) + 7
    theta = rope.frequencies(32)
    expected = rope.rotate(x, *rope.cos_sin(pos, theta))
    out = _core.rotate_at(x, pos, theta, out=x, axes=[(1, 3), (), (0,), (1, 3)])
    assert out is x
    ulp = np.spacing(np.abs(expected).max(axis=-1, keepdims=True))
    assert np.all(np.abs(x - expected) <= ulp)


def test_core_dims_checked():
    with pytest.raises(ValueError, match="k <= n/2"):
        _core.rotate_at(np.zeros((2, 1, 4)), np.arange(2), np.ones(3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("shape, seq_axis, pos", [
    ((1, 4, 32), 0, 4096),                 # decode: one token, an int offset
    ((1, 4, 32), -3, np.array([7])),       # one token, an array position
    ((9, 4, 32), 0, 3),                    # seq-major prefill
    ((2, 4, 9, 32), 2, 3),                 # (batch, heads, seq, dim): the two-pass path
])
def test_apply_paths_match_reference(dtype, interleaved, shape, seq_axis, pos):
    x = random_array(shape, dtype)
    seq = shape[seq_axis]
    positions = (np.arange(pos, pos + seq) if isinstance(pos, int) else pos).reshape(
        [-1 if a == seq_axis % len(shape) else 1 for a in range(len(shape) - 1)])
    expected = reference.rotate(widened(x), positions, reference.frequencies(32),
                                interleaved=interleaved)
    rope.apply(x, pos, seq_axis=seq_axis, interleaved=interleaved)
    np.testing.assert_allclose(widened(x), expected, rtol=0, atol=tolerance(dtype) * 8)


def test_cached_frequencies_are_not_shared_writeably():
    x = random_array((1, 2, 16), np.float64)
    y = x.copy()
    rope.apply(x, 5, seq_axis=0)
    rope.apply(x, 5, seq_axis=0, inverse=True)   # cached negated frequencies undo it
    np.testing.assert_allclose(x, y, rtol=0, atol=1e-13)
    from rope._api import _rope_for   # the cached configuration rope.apply used
    cached = _rope_for(16, 10000.0, None, None, False, {})
    with pytest.raises(ValueError):
        cached.frequencies[0] = 0.0
    with pytest.raises(ValueError):
        cached._scaled_at(None).negated[0] = 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
def test_rotate_at_one_is_the_gufunc_loop(simd_level, dtype, interleaved):
    # The decode fast path runs rotate_at's loop without NumPy's dispatch: the same bits.
    x = random_array((1, 8, 48), dtype)            # rotary_dim 32 of 48: 16 pass through
    theta = rope.frequencies(32)
    expected = gufunc(interleaved)(x, 123456789, theta)
    assert _core.rotate_at_one(x, 123456789, theta, interleaved) is True
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("case", ["strided", "read-only", "large", "float pos", "int dtype",
                                  "float32 theta", "k too large", "pos past 2**53",
                                  "byte-swapped", "byte-swapped theta", "numpy int pos"])
def test_rotate_at_one_declines_what_it_does_not_take(case):
    x = random_array((2, 4, 16), np.float32)
    theta, pos = rope.frequencies(16), 7
    if case == "strided":
        x = random_array((2, 4, 32), np.float32)[..., ::2]
    elif case == "read-only":
        x.flags.writeable = False
    elif case == "large":
        x = random_array((1, 64, 1025), np.float32)
        theta = rope.frequencies(1024)
    elif case == "float pos":
        pos = 7.0
    elif case == "int dtype":
        x = np.arange(2 * 4 * 16).reshape(2, 4, 16)
    elif case == "float32 theta":
        theta = theta.astype(np.float32)
    elif case == "k too large":
        theta = rope.frequencies(18)
    elif case == "pos past 2**53":
        pos = 2**53 + 2
    elif case == "byte-swapped":
        x = x.astype(x.dtype.newbyteorder())
    elif case == "byte-swapped theta":
        theta = theta.astype(theta.dtype.newbyteorder())
    elif case == "numpy int pos":
        pos = np.int64(7)
    before = x.copy()
    assert _core.rotate_at_one(x, pos, theta, False) is False
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("shape, seq_axis", [((1, 4, 32), 0), ((4, 1, 32), -2), ((1, 32), 0)])
def test_decode_fast_path_matches_general_path(interleaved, shape, seq_axis):
    x = random_array(shape, np.float32)
    y = x.copy()
    rope.apply(x, 70000, seq_axis=seq_axis, interleaved=interleaved)            # fast path
    rope.apply(y, np.array([70000]), seq_axis=seq_axis, interleaved=interleaved)  # general
    np.testing.assert_array_equal(x, y)
    r = rope.Rope(shape[-1], interleaved=interleaved, scaling="yarn", factor=4.0,
                  original_max_position_embeddings=64)   # attention factor: general path
    a = random_array(shape, np.float32)
    b = a.copy()
    r.apply(a, 70000, seq_axis=seq_axis)
    r.apply(b, np.array([70000]), seq_axis=seq_axis)
    np.testing.assert_array_equal(a, b)


# The levels whose multiply-adds are rounded once: AVX2 and AVX-512 on x86-64; NEON and the
# portable baseline on aarch64.
FMA_LEVELS = list(_core.fused_levels())


# Tokens in the level test: past 64, rotate_at builds the tables by angle addition.
TOKENS = 72


def fma_layout(layout, dim, dtype):
    """A (TOKENS, 4, dim) view in the named layout, and the whole array it is a view of."""
    shape = (TOKENS, 4, dim)
    item = np.dtype(dtype).itemsize
    if layout == "contiguous":
        base = random_array(shape, dtype)
        return base, base
    if layout == "rows with gaps":
        base = random_array((TOKENS, 4, 2 * dim), dtype)
        return base, base[..., :dim]
    if layout == "every other":
        # rows back to back, the view's last element the buffer's last: a read of the odd
        # element after it would leave the buffer
        base = random_array(TOKENS * 4 * 2 * dim - 1, dtype)
        strides = (4 * 2 * dim * item, 2 * dim * item, 2 * item)
        return base, np.lib.stride_tricks.as_strided(base, shape, strides)
    base = random_array((TOKENS, 4, 2 * dim + 6), dtype)  # every other element, rows with gaps
    return base, base[..., ::2][..., :dim]


@pytest.mark.skipif(len(FMA_LEVELS) < 2, reason="needs a CPU that runs two FMA levels")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("dim", [2, 6, 14, 16, 32, 34, 46, 48, 64, 96, 112, 128, 136, 144, 160,
                                 192, 224, 256])
@pytest.mark.parametrize("layout", ["contiguous", "rows with gaps", "every other",
                                    "every other, rows with gaps"])
def test_every_fma_level_rounds_alike(dtype, interleaved, dim, layout):
    # The FMA levels compute the same fused operations in other vector widths (AVX-512 holds
    # shared tables in registers for up to 8 vectors, and masks its loads and stores where
    # the others go through a buffer): the same bits, for every count of vectors, in the
    # tails, past the held limit, for rows with gaps (prefetched), into a fresh output and
    # in place; for every data type, with the tables of rope.apply (float32 for float16 data,
    # float64 for float32 and float64) and float32 data with float32 tables too. In place,
    # nothing outside the view changes.
    base, x = fma_layout(layout, dim, dtype)
    pos = np.arange(TOKENS) * 7919 + 3            # tables by angle addition from exact anchors
    theta = rope.frequencies(dim)
    table_types = [np.float32] if np.dtype(dtype).itemsize == 2 else \
        [np.float64, np.float32] if dtype == np.float32 else [np.float64]
    tables = [rope.cos_sin(pos, theta, dtype=t) for t in table_types]  # one a block of 4 rows
    rows_gufunc = _core.rotate_interleaved_rows if interleaved else _core.rotate_rows
    rotate = rope.rotate_interleaved if interleaved else rope.rotate
    expected = reference.rotate(widened(x), pos[:, None], theta, interleaved=interleaved)
    # (the float64 oracle forms p * theta in float64, off by ~1e-16 relative at p ~ 6e5)
    atol = 1e-9 if dtype == np.float64 else tolerance(dtype) * 8
    in_place_calls = [lambda v: gufunc(interleaved)(v, pos, theta, out=v)]
    for cos, sin in tables:
        in_place_calls += [lambda v, c=cos, s=sin: rows_gufunc(v, c, s, out=v),
                           lambda v, c=cos, s=sin: rotate(v, c[:, None], s[:, None], out=v)]
    results = []
    before = rope.simd_level()
    try:
        for level in FMA_LEVELS:
            rope.set_simd_level(level)
            got = [gufunc(interleaved)(x, pos, theta)]
            got += [rows_gufunc(x, cos, sin) for cos, sin in tables]
            for rotate_in_place in in_place_calls:
                whole = base.copy()
                view = np.lib.stride_tricks.as_strided(whole, x.shape, x.strides)
                rotate_in_place(view)
                np.testing.assert_allclose(widened(view), expected, rtol=0, atol=atol,
                                           err_msg=level)
                got.append(view.copy())
                view[...] = x                     # undone, the whole array is as it was
                np.testing.assert_array_equal(whole, base, err_msg=level)
            results.append(got)
    finally:
        rope.set_simd_level(before)
    for same in zip(*results):
        for other in same[1:]:
            np.testing.assert_array_equal(other, same[0])
    np.testing.assert_allclose(widened(results[-1][0]), expected, rtol=0, atol=atol)


def seq_gufunc(interleaved):
    return _core.rotate_interleaved_seq_at if interleaved else _core.rotate_seq_at


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "every other", "transposed", "partial rotary",
                                    "long rows", "float positions"])
def test_planes_same_bits_as_rotate_at(simd_level, dtype, interleaved, layout):
    # rotate_seq_at (planes of rows, a block of tokens' tables at a time) builds the same
    # tables as rotate_at, whose blocks are the rows of one token: the same bits, whatever
    # the strides, in place and into a fresh output (where the coordinates past 2k are copied).
    dim, k = {"partial rotary": (64, 20), "long rows": (1200, 600)}.get(layout, (64, 32))
    x = random_array((3, 5, 150, dim), dtype)                     # (batch, heads, seq, dim)
    if layout == "every other":
        x = random_array((3, 5, 150, 2 * dim), dtype)[..., ::2]
    elif layout == "transposed":
        x = random_array((3, dim, 150, 5), dtype).transpose(0, 3, 2, 1)
    pos = np.arange(150) * 11 - 40
    if layout == "float positions":
        pos = pos + 0.25
    theta = rope.frequencies(2 * k)
    seq_major = x.transpose(0, 2, 1, 3)
    want = gufunc(interleaved)(seq_major, pos, theta).transpose(0, 2, 1, 3)
    np.testing.assert_array_equal(seq_gufunc(interleaved)(x, pos, theta), want)
    whole = x.copy()
    seq_gufunc(interleaved)(whole, pos, theta, out=whole)
    np.testing.assert_array_equal(whole, want)
    np.testing.assert_allclose(widened(want),
                               reference.rotate(widened(x), pos, theta, interleaved=interleaved),
                               rtol=0, atol=tolerance(dtype) * 8 * (1 + (dtype == np.float64)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("positions", ["shared", "per batch"])
def test_planes_blocks_across_batches(simd_level, dtype, interleaved, positions):
    # Long enough for several blocks of tokens at every table type: batches at the same
    # positions share each block's tables, built once; batches at their own positions build
    # their own. Either way, each batch gets rotate_at's bits at its positions.
    x = random_array((3, 4, 2100, 64), dtype)
    pos = np.arange(2100) * 7 - 900
    if positions == "per batch":
        pos = pos + np.array([[0], [123457], [-5]])
    theta = rope.frequencies(64)
    got = seq_gufunc(interleaved)(x, pos, theta)
    batch_pos = np.broadcast_to(pos, (3, 2100))
    for b in range(3):
        want = gufunc(interleaved)(x[b].transpose(1, 0, 2), batch_pos[b], theta)
        np.testing.assert_array_equal(got[b], want.transpose(1, 0, 2))


@pytest.mark.parametrize("interleaved", [False, True])
def test_planes_of_a_broadcast_x(simd_level, interleaved):
    # Planes 0 bytes apart (x broadcast over the heads, read only, into a fresh out): every
    # plane of out is written, each as the one plane rotated alone. The kernels take planes
    # two at a time only where the two are apart.
    plane = random_array((300, 64), np.float32)
    x = np.broadcast_to(plane, (2, 5, 300, 64))
    pos = np.arange(300) + 17
    theta = rope.frequencies(64)
    got = seq_gufunc(interleaved)(x, pos, theta)
    want = seq_gufunc(interleaved)(plane[None], pos, theta)[0]
    for b in range(2):
        for h in range(5):
            np.testing.assert_array_equal(got[b, h], want)


def test_planes_positions_per_batch():
    # pos broadcasts over the loop axes: (batch, seq) positions for (batch, heads, seq, dim).
    x = random_array((2, 3, 40, 16), np.float32)
    pos = np.array([np.arange(40), np.arange(40) + 100000])
    theta = rope.frequencies(16)
    got = _core.rotate_seq_at(x, pos, theta)
    for b in range(2):
        np.testing.assert_array_equal(got[b], _core.rotate_seq_at(x[b], pos[b], theta))


@pytest.mark.parametrize("table", [np.float32, np.float64])
@pytest.mark.parametrize("positions", ["arange", "strided outputs", "negative", "few", "floats",
                                       "long rows"])
def test_tables_are_rotate_ats(simd_level, table, positions):
    # _core.tables builds, for many positions at once, the tables rotate_at builds in its loop
    # (angle addition from exact anchors for 64 or more integer positions): rotating by them
    # gives rotate_at's bits; they are within a few ulps of the table type of cos_sin's.
    k = 600 if positions == "long rows" else 48
    pos = {"negative": np.arange(-700, 300, 3), "few": np.arange(10) * 99991,
           "floats": np.arange(100) + 0.5}.get(positions, np.arange(5000, 5300))
    theta = rope.frequencies(2 * k)
    if positions == "strided outputs":
        both = np.zeros((len(pos), 2, 2 * k), table)[..., ::2]
        _core.tables(pos, theta, out=both, dtype=table)
    else:
        both = _core.tables(pos, theta, dtype=table)
    cos, sin = both[..., 0, :], both[..., 1, :]
    exact_cos, exact_sin = rope.cos_sin(pos, theta, dtype=table)
    ulp = np.finfo(table).eps
    np.testing.assert_allclose(cos, exact_cos, rtol=0, atol=4 * ulp)
    np.testing.assert_allclose(sin, exact_sin, rtol=0, atol=4 * ulp)
    data = np.float16 if table == np.float32 else np.float32
    x = random_array((len(pos), 3, 2 * k), data)
    np.testing.assert_array_equal(rope.rotate(x, cos[:, None], sin[:, None]),
                                  _core.rotate_at(x, pos, theta))
