"""bfloat16 data at every kernel level: rounding to nearest even, special values, and exactness
at long positions against mpmath. rope holds bfloat16 as uint16 of dtype BFLOAT16; these tests
need neither torch nor ml_dtypes (test_tensors.py reaches the same kernels through them)."""
import mpmath
import numpy as np
import pytest

import rope
from rope import _core

from conftest import BFLOAT16, bfloat16, random_array, widened

mpmath.mp.prec = 200


def rotate(interleaved):
    return _core.rotate_interleaved if interleaved else _core.rotate


def bits(x):
    return np.asarray(x).view(np.uint16)


@pytest.mark.parametrize("interleaved", [False, True])
def test_results_round_to_nearest_even(simd_level, interleaved):
    # cos = c, sin = 0: each element a becomes a*c, exact in float32 (8 and at most 16
    # significant bits; for float32 subnormals rounded once, as NumPy's multiply rounds it),
    # then rounded to bfloat16. Factors of 9 significant bits put a*c exactly half way between
    # two bfloat16 values about once in 300; magnitudes run from bfloat16's subnormals up.
    rng = np.random.default_rng(7)
    x = bfloat16(rng.standard_normal((64, 256)) * np.exp2(rng.integers(-133, 126, (64, 256))))
    x[widened(x) == 0] = bfloat16(1.0)  # no zeros: -0 - (-0) is +0, a sign to spare here
    tables = np.where(rng.random((64, 128)) < 0.5,
                      np.ldexp(rng.integers(2**15, 2**16, (64, 128)), -16),
                      np.ldexp(rng.integers(2**8, 2**9, (64, 128)), -8))
    tables = (tables * rng.choice([0.5, 1.0, 2.0], (64, 128))).astype(np.float32)
    # Written out: ties to even (down from 1, up to 1 + 2**-6, down from -1) and the largest
    # bfloat16 rounded up to inf; the first member of pair j of row 0 times factor j.
    x[0, [2 * j if interleaved else j for j in range(4)]] = bfloat16(
        [1.0, 1.0, -1.0, 3.3895314e38])
    tables[0, :4] = [1 + 2.0**-8, 1 + 3 * 2.0**-8, 1 + 2.0**-8, 1 + 2.0**-8]
    factor = np.repeat(tables, 2, axis=-1) if interleaved else np.tile(tables, 2)
    with np.errstate(over="ignore"):
        product = widened(x) * factor
    got = rotate(interleaved)(x, tables, np.zeros_like(tables), out=np.empty_like(x))
    np.testing.assert_array_equal(bits(got), bits(bfloat16(product)))
    first = widened(got)[0, [2 * j if interleaved else j for j in range(4)]]
    np.testing.assert_array_equal(first, [1.0, 1 + 2.0**-6, -1.0, np.inf])
    assert np.sum(product.view(np.uint32) & 0xffff == 0x8000) > 20  # ties beyond those


@pytest.mark.parametrize("interleaved", [False, True])
def test_position_zero_keeps_every_value(simd_level, interleaved):
    # All 65280 finite bfloat16 values rotated by angle 0 (cos 1, sin 0) through the loop
    # rope.apply uses: each widened and narrowed back exactly, subnormals included (a -0 may
    # become +0: -0 - (-0) is +0).
    finite = np.concatenate([np.arange(0, 0x7f80), np.arange(0x8000, 0xff80)]).astype(np.uint16)
    x = finite.view(BFLOAT16).reshape(510, 1, 128)
    got = (_core.rotate_interleaved_at if interleaved else _core.rotate_at)(
        x, np.zeros(510, np.int64), rope.frequencies(128))
    np.testing.assert_array_equal(widened(got), widened(x))
    nonzero = widened(x) != 0
    np.testing.assert_array_equal(bits(got)[nonzero], bits(x)[nonzero])


def test_nan_comes_out_quiet_and_inf_as_inf(simd_level):
    # Tables exact in few bits (cos 0.5, sin 0.75) make every product exact: each result is the
    # float32 a*c - b*s rounded once to bfloat16, whatever the level fuses. A NaN in, signaling
    # or quiet, of either sign, comes out as a quiet NaN; inf as inf, or NaN where inf - inf.
    specials = [0x7f81, 0xff81, 0x7fc0, 0xffc5, 0x7f80, 0xff80, 0x3f80, 0xc040]  # sNaN, qNaN, inf
    x = np.array(np.meshgrid(specials, specials)).reshape(2, -1).T.astype(np.uint16)
    x = x.view(BFLOAT16)                                       # every pair of the specials
    cos, sin = np.float32([0.5]), np.float32([0.75])
    a, b = widened(x[:, 0]), widened(x[:, 1])
    with np.errstate(invalid="ignore"):
        got = _core.rotate(x, cos, sin, out=np.empty_like(x))
        expected = np.stack([a * cos - b * sin, b * cos + a * sin], axis=-1)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(widened(got)), nan)
    assert np.all(bits(got)[nan] & 0x7fc0 == 0x7fc0)            # quiet
    np.testing.assert_array_equal(bits(got)[~nan], bits(bfloat16(expected))[~nan])


def exact_rotation(x, position, theta, interleaved):
    """The exact RoPE (mpmath) of the float values x (rows) at `position`, by the float64
    frequencies theta: past 2**24 the rounding of theta itself moves the angle by more than
    float32's ulp, so exactness is for the frequencies given (rope.frequencies's)."""
    half = theta.size
    out = np.empty(x.shape, dtype=np.float64)
    for k in range(half):
        angle = position * mpmath.mpf(float(theta[k]))
        c, s = mpmath.cos(angle), mpmath.sin(angle)
        i, j = (2 * k, 2 * k + 1) if interleaved else (k, k + half)
        for r in range(x.shape[0]):
            a, b = mpmath.mpf(float(x[r, i])), mpmath.mpf(float(x[r, j]))
            out[r, i], out[r, j] = float(a * c - b * s), float(b * c + a * s)
    return out


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("base", [10000.0, 500000.0])
@pytest.mark.parametrize("position", [0, 1, 4095, 65537, 2**20 - 3, 2**24 + 5, 2**40 + 3, 2**53])
def test_within_one_ulp_of_the_largest_exact_output(simd_level, interleaved, base, position):
    # bfloat16's promise, float16's: computed in float32 with the exact tables and rounded
    # once, each result is within one bfloat16 ulp of the largest output of the exact rotation.
    theta = rope.frequencies(128, base)
    x = random_array((2, 1, 128), BFLOAT16, seed=position % 1000)
    exact = exact_rotation(widened(x[:, 0]), position, theta, interleaved)
    gufunc = _core.rotate_interleaved_at if interleaved else _core.rotate_at
    got = widened(gufunc(x, np.full(2, position), theta))[:, 0]
    ulp = 2.0 ** (np.floor(np.log2(np.abs(exact).max())) - 7)
    assert np.abs(got - exact).max() <= ulp
