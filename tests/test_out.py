"""out= on rope.apply and Rope.apply: x rotated into another array, with the bits of rotating a
copy of x in place, through every path (decode, tables per position, heads a few at a time,
M-RoPE, threads, an attention factor, partial rotary); x left as it was; bad outs refused
before anything is written."""
import numpy as np
import pytest

import rope

from conftest import BFLOAT16, random_array

DTYPES = [np.float16, BFLOAT16, np.float32, np.float64]

# (shape, pos, keywords): one case per path through Rope._rotate.
CASES = {
    "decode": ((1, 4, 32), 4096, dict(layout="shd")),
    "a position per token": ((9, 4, 32), 3, dict(layout="shd")),
    "a position per vector": ((2, 9, 4, 32), np.arange(72).reshape(2, 9, 4), {}),
    "planes of heads": ((2, 8, 9, 32), 0, dict(layout="bhsd")),
    "heads a few at a time": ((2, 8, 9, 32), 0, dict(layout="bhsd", scaling="yarn", factor=4.0,
                                                     original_max_position_embeddings=16)),
    "attention factor": ((9, 4, 32), 0, dict(layout="shd", scaling="yarn", factor=4.0,
                                              original_max_position_embeddings=16)),
    "partial rotary": ((9, 4, 48), 5, dict(layout="shd", rotary_dim=32)),
    "M-RoPE": ((1, 2, 3, 32), np.array([[[0, 1, 1]], [[0, 0, 1]], [[0, 1, 0]]]),
               dict(layout="bhsd", mrope_section=[8, 4, 4])),
    "threads": ((512, 8, 128), 0, dict(layout="shd", threads=2)),  # 2 MiB of float32
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("interleaved", [False, True])
def test_out_has_the_bits_of_in_place(dtype, case, interleaved):
    shape, pos, kwargs = CASES[case]
    x = random_array(shape, dtype)
    before = x.copy()
    in_place = rope.apply(x.copy(), pos, interleaved=interleaved, **kwargs)
    out = np.full_like(x, 7)
    assert rope.apply(x, pos, interleaved=interleaved, out=out, **kwargs) is out
    np.testing.assert_array_equal(out, in_place)
    np.testing.assert_array_equal(x, before)
    config = rope.Rope(shape[-1], interleaved=interleaved, **{
        k: v for k, v in kwargs.items() if k not in ("layout", "threads")})
    strided = np.full(shape[:-1] + (2 * shape[-1],), 7, dtype=x.dtype)[..., ::2]
    assert config.apply(x, pos, layout=kwargs.get("layout"), out=strided,
                        threads=kwargs.get("threads", 1)) is strided
    np.testing.assert_array_equal(strided, in_place)


def test_out_is_x_or_its_memory_is_in_place():
    x = random_array((6, 4, 16), np.float32)
    expected = rope.apply(x.copy(), 2, layout="shd")
    y = x.copy()
    assert rope.apply(y, 2, layout="shd", out=y) is y
    np.testing.assert_array_equal(y, expected)
    z = x.copy()
    assert rope.apply(z, 2, layout="shd", out=z[...]) is not z   # another object, same memory
    np.testing.assert_array_equal(z, expected)


@pytest.mark.parametrize("shift", [1, -1, 5])
def test_out_overlapping_x_gets_x_as_it_was(shift):
    buf = random_array(80, np.float32)
    x = buf[8:8 + 48].reshape(3, 16)
    expected = rope.apply(x.copy(), 0)
    out = buf[8 + shift:8 + shift + 48].reshape(3, 16)
    rope.apply(x, 0, out=out)
    np.testing.assert_array_equal(out, expected)


def test_x_read_only_or_broadcast_can_be_rotated_into_out():
    x = random_array((4, 16), np.float32)
    x.flags.writeable = False
    out = rope.apply(x, 1, out=np.empty_like(x))
    np.testing.assert_array_equal(out, rope.apply(x.copy(), 1))
    one = random_array(16, np.float64)
    each = rope.apply(np.broadcast_to(one, (5, 16)), 0, out=np.empty((5, 16)))
    np.testing.assert_array_equal(each, rope.apply(np.tile(one, (5, 1)), 0))


@pytest.mark.parametrize("out, error, words", [
    (np.zeros((4, 8), np.float32), ValueError, ["out has shape (4, 8)", "x has shape (4, 16)"]),
    (np.zeros((4, 16), np.float64), TypeError, ["out has dtype float64", "x has float32"]),
    (np.zeros((4, 16), np.uint16).view(BFLOAT16), TypeError, ["out has dtype bfloat16"]),
    (np.zeros((4, 16), np.uint16), TypeError, ["out has dtype uint16"]),
    (np.broadcast_to(np.zeros(16, np.float32), (4, 16)), ValueError, ["out is read-only"]),
    (np.lib.stride_tricks.as_strided(np.zeros(16, np.float32), (4, 16), (0, 4)),
     ValueError, ["out has stride 0"]),
    ([[0.0] * 16] * 4, TypeError, ["out must be a NumPy array or a tensor"]),
])
def test_bad_out_is_refused_and_nothing_written(out, error, words):
    x = random_array((4, 16), np.float32)
    before = x.copy()
    out_before = np.array(out, copy=True)
    for apply in (lambda: rope.apply(x, 3, out=out), lambda: rope.Rope(16).apply(x, 3, out=out)):
        with pytest.raises(error) as info:
            apply()
        for word in words:
            assert word in str(info.value)
        np.testing.assert_array_equal(x, before)
        np.testing.assert_array_equal(out, out_before)
