"""rope.apply on the layouts users have, against the float64 reference."""
import numpy as np
import pytest

import rope
from rope import _core
from rope import reference
from rope._positions import planes_sharing_positions

from conftest import random_array, tolerance

DTYPES = [np.float16, np.float32, np.float64]

# (shape, seq_axis): the layouts of issue 2; positions always run along seq_axis.
LAYOUTS = [
    ((24, 64), -2),                 # (seq, dim)
    ((3, 24, 64), -2),              # (heads, seq, dim)
    ((24, 3, 64), -3),              # (seq, heads, dim)
    ((2, 24, 3, 64), -3),           # (batch, seq, heads, dim)
    ((2, 3, 24, 64), -2),           # (batch, heads, seq, dim)
]


def expected(x, positions_1d, seq_axis, **kw):
    """The oracle: positions laid along seq_axis by hand, rotated in float64."""
    shape = [1] * (x.ndim - 1)
    shape[seq_axis % x.ndim] = len(positions_1d)
    dim = kw.pop("rotary_dim", None) or x.shape[-1]
    theta = reference.frequencies(dim, kw.pop("base", 10000.0))
    if kw.pop("inverse", False):
        theta = -theta
    return reference.rotate(x, np.reshape(positions_1d, shape), theta, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("shape,seq_axis", LAYOUTS)
def test_layouts(dtype, interleaved, shape, seq_axis):
    x = random_array(shape, dtype)
    want = expected(x, np.arange(shape[seq_axis]) + 5, seq_axis, interleaved=interleaved)
    got = rope.apply(x, 5, seq_axis=seq_axis, interleaved=interleaved)
    assert got is x
    np.testing.assert_allclose(x, want, rtol=0, atol=4 * tolerance(dtype))


def test_seq_equal_to_heads_rotates_along_seq():
    """(seq, heads, dim) with seq == heads: broadcasting from the right would silently use the
    heads axis; rope places positions on seq_axis."""
    x = random_array((8, 8, 16), np.float64)
    pos = np.arange(8) * 3
    got = rope.apply(x.copy(), pos, seq_axis=-3)
    np.testing.assert_allclose(got, expected(x, pos, 0), atol=1e-13)
    wrong = expected(x, pos, 1)
    assert not np.allclose(got, wrong)


def test_offset_equals_explicit_positions_and_negative_positions():
    x = random_array((2, 4, 10, 32), np.float32)
    a = rope.apply(x.copy(), -7, layout="bhsd")
    b = rope.apply(x.copy(), np.arange(-7, 3), layout="bhsd")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, expected(x, np.arange(-7, 3), 2), atol=1e-6)


