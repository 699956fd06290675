"""bfloat16 arrays of other libraries (ml_dtypes, what JAX and NumPy users hold bfloat16 in),
rotated in place through a view of their own memory, with the bits of rope's own bfloat16."""
import numpy as np
import pytest

import rope

from conftest import BFLOAT16, random_array


def test_plain_uint16_is_not_bfloat16():
    # rope's loops read its own uint16 dtype as bfloat16; any other uint16 array is refused.
    x = np.arange(16, dtype=np.uint16).reshape(2, 8)
    c, s = rope.cos_sin(np.arange(2), rope.frequencies(8), dtype=np.float32)
    with pytest.raises(TypeError, match="dtype uint16"):
        rope.apply(x, 0)
    with pytest.raises(TypeError, match="dtype uint16"):
        rope.rotate(x, c, s)
    with pytest.raises(TypeError, match="dtype uint16"):
        rope.rotate(x.view(BFLOAT16), c, s, out=np.zeros_like(x))
    np.testing.assert_array_equal(x, np.arange(16).reshape(2, 8))


# ---- ml_dtypes bfloat16 ----------------------------------------------------------------------

def test_ml_dtypes_bfloat16_array_in_place():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="needs ml_dtypes (pip install ml_dtypes)")
    bits = random_array((5, 3, 64), BFLOAT16)
    x = bits.view(ml_dtypes.bfloat16)
    expected = rope.apply(bits.copy(), 7, layout="shd")
    assert rope.apply(x, 7, layout="shd") is x
    np.testing.assert_array_equal(x.view(np.uint16), expected.view(np.uint16))
    # and one token, through the decode path; and rope.Rope
    token, expected = x[:1].copy(), rope.apply(bits[:1].copy(), 4096, layout="shd")
    assert rope.Rope(64).apply(token, 4096, layout="shd") is token
    np.testing.assert_array_equal(token.view(np.uint16), expected.view(np.uint16))


def test_ml_dtypes_bfloat16_with_the_rotate_gufuncs():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="needs ml_dtypes (pip install ml_dtypes)")
    x = random_array((4, 16), BFLOAT16).view(ml_dtypes.bfloat16)
    c, s = rope.cos_sin(np.arange(4)[:, None], rope.frequencies(16), dtype=np.float32)
    for rotate in (rope.rotate, rope.rotate_interleaved):
        got = rotate(x, c[:, 0], s[:, 0])
        assert got.dtype == ml_dtypes.bfloat16
        want = rotate(x.view(BFLOAT16), c[:, 0], s[:, 0])
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
        out = np.empty_like(x)
        assert rotate(x, c[:, 0], s[:, 0], out=out) is out
        np.testing.assert_array_equal(out.view(np.uint16), want.view(np.uint16))
