"""rope.apply(threads=N): the same rotation, split across threads, checked against the oracle."""
import functools

import numpy as np
import pytest

import rope
from rope import reference
from rope import _parallel

from conftest import random_array, tolerance


@pytest.fixture(autouse=True)
def split_small_arrays(monkeypatch):
    """Split arrays of a few KiB, so that the tests stay small and still run threads."""
    monkeypatch.setattr(_parallel, "MIN_BYTES_PER_THREAD", 1024)


# (shape, seq_axis): sequence on the split axis, and sequence on an inner axis (the split
# axis is then batch, with positions broadcast along it).
LAYOUTS = [((17, 4, 64), 0), ((3, 4, 24, 32), 2)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("shape, seq_axis", LAYOUTS)
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_match_reference(dtype, interleaved, shape, seq_axis, threads):
    x = random_array(shape, dtype)
    expected = reference.rotate(
        x, np.arange(7, 7 + shape[seq_axis]).reshape(
            [-1 if a == seq_axis else 1 for a in range(len(shape) - 1)]),
        reference.frequencies(shape[-1]), interleaved=interleaved)
    out = rope.apply(x, 7, seq_axis=seq_axis, interleaved=interleaved, threads=threads)
    assert out is x
    np.testing.assert_allclose(x, expected, rtol=0, atol=tolerance(dtype) * 8)


def test_threads_split_a_strided_view_in_place():
    base = random_array((32, 4, 128), np.float32)
    view = base[:, :, ::2]                       # last-axis stride 8 bytes
    expected = reference.rotate(view, np.arange(32).reshape(-1, 1), reference.frequencies(64))
    untouched = base[:, :, 1::2].copy()
    rope.apply(view, 0, seq_axis=0, threads=2)
    np.testing.assert_allclose(view, expected, rtol=0, atol=tolerance(np.float32) * 8)
    np.testing.assert_array_equal(base[:, :, 1::2], untouched)


def test_threads_with_positions_array_per_vector():
    x = random_array((4, 16, 2, 32), np.float32)   # (batch, seq, heads, dim)
    pos = np.random.default_rng(1).integers(0, 10**6, size=(4, 16, 1))
    expected = reference.rotate(x, pos, reference.frequencies(32))
    rope.apply(x, pos, seq_axis=1, threads=2)
    np.testing.assert_allclose(x, expected, rtol=0, atol=tolerance(np.float32) * 8)


@pytest.mark.parametrize("shape", [(2, 2, 64), (1, 4, 64)])  # 1 KiB: a prefill, a decode step
def test_an_array_too_small_to_share_stays_in_the_calling_thread(monkeypatch, shape):
    def no_pool(workers):
        raise AssertionError(f"{workers} pool threads asked for a 1 KiB array")

    monkeypatch.setattr(_parallel, "_executor", no_pool)
    x = random_array(shape, np.float32)
    expected = reference.rotate(x, np.arange(5, 5 + shape[0]).reshape(-1, 1),
                                reference.frequencies(64))
    cached = rope.Rope(64)
    for threads in (2, 1, 2, 3):  # one remembered call serves every count of threads
        for rotate in (cached.apply, rope.apply):
            y = x.copy()
            rotate(y, 5, seq_axis=0, threads=threads)
            np.testing.assert_allclose(y, expected, rtol=0, atol=tolerance(np.float32) * 8)


@pytest.mark.parametrize("threads, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                            (True, TypeError), ("2", TypeError)])
def test_bad_threads_leave_x_untouched(threads, error):
    x = random_array((8, 4, 16), np.float32)
    before = x.copy()
    with pytest.raises(error, match="threads"):
        rope.apply(x, 0, seq_axis=0, threads=threads)
    np.testing.assert_array_equal(x, before)


def test_run_split_gives_every_thread_a_disjoint_slice():
    x = np.zeros((10, 3, 8, 64), np.float32)        # 60 KiB: 3 slices of >= 1 KiB
    positions = np.arange(10).reshape(10, 1, 1)
    seen = []

    def prepare(part, part_positions):
        seen.append((part.shape, part_positions.shape))
        return part.__iadd__  # the rotation: called with 1 once every slice is prepared

    _parallel.run_split(lambda *parts: functools.partial(prepare(*parts), 1), (x,), positions, 3)
    assert sorted(seen) == [((3, 3, 8, 64), (3, 1, 1)), ((3, 3, 8, 64), (3, 1, 1)),
                            ((4, 3, 8, 64), (4, 1, 1))]
    np.testing.assert_array_equal(x, 1)               # every element once, none twice


def test_a_pool_shut_down_meanwhile_runs_the_slices_in_the_calling_thread():
    """Another call may replace the shared pool (shutting the old one down) between this call
    taking it and submitting to it: the slices then run here, every one of them."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    ran = []
    assert _parallel._run_all(pool, [lambda i=i: ran.append(i) or i for i in range(3)]) == \
        [0, 1, 2]
    assert ran == [0, 1, 2]
