"""Shared fixtures: every kernel level this CPU runs, and the float64 oracle's helpers."""
import numpy as np
import pytest

import rope


@pytest.fixture(params=rope.simd_levels())
def simd_level(request):
    """Run a test once per kernel level this CPU supports, restoring the level afterwards."""
    before = rope.simd_level()
    rope.set_simd_level(request.param)
    yield request.param
    rope.set_simd_level(before)


#: rope's dtype for bfloat16 data (uint16 bits), beside the NumPy float dtypes in the tests.
BFLOAT16 = rope._core.bfloat16_bits


def tolerance(dtype):
    """Absolute tolerance, relative to the data's scale, for comparing with the float64 oracle."""
    if dtype is BFLOAT16:
        return 1.6e-2
    return {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-13}[np.dtype(dtype).type]


def random_array(shape, dtype, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return bfloat16(values) if dtype is BFLOAT16 else values.astype(dtype)


def bfloat16(values):
    """bfloat16 (as rope holds it: uint16 of dtype BFLOAT16) of float32 values, rounded to
    nearest even the way arithmetic rounds, not by bit tricks: each value over its bfloat16
    quantum (2**(e - 8) for 2**(e-1) <= |v| < 2**e, 2**-133 below 2**-125), rounded to the
    nearest integer (ties to even) and scaled back. Past the largest bfloat16: inf. NaN keeps
    its sign and payload and is made quiet."""
    f = np.asarray(values, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        v = f.astype(np.float64)
        quantum = np.ldexp(1.0, np.maximum(np.frexp(v)[1], -125) - 8)
        rounded = (np.rint(v / quantum) * quantum).astype(np.float32)
    high = (f.view(np.uint32) >> 16).astype(np.uint16)
    bits = np.where(np.isnan(f), high | 0x40, (rounded.view(np.uint32) >> 16).astype(np.uint16))
    return bits.astype(np.uint16).view(BFLOAT16)


def widened(x):
    """The values of a bfloat16 array as float32 (exact); any other array as it is."""
    x = np.asarray(x)
    if x.dtype is not BFLOAT16:
        return x
    return (x.astype(np.uint32) << 16).view(np.float32)