def test_per_batch_positions():
    x = random_array((2, 5, 3, 16), np.float64)  # (batch, seq, heads, dim)
    pos = np.array([[0, 1, 2, 3, 4], [10, 11, 12, 13, 14]])[..., None]  # (batch, seq, 1)
    got = rope.apply(x.copy(), pos, seq_axis=-3)
    want = reference.rotate(x, pos, reference.frequencies(16))
    np.testing.assert_allclose(got, want, atol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
def test_partial_rotary(dtype, interleaved):
    x = random_array((6, 4, 40), dtype)
    got = rope.apply(x.copy(), 3, rotary_dim=16, interleaved=interleaved, layout="hsd")
    want = expected(x, np.arange(3, 7), 1, rotary_dim=16, interleaved=interleaved)
    np.testing.assert_allclose(got, want, atol=4 * tolerance(dtype))
    np.testing.assert_array_equal(got[..., 16:], x[..., 16:])


@pytest.mark.parametrize("dtype", DTYPES)
def test_views_rotate_their_base(dtype):
    base = random_array((6, 10, 64), dtype)
    original = base.copy()
    view = base[::2, 1::3]                       # strided outer axes
    want = expected(view, np.arange(view.shape[-2]), 1)
    rope.apply(view, 0, layout="hsd")
    np.testing.assert_allclose(base[::2, 1::3], want, atol=4 * tolerance(dtype))
    untouched = np.ones(base.shape[:2], bool)
    untouched[::2, 1::3] = False
    np.testing.assert_array_equal(base[untouched], original[untouched])

    t = random_array((64, 10), dtype).T          # head dim strided: (seq, dim) view of a transpose
    want = expected(t, np.arange(10), 0)
    rope.apply(t, 0)
    np.testing.assert_allclose(t, want, atol=4 * tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inverse_and_base(dtype):
    x = random_array((12, 32), dtype)
    y = rope.apply(x.copy(), 100, base=500000.0)
    np.testing.assert_allclose(y, expected(x, np.arange(100, 112), 0, base=500000.0),
                               atol=4 * tolerance(dtype))
    back = rope.apply(y, 100, base=500000.0, inverse=True)
    np.testing.assert_allclose(back, x, atol=8 * tolerance(dtype))


def test_one_vector_and_float_positions():
    v = rope.apply(np.array([1.0, 0.0, 0.0, 1.0]), 2)
    theta = reference.frequencies(4)
    np.testing.assert_allclose(v, reference.rotate([1.0, 0.0, 0.0, 1.0], 2, theta), atol=1e-15)
    x = random_array((3, 8), np.float64)
    pos = np.array([0.5, 1.25, -2.75])
    np.testing.assert_allclose(rope.apply(x.copy(), pos), expected(x, pos, 0), atol=1e-14)


def test_float16_is_computed_in_float32_and_rounded_once():
    x = random_array((64, 128), np.float16)
    got = rope.apply(x.copy(), 1000)
    want = expected(x.astype(np.float64), np.arange(1000, 1064), 0)
    ulp = np.spacing(np.abs(want).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(got - want) <= ulp)   # within one float16 ulp of the exact result


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("heads,dim", [(32, 128), (6, 64), (8, 256), (12, 80), (3, 600)])
def test_heads_rotated_plane_by_plane(dtype, interleaved, heads, dim):
    # (batch, heads, seq, dim): apply rotates each head's plane a block of tokens at a time,
    # the block's tables built once in the loop (rotate_seq_at). The same tables, and so the
    # same bits, as rotate_at on the (batch, seq, heads, dim) view, whose heads of a token
    # share theirs; 600 pairs take the rows-longer-than-scratch path.
    x = random_array((2, heads, 70, dim), dtype)
    pos = np.arange(70) * 3 + 1000
    r = rope.Rope(dim, interleaved=interleaved)
    rotate_at = _core.rotate_interleaved_at if interleaved else _core.rotate_at
    want = rotate_at(x.transpose(0, 2, 1, 3), pos, r.frequencies).transpose(0, 2, 1, 3)
    unrotated = x.copy()
    got = r.apply(x, pos, layout="bhsd")
    assert got is x
    np.testing.assert_array_equal(x, want)
    # (8, not 4: the float64 oracle forms p * theta in float64, ~1e-16 relative at p ~ 1200)
    np.testing.assert_allclose(x, expected(unrotated, pos, 2, interleaved=interleaved),
                               rtol=0, atol=8 * tolerance(dtype))
    position_ids = np.stack([pos, pos + 5000])                 # (batch, seq)
    x[...] = unrotated
    r.apply(x, position_ids, layout="bhsd")
    for b in range(2):
        np.testing.assert_array_equal(
            x[b], rotate_at(unrotated[b].transpose(1, 0, 2), position_ids[b],
                            r.frequencies).transpose(1, 0, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("heads,dim", [(32, 128), (6, 64), (7, 256), (12, 80)])
@pytest.mark.parametrize("batch_positions", [False, True])
def test_heads_with_prebuilt_tables_plane_by_plane(dtype, interleaved, heads, dim,
                                                   batch_positions):
    # (batch, heads, seq, dim) with an attention factor (YaRN): prebuilt tables, rotated plane
    # by plane, two heads at a time (rotate_planes). Same bits as rotating head by head with
    # the same tables, for positions shared by the batch and per batch (position_ids).
    x = random_array((2, heads, 300, dim), dtype)
    pos = np.arange(300) + 1000
    if batch_positions:
        pos = np.stack([pos, pos + 7])[:, None, :]                  # (batch, 1, seq)
    r = rope.Rope(dim, interleaved=interleaved, scaling="yarn", factor=4.0,
                  original_max_position_embeddings=256)
    cos, sin = r.tables(pos, dtype=np.float32 if dtype == np.float16 else np.float64)
    flat = rope.rotate_interleaved if interleaved else rope.rotate
    want = flat(x, cos, sin)
    got = r.apply(x, pos, layout="bhsd")
    assert got is x
    np.testing.assert_array_equal(x, want)


def test_planes_only_where_the_rows_of_a_position_lie_apart():
    x = random_array((2, 8, 10, 64), np.float32)
    assert planes_sharing_positions(x, (1, 1, 10)) == (1, 2)
    assert planes_sharing_positions(x, (2, 8, 10)) is None          # a position per vector
    assert planes_sharing_positions(x, (2, 1, 1)) is None           # no sequence axis
    t = np.swapaxes(random_array((2, 10, 8, 64), np.float32), 1, 2)  # heads inner in memory
    assert planes_sharing_positions(t, (1, 1, 10)) is None
    assert planes_sharing_positions(random_array((10, 64), np.float32), (10,)) is None
