"""Exactness at long positions, against mpmath (docs/theory.md, "Exact angles")."""
import mpmath
import numpy as np
import pytest

import rope

mpmath.mp.prec = 200


def exact_rotation(x, position, dim, base):
    """The exact RoPE of float vectors x (rows) at `position`, with theta from the real base."""
    half = dim // 2
    out = np.empty(x.shape, dtype=np.float64)
    for k in range(half):
        theta = mpmath.power(mpmath.mpf(base), -mpmath.mpf(2 * k) / dim)
        angle = position * theta
        c, s = mpmath.cos(angle), mpmath.sin(angle)
        for r in range(x.shape[0]):
            a, b = mpmath.mpf(float(x[r, k])), mpmath.mpf(float(x[r, k + half]))
            out[r, k] = float(a * c - b * s)
            out[r, k + half] = float(b * c + a * s)
    return out


@pytest.mark.parametrize("base", [10000.0, 500000.0])
@pytest.mark.parametrize("position", [0, 1, 4095, 65537, 2**20 - 3, 2**20, 2**24 + 5])
def test_float32_within_one_ulp_of_max(simd_level, base, position):
    dim = 128
    x = np.random.default_rng(position).standard_normal((2, dim)).astype(np.float32)
    exact = exact_rotation(x, position, dim, base)
    got = rope.apply(x.copy(), np.array([position, position]), base=base)
    ulp = np.spacing(np.float32(np.abs(exact).max()))
    assert np.abs(got - exact).max() <= ulp


def test_float32_angle_path_is_not_exact():
    """The usual deep-learning path (float32 angle) is far off where rope is exact: the test
    above is not vacuous."""
    position, dim, base = 2**20, 128, 10000.0
    x = np.random.default_rng(1).standard_normal((1, dim)).astype(np.float32)
    exact = exact_rotation(x, position, dim, base)
    theta32 = rope.frequencies(dim, base).astype(np.float32)
    angle32 = np.float32(position) * theta32
    c, s = np.cos(angle32), np.sin(angle32)
    a, b = x[:, : dim // 2], x[:, dim // 2:]
    naive = np.concatenate([a * c - b * s, b * c + a * s], axis=-1)
    ulp = np.spacing(np.float32(np.abs(exact).max()))
    assert np.abs(naive - exact).max() > 100 * ulp


@pytest.mark.parametrize("position", [3, 2**31 + 11, 10**15 + 7, 2**53])
def test_cos_sin_tables_exact_for_given_theta(simd_level, position):
    """cos_sin forms p * theta exactly for the float64 theta given, at any |p| <= 2**53."""
    theta = rope.frequencies(64, 500000.0)
    for p in (position, -position):
        c, s = rope.cos_sin(np.int64(p), theta)
        for j in range(0, 32, 5):
            angle = mpmath.mpf(p) * mpmath.mpf(float(theta[j]))
            assert abs(c[j] - float(mpmath.cos(angle))) <= 4e-16
            assert abs(s[j] - float(mpmath.sin(angle))) <= 4e-16
