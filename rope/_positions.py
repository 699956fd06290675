"""Positions and layout: where each vector of x sits in its sequence.

`positions_for` turns the `pos` argument of `rope.apply` into an array of positions shaped to
broadcast against ``x.shape[:-1]``. NumPy's broadcasting aligns from the right, and a length-seq
vector against (seq, heads, dim) would line up with *heads* (silently wrong when seq == heads),
so positions that run along the sequence are placed on its axis here, and that axis must be
known: x's layout (``"bhsd"``, ``"bshd"``, ...) or ``seq_axis`` names it. Only a 2-d x
(seq, dim) has an unambiguous sequence axis by shape alone; for arrays of more dimensions an
int offset or a sequence-major array without a named axis is refused, never guessed.

Per-sequence offsets and packed variable-length batches are spelled as positions too:
`offset_positions` and `packed_positions` build them the way flash-attn and vLLM mean them.
"""
from __future__ import annotations

import functools
import numbers
import operator
from typing import Any

import numpy as np

from ._validation import MAX_POSITION, check_positive_int, check_seq_axis, shown

__all__ = [
    "checked_positions",
    "offset_positions",
    "packed_positions",
    "parse_layout",
    "position_dtype_of",
    "positions_for",
    "rows_for",
    "planes_sharing_positions",
    "sequence_axis",
    "sequence_length",
]

# The letters of a layout name: one per axis of x, the head dimension last.
_LAYOUT_LETTERS = {"b": "batch", "h": "heads", "s": "sequence", "t": "packed tokens",
                   "d": "head dimension"}

_NAME_THE_AXIS = (
    "name its sequence axis with layout= ('bhsd': batch, heads, seq, dim as in Hugging Face; "
    "'bshd': flash-attn; 'shd' or 'thd': vLLM and packed tokens) or seq_axis="
)


@functools.lru_cache(maxsize=64)
def _parsed_layout(layout: str) -> tuple[int, int, bool]:
    letters = set(layout)
    problem = None
    if not layout or not letters <= _LAYOUT_LETTERS.keys():
        problem = f"use the letters {', '.join(repr(k) for k in _LAYOUT_LETTERS)}"
    elif len(letters) != len(layout):
        problem = "each letter names one axis, once"
    elif layout[-1] != "d":
        problem = "the head dimension 'd' is the last axis"
    elif ("s" in letters) == ("t" in letters):
        problem = "exactly one axis is the sequence: 's' (or 't' for packed tokens)"
    if problem:
        raise ValueError(
            f"layout={layout!r} is not a layout name: {problem}, e.g. 'bhsd', 'bshd', 'shd', "
            f"'thd'"
        )
    seq = layout.index("s" if "s" in letters else "t")
    return len(layout), seq - len(layout), "t" in letters


def parse_layout(layout: object) -> tuple[int, int, bool]:
    """(ndim, sequence axis counted from the end, packed) of a layout name such as ``"bhsd"``.

    A layout names x's axes, one letter each: ``b`` batch, ``h`` heads, ``s`` sequence, ``t``
    packed tokens of several sequences, ``d`` the head dimension (last).
    """
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a string such as 'bhsd'; got {shown(layout)}")
    return _parsed_layout(layout)


def sequence_axis(x_ndim: int, seq_axis: object, layout: object) -> tuple[int | None, bool]:
    """(the sequence axis of an `x_ndim`-d x as a non-negative index or None, packed).

    None means x's sequence axis was not named and x has more than two dimensions: positions
    that run along it are then refused (see `positions_for`).
    """
    if layout is not None:
        if seq_axis is not None:
            raise TypeError(f"pass layout= or seq_axis=, not both (layout={shown(layout)}, "
                            f"seq_axis={shown(seq_axis)})")
        ndim, axis, packed = parse_layout(layout)
        if ndim != x_ndim:
            raise ValueError(
                f"layout={layout!r} names {ndim} axes but x has {x_ndim}; pass the layout of "
                f"x (one letter per axis)"
            )
        return axis + x_ndim, packed
    if seq_axis is not None:
        return check_seq_axis(seq_axis, x_ndim), False
    return (0 if x_ndim == 2 else None), False


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


def _is_offset(pos: object) -> bool:
    # `type(pos) is int` first: the ABC check costs as much as a decode step's rotation.
    return type(pos) is int or (isinstance(pos, numbers.Integral) and not isinstance(pos, bool))


