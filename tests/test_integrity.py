"""x is rotated whole or left as it was (issue 19, items 1-5): empty tables, the angle range of
scaled frequencies, self-overlapping layouts, positions that alias x, threads that rotate all or
none, and the floating-point status the loops leave behind."""
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import rope
from rope import _core, _parallel, _rope, reference

from conftest import BFLOAT16, random_array, tolerance, widened

# (data, tables) of every rotate loop.
LOOPS = [(np.float16, np.float32), (BFLOAT16, np.float32), (np.float32, np.float32),
         (np.float32, np.float64), (np.float64, np.float64)]
DATA = [np.float16, BFLOAT16, np.float32, np.float64]


def same_bytes(a, b):
    return np.asarray(a).tobytes() == np.asarray(b).tobytes()


# -- 1. no pairs to rotate ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype, table", LOOPS, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("rotate", [rope.rotate, rope.rotate_interleaved])
def test_empty_tables_with_a_stride_leave_x(simd_level, dtype, table, rotate):
    """Tables of no pairs (a c[0, :0] slice keeps a non-zero stride), shared by every row or one
    per row: x comes out as it went in, copied when out is another array."""
    x = random_array((40, 3, 16), dtype)
    before = x.copy()
    parent = np.ones((40, 8), table)
    for c in (parent[0, :0], parent[:, None, :0], parent[::-1, None, 3:3]):
        out = rotate(x, c, c)
        assert out is not x and same_bytes(out, before)
        assert rotate(x, c, c, out=x) is x and same_bytes(x, before)
        target = np.zeros_like(x)
        rotate(x[:, ::2], c, c, out=target[:, ::2])  # strided rows: the scratch path
        assert same_bytes(target[:, ::2], before[:, ::2])


