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

__all__ = ["position_dtype_of", "positions_for", "rows_sharing_positions", "sequence_length"]


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


# Rows (of x's last axis) per block that shares a table row, in elements: 8 heads of 128, 16 of
# 64. Measured on (batch, heads, seq, dim) float32 and float16 arrays: fewer rows read the
# tables more often, more rows are more far-apart streams than the prefetchers follow. On Zen 4,
# with earlier kernels, 4 heads of 128 did best; on Emerald Rapids, with the kernels that hold
# shared tables in registers, 8 heads took 5-13% less time than 4 for (4, 32, 1024, 128), 16
# no less (rope.apply, paired repeats).
_BLOCK_ELEMENTS = 1024


def rows_sharing_positions(x: np.ndarray, positions_shape: tuple[int, ...]) -> np.ndarray | None:
    """x viewed as blocks of rows at one position, for `rotate_rows`, or None.

    For a (batch, heads, seq, dim) x with positions along seq, the heads of a token are a whole
    (seq, dim) plane apart: rotated head by head, the tables of every position are read once
    per head, as many bytes as x itself. The view splits the heads axis into groups of a few
    heads and moves the group next to the last axis: ``(batch, heads // g, seq, g, dim)``,
    whose (g, dim) blocks share a position. The positions (and their tables) broadcast against
    the view's leading axes as they did against x's. `positions_shape` has ``x.ndim - 1``
    dimensions; None when no axis of x both shares its positions and lies farther apart in
    memory than the axis the positions run along, or when it cannot be split.
    """
    if len(positions_shape) != x.ndim - 1:
        return None
    varying = [axis for axis, size in enumerate(positions_shape) if size > 1]
    if not varying:
        return None
    along = varying[-1]
    for axis in range(along - 1, -1, -1):
        if positions_shape[axis] == 1 and x.shape[axis] > 1:
            break
    else:
        return None
    if abs(x.strides[axis]) <= abs(x.strides[along]):
        return None
    most = max(_BLOCK_ELEMENTS // max(x.shape[-1], 1), 1)
    rows = max(g for g in range(1, most + 1) if x.shape[axis] % g == 0)
    if rows == 1:
        return None
    shape = x.shape[:axis] + (x.shape[axis] // rows, rows) + x.shape[axis + 1:]
    # Splitting one axis is always a view (copy=False raises otherwise): still in place.
    return np.moveaxis(x.reshape(shape, copy=False), axis + 1, -2)
