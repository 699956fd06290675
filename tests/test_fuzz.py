"""Fuzzing rope.apply against the float64 reference: shapes, strided views (slices, transposes,
reversals), dtypes, positions (negative too, int or array), pairing, rotary_dim, base, inverse.
No crash, no mismatch, and the array is rotated in place (the same object comes back).
"""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rope
from rope import _parallel, reference

from conftest import BFLOAT16, random_array, tolerance, widened

# Under sanitizers and valgrind (.ci/sanitize) everything is 10-50x slower.
EXAMPLES = 25 if os.environ.get("ROPE_INSTRUMENTED") else 200


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 4))
    head = 2 * draw(st.integers(1, 12))
    lead = draw(st.lists(st.integers(0, 5), min_size=ndim - 1, max_size=ndim - 1))
    shape = tuple(lead) + (head,)
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    # A bigger parent array, then a view into it: steps, offsets, reversals, a transpose.
    steps = [draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in shape]
    parent_shape = tuple(n * abs(s) + draw(st.integers(0, 2)) for n, s in zip(shape, steps))
    transpose = ndim > 2 and draw(st.booleans())
    seq_axis = draw(st.integers(-ndim, -2)) if ndim > 1 else -2
    if ndim == 1 or draw(st.booleans()):
        pos = draw(st.integers(-10**4, 10**4))
    else:
        pos_dtype = draw(st.sampled_from([np.int64, np.int32, np.float64, np.int16, np.uint32]))
        lo = 0 if np.dtype(pos_dtype).kind == "u" else -(10**4)
        hi = 3 * 10**4 if pos_dtype is not np.int16 else 3 * 10**3
        pos = np.array(draw(st.lists(st.integers(lo, hi), min_size=shape[seq_axis],
                                     max_size=shape[seq_axis])), dtype=pos_dtype)
    rotary_dim = draw(st.one_of(st.none(), st.integers(1, head // 2).map(lambda k: 2 * k)))
    return dict(shape=shape, dtype=dtype, steps=steps, parent_shape=parent_shape,
                transpose=transpose, seq_axis=seq_axis, pos=pos, rotary_dim=rotary_dim,
                interleaved=draw(st.booleans()), inverse=draw(st.booleans()),
                base=draw(st.sampled_from([10000.0, 500000.0, 1.5, 1e8])),
                seed=draw(st.integers(0, 2**32 - 1)))


def _index(case):
    """The view's index into its parent: every |step|-th element, backwards for a negative one."""
    return tuple(slice(0, 0) if n == 0 else slice(None, n * s, s) if s > 0
                 else slice(n * -s - 1, None, s) for n, s in zip(case["shape"], case["steps"]))


def _view(case):
    rng = np.random.default_rng(case["seed"])
    parent = rng.standard_normal(case["parent_shape"]).astype(case["dtype"])
    x = parent[_index(case)]
    assert x.shape == case["shape"]
    if case["transpose"]:
        # Same logical array, memory laid out with the two leading axes swapped.
        x = np.swapaxes(np.swapaxes(x, 0, 1).copy(), 0, 1)
    return parent, x


def _expected(x, case):
    head = x.shape[-1]
    dim = case["rotary_dim"] or head
    theta = reference.frequencies(dim, case["base"])
    if case["inverse"]:
        theta = -theta
    pos = case["pos"]
    lead = x.shape[:-1]
    if np.ndim(pos) == 0:
        p = np.arange(lead[case["seq_axis"] + x.ndim] if lead else 1) + pos
    else:
        p = np.asarray(pos, dtype=np.float64)
    if lead:
        shape = [1] * len(lead)
        shape[case["seq_axis"] + x.ndim] = len(p)
        p = p.reshape(shape)
    else:
        p = p[0]
    return reference.rotate(x, p, theta, interleaved=case["interleaved"])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_apply_matches_reference(case):
    parent, x = _view(case)
    before_parent = parent.copy()
    expected = _expected(x, case)
    kw = dict(base=case["base"], interleaved=case["interleaved"], inverse=case["inverse"],
              rotary_dim=case["rotary_dim"])
    if x.ndim > 1:
        kw["seq_axis"] = case["seq_axis"]
    assert rope.apply(x, case["pos"], **kw) is x
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    # Angles up to 3e4 rad: the reference's own float64 angle is off by ~1e-12 there.
    atol = max(tolerance(case["dtype"]), 1e-11) * scale
    np.testing.assert_allclose(x.astype(np.float64), expected, rtol=0, atol=atol)
    # Elements of the parent outside the view are untouched.
    outside = np.ones(parent.shape, bool)  # with a transpose x is a copy: all of parent
    if not case["transpose"]:
        outside[_index(case)] = False
    assert parent[outside].tobytes() == before_parent[outside].tobytes()


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_gufunc_out_equals_in_place(case):
    """The gufunc with a fresh output, and with out=x, give the same bytes."""
    _, x = _view(case)
    dim = case["rotary_dim"] or x.shape[-1]
    table = np.float64 if x.dtype == np.float64 else np.float32
    p = np.arange(x.shape[-2]) if x.ndim > 1 else 3
    c, s = rope.cos_sin(p, rope.frequencies(dim, case["base"]), dtype=table)
    if x.ndim > 1:
        c, s = c.reshape((x.shape[-2], dim // 2)), s.reshape((x.shape[-2], dim // 2))
    fn = rope.rotate_interleaved if case["interleaved"] else rope.rotate
    fresh = fn(x, c, s)
    assert fn(x, c, s, out=x) is x
    assert fresh.tobytes() == np.ascontiguousarray(x).tobytes()


# -- what the hostile probe of issue 19 found: empty and sliced tables, overlapping layouts,
# -- threads with aliasing positions, scaled frequencies at the edge of the angle range

LOOPS = [(np.float16, np.float32), (BFLOAT16, np.float32), (np.float32, np.float32),
         (np.float32, np.float64), (np.float64, np.float64)]


def _table_oracle(x, c, s, interleaved):
    """x rotated in float64 by the given tables (each pair's a c - b s, b c + a s)."""
    out = widened(x).astype(np.float64)
    k = c.shape[-1]
    a, b = reference.pair_indices(2 * k, interleaved)
    xa, xb = out[..., a].copy(), out[..., b].copy()
    c, s = c.astype(np.float64), s.astype(np.float64)
    out[..., a] = xa * c - xb * s
    out[..., b] = xb * c + xa * s
    return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(range(len(LOOPS))), st.sampled_from(rope.simd_levels()),
       st.integers(1, 6), st.integers(0, 20), st.integers(0, 4), st.sampled_from([1, 2, -1, 3]),
       st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_sliced_tables_at_every_level(loop, level, rows, k, extra, step, shared, interleaved,
                                      seed):
    """Tables sliced out of bigger ones (any step, k = 0 included), shared by every row or one
    per row, at every level: the float64 rotation by those tables, x's bytes past 2k copied."""
    dtype, table = LOOPS[loop]
    n = 2 * k + extra
    x = random_array((rows, n), dtype, seed)
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-4, 4, (rows, abs(step) * k + 3))
    parent_c, parent_s = np.cos(angles).astype(table), np.sin(angles).astype(table)
    index = slice(1, 1 + step * k, step) if step > 0 else slice(abs(step) * k, None, step)
    c, s = parent_c[:, index][:, :k], parent_s[:, index][:, :k]
    if shared:
        c, s = c[0], s[0]
    assert c.shape[-1] == k
    fn = rope.rotate_interleaved if interleaved else rope.rotate
    before = rope.simd_level()
    rope.set_simd_level(level)
    try:
        got = fn(x, c, s)
        in_place = x.copy()
        fn(in_place, c, s, out=in_place)
    finally:
        rope.set_simd_level(before)
    expected = _table_oracle(x, c, s, interleaved)
    np.testing.assert_allclose(widened(got), expected, rtol=0, atol=4 * tolerance(dtype) *
                               max(1.0, float(np.abs(expected).max(initial=0))))
    assert got.tobytes() == in_place.tobytes()
    assert got[..., 2 * k:].tobytes() == x[..., 2 * k:].tobytes()


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=3), st.data(), st.booleans())
def test_overlapping_layouts_refused_or_rotated_right(shape, data, interleaved):
    """Any as_strided layout: refused (nothing written) if its elements may overlap, else
    rotated as the oracle rotates it; a layout whose axes nest (as every view NumPy's slicing,
    transposing and reversing makes) is never refused."""
    shape = tuple(shape[:-1]) + (2 * shape[-1],)
    strides = tuple(8 * data.draw(st.integers(-9, 9).filter(bool)) for _ in shape)
    buf = np.random.default_rng(0).standard_normal(1024)
    x = np.lib.stride_tricks.as_strided(buf[512:], shape, strides, writeable=True)
    offsets = np.zeros(1, np.int64)
    for n, st_ in zip(shape, strides):
        offsets = (offsets[:, None] + np.arange(n) * st_).ravel()
    apart = np.unique(offsets).size == offsets.size
    before = buf.copy()
    expected = reference.rotate(x, 3 + np.arange(shape[-2]), reference.frequencies(shape[-1]),
                                interleaved=interleaved)
    try:
        rope.apply(x, 3, seq_axis=-2, interleaved=interleaved)
    except ValueError as e:
        assert "overlap" in str(e)
        assert buf.tobytes() == before.tobytes()
        # Refused although apart: only a layout whose axes do not nest (some axis's stride
        # within the bytes that the axes of smaller strides span), which the cheap test
        # cannot tell from an overlap.
        nested, span = True, 8
        for st_, n in sorted((abs(st_), n) for st_, n in zip(strides, shape) if n > 1):
            nested, span = nested and st_ >= span, span + st_ * (n - 1)
        assert not apart or not nested
        return
    assert apart
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


@settings(max_examples=max(EXAMPLES // 4, 10), deadline=None)
@given(st.integers(8, 40), st.integers(2, 4), st.booleans(), st.booleans(), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_threads_with_positions_aliasing_x(rows, threads, reverse, into_out, scaled, seed):
    """pos a view of x (or of out), threads splitting x into slices whose positions lie in
    other slices' rows: the same bytes as one thread with a copy of pos."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 2, 8))
    holder = np.zeros_like(x) if into_out else x
    holder[:, 1, 7] = rng.integers(-50, 50, rows)
    kw = dict(scaling="yarn", factor=2.0, original_max_position_embeddings=16) if scaled \
        else {}
    pos = holder[::-1, 1, 7] if reverse else holder[:, 1, 7]
    expected = rope.apply(x.copy(), pos.copy(), seq_axis=0, **kw)
    saved = _parallel.MIN_BYTES_PER_THREAD
    _parallel.MIN_BYTES_PER_THREAD = 64  # small slices, so that these arrays are split
    try:
        if into_out:
            got = rope.apply(x, pos, seq_axis=0, out=holder, threads=threads, **kw)
        else:
            got = rope.apply(x, pos, seq_axis=0, threads=threads, **kw)
    finally:
        _parallel.MIN_BYTES_PER_THREAD = saved
    assert got.tobytes() == expected.tobytes()


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(["linear", "proportional"]), st.floats(0.05, 1.0),
       st.integers(-64, 64), st.booleans(), st.sampled_from([np.float32, np.float64]))
def test_scaled_frequencies_at_the_edge_of_the_angle_range(family, factor, delta, negative,
                                                            dtype):
    """Positions around the largest one whose angle stays within 2**54 for the scaled
    frequencies: refused with x untouched past it, rotated (finite, every pair's norm kept)
    within it."""
    r = rope.Rope(8, scaling=family, factor=factor)
    fastest = float(np.abs(r.frequencies).max())
    limit = int(2.0**54 // fastest)
    pos = min(limit + delta, 2**53 - 2)
    pos = -pos - 1 if negative else pos
    x = random_array((2, 8), dtype)
    before = x.copy()
    top = max(abs(pos), abs(pos + 1))
    try:
        rope.apply(x, pos, scaling=family, factor=factor)
    except ValueError as e:
        assert "2**54" in str(e) and top * fastest > 2.0**54
        assert x.tobytes() == before.tobytes()
        return
    assert top * fastest <= 2.0**54
    assert np.isfinite(x).all()
    a, b = reference.pair_indices(8, False)
    np.testing.assert_allclose(np.hypot(x[:, a], x[:, b]), np.hypot(before[:, a], before[:, b]),
                               rtol=1e-5)
