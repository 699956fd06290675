"""Positions and layout: named layouts, the default sequence axis, (batch, seq) position ids,
per-sequence offsets and packed sequences, each against the float64 oracle."""
import numpy as np
import pytest

import rope
from rope import _parallel, reference

from conftest import random_array, tolerance

# layout -> a shape of that layout (sequence length 6 everywhere, 4 heads, batch 3)
LAYOUTS = {
    "sd": (6, 16), "hsd": (4, 6, 16), "shd": (6, 4, 16), "bhsd": (3, 4, 6, 16),
    "bshd": (3, 6, 4, 16), "sbhd": (6, 3, 4, 16), "bsd": (3, 6, 16),
}


def along(positions, shape, axis):
    """positions (1-d) laid on `axis` of x's leading axes."""
    lead = [1] * (len(shape) - 1)
    lead[axis] = len(positions)
    return np.asarray(positions).reshape(lead)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layout_names_the_sequence_axis(layout, dtype):
    shape = LAYOUTS[layout]
    axis = layout.index("s")
    x = random_array(shape, dtype)
    want = reference.rotate(x, along(np.arange(7, 7 + shape[axis]), shape, axis),
                            reference.frequencies(16))
    got = rope.apply(x.copy(), 7, layout=layout)
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * tolerance(dtype))
    np.testing.assert_array_equal(got, rope.apply(x.copy(), 7, seq_axis=axis - len(shape)))
    r = rope.Rope(16)
    np.testing.assert_array_equal(r.apply(x.copy(), np.arange(7, 13), layout=layout), got)


def test_default_axis_only_where_the_shape_says_it():
    """A 2-d x is (seq, dim): axis 0, as before. For more axes an int offset or a
    sequence-major pos cannot say which axis is the sequence: (seq, heads, dim) and
    (heads, seq, dim) look alike, so it is refused (x untouched) rather than rotated along
    heads, which the old default seq_axis=-2 did for (seq, heads, dim)."""
    x = random_array((6, 16), np.float64)
    np.testing.assert_allclose(rope.apply(x.copy(), 3),
                               reference.rotate(x, np.arange(3, 9),
                                                reference.frequencies(16)), atol=1e-13)
    for shape, pos in [((6, 4, 16), 0), ((4, 6, 16), np.arange(6)), ((1, 4, 6, 16), 5),
                       ((3, 6, 4, 16), np.zeros((3, 6), np.int64)), ((4, 4, 16), 2)]:
        x = random_array(shape, np.float32)
        before = x.copy()
        with pytest.raises(ValueError, match="layout="):
            rope.apply(x, pos)
        with pytest.raises(ValueError, match="layout="):
            rope.Rope(16).apply(x, pos)
        assert x.tobytes() == before.tobytes()
    # no sequence axis needed: one vector, or a position for every vector
    one = random_array((1, 1, 16), np.float64)
    np.testing.assert_allclose(rope.apply(one.copy(), 9),
                               reference.rotate(one, 9, reference.frequencies(16)), atol=1e-13)
    x = random_array((2, 6, 4, 16), np.float64)
    per_vector = np.arange(12).reshape(2, 6, 1)
    np.testing.assert_allclose(rope.apply(x.copy(), per_vector),
                               reference.rotate(x, per_vector, reference.frequencies(16)),
                               atol=1e-13)


@pytest.mark.parametrize("layout,expand", [("bhsd", lambda p: p[:, None, :]),
                                           ("bshd", lambda p: p[:, :, None])])
@pytest.mark.parametrize("threads", [1, 2])
def test_transformers_position_ids_for_both_layouts(layout, expand, threads, monkeypatch):
    monkeypatch.setattr(_parallel, "MIN_BYTES_PER_THREAD", 1024)
    shape = LAYOUTS[layout]
    position_ids = np.array([[0, 1, 2, 3, 4, 5], [7, 8, 9, 10, 11, 12], [3, 3, 4, 5, 9, 20]])
    x = random_array(shape, np.float64)
    want = reference.rotate(x, expand(position_ids), reference.frequencies(16))
    got = rope.apply(x.copy(), position_ids, layout=layout, threads=threads)
    np.testing.assert_allclose(got, want, atol=1e-13)
    np.testing.assert_array_equal(
        rope.Rope(16).apply(x.copy(), position_ids, layout=layout, threads=threads), got)
    # seq_axis says the same as the layout
    axis = -2 if layout == "bhsd" else -3
    np.testing.assert_array_equal(rope.apply(x.copy(), position_ids, seq_axis=axis), got)
    # a batch that shares its positions: (1, seq), or the same row repeated (as transformers
    # expands it), whose tables rope builds once
    shared = rope.apply(x.copy(), position_ids[:1], layout=layout)
    np.testing.assert_allclose(shared, reference.rotate(x, expand(position_ids[:1]),
                                                        reference.frequencies(16)), atol=1e-13)
    repeated = np.repeat(position_ids[:1], 3, axis=0)
    np.testing.assert_array_equal(rope.apply(x.copy(), repeated, layout=layout), shared)


