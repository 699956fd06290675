"""The properties of the rotation (docs/theory.md), as examples and hypothesis properties."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import rope

DIMS = st.sampled_from([2, 4, 8, 64, 128])
POSITIONS = st.integers(-(2**20), 2**20)


def vectors(dim, seed):
    return np.random.default_rng(seed).standard_normal((2, dim))


def test_cat_sleeping_seed_003():
    """'The1 cat2 is3 sleeping4' and '... the8 cat9 is10 sleeping11': equal scores at distance 2,
    different rotated vectors."""
    cat, sleeping = vectors(64, 3)
    q2, k4 = rope.apply(cat.copy(), 2), rope.apply(sleeping.copy(), 4)
    q9, k11 = rope.apply(cat.copy(), 9), rope.apply(sleeping.copy(), 11)
    assert q2 @ k4 == pytest.approx(q9 @ k11, rel=1e-13)
    assert not np.allclose(q2, q9)
    # and it is not the unrotated score
    assert q2 @ k4 != pytest.approx(cat @ sleeping, rel=1e-3)


@settings(max_examples=60, deadline=None)
@given(dim=DIMS, i=POSITIONS, j=POSITIONS, shift=POSITIONS, seed=st.integers(0, 2**32 - 1),
       interleaved=st.booleans())
def test_relative_position(dim, i, j, shift, seed, interleaved):
    """<Ro(q, i), Ro(k, j)> = <q, Ro(k, j - i)>: the score depends on j - i only."""
    q, k = vectors(dim, seed)
    a = rope.apply(q.copy(), i, interleaved=interleaved) @ rope.apply(k.copy(), j, interleaved=interleaved)
    b = rope.apply(q.copy(), i + shift, interleaved=interleaved) @ rope.apply(
        k.copy(), j + shift, interleaved=interleaved)
    c = q @ rope.apply(k.copy(), j - i, interleaved=interleaved)
    scale = np.linalg.norm(q) * np.linalg.norm(k)
    assert abs(a - b) <= 1e-12 * scale
    assert abs(a - c) <= 1e-12 * scale


@settings(max_examples=60, deadline=None)
@given(dim=DIMS, p=POSITIONS, q=POSITIONS, seed=st.integers(0, 2**32 - 1),
       base=st.floats(1.5, 1e7))
def test_norm_inverse_composition(dim, p, q, seed, base):
    x = vectors(dim, seed)[0]
    y = rope.apply(x.copy(), p, base=base)
    # norm preservation, pair by pair
    np.testing.assert_allclose(np.hypot(y[: dim // 2], y[dim // 2:]),
                               np.hypot(x[: dim // 2], x[dim // 2:]), rtol=1e-14)
    # inverse: rotating by p then by -p is the identity
    np.testing.assert_allclose(rope.apply(y.copy(), p, base=base, inverse=True), x, atol=1e-13)
    np.testing.assert_allclose(rope.apply(y.copy(), -p, base=base), x, atol=1e-13)
    # composition: p then q equals p + q
    np.testing.assert_allclose(rope.apply(y.copy(), q, base=base),
                               rope.apply(x.copy(), p + q, base=base), atol=1e-12)


def test_worked_frequency_value():
    """d = 512, k = 129: theta = 10000**(-256/512) = 0.01; theta_1 = 1 for every base."""
    assert rope.frequencies(512)[128] == pytest.approx(0.01, rel=1e-15)
    for base in (10.0, 1e4, 5e5):
        assert rope.frequencies(64, base=base)[0] == 1.0
        assert np.all(np.diff(rope.frequencies(64, base=base)) < 0)
    assert rope.periods(128)[-1] == pytest.approx(54410.14, abs=0.01)


def test_equal_frequencies_lose_positions():
    """With every theta equal, positions one period apart become indistinguishable (theory.md)."""
    x = vectors(8, 0)[0]
    theta = np.full(4, 0.5)
    period = 2 * np.pi / 0.5
    c1, s1 = rope.cos_sin(3.0, theta)
    c2, s2 = rope.cos_sin(3.0 + period, theta)
    np.testing.assert_allclose(rope.rotate(x, c1, s1), rope.rotate(x, c2, s2), atol=1e-14)