@pytest.mark.parametrize("dtype", DATA, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("interleaved", [False, True])
def test_empty_theta_leaves_x(simd_level, dtype, interleaved):
    """rotate_at, rotate_seq_at, tables and rotate_at_one with no frequencies: x unchanged,
    for one position and for enough positions to take angle addition."""
    theta = np.ones((3, 4))[1, :0]
    at = _core.rotate_interleaved_at if interleaved else _core.rotate_at
    seq_at = _core.rotate_interleaved_seq_at if interleaved else _core.rotate_seq_at
    x = random_array((70, 2, 8), dtype)
    before = x.copy()
    for pos in (np.arange(70), np.arange(70.0) - 35, 7):
        out = at(x, pos, theta)
        assert out is not x and same_bytes(out, before)
        at(x, pos, theta, out=x)
        assert same_bytes(x, before)
    planes = random_array((2, 70, 8), dtype)
    planes_before = planes.copy()
    assert same_bytes(seq_at(planes, np.arange(70), theta), planes_before)
    seq_at(planes, np.arange(70), theta, out=planes)
    assert same_bytes(planes, planes_before)
    assert _core.tables(np.arange(70), theta).shape == (70, 2, 0)
    assert _core.tables(np.arange(70), theta, dtype=np.float32).shape == (70, 2, 0)
    one = random_array((1, 4, 8), dtype)
    one_before = one.copy()
    assert _core.rotate_at_one(one, 5, theta, interleaved) is True
    assert same_bytes(one, one_before)


# -- 2. the angle range -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 8), (3, 8), (2, 3, 8)])
@pytest.mark.parametrize("kw", [
    dict(scaling="linear", factor=0.25),
    dict(scaling="proportional", factor=0.25),
    dict(scaling="longrope", short_factor=[1.0] * 4, long_factor=[0.25, 0.5, 1.0, 1.0],
         original_max_position_embeddings=16, factor=1.0),
])
def test_scaled_angle_past_the_exact_range_is_refused(shape, kw):
    """|pos * theta| past 2**54 cannot be reduced exactly: a ValueError naming pos and the limit,
    before x is touched (not NaN), also on the decode path (one token at an int position)."""
    x = random_array(shape, np.float32)
    before = x.copy()
    dim = shape[-1]
    r = rope.Rope(dim, **kw)
    theta = r.frequencies_at(2**53)  # longrope: the long factors, past 16 tokens
    limit = 2.0**54 / np.abs(theta).max()
    assert limit < 2**53  # the position alone is in range: the scaled frequency is not
    pos = int(limit) + 8
    layout = "sd" if len(shape) == 2 else "bsd"
    with pytest.raises(ValueError, match=r"pos.*2\*\*54") as info:
        rope.apply(x, pos, layout=layout, **kw)
    assert f"{int(limit)}" in str(info.value)
    assert same_bytes(x, before)
    with pytest.raises(ValueError, match=r"pos.*2\*\*54"):
        r.apply(x, np.full(shape[:-1], -pos), layout=layout, seq_len=pos + 1)
    with pytest.raises(ValueError, match=r"pos.*2\*\*54"):
        rope.apply(x, pos, layout=layout, out=np.empty_like(x), **kw)
    with pytest.raises(ValueError, match=r"pos.*2\*\*54"):
        r.tables(np.array([pos]), np.float32)
    assert same_bytes(x, before)
    # At the limit every angle is in range, and the result is finite and matches the oracle.
    ok = int(limit) - 8 * shape[-2]
    got = rope.apply(x.astype(np.float64), ok, layout=layout, **kw)
    assert np.isfinite(got).all()


def test_issue_example_linear_quarter():
    x = np.ones((1, 8), np.float32)
    with pytest.raises(ValueError, match="2\\*\\*54"):
        rope.apply(x, 2**53 - 8, scaling="linear", factor=0.25)
    assert (x == 1).all()


def test_mrope_angle_range():
    r = rope.Rope(8, mrope_section=[2, 1, 1], scaling="linear", factor=0.25)
    x = np.ones((1, 2, 3, 8))
    rows = np.zeros((3, 1, 3), np.int64)
    rows[1, 0, 2] = 2**53 - 8
    with pytest.raises(ValueError, match=r"pos.*2\*\*54"):
        r.apply(x, rows, layout="bhsd")
    assert (x == 1).all()


# -- 3. self-overlapping layouts ----------------------------------------------------------------

def test_overlapping_x_is_refused():
    buf = np.arange(64.0)
    x = as_strided(buf, (4, 4), (16, 8), writeable=True)
    before = buf.copy()
    c, s = rope.cos_sin(np.arange(4), rope.frequencies(4))
    calls = [
        lambda: rope.apply(x, 0),
        lambda: rope.Rope(4).apply(x, np.arange(4)),
        lambda: rope.apply(np.ones((4, 4)), 0, out=x),
        lambda: rope.rotate(x, c, s, out=x),
        lambda: rope.rotate_interleaved(np.ones((4, 4)), c, s, out=x),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="overlap.*ascontiguousarray"):
            call()
        assert same_bytes(buf, before)
    # Read only (rotated into another array), an overlapping x is fine.
    got = rope.apply(x, 0, out=np.empty((4, 4)))
    np.testing.assert_allclose(got, reference.rotate(x, np.arange(4), rope.frequencies(4)),
                               rtol=0, atol=1e-13)


def test_overlapping_decode_step_is_refused():
    """One token (1, h, d) whose heads overlap: the decode fast path must not take it."""
    buf = np.arange(64.0)
    x = as_strided(buf, (1, 4, 8), (512, 32, 8), writeable=True)  # heads 4 apart, 8 long
    before = buf.copy()
    with pytest.raises(ValueError, match="overlap"):
        rope.apply(x, 5, layout="shd")
    with pytest.raises(ValueError, match="overlap"):
        rope.Rope(8).apply(x, 5, layout="shd")
    assert same_bytes(buf, before)


def test_overlapping_tensor_is_refused():
    torch = pytest.importorskip("torch")
    buf = torch.arange(64, dtype=torch.float32)
    x = buf.as_strided((4, 4), (2, 1))
    before = buf.clone()
    with pytest.raises(ValueError, match="overlap"):
        rope.apply(x, 0)
    assert torch.equal(buf, before)


def test_zero_stride_keeps_its_message():
    x = as_strided(np.ones(8), (3, 8), (0, 8), writeable=True)
    with pytest.raises(ValueError, match="stride 0 on axis 0"):
        rope.apply(x, 0)


def _overlaps(shape, strides, item):
    """The brute-force answer: do two elements share a byte?"""
    offsets = np.zeros(1, np.int64)
    for n, s in zip(shape, strides):
        offsets = (offsets[:, None] + np.arange(n) * s).ravel()
    spans = np.sort(offsets)
    return bool(np.any(np.diff(spans) < item))


def test_overlap_check_is_sound():
    """Any layout the check accepts has no two elements sharing a byte; every transposed,
    reversed and sliced view of a real array is accepted."""
    rng = np.random.default_rng(7)
    buf = np.zeros(4096, np.float32)
    for _ in range(3000):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(n) for n in rng.integers(1, 5, ndim))
        strides = tuple(int(s) * 4 for s in rng.integers(-12, 13, ndim))
        strides = tuple(s if s else 4 for s in strides)
        start = 2048
        x = as_strided(buf[start:], shape, strides, writeable=True)
        try:
            rope._validation.check_array(x)
        except ValueError as e:
            assert "overlap" in str(e)
            continue
        assert not _overlaps(shape, strides, 4), (shape, strides)
    real = np.zeros((3, 4, 6, 8), np.float32)
    for view in (real, real[::-1], real[:, ::2], real.transpose(2, 0, 1, 3), real[..., ::-2],
                 real[1:, :, 3:, 2:6], np.swapaxes(real, 0, 2)[::2]):
        assert rope._validation.check_array(view) is view


