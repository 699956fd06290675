"""The C gufuncs rotate, rotate_interleaved and cos_sin, against the float64 reference."""
import itertools
import warnings

import numpy as np
import pytest

import rope
from rope import _core, reference

from conftest import random_array, tolerance

DTYPES = [np.float16, np.float32, np.float64]


def tables(positions, theta, dtype):
    table_dtype = np.float64 if dtype == np.float64 else np.float32
    return rope.cos_sin(positions, theta, dtype=table_dtype)


def views(x):
    """(name, view) pairs of x with the same values: contiguous, sliced, transposed, reversed."""
    n = x.shape[-1]
    big = np.zeros(x.shape[:-1] + (3 * n,), x.dtype)
    big[..., ::3] = x
    # every other element, the last one the array's last: reads past the view would leave it
    odd = np.zeros(x.shape[:-1] + (2 * n - 1,), x.dtype)
    odd[..., ::2] = x
    rev = np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    t = np.ascontiguousarray(np.swapaxes(x, 0, -1))
    yield "contiguous", x.copy()
    yield "core stride 3", big[..., ::3]
    yield "core stride 2", odd[..., ::2]
    yield "reversed core", rev
    yield "transposed", np.swapaxes(t, 0, -1)
    yield "outer slice", np.repeat(x, 2, axis=0)[::2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("mode", ["fresh", "out", "out=x"])
def test_rotate_matches_reference(simd_level, dtype, interleaved, mode):
    seq, n, k = 37, 44, 19  # k < n/2: partial rotary, and k is not a multiple of any vector width
    x = random_array((seq, n), dtype)
    theta = rope.frequencies(2 * k)
    pos = np.arange(seq) * 7 - 50
    cos, sin = tables(pos, theta, dtype)
    expected = reference.rotate(x, pos, theta, interleaved=interleaved)
    ufunc = rope.rotate_interleaved if interleaved else rope.rotate
    for name, view in views(x):
        if mode == "fresh":
            got = ufunc(view, cos, sin)
        elif mode == "out":
            out = np.full_like(view, np.nan)  # every element must be written, pass-through too
            got = ufunc(view, cos, sin, out=out)
            assert got is out
        else:
            got = ufunc(view, cos, sin, out=view)
            assert got is view
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(dtype) * 4, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_tables_and_broadcast(simd_level, dtype):
    x = random_array((5, 3, 16), dtype)
    theta = rope.frequencies(16)
    pos = np.arange(5)
    cos, sin = tables(pos[:, None], theta, dtype)  # (5, 1, 8): broadcast over the 3 heads
    cos_s = np.repeat(cos, 2, axis=-1)[..., ::2]    # non-unit table strides
    sin_s = np.repeat(sin, 2, axis=-1)[..., ::2]
    expected = reference.rotate(x, pos[:, None], theta)
    np.testing.assert_allclose(rope.rotate(x, cos_s, sin_s), expected, atol=tolerance(dtype) * 4)
    np.testing.assert_allclose(rope.rotate(x, cos, sin), expected, atol=tolerance(dtype) * 4)


def test_rotate_in_place_shares_memory():
    x = random_array((8, 64), np.float32)
    cos, sin = tables(np.arange(8), rope.frequencies(64), np.float32)
    address = x.__array_interface__["data"][0]
    y = rope.rotate(x, cos, sin, out=x)
    assert y is x and y.__array_interface__["data"][0] == address


def test_rotate_with_axes_keyword():
    x = random_array((32, 6), np.float64)  # head dim on axis 0
    theta = rope.frequencies(32)
    cos, sin = rope.cos_sin(np.arange(6), theta)
    got = rope.rotate(x, cos, sin, axes=[0, -1, -1, 0])
    expected = reference.rotate(x.T, np.arange(6), theta).T
    np.testing.assert_allclose(got, expected, atol=1e-13)


@pytest.mark.parametrize("ufunc", [rope.rotate, rope.rotate_interleaved])
def test_core_dims_checked_before_loop(ufunc):
    x = np.zeros((2, 6), np.float32)
    c = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"k=4 frequencies.*n=6"):
        ufunc(x, c, c)


