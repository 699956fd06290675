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


def tolerance(dtype):
    """Absolute tolerance, relative to the data's scale, for comparing with the float64 oracle."""
    return {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-13}[np.dtype(dtype).type]


def random_array(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