@pytest.mark.parametrize("layout,shape", [("bhsd", (3, 4, 1, 16)), ("bshd", (3, 1, 4, 16)),
                                          ("thd", (3, 4, 16))])
def test_decode_step_with_a_layout(layout, shape):
    """One token per sequence at an int position (the fast path), and at per-sequence
    positions ((batch, 1) position ids)."""
    x = random_array(shape, np.float32)
    want = reference.rotate(x, 1000, reference.frequencies(16))
    np.testing.assert_allclose(rope.apply(x.copy(), 1000, layout=layout) if layout != "thd"
                               else rope.apply(x.copy(), np.full(3, 1000), layout=layout),
                               want, atol=4 * tolerance(np.float32))
    if layout == "thd":
        return
    steps = np.array([[5], [17], [1000]])
    got = rope.apply(x.copy(), steps, layout=layout)
    by_step = np.stack([rope.apply(x[b:b + 1].copy(), int(steps[b, 0]), layout=layout)[0]
                        for b in range(3)])
    np.testing.assert_array_equal(got, by_step)


def test_offset_positions_are_each_sequence_from_its_offset():
    offsets = np.array([0, 5, 1000])
    position_ids = rope.offset_positions(offsets, 4)
    np.testing.assert_array_equal(position_ids, offsets[:, None] + np.arange(4))
    assert position_ids.dtype == np.int64
    for layout in ("bhsd", "bshd"):
        x = random_array(LAYOUTS[layout][:-1] + (16,), np.float32)
        x = np.ascontiguousarray(x[:, :, :4] if layout == "bhsd" else x[:, :4])
        got = rope.apply(x.copy(), position_ids, layout=layout)
        each = np.stack([rope.apply(x[b].copy(), int(offsets[b]), layout=layout[1:])
                         for b in range(3)])
        np.testing.assert_array_equal(got, each)
    with pytest.raises(TypeError, match="1-d array of integers"):
        rope.offset_positions([[0, 1]], 4)
    with pytest.raises(TypeError, match="1-d array of integers"):
        rope.offset_positions([0.5, 1.0], 4)
    with pytest.raises(ValueError, match="seq_len"):
        rope.offset_positions([0, 1], 0)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        rope.offset_positions([rope.MAX_POSITION], 2)


def test_packed_positions_number_each_sequence_from_its_offset():
    cu_seqlens = np.array([0, 3, 3, 8, 10])       # lengths 3, 0, 5, 2
    offsets = np.array([4, 0, 100, 7])
    positions = rope.packed_positions(cu_seqlens, offsets)
    np.testing.assert_array_equal(positions, [4, 5, 6, 100, 101, 102, 103, 104, 7, 8])
    np.testing.assert_array_equal(rope.packed_positions(cu_seqlens),
                                  [0, 1, 2, 0, 1, 2, 3, 4, 0, 1])
    x = random_array((10, 4, 16), np.float32)         # (tokens, heads, dim)
    got = rope.apply(x.copy(), positions, layout="thd")
    for i in range(4):
        lo, hi = cu_seqlens[i], cu_seqlens[i + 1]
        if hi > lo:
            np.testing.assert_array_equal(
                got[lo:hi], rope.apply(x[lo:hi].copy(), int(offsets[i]), layout="shd"))
    assert rope.packed_positions([0]).shape == (0,)
    with pytest.raises(ValueError, match="start at 0"):
        rope.packed_positions([1, 3])
    with pytest.raises(ValueError, match="never decrease"):
        rope.packed_positions([0, 3, 2])
    with pytest.raises(ValueError, match="one integer per sequence"):
        rope.packed_positions([0, 3, 5], offsets=[1])
    with pytest.raises(TypeError, match="cu_seqlens"):
        rope.packed_positions([0.0, 3.0])
    with pytest.raises(ValueError, match="packed"):  # an int would number them as one sequence
        rope.apply(x.copy(), 0, layout="thd")
    with pytest.raises(ValueError, match="9 positions"):
        rope.apply(x.copy(), positions[:9], layout="thd")
