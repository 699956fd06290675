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
from rope import reference

from conftest import tolerance

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
