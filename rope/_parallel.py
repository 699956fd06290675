"""Threads: split one in-place rotation across a small pool of worker threads (opt-in).

NumPy releases the GIL around gufunc loops, so threads that each call the gufuncs on their own
slice of x run truly in parallel. The split is along one leading axis of x (never the last):
every slice is a view of x, so the rotation stays in place. Each thread first builds the
tables of its own positions; only once every slice's tables exist do the threads rotate.
Single-threaded is the default, as in NumPy.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["MIN_BYTES_PER_THREAD", "run_split", "threads_used"]

#: Below this many bytes of x per thread, starting threads costs more than it saves: handing a
#: slice to a pool thread and waiting for it costs tens of microseconds on a bare machine and
#: hundreds on a VM (each handoff wakes a thread on another core), and one core alone streams
#: most of the memory bandwidth two could, so an array must be large for the second core's
#: share to outweigh that (docs/performance.md, "Threads", has the measurements).
MIN_BYTES_PER_THREAD = 128 << 20

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    """A shared pool with at least `workers` threads (created on first use, grown on demand)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            # A pool that is replaced finishes its queued work; its idle threads then exit.
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rope")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def threads_used(nbytes: int, threads: int) -> int:
    """How many threads `run_split` rotates an x of `nbytes` with when asked for `threads`:
    one per MIN_BYTES_PER_THREAD of x, at least one, at most `threads`."""
    return min(threads, max(nbytes // MIN_BYTES_PER_THREAD, 1))


def _split_axis(x_shape: tuple[int, ...], threads: int) -> int | None:
    """The leading axis to split: the first one long enough to give every thread a slice."""
    for axis, length in enumerate(x_shape[:-1]):
        if length >= threads:
            return axis
    return None


def run_split(
    prepare: Callable[..., Callable[[], None]],
    arrays: tuple[np.ndarray, ...],
    positions: np.ndarray,
    threads: int,
) -> None:
    """Rotate `threads` slices of `arrays` at once, all of them or none.

    ``prepare(*parts, positions_part)`` does everything for one slice that may fail (tables,
    allocations) and returns its rotation: a function of no arguments that only writes. Every
    slice is prepared, in parallel, before any is rotated: an error while preparing leaves the
    arrays as they were. Then the slices are rotated in parallel. Whatever is raised (an
    error, or a KeyboardInterrupt in the calling thread), the calling thread first waits for
    every thread it started, so the arrays no longer change once the exception is raised.

    The arrays (x, and the array it is rotated into) have one shape and are sliced alike.
    `positions` broadcasts to ``x.shape[:-1]`` with ``x.ndim - 1`` dimensions (or is 0-d) and
    is sliced along with x where it is not broadcast. Falls back to one call in the calling
    thread when x is too small or has no leading axis long enough to split.
    """
    x = arrays[0]
    threads = threads_used(x.nbytes, threads)
    axis = _split_axis(x.shape, threads) if threads > 1 else None
    if axis is None:
        prepare(*arrays, positions)()
        return
    bounds = np.linspace(0, x.shape[axis], threads + 1).astype(int)
    sliced_positions = positions.ndim == x.ndim - 1 and positions.shape[axis] != 1
    jobs = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index = (slice(None),) * axis + (slice(lo, hi),)
        part_positions = positions[index] if sliced_positions else positions
        jobs.append((*(a[index] for a in arrays), part_positions))
    pool = _executor(threads - 1)
    rotations: list[Callable[[], object]] = _run_all(
        pool, [functools.partial(prepare, *job) for job in jobs])
    _run_all(pool, rotations)


def _run_all(pool: ThreadPoolExecutor, tasks: list[Callable[[], Any]]) -> list[Any]:
    """The results of `tasks`, run at once: the calling thread takes the first, the pool the
    rest. Returns or raises (the first exception) only once every task started has finished,
    waiting through a KeyboardInterrupt too."""
    futures = {}
    error: BaseException | None = None
    results: list[object] = [None] * len(tasks)
    try:
        here = [0]
        for i in range(1, len(tasks)):
            try:
                futures[i] = pool.submit(tasks[i])
            except RuntimeError:  # the pool was shut down, replaced by a larger one meanwhile
                here.append(i)
        for i in here:
            results[i] = tasks[i]()
    except BaseException as exc:  # KeyboardInterrupt included: the workers still run
        error = exc
    for i, future in futures.items():
        while True:
            try:
                failure = future.exception()  # waits for the task
                break
            except BaseException as exc:  # interrupted while waiting: wait on
                error = error or exc
        if failure is not None:
            error = error or failure
        else:
            results[i] = future.result()
    if error is not None:
        raise error
    return results