# -- 4. positions that alias x ------------------------------------------------------------------

@pytest.fixture(autouse=True)
def slices_of_a_mebibyte(monkeypatch):
    """Threads split arrays of a few MiB here, as they would arrays of 256 MiB and more."""
    monkeypatch.setattr(_parallel, "MIN_BYTES_PER_THREAD", 1 << 20)


@pytest.mark.parametrize("threads", [1, 3])
def test_positions_viewing_x_are_read_before_x_is_written(threads):
    """pos a view of x's own memory: every thread rotates by the positions as they were."""
    n = 8192  # 4 MiB of float64: three slices of at least 1 MiB
    x = np.random.default_rng(1).standard_normal((n, 64))
    x[:, 0] = np.arange(n) % 977  # positions in the first coordinate, rotated itself
    expected = reference.rotate(x, x[::-1, 0].copy(), rope.frequencies(64))
    snapshot = x.copy()
    rope.apply(snapshot, snapshot[::-1, 0].copy())
    for _ in range(3):
        y = x.copy()
        rope.apply(y, y[::-1, 0], threads=threads)  # the slices' positions in others' rows
        assert same_bytes(y, snapshot)
    np.testing.assert_allclose(snapshot, expected, rtol=0, atol=1e-9)


def test_positions_viewing_out_are_read_before_out_is_written():
    n = 8192
    x = np.random.default_rng(2).standard_normal((n, 64))
    out = np.zeros_like(x)
    out[:, 5] = np.arange(n) % 501
    pos = out[::-1, 5]
    expected = rope.apply(x, pos.copy(), out=np.empty_like(x))
    rope.apply(x, pos, out=out, threads=3)
    assert same_bytes(out, expected)


# -- 5. threads rotate all or none ------------------------------------------------------------