def test_loop_selection():
    theta = rope.frequencies(8)
    for pos_dtype, table_dtype in itertools.product(
        [np.int32, np.int64, np.float64, np.uint8, np.int16], [None, np.float32, np.float64]
    ):
        kw = {} if table_dtype is None else {"dtype": table_dtype}
        c, s = rope.cos_sin(np.arange(3, dtype=pos_dtype), theta, **kw)
        assert c.dtype == s.dtype == (table_dtype or np.float64)
        np.testing.assert_allclose(c, np.cos(np.arange(3)[:, None] * theta), atol=1e-7)
    c, s = rope.cos_sin(10**12, theta)  # a Python int past int32 takes the int64 loop
    np.testing.assert_allclose(c, np.cos(1e12 * theta), atol=1e-3)
    c, s = rope.cos_sin(np.arange(3, dtype=np.int32), theta, signature=("i", "d", "d", "d"))
    np.testing.assert_allclose(s, np.sin(np.arange(3)[:, None] * theta), atol=1e-15)
    # float32 data keeps its type with float64 tables (the exact loop), no promotion
    x32 = random_array((3, 8), np.float32)
    c64, s64 = rope.cos_sin(np.arange(3) * 10**6, theta)
    exact = reference.rotate(x32, np.arange(3) * 10**6, theta)
    got = rope.rotate(x32, c64, s64)
    assert got.dtype == np.float32
    assert np.all(np.abs(got - exact) <= np.spacing(np.abs(exact).astype(np.float32)))
    x16 = np.ones(8, np.float16)
    c, s = rope.cos_sin(1, theta, dtype=np.float32)
    assert rope.rotate(x16, c, s).dtype == np.float16


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_cos_sin_strided_positions_and_theta(simd_level, dtype):
    pos = np.arange(-20, 20, dtype=dtype)[::-3]
    theta = np.repeat(rope.frequencies(20, base=500000.0), 2)[::2]
    c, s = rope.cos_sin(pos, theta)
    angles = pos.astype(np.float64)[:, None] * theta
    np.testing.assert_allclose(c, np.cos(angles), atol=1e-15)
    np.testing.assert_allclose(s, np.sin(angles), atol=1e-15)
    c32, s32 = np.empty((2, pos.size, 40), np.float32)[..., ::4]
    rope.cos_sin(pos, theta, out=(c32, s32))
    np.testing.assert_array_equal(c32, np.cos(angles).astype(np.float32))


def test_half_to_float_exhaustive(simd_level):
    """Every finite half goes through the kernels' conversions unchanged (cos 1, sin 0)."""
    bits = np.arange(2**16, dtype=np.uint16)
    halves = bits.view(np.float16)
    halves = halves[np.isfinite(halves)]
    x = np.zeros((halves.size, 2), np.float16)
    x[:, 0] = halves
    one, zero = np.ones((halves.size, 1), np.float32), np.zeros((halves.size, 1), np.float32)
    out = rope.rotate(x, one, zero)
    np.testing.assert_array_equal(out.view(np.uint16), x.view(np.uint16))


