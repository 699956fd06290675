"""The tables rope keeps between calls: the same bits found or built, bounded, clearable."""
import tracemalloc

import numpy as np
import pytest

import rope
import rope._rope
from rope import _cache

from conftest import BFLOAT16, random_array, tolerance, widened
from test_apply import expected


@pytest.fixture
def empty_cache():
    rope.clear_cache()
    yield
    rope.clear_cache()


@pytest.mark.parametrize("dtype", [np.float16, BFLOAT16, np.float32])
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("seq", [2, 40, 64, 100, 300])
@pytest.mark.parametrize("layout", ["shd", "bshd", "thd"])
def test_kept_tables_rotate_as_the_loop_builds_them(empty_cache, monkeypatch, dtype,
                                                    interleaved, seq, layout, simd_level):
    """A call that finds the tables kept (k after q), one that builds and keeps them, and one
    that builds them in the rotation's loop (nothing kept): the same bits."""
    shape = {"shd": (seq, 4, 64), "bshd": (2, seq, 4, 64), "thd": (seq, 4, 64)}[layout]
    x = random_array(shape, dtype)
    pos = np.arange(seq) * 3 + 7 if layout == "thd" else 7  # thd: positions per token
    r = rope.Rope(64, interleaved=interleaved)
    built, found, in_loop = x.copy(), x.copy(), x.copy()
    r.apply(built, pos, layout=layout)
    assert _cache.tables.nbytes > 0
    r.apply(found, pos, layout=layout)
    monkeypatch.setattr(rope._rope, "KEEP_BYTES", 0)
    rope.clear_cache()
    r.apply(in_loop, pos, layout=layout)
    assert _cache.tables.nbytes == 0
    np.testing.assert_array_equal(built.view(np.uint8), in_loop.view(np.uint8))
    np.testing.assert_array_equal(found.view(np.uint8), in_loop.view(np.uint8))
    positions = np.arange(seq) * 3 + 7 if layout == "thd" else np.arange(seq) + 7
    seq_axis = layout.index("s" if layout != "thd" else "t") - len(layout)
    want = expected(widened(x), positions, seq_axis, interleaved=interleaved)
    np.testing.assert_allclose(widened(found), want, rtol=0,
                               atol=tolerance(dtype) * np.abs(want).max())


def test_other_positions_are_not_taken_for_kept_ones(empty_cache):
    """Same shape, same first and last position, one position in between differs."""
    r = rope.Rope(16)
    x = random_array((5, 2, 16), np.float32)
    a, b = x.copy(), x.copy()
    r.apply(a, np.array([0, 1, 2, 3, 4])[:, None], layout="shd")
    r.apply(b, np.array([0, 1, 9, 3, 4])[:, None], layout="shd")
    want = expected(x, np.array([0, 1, 9, 3, 4]), -3)
    np.testing.assert_allclose(b, want, rtol=0, atol=4 * tolerance(np.float32))
    assert not np.array_equal(a[2], b[2])


def test_kept_tables_are_bounded_and_cleared(empty_cache, monkeypatch):
    """Eight configurations in turn on long sequences keep at most the bound; clear_cache
    returns the memory (the arrays' tables are traced by NumPy's allocator)."""
    monkeypatch.setattr(_cache.tables, "max_bytes", 3 << 20)
    x = np.zeros((4096, 2, 128), np.float32)           # 4 MiB of tables per configuration
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for base in range(8):
            rope.apply(x, 0, layout="shd", base=10000.0 + base, scaling="yarn", factor=2.0,
                       original_max_position_embeddings=1024)  # exact tables (the factor)
            rope.apply(x[:1024], 0, layout="shd", base=20000.0 + base)  # kept, 1 MiB
            assert _cache.tables.nbytes <= 3 << 20
        held = tracemalloc.get_traced_memory()[0] - before
        rope.clear_cache()
        cleared = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= (3 << 20) + (1 << 20), held
    assert _cache.tables.nbytes == 0
    assert cleared < 1 << 20, cleared


def test_rope_tables_found_again_until_cleared(empty_cache):
    r = rope.Rope(8)
    cos, sin = r.tables(np.arange(5), np.float64)
    assert r.tables(np.arange(5), np.float64)[0] is cos
    assert not cos.flags.writeable
    rope.clear_cache()
    again = r.tables(np.arange(5), np.float64)[0]
    assert again is not cos
    np.testing.assert_array_equal(again, cos)


@pytest.mark.parametrize("config", [{}, {"scaling": "dynamic", "factor": 2.0,
                                         "max_position_embeddings": 40},
                                    {"scaling": "yarn", "factor": 4.0,
                                     "original_max_position_embeddings": 32}])