def _as_position_array(pos: object) -> np.ndarray:
    if isinstance(pos, (bool, np.bool_)) or isinstance(pos, (numbers.Real, str, bytes)):
        raise TypeError(
            f"pos={shown(pos)} is not an integer offset; pass an int, or an array of positions "
            f"(float positions go in a float64 array)"
        )
    try:
        arr = np.asarray(pos)
    except Exception as exc:  # e.g. ragged nested lists
        raise TypeError(f"pos could not be read as an array of positions: {exc}") from None
    position_dtype_of(arr)
    return arr


def checked_positions(pos: Any) -> np.ndarray:
    """`pos` as an array of positions, whatever its shape (an int as a 0-d array): int64 or
    float64, values in [-2**53, 2**53]; else raise, as for the `pos` of `rope.apply`."""
    arr = np.asarray(operator.index(pos)) if _is_offset(pos) else _as_position_array(pos)
    dtype = position_dtype_of(arr)
    _check_values(arr)
    return arr.astype(dtype, copy=False)


def _offset_positions(offset: int, x_shape: tuple[int, ...], axis: int | None,
                      packed: bool) -> np.ndarray:
    lead = x_shape[:-1]
    single = all(n == 1 for n in lead)  # one vector: every layout gives it the same position
    if axis is None and not single:
        raise ValueError(
            f"x has shape {x_shape}: to rotate by positions pos={offset}, {offset + 1}, ... "
            f"along its sequence, {_NAME_THE_AXIS}. Its default is the next-to-last axis "
            f"only for a 2-d x (seq, dim)"
        )
    length = 1 if single or axis is None else x_shape[axis]  # axis None: single
    if offset < -MAX_POSITION or offset + max(length - 1, 0) > MAX_POSITION:
        raise ValueError(
            f"pos={offset} with {length} positions reaches past 2**53, beyond which "
            f"positions are not exact in float64"
        )
    if length == 1:  # one position for every vector (a decode step): 0-d
        return np.array(offset, dtype=np.int64)
    if packed:
        raise ValueError(
            "x holds packed tokens of several sequences (a 't' layout), so an int offset "
            "would number them as one sequence; pass their positions, e.g. "
            "rope.packed_positions(cu_seqlens)"
        )
    shape = [1] * len(lead)
    shape[axis] = length  # type: ignore[index]  # length > 1: the axis was named
    return np.arange(offset, offset + length, dtype=np.int64).reshape(shape)


def _placed_shape(pos_shape: tuple[int, ...], x_shape: tuple[int, ...],
                  axis: int | None) -> tuple[int, ...]:
    """The shape, of ``x.ndim - 1`` dimensions, that positions of `pos_shape` take against x."""
    lead = x_shape[:-1]
    m = len(pos_shape)
    if not lead and m:
        raise ValueError(
            f"pos has shape {pos_shape} but x of shape {x_shape} is one vector; pass an int "
            f"position"
        )
    if m == len(lead) and not (m == 1 and axis is not None):  # a position per vector
        try:
            shape = np.broadcast_shapes(pos_shape, lead)
        except ValueError:
            shape = None
        if shape != lead:
            raise ValueError(
                f"pos of shape {pos_shape} does not broadcast to x.shape[:-1] = {lead} "
                f"({'it would make more vectors than x has' if shape else 'a length differs'});"
                f" a {len(lead)}-d pos holds one position per vector of x, each axis the "
                f"length of x's or 1"
            )
        return pos_shape
    if m == 0:
        raise ValueError(
            "pos is a 0-d array; pass int(pos) for positions pos, pos + 1, ... along the "
            "sequence, or an array of the positions"
        )
    if m > len(lead):
        raise ValueError(
            f"pos has shape {pos_shape}, which has more dimensions than the {len(lead)} of "
            f"x.shape[:-1] = {lead}; pass one position per vector (for M-RoPE's rows of "
            f"positions, build the Rope with mrope_section=)"
        )
    # A sequence-major array: (seq,), or transformers' (batch, seq) position_ids.
    if axis is None:
        if pos_shape[-1] not in lead:  # naming the sequence axis would not make it fit
            hint = "; for positions p, p + 1, ... pass the int p" if pos_shape[-1] == 1 else ""
            raise ValueError(
                f"pos has {pos_shape[-1]} position{'s' if pos_shape[-1] != 1 else ''} along its "
                f"last axis, but no axis of x (shape {x_shape}) has that length: pass one "
                f"position per token of x's sequence axis{hint}, and {_NAME_THE_AXIS}"
            )
        what = "a 1-d pos" if m == 1 else f"pos of shape {pos_shape} ((batch, seq) position ids)"
        raise ValueError(f"x has shape {x_shape}: to place {what} on it, {_NAME_THE_AXIS}")
    if m - 1 > axis:
        raise ValueError(
            f"pos of shape {pos_shape} is read as (batch..., seq): its leading axes are x's "
            f"first axes and its last the sequence axis {axis}, which leaves no room for "
            f"them; pass one position per vector instead"
        )
    if pos_shape[-1] != lead[axis]:
        hint = ""
        if pos_shape[-1] == 1:
            hint = (f"; for positions p, p + 1, ... pass the int p; to give every token the "
                    f"same position p, pass np.full({lead[axis]}, p)")
        raise ValueError(
            f"pos has {pos_shape[-1]} position{'s' if pos_shape[-1] != 1 else ''} along its "
            f"last axis but x has {lead[axis]} along its sequence axis (axis "
            f"{axis - len(x_shape)} of shape {x_shape}){hint}"
        )
    placed = [1] * len(lead)
    placed[axis] = pos_shape[-1]
    for i, n in enumerate(pos_shape[:-1]):
        if n not in (1, lead[i]):
            raise ValueError(
                f"pos of shape {pos_shape} is read as (batch..., seq) against x of shape "
                f"{x_shape}: its axis {i} has {n} entries where x has {lead[i]}"
            )
        placed[i] = n
    return tuple(placed)


