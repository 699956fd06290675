"""No leak, any thread, and regressions for bugs found in the C core.

Leak loops make 10**5 calls (good and bad inputs) and check that neither the resident set
(/proc/self/statm) nor the reference counts of the arguments grow; tracemalloc checks the
Python-visible allocations (NumPy reports its data buffers to it) over a shorter loop.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

import rope
from rope import reference

CALLS = 10**5
# Sanitizer and valgrind runs (.ci/sanitize) change the allocator: RSS says nothing there.
INSTRUMENTED = bool(os.environ.get("ROPE_INSTRUMENTED"))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _good_apply(x, pos):
    rope.apply(x, pos, base=500000.0)


def _bad_apply(x, pos):
    try:
        rope.apply(x, pos, base=1.0)  # checked after x and pos, so their paths run too
    except ValueError:
        pass


def _bad_gufunc(x, pos):
    c, s = _TABLES
    try:
        rope.rotate(x, c[..., :5], s[..., :5], out=x)  # k > n/2: refused by the core-dims check
    except ValueError:
        pass


_TABLES = rope.cos_sin(np.arange(4), rope.frequencies(8), dtype=np.float32)


def _gufuncs(x, pos):
    c, s = rope.cos_sin(pos, rope.frequencies(8), dtype=np.float32)
    rope.rotate_interleaved(x, c, s, out=x)


CALLERS = [_good_apply, _bad_apply, _bad_gufunc, _gufuncs]


@pytest.mark.skipif(not sys.platform.startswith("linux") or INSTRUMENTED, reason="RSS of /proc/self/statm")
@pytest.mark.parametrize("call", CALLERS, ids=lambda f: f.__name__)
def test_repeated_calls_do_not_grow_rss_or_refcounts(call):
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    pos = np.arange(4)
    for _ in range(1000):  # warm caches and free lists first
        call(x, pos)
    refs = sys.getrefcount(x), sys.getrefcount(pos)
    rss = _rss_bytes()
    for _ in range(CALLS):
        call(x, pos)
    grown = _rss_bytes() - rss
    assert (sys.getrefcount(x), sys.getrefcount(pos)) == refs
    # 20 bytes lost per call would be 2 MB.
    assert grown < 2 * 2**20, f"RSS grew by {grown} bytes over {CALLS} calls"


@pytest.mark.parametrize("call", CALLERS, ids=lambda f: f.__name__)
def test_repeated_calls_do_not_grow_traced_memory(call):
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    pos = np.arange(4)
    for _ in range(200):
        call(x, pos)
    tracemalloc.start()
    try:
        for _ in range(200):
            call(x, pos)
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(CALLS // 20):
            call(x, pos)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024, f"traced memory grew by {after - before} bytes"


def test_argument_refcounts_survive_errors_in_the_gufuncs():
    x = np.ones((4, 8))
    c, s = rope.cos_sin(np.arange(4), rope.frequencies(10))
    refs = [sys.getrefcount(a) for a in (x, c, s)]
    for _ in range(10_000):
        with pytest.raises(ValueError):
            rope.rotate(x, c, s, out=x)
    assert [sys.getrefcount(a) for a in (x, c, s)] == refs


# ---- threads ---------------------------------------------------------------------------------


def _work(seed):
    """One thread's arrays and parameters, all different, with a result independent of timing."""
    rng = np.random.default_rng(seed)
    dtype = [np.float16, np.float32, np.float64][seed % 3]
    x = rng.standard_normal((2, 64, 4, 32)).astype(dtype)
    pos = rng.integers(-10**6, 10**6, size=64)
    kw = dict(interleaved=bool(seed % 2), base=[1e4, 5e5][seed % 2], seq_axis=-3,
              rotary_dim=[32, 16][seed % 4 // 2])
    return x, pos, kw


def test_threads_give_the_serial_results():
    seeds = range(8)
    serial = []
    for seed in seeds:
        x, pos, kw = _work(seed)
        for _ in range(20):
            rope.apply(x, pos, **kw)
        serial.append(x)
    results = [None] * 8
    barrier = threading.Barrier(8)

    def run(i):
        x, pos, kw = _work(i)
        barrier.wait()
        for _ in range(20):
            rope.apply(x, pos, **kw)
        results[i] = x

    threads = [threading.Thread(target=run, args=(i,)) for i in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in seeds:
        assert results[i].tobytes() == serial[i].tobytes(), f"thread {i} differs from serial"


def test_threads_share_one_array_for_tables_and_rotate_their_own():
    """cos/sin tables shared read-only by 8 threads, each rotating its own rows via out=."""
    theta = rope.frequencies(64)
    c, s = rope.cos_sin(np.arange(256), theta, dtype=np.float32)
    data = np.random.default_rng(5).standard_normal((8, 256, 64)).astype(np.float32)
    expected = reference.rotate(data, np.arange(256), theta)
    threads = [threading.Thread(target=rope.rotate, args=(data[i], c, s), kwargs={"out": data[i]})
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(data, expected, rtol=0, atol=1e-5)


def _another_thread_ran_during(operation, within: float) -> bool:
    """True once another thread has run Python code while `operation()` was running in this
    one, trying again and again for up to `within` seconds.

    The switch interval is raised so that this thread never hands the GIL over on its own: the
    watcher can take it only while `operation` has released it (the flag `inside` is set
    only around the call, and this thread sets and clears it without ever giving up the GIL).
    So a held GIL fails every try, however the threads are scheduled, and a released one
    passes as soon as the watcher gets a CPU during one call: repeating until then, not
    counting on one call, is what makes the test independent of other processes' load.
    """
    inside, seen, done = [False], threading.Event(), threading.Event()

    def watch():
        while not done.is_set():
            if inside[0]:
                seen.set()
                return
            time.sleep(0)  # gives the GIL straight back, so this thread never holds it long

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)  # longer than `within`: no forced switch while we try
    watcher = threading.Thread(target=watch)
    try:
        watcher.start()
        deadline = time.monotonic() + within
        while not seen.is_set() and time.monotonic() < deadline:
            inside[0] = True
            operation()
            inside[0] = False
    finally:
        done.set()
        sys.setswitchinterval(old)
        watcher.join()
    return seen.is_set()


def test_gil_is_released_while_rotating():
    """Another thread runs while rope.rotate rotates a large array: the GIL is released. The
    bound is generous (a loaded machine may leave the watcher off the CPUs for a while); an
    unloaded one passes in the first call or so."""
    x = np.ones((1 << 15, 128), np.float32)
    c, s = rope.cos_sin(np.arange(1 << 15) % 7, rope.frequencies(128), dtype=np.float32)
    assert _another_thread_ran_during(lambda: rope.rotate(x, c, s, out=x), within=60.0), \
        "no other thread ran during rope.rotate: the GIL was held"


def test_gil_check_fails_for_an_operation_that_holds_the_gil():
    """The check above can fail: a NumPy reduction over Python objects, which runs with the
    GIL held, never lets the watcher in, whatever the scheduling."""
    values = np.arange(1 << 16).astype(object)
    assert not _another_thread_ran_during(values.sum, within=1.0)


def test_free_threaded_python_keeps_the_gil_off():
    """rope._core declares Py_MOD_GIL_NOT_USED: importing it must not re-enable the GIL."""
    if not hasattr(sys, "_is_gil_enabled") or sys._is_gil_enabled():
        pytest.skip("not a free-threaded interpreter with the GIL disabled")
    import rope._core  # noqa: F401 - already imported; the check is on the interpreter state

    assert not sys._is_gil_enabled()


# ---- regressions for bugs found in the C core ------------------------------------------------


def test_cos_sin_takes_python_int_positions_past_int32():
    """The int32 loop came first, and a Python int position picked it and overflowed."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for p in (2**31, 10**12, 2**53):
        c, s = rope.cos_sin(p, np.array([1.0]))
        np.testing.assert_allclose([c[0], s[0]], [float(mpmath.cos(p)), float(mpmath.sin(p))],
                                   rtol=0, atol=6e-16)
    c, _ = rope.cos_sin(np.arange(3, dtype=np.int32), np.array([1.0]))
    np.testing.assert_allclose(c[:, 0], np.cos(np.arange(3)), atol=1e-15)


@pytest.mark.parametrize("pos", [np.int64(2**62), 2.0**60, 1e17, 1e300, np.inf, -np.inf, np.nan])
def test_cos_sin_past_the_exact_range_is_nan_never_wrong(pos):
    """cos(2**62) came out with the wrong sign: the reduction mod 2 pi only holds for angles up
    to 2**54. Beyond it the tables are NaN."""
    with np.errstate(all="ignore"):
        c, s = rope.cos_sin(pos, np.array([1.0, 0.5]))
    assert np.isnan(c).all() and np.isnan(s).all()


def test_cos_sin_inside_the_exact_range_is_exact():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    theta = np.array([1.0, 2.0, 0.999])
    for p in (2**53, -(2**53), 2**53 - 1):
        c, s = rope.cos_sin(np.int64(p), theta)
        for j, t in enumerate(theta):
            angle = mpmath.mpf(p) * mpmath.mpf(float(t))
            assert abs(c[j] - float(mpmath.cos(angle))) <= 6e-16
            assert abs(s[j] - float(mpmath.sin(angle))) <= 6e-16


def test_apply_is_exact_at_positions_between_2_52_and_2_53():
    """The quotient angle/(2 pi) could round to the wrong integer past 2**52 and cos/sin of
    theta_1 = 1 came out wrong (e.g. cos(8901194976582996) as 0.75 for -0.66)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    rng = np.random.default_rng(52)
    pos = np.concatenate([[8901194976582996, 8390747457333454, 2**53 - 1, 2**52 + 1],
                          rng.integers(2**52, 2**53, size=60)])
    exact = np.array([[float(mpmath.cos(int(p))), float(mpmath.sin(int(p)))] for p in pos])
    before = rope.simd_level()
    try:
        for level in rope.simd_levels():
            rope.set_simd_level(level)
            x = np.tile([1.0, 0.0], (pos.size, 1))
            rope.apply(x, pos)
            np.testing.assert_allclose(x, exact, rtol=0, atol=6e-16, err_msg=level)
    finally:
        rope.set_simd_level(before)