def test_remembered_calls_rotate_as_fresh_ones(config):
    """A Rope remembers what its checks made of recent calls at an int offset or a few
    positions (keyed by x's shape and the arguments, a pos array's values included): calls
    that alternate shapes, layouts, offsets, positions and flags, each against the same call
    on a Rope that has never seen one."""
    r = rope.Rope(64, **config)
    calls = [((30, 4, 64), 0, dict(layout="shd")),
             ((4, 30, 64), 0, dict(layout="hsd")),
             ((30, 4, 64), 5, dict(layout="shd")),
             ((30, 4, 64), 0, dict(seq_axis=0)),
             ((30, 4, 64), 0, dict(seq_axis=1)),
             ((2, 30, 4, 64), 0, dict(layout="bshd")),
             ((30, 4, 64), 0, dict(layout="shd", inverse=True)),
             ((30, 4, 64), 0, dict(layout="shd", attention_scaling=False)),
             ((60, 4, 64), 0, dict(layout="shd")),
             ((30, 64), 100, {}),
             ((30, 4, 64), np.arange(30)[:, None] * 3, {}),
             ((30, 4, 64), np.arange(30)[:, None].astype(np.int32) * 3, {}),
             ((30, 4, 64), np.arange(30)[:, None] * 3 + 0.5, {}),
             ((2, 4, 1, 64), np.array([[7], [9]]), dict(layout="bhsd")),
             ((2, 4, 1, 64), np.array([[9], [7]]), dict(layout="bhsd")),
             ((2, 1, 4, 64), np.array([[9], [7]]), dict(layout="bshd"))]
    for shape, pos, kwargs in calls + calls[::-1] + calls:
        x = random_array(shape, np.float32)
        want = rope.Rope(64, **config).apply(x.copy(), pos, **kwargs)
        np.testing.assert_array_equal(r.apply(x, pos, out=np.empty_like(x), **kwargs), want)
        np.testing.assert_array_equal(r.apply(x, pos, **kwargs), want)
    assert 0 < len(r._remembered_calls) <= rope._rope._REMEMBERED_CALLS


def test_remembered_call_refuses_what_the_first_refused():
    """A remembered call's checks are those of its first time; what differs (x itself, its
    head dimension, a position past the angle range) is checked again or keyed apart."""
    r = rope.Rope(64)
    x = random_array((8, 2, 64), np.float32)
    r.apply(x, 3, layout="shd")
    frozen = x.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        r.apply(frozen, 3, layout="shd")
    with pytest.raises(ValueError, match="head dimension"):
        r.apply(random_array((8, 2, 32), np.float32), 3, layout="shd")
    with pytest.raises(ValueError, match="2\\*\\*53"):
        r.apply(x.copy(), 2**53 - 2, layout="shd")
    with pytest.raises(ValueError):
        r.apply(x.copy(), 3, layout="shdd")


def test_remembered_positions_are_the_values_of_each_call():
    """A pos array remembered by its values: changed in place after a call, or viewing the
    memory of the x it rotates, each call rotates by the values pos holds when it is made."""
    r = rope.Rope(8)
    pos = np.array([[3], [5]])
    x = random_array((2, 2, 1, 8), np.float64)
    want = rope.Rope(8).apply(x.copy(), np.array([[3], [5]]), layout="bhsd")
    np.testing.assert_array_equal(r.apply(x.copy(), pos, layout="bhsd"), want)
    pos[...] = [[11], [2]]
    moved = rope.Rope(8).apply(x.copy(), np.array([[11], [2]]), layout="bhsd")
    np.testing.assert_array_equal(r.apply(x.copy(), pos, layout="bhsd"), moved)
    np.testing.assert_array_equal(r.apply(x.copy(), np.array([[3], [5]]), layout="bhsd"), want)
    both = np.zeros((4, 8))
    both[0, :] = random_array((8,), np.float64)
    both[1:, 0] = [4.0, 6.0, 8.0]                       # positions in x's own memory
    for _ in range(2):                                   # the second call is remembered
        x = both.copy()
        want = rope.Rope(8).apply(x[:1].copy(), 4)
        r.apply(x[:1], x[1:2, :1].copy().reshape(1))
        np.testing.assert_array_equal(x[:1], want)
        y = both.copy()
        r.apply(y[:3], y[1:4, 0])                        # pos views rows 1-3 of y, rotated
        np.testing.assert_array_equal(y[:3], rope.Rope(8).apply(both[:3].copy(),
                                                                both[1:4, 0].copy()))