@pytest.mark.parametrize("scale", [0.5, 1 + 2**-12, 1 - 2**-13, 2.0, 2**-10, 3.0, 2**-20])
def test_float_to_half_rounding(simd_level, scale):
    """a * scale is exact in float32; its rounding to half must be NumPy's (nearest, ties even),
    through subnormals, overflow to inf and every binade."""
    bits = np.arange(2**16, dtype=np.uint16)
    halves = bits.view(np.float16)
    halves = halves[np.isfinite(halves)]
    x = np.zeros((halves.size, 2), np.float16)
    x[:, 0] = halves
    c = np.full((halves.size, 1), scale, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow to inf warns at no level: the same at all
        out = rope.rotate(x, c, np.zeros_like(c))
    with np.errstate(over="ignore"):  # large halves times 2 or 3 overflow to inf, as they must
        expected = (halves.astype(np.float32) * np.float32(scale)).astype(np.float16)
    np.testing.assert_array_equal(out[:, 0].view(np.uint16), expected.view(np.uint16))


def test_levels_agree():
    """Every level computes the same thing (FMA levels may round the last float32 bit apart)."""
    x = random_array((64, 3, 128), np.float32)
    cos, sin = tables(np.arange(64)[:, None] * 977, rope.frequencies(128), np.float32)
    results = {}
    before = rope.simd_level()
    try:
        for level in rope.simd_levels():
            rope.set_simd_level(level)
            results[level] = (rope.rotate(x, cos, sin), rope.rotate_interleaved(x, cos, sin))
    finally:
        rope.set_simd_level(before)
    first = results["baseline"]
    for level, got in results.items():
        for a, b in zip(first, got):
            np.testing.assert_allclose(a, b, rtol=0, atol=2e-6, err_msg=level)


def test_simd_level_controls():
    assert rope.simd_levels()[0] == "baseline"
    assert rope.simd_level() in rope.simd_levels()
    with pytest.raises(ValueError, match="unknown level"):
        rope.set_simd_level("sse9")
    if "avx512" not in rope.simd_levels():  # not run by this CPU, or not built for it
        with pytest.raises(ValueError, match="cannot run|unknown level"):
            rope.set_simd_level("avx512")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("mode", ["fresh", "out=x"])
def test_rotate_rows_is_rotate_with_shared_tables(simd_level, dtype, interleaved, mode):
    # Blocks of 3 rows share a table row: the same kernels as rotate with the tables broadcast
    # over the rows, so the same bits, and within the oracle's tolerance.
    seq, n, k = 11, 44, 19                          # partial rotary, odd pair count
    x = random_array((2, seq, 3, n), dtype)
    theta = rope.frequencies(2 * k)
    pos = np.arange(seq) * 13 - 40
    cos, sin = tables(pos, theta, dtype)
    rows, flat = (
        (_core.rotate_interleaved_rows, rope.rotate_interleaved) if interleaved
        else (_core.rotate_rows, rope.rotate)
    )
    want = flat(x, cos[:, None], sin[:, None])
    oracle = reference.rotate(x, pos[:, None], theta, interleaved=interleaved)
    for name, view in views(x):
        before = view.copy()
        got = rows(view, cos, sin) if mode == "fresh" else rows(view, cos, sin, out=view)
        assert (got is view) == (mode == "out=x")
        if mode == "fresh":
            np.testing.assert_array_equal(view, before, err_msg=name)
        np.testing.assert_array_equal(got, want, err_msg=name)
        np.testing.assert_allclose(got, oracle, rtol=0, atol=tolerance(dtype) * 4, err_msg=name)


def test_rotate_rows_blocks_along_any_axis():
    # (heads, seq, dim) with the heads as the rows of a block through axes=
    x = random_array((4, 9, 16), np.float32)
    theta = rope.frequencies(16)
    cos, sin = rope.cos_sin(np.arange(9), theta)
    got = _core.rotate_rows(x, cos, sin, axes=[(0, 2), (1,), (1,), (0, 2)])
    np.testing.assert_array_equal(got, rope.rotate(x, cos, sin))


@pytest.mark.parametrize("ufunc", [_core.rotate_rows, _core.rotate_interleaved_rows])
def test_rotate_rows_checks_core_dims(ufunc):
    x = np.zeros((2, 3, 6), np.float32)
    c = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"cos and sin hold k=4 frequencies.*n=6"):
        ufunc(x, c, c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("mode", ["fresh", "out=x"])
@pytest.mark.parametrize("heads", [1, 2, 5])
def test_rotate_planes_is_rotate_with_tables_per_row(simd_level, dtype, interleaved, mode,
                                                     heads):
    # (batch, heads, seq, dim): row t of every head's plane by row t of the tables, planes two
    # at a time (an odd count leaves one alone); 700 tokens cross the blocks of tables. The
    # same kernels as rotate with the tables broadcast over the heads: the same bits.
    seq, n, k = 700, 44, 19                         # partial rotary, odd pair count
    x = random_array((2, heads, seq, n), dtype)
    theta = rope.frequencies(2 * k)
    pos = np.arange(seq) - 40  # (small: the float64 oracle forms p * theta in float64)
    cos, sin = tables(pos, theta, dtype)
    planes, flat = (
        (_core.rotate_interleaved_planes, rope.rotate_interleaved) if interleaved
        else (_core.rotate_planes, rope.rotate)
    )
    want = flat(x, cos, sin)
    oracle = reference.rotate(x, pos, theta, interleaved=interleaved)
    for name, view in views(x):
        if name == "transposed":  # swapped axes: the planes of the view are its first axis
            continue
        before = view.copy()
        got = planes(view, cos, sin) if mode == "fresh" else planes(view, cos, sin, out=view)
        assert (got is view) == (mode == "out=x")
        if mode == "fresh":
            np.testing.assert_array_equal(view, before, err_msg=name)
        np.testing.assert_array_equal(got, want, err_msg=name)
        np.testing.assert_allclose(got, oracle, rtol=0, atol=tolerance(dtype) * 4, err_msg=name)


@pytest.mark.parametrize("interleaved", [False, True])
def test_rotate_planes_tables_per_batch_strided_or_broadcast(simd_level, interleaved):
    # Tables per batch, tables that are strided views (row by row, gathered), planes along any
    # axis (axes=), and an x broadcast over the heads into a fresh out.
    x = random_array((3, 4, 300, 32), np.float32)
    theta = rope.frequencies(32)
    pos = np.arange(300)[None, :] + np.array([[0], [5000], [-7]])       # (batch, seq)
    cos, sin = rope.cos_sin(pos, theta)                                 # (3, 300, 16)
    planes, flat = (
        (_core.rotate_interleaved_planes, rope.rotate_interleaved) if interleaved
        else (_core.rotate_planes, rope.rotate)
    )
    want = flat(x, cos[:, None], sin[:, None])
    np.testing.assert_array_equal(planes(x, cos, sin), want)
    wide = np.zeros(cos.shape[:-1] + (2 * cos.shape[-1],))
    wide_cos, wide_sin = wide.copy(), wide.copy()
    wide_cos[..., ::2], wide_sin[..., ::2] = cos, sin
    np.testing.assert_array_equal(planes(x, wide_cos[..., ::2], wide_sin[..., ::2]), want)
    seq_major = np.ascontiguousarray(x.transpose(0, 2, 1, 3))          # (batch, seq, heads, dim)
    got = planes(seq_major, cos, sin, axes=[(2, 1, 3), (1, 2), (1, 2), (2, 1, 3)])
    np.testing.assert_array_equal(got.transpose(0, 2, 1, 3), want)
    one = random_array((300, 32), np.float32)
    spread = planes(np.broadcast_to(one, (3, 4, 300, 32)), cos, sin)
    for h in range(4):
        np.testing.assert_array_equal(spread[:, h], flat(one, cos, sin))


@pytest.mark.parametrize("ufunc", [_core.rotate_planes, _core.rotate_interleaved_planes])
def test_rotate_planes_checks_core_dims(ufunc):
    x = np.zeros((2, 3, 6), np.float32)
    c = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"cos and sin hold k=4 frequencies.*n=6"):
        ufunc(x, c, c)
