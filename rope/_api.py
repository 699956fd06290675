"""The public operation: rope.apply."""
from __future__ import annotations

import functools

import numpy as np

from . import _core
from ._frequencies import frequencies
from ._parallel import run_split
from ._positions import positions_for
from ._validation import (
    check_array, check_flag, check_positive_int, check_rotary_dim, check_seq_axis,
)

__all__ = ["apply"]


def _rotate(x: np.ndarray, positions: np.ndarray, theta: np.ndarray, interleaved: bool) -> None:
    """Rotate x in place by the angles positions * theta (all inputs already validated)."""
    if positions.ndim <= 1 or positions.size == positions.shape[0]:
        # Positions vary along the outermost axis at most, so consecutive rows share them
        # (every head of a token, a whole decode step): one call that builds each position's
        # tables once, in cache, beats building full tables first. A lone position goes in
        # as a Python scalar, which NumPy takes ~1 us faster than a 0-d array.
        rotate_at = _core.rotate_interleaved_at if interleaved else _core.rotate_at
        rotate_at(x, positions.item() if positions.size == 1 else positions, theta, out=x)
        return
    # float32 data is rotated with float64 tables in float64 arithmetic (rounded once, exact);
    # float16 data needs no more than float32 tables.
    table_dtype = np.float32 if x.dtype == np.float16 else np.float64
    cos, sin = _core.cos_sin(positions, theta, dtype=table_dtype)
    rotate = _core.rotate_interleaved if interleaved else _core.rotate
    rotate(x, cos, sin, out=x)


@functools.lru_cache(maxsize=64)
def _unscaled_frequencies(dim: int, base: float, inverse: bool) -> np.ndarray:
    """frequencies(dim, base), negated for the inverse, read-only and cached: building them
    costs more than rotating a decode step."""
    theta = frequencies(dim, base)
    theta = -theta if inverse else theta
    theta.flags.writeable = False
    return theta


def apply(
    x: np.ndarray,
    pos: object,
    *,
    base: float = 10000.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    inverse: bool = False,
    seq_axis: int = -2,
    scaling: object = None,
    threads: int = 1,
) -> np.ndarray:
    """Apply rotary positional embeddings to `x` in place and return it.

    Pair k of each vector at position p is rotated by the angle p * theta_k, with
    theta_k = base**(-2(k-1)/d). The angle is formed exactly in float64 and reduced modulo
    2*pi before cos and sin are taken, so the result is exact to the data's rounding at any
    position up to 2**53. Everything is checked before x is touched: on an exception x is
    unchanged.

    Parameters
    ----------
    x : numpy.ndarray of float16, float32 or float64
        Writeable array with the head dimension on the last axis, e.g. (seq, dim),
        (batch, heads, seq, dim) or (seq, heads, dim). Rotated in place; any strides.
        A 1-d x is one vector.
    pos : int or array_like of int or float64
        An int: positions ``pos, pos + 1, ...`` along `seq_axis` (the KV-cache offset; for a
        1-d x the position of the vector). A 1-d array of length ``x.shape[seq_axis]``: one
        position per sequence index, always along `seq_axis`. An array with ``x.ndim - 1``
        dimensions that broadcasts to ``x.shape[:-1]``: positions per vector (e.g. shape
        (batch, seq, 1) for x of shape (batch, seq, heads, dim)). Negative positions are valid.
    base : float, default 10000.0
        The base b (Hugging Face's ``rope_theta``), finite and > 1.
    interleaved : bool, default False
        False pairs coordinates (i, i + d/2) (GPT-NeoX, Hugging Face ``rotate_half``);
        True pairs (2i, 2i + 1) (GPT-J, the RoFormer paper, ggml's normal mode).
    rotary_dim : int, optional
        Rotate only the first `rotary_dim` coordinates (even); the rest are unchanged.
        Defaults to the whole head dimension.
    inverse : bool, default False
        Rotate by the negative angle, undoing a rotation at the same positions.
    seq_axis : int, default -2
        The sequence axis of x (any axis but the last).
    scaling : None
        Reserved for the context-extension families.
    threads : int, default 1
        Rotate with up to this many threads (x split along a leading axis; each thread rotates
        its slice in place with the GIL released). Worth it only for large arrays: slices
        smaller than 1 MiB are not split off.

    Returns
    -------
    numpy.ndarray
        `x` itself, rotated.

    Examples
    --------
    >>> import numpy as np, rope
    >>> q = np.ones((4, 2, 8), dtype=np.float32)        # (seq, heads, dim)
    >>> rope.apply(q, 0, seq_axis=-3) is q
    True
    >>> bool(np.allclose(q[0], 1.0))                    # position 0 is not rotated
    True
    >>> v = rope.apply(np.array([1.0, 0.0]), 2)         # one pair at position 2: (cos 2, sin 2)
    >>> bool(np.allclose(v, [np.cos(2), np.sin(2)]))
    True
    """
    x = check_array(x)
    head_dim = x.shape[-1]
    dim = check_rotary_dim(rotary_dim, head_dim)
    axis = check_seq_axis(seq_axis, x.ndim) if x.ndim > 1 else 0
    positions = positions_for(pos, x.shape, axis)
    threads = check_positive_int(threads, "threads")
    inverse = check_flag(inverse, "inverse")
    interleaved = check_flag(interleaved, "interleaved")
    if scaling is None and type(base) in (float, int):
        theta = _unscaled_frequencies(dim, base, inverse)
    else:
        theta = frequencies(dim, base, scaling)
        if inverse:
            theta = -theta
    if threads == 1:
        _rotate(x, positions, theta, interleaved)
    else:
        run_split(lambda part, part_positions: _rotate(part, part_positions, theta,
                                                       interleaved),
                  x, positions, threads)
    return x
