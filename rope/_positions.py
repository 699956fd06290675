"""Positions and layout: where each vector of x sits in its sequence.

`positions_for` turns the `pos` argument of `rope.apply` into an array of positions shaped to
broadcast against ``x.shape[:-1]``. The sequence axis is placed explicitly: NumPy's broadcasting
aligns from the right, and a length-seq vector against (seq, heads, dim) would line up with
*heads* (silently wrong when seq == heads), so a 1-d `pos` is reshaped onto `seq_axis` here.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

from ._validation import MAX_POSITION

__all__ = ["positions_for", "position_dtype_of", "sequence_length"]


def _accepted_shapes(x_shape: tuple[int, ...], seq_axis: int) -> str:
    lead = x_shape[:-1]
    return (
        f"an int offset, a 1-d array of length {x_shape[seq_axis]} (x.shape[seq_axis]), or an "
        f"array of {len(lead)} dimensions that broadcasts to x.shape[:-1] = {lead}"
    )


def position_dtype_of(pos: np.ndarray) -> np.dtype:
    """The dtype the table builder reads `pos` as: int64 or float64 (else raise)."""
    dtype = pos.dtype
    if dtype == np.float16:
        raise TypeError(
            "pos is float16, which holds integers exactly only up to 2048 and overflows past "
            "65504; pass int64 (or float64) positions"
        )
    if dtype.kind not in "iuf":
        raise TypeError(
            f"pos has dtype {dtype}; positions must be integers (int32, int64, ...) or "
            f"float64, e.g. np.arange(seq_len)"
        )
    if dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize < 8):
        return np.dtype(np.int64)
    return np.dtype(np.float64)  # float32/float64, and uint64 (which may exceed int64)


def _check_values(pos: np.ndarray) -> None:
    if pos.size == 0:
        return
    lo, hi = pos.min(), pos.max()
    if pos.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("pos contains NaN or infinite values; positions must be finite")
    if lo < -MAX_POSITION or hi > MAX_POSITION:
        raise ValueError(
            f"pos holds values in [{lo}, {hi}], outside [-2**53, 2**53]; beyond 2**53 a "
            f"position is no longer exact in float64 and its angle would be wrong"
        )


def positions_for(pos: object, x_shape: tuple[int, ...], seq_axis: int) -> np.ndarray:
    """Positions for every vector of an array of shape `x_shape`, as an array that broadcasts
    to ``x_shape[:-1]``.

    `seq_axis` is already normalized (0 <= seq_axis < len(x_shape) - 1); for a 1-d x it is
    unused. The result has dtype int64 or float64 and holds values in [-2**53, 2**53].
    """
    lead = x_shape[:-1]
    # `type(pos) is int` first: the ABC check costs as much as a decode step's rotation.
    if type(pos) is int or (isinstance(pos, numbers.Integral) and not isinstance(pos, bool)):
        offset = operator.index(pos)
        length = x_shape[seq_axis] if lead else 1
        if offset < -MAX_POSITION or offset + max(length - 1, 0) > MAX_POSITION:
            raise ValueError(
                f"pos={offset} with {length} positions reaches past 2**53, beyond which "
                f"positions are not exact in float64"
            )
        if not lead or length == 1:  # one position for every vector (a decode step): 0-d
            return np.array(offset, dtype=np.int64)
        shape = [1] * len(lead)
        shape[seq_axis] = length
        return np.arange(offset, offset + length, dtype=np.int64).reshape(shape)
    if isinstance(pos, (bool, np.bool_)) or isinstance(pos, (numbers.Real, str, bytes)):
        raise TypeError(
            f"pos={pos!r} is not an integer offset; pass an int, or an array of positions "
            f"(float positions go in a float64 array)"
        )
    try:
        arr = np.asarray(pos)
    except Exception as exc:  # e.g. ragged nested lists
        raise TypeError(f"pos could not be read as an array of positions: {exc}") from None
    dtype = position_dtype_of(arr)
    if arr.ndim == 1 and len(lead) >= 1:
        if arr.shape[0] != x_shape[seq_axis]:
            raise ValueError(
                f"pos has length {arr.shape[0]} but x has {x_shape[seq_axis]} positions along "
                f"seq_axis (axis {seq_axis - len(x_shape)} of shape {x_shape}); pass "
                f"{_accepted_shapes(x_shape, seq_axis)}"
            )
        shape = [1] * len(lead)
        shape[seq_axis] = arr.shape[0]
        arr = arr.reshape(shape)
    elif arr.ndim == len(lead):
        try:
            np.broadcast_shapes(arr.shape, lead)
        except ValueError:
            raise ValueError(
                f"pos of shape {arr.shape} does not broadcast to x.shape[:-1] = {lead}; pass "
                f"{_accepted_shapes(x_shape, seq_axis) if lead else 'an int position'}"
            ) from None
    else:
        what = _accepted_shapes(x_shape, seq_axis) if lead else "an int position (x is one vector)"
        raise ValueError(f"pos has shape {arr.shape}, which does not fit x of shape {x_shape}; pass {what}")
    _check_values(arr)
    return arr.astype(dtype, copy=False)


def sequence_length(positions: np.ndarray) -> int:
    """The current length of a sequence: its largest position plus one (at least 1)."""
    if positions.size == 0:
        return 1
    return max(int(np.ceil(positions.max())) + 1, 1)