def test_a_failing_slice_leaves_x_unchanged(monkeypatch):
    """A MemoryError building one slice's tables: no slice is rotated."""
    x = np.random.default_rng(3).standard_normal((8192, 64))
    before = x.copy()
    build = _rope.build_tables
    calls = []

    def failing(positions, *args):
        calls.append(positions.shape)
        if len(calls) == 2:
            raise MemoryError("injected")
        return build(positions, *args)

    monkeypatch.setattr(_rope, "build_tables", failing)
    kw = dict(scaling="yarn", factor=4.0, original_max_position_embeddings=64)
    with pytest.raises(MemoryError, match="injected"):
        rope.apply(x, np.arange(8192), threads=2, **kw)
    assert len(calls) == 2
    assert same_bytes(x, before)
    monkeypatch.setattr(_rope, "build_tables", build)
    got = rope.apply(x, np.arange(8192), threads=2, **kw)
    np.testing.assert_array_equal(got, rope.apply(before.copy(), np.arange(8192), **kw))


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_interrupt_waits_for_every_thread(monkeypatch):
    """Ctrl-C while the workers rotate: the KeyboardInterrupt comes once they all stopped, and x
    does not change after it."""
    x = np.random.default_rng(4).standard_normal((8192, 64))
    main = threading.main_thread().ident
    rotate_at = _core.rotate_at
    slow_started, own_done = threading.Event(), threading.Event()

    class Slow:
        """rotate_at that, off the calling thread, interrupts it while it waits for the workers
        and then takes its time."""

        def __call__(self, *args, **kwargs):
            if threading.get_ident() == main:
                result = rotate_at(*args, **kwargs)
                own_done.set()
                return result
            slow_started.set()
            own_done.wait(5)
            time.sleep(0.05)
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.3)
            return rotate_at(*args, **kwargs)

    monkeypatch.setattr(_core, "rotate_at", Slow())
    # Python's own SIGINT handler, which it does not install where SIGINT starts ignored (a
    # job a shell starts in the background, as `cmd &`)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            rope.apply(x, np.arange(8192), threads=2)
            time.sleep(2)  # the interrupt reaches the caller whatever it is doing
    finally:
        signal.signal(signal.SIGINT, handler)
    assert slow_started.is_set()
    after = x.copy()
    time.sleep(0.5)
    assert same_bytes(x, after)


def test_threads_docstring_says_what_x_is_left_as():
    assert "interrupt" in rope.apply.__doc__.lower()


# -- 5. the floating-point status ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float16, BFLOAT16, np.float32])
def test_overflow_rounds_to_inf_silently_at_every_level(simd_level, dtype):
    """Finite values whose rotation passes the largest finite value become inf, without a
    warning or a FloatingPointError (which would come with x already rotated), at every level."""
    big = 60000.0 if dtype is np.float16 else 3e38
    x = to_dtype(np.array([[big, 1.0, big, -1.0]] * 3), dtype)  # pairs (0, 2) and (1, 3)
    before = x.copy()
    pos = np.array([1, 1, 2])
    theta = np.array([np.pi / 4, 0.0])  # at pi/4, (big, big) turns to (0, big * sqrt(2))
    c, s = rope.cos_sin(pos, theta, dtype=np.float32 if x.itemsize == 2 else np.float64)
    with np.errstate(all="ignore"):
        expected = widened(to_dtype(reference.rotate(widened(before), pos, theta),
                                    dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            got = rope.rotate(x, c, s)
            at = _core.rotate_at(x[:, None], pos, theta)
            inverse = rope.rotate_interleaved(x, c, -s)
            y = x.copy()
            rope.apply(y, pos, base=2.0)
            rope.apply(x, 3, layout="sd", rotary_dim=2)
    assert np.isinf(widened(got)[:2, 2]).all()
    np.testing.assert_allclose(widened(got), expected, rtol=0, atol=tolerance(dtype) * big)
    assert same_bytes(at[:, 0], got)
    assert inverse.shape == x.shape


def to_dtype(values, dtype):
    from conftest import bfloat16
    with np.errstate(all="ignore"):
        return bfloat16(values) if dtype is BFLOAT16 else values.astype(dtype)