def positions_for(pos: Any, x_shape: tuple[int, ...], axis: int | None,
                  packed: bool = False) -> np.ndarray:
    """Positions for every vector of an array of shape `x_shape`, as an array that broadcasts
    to ``x_shape[:-1]``, of dtype int64 or float64 with values in [-2**53, 2**53].

    `axis` is x's sequence axis from `sequence_axis` (None: not named); `packed` says that axis
    holds the tokens of several sequences.
    """
    if _is_offset(pos):
        return _offset_positions(operator.index(pos), x_shape, axis, packed)
    arr = _as_position_array(pos)
    dtype = position_dtype_of(arr)
    shape = _placed_shape(arr.shape, x_shape, axis)
    _check_values(arr)
    m = arr.ndim
    if 1 < m < len(x_shape) - 1:  # (batch..., seq) on x's first axes and its sequence axis
        flat = arr.reshape(-1, arr.shape[-1])
        if flat.shape[0] > 1 and (flat == flat[0]).all():
            # transformers' position_ids repeat one sequence for the whole batch: one row of
            # tables then serves every sequence (a quarter of the table work for a batch of 4)
            arr, shape = flat[0], (1,) * (m - 1) + shape[m - 1:]
    return arr.reshape(shape).astype(dtype, copy=False)


def rows_for(pos: object, x_shape: tuple[int, ...], axis: int | None, rows: int
             ) -> np.ndarray | None:
    """M-RoPE's positions: `rows` rows (temporal, height, width), each placed as `positions_for`
    places one, stacked on a new first axis; None for an int offset (every row the same)."""
    if _is_offset(pos):
        return None
    arr = _as_position_array(pos)
    if arr.ndim == 0 or arr.shape[0] != rows:
        raise ValueError(
            f"pos has shape {arr.shape}, but this Rope's pairs follow {rows} position axes "
            f"(mrope_section): pass {rows} rows of positions, shape ({rows}, ...) with each "
            f"row as for plain RoPE (transformers' position_ids of shape ({rows}, batch, seq)), "
            f"or an int offset for text, where every row is the same"
        )
    dtype = position_dtype_of(arr)
    shape = _placed_shape(arr.shape[1:], x_shape, axis)
    _check_values(arr)
    return arr.reshape((rows,) + shape).astype(dtype, copy=False)


def offset_positions(offsets: object, seq_len: int) -> np.ndarray:
    """Positions of a batch whose sequences start at different offsets.

    Sequence b holds positions ``offsets[b], offsets[b] + 1, ..., offsets[b] + seq_len - 1``
    (flash-attn's ``seqlen_offsets``, MLX's ``offset`` array: the lengths of the KV caches).
    The result is transformers' ``position_ids`` of shape (batch, seq_len), which `rope.apply`
    places on x by its layout.

    Parameters
    ----------
    offsets : array_like of int, shape (batch,)
        The position of each sequence's first token.
    seq_len : int
        The number of tokens of every sequence in this call.

    Returns
    -------
    numpy.ndarray of int64, shape (batch, seq_len)

    Examples
    --------
    >>> import numpy as np, rope
    >>> rope.offset_positions([0, 5], 3)
    array([[0, 1, 2],
           [5, 6, 7]])
    >>> q = np.ones((2, 4, 3, 8), dtype=np.float32)            # (batch, heads, seq, dim)
    >>> _ = rope.apply(q, rope.offset_positions([0, 5], 3), layout="bhsd")
    """
    seq_len = check_positive_int(seq_len, "seq_len")
    start = np.asarray(offsets)
    if start.ndim != 1 or start.dtype.kind not in "iu":
        raise TypeError(
            f"offsets must be a 1-d array of integers, one per sequence; got "
            f"{'shape ' + str(start.shape) if start.dtype.kind in 'iu' else start.dtype}"
        )
    start = start.astype(np.int64)
    _check_values(start)
    positions = start[:, None] + np.arange(seq_len, dtype=np.int64)
    _check_values(positions)
    return positions


def packed_positions(cu_seqlens: object, offsets: object = None) -> np.ndarray:
    """Positions of packed variable-length sequences (flash-attn's ``cu_seqlens``, vLLM's
    flattened tokens).

    Sequence i occupies tokens ``cu_seqlens[i]`` to ``cu_seqlens[i + 1] - 1`` of a packed x of
    layout ``"thd"`` and holds positions ``offsets[i], offsets[i] + 1, ...`` (0 by default).

    Parameters
    ----------
    cu_seqlens : array_like of int, shape (n + 1,)
        Cumulative sequence lengths: 0, then the end of each sequence, non-decreasing.
    offsets : array_like of int, shape (n,), optional
        The position of each sequence's first token (its KV cache length).

    Returns
    -------
    numpy.ndarray of int64, shape (cu_seqlens[-1],)

    Examples
    --------
    >>> import numpy as np, rope
    >>> rope.packed_positions([0, 3, 5])
    array([0, 1, 2, 0, 1])
    >>> rope.packed_positions([0, 3, 5], offsets=[10, 0])
    array([10, 11, 12,  0,  1])
    >>> x = np.ones((5, 2, 8), dtype=np.float32)               # (tokens, heads, dim)
    >>> _ = rope.apply(x, rope.packed_positions([0, 3, 5]), layout="thd")
    """
    cu = np.asarray(cu_seqlens)
    if cu.ndim != 1 or cu.size == 0 or cu.dtype.kind not in "iu":
        raise TypeError(
            "cu_seqlens must be a 1-d array of integers: 0, then the end of each sequence"
        )
    cu = cu.astype(np.int64)
    if cu[0] != 0 or np.any(np.diff(cu) < 0):
        raise ValueError(
            f"cu_seqlens must start at 0 and never decrease (the cumulative lengths); got "
            f"{cu.tolist() if cu.size <= 8 else cu}"
        )
    count = cu.size - 1
    if offsets is None:
        start = np.zeros(count, dtype=np.int64)
    else:
        start = np.asarray(offsets)
        if start.shape != (count,) or start.dtype.kind not in "iu":
            raise ValueError(
                f"offsets must hold one integer per sequence: {count} for cu_seqlens of "
                f"length {cu.size}; got {start.dtype} of shape {start.shape}"
            )
        start = start.astype(np.int64)
    token = np.arange(cu[-1], dtype=np.int64)
    sequence = np.searchsorted(cu, token, side="right") - 1  # the sequence each token is in
    positions = token - cu[sequence] + start[sequence]
    _check_values(positions)
    return positions


def sequence_length(positions: np.ndarray) -> int:
    """The current length of a sequence: its largest position plus one (at least 1)."""
    if positions.size == 0:
        return 1
    return max(int(np.ceil(positions.max())) + 1, 1)


def planes_sharing_positions(x: np.ndarray,
                             positions_shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(plane axis, sequence axis) of an x whose rows of one position lie planes apart, or None.

    For a (batch, heads, seq, dim) x with positions along seq, the heads of a token are a whole
    (seq, dim) plane apart: the sequence axis is the innermost axis the positions vary along,
    the plane axis the innermost one before it that shares its positions and lies farther
    apart in memory. `positions_shape` has ``x.ndim - 1`` dimensions; None when no axis of x
    is such a plane axis (the rows of a position are then next to each other, or alone).
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
    return axis, along
