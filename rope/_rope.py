"""rope.Rope: one immutable RoPE configuration, its cached frequencies and cos/sin tables.

This is the one path that builds tables and rotates: `rope.apply` builds a Rope from its
arguments and calls `Rope.apply`. A Rope reused for q and k at the same positions builds the
tables once (they are kept in rope's table cache, `rope._cache`), so k costs only the rotation.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from . import _cache, _core
from ._mrope import pair_axes
from ._parallel import run_split, threads_used
from ._positions import (
    _parsed_layout,
    checked_positions,
    positions_for,
    rows_for,
    planes_sharing_positions,
    sequence_axis,
    sequence_length,
)
from ._scaling import (
    ScaledFrequencies,
    frozen_frequencies,
    check_keywords,
    periods_of,
    resolve,
    rotary_dimension,
    scaled_frequencies,
    uses_length,
)
from ._tensors import BFLOAT16, is_bfloat16, tensor_view
from ._types import ArrayOrTensor, ArrayOrTensorT, OutT, PositionsLike, Scaling
from ._validation import (
    check_angle_range,
    check_array,
    check_dim,
    check_flag,
    check_into,
    check_positive_int,
    check_rotary_dim,
    shown,
)

__all__ = ["Rope", "build_tables", "rotated_one"]


def build_tables(
    positions: np.ndarray, theta: np.ndarray, attention: float, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the exact angles positions * theta, times `attention`, as `dtype`.

    The tables are rounded once: with an attention factor they are built in float64, scaled,
    then cast (as Hugging Face scales before casting), not scaled after rounding to float32.
    """
    if attention == 1.0:
        return _core.cos_sin(positions, theta, dtype=dtype)
    cos, sin = _core.cos_sin(positions, theta, dtype=np.float64)
    cos *= attention
    sin *= attention
    return cos.astype(dtype, copy=False), sin.astype(dtype, copy=False)


#: Tables of at most KEEP_BYTES are kept for the rotations that would otherwise build them in
#: their loop (rotate_at), for an x of at most KEEP_X_BYTES: an x that size is likely in cache
#: (q and k just written by their projection), where building the tables costs as much as
#: rotating; a larger x streams from memory, which hides the build, while kept tables read
#: beside it slow the stream.
KEEP_BYTES = 4 << 20
KEEP_X_BYTES = 16 << 20


def _positions_key(positions: np.ndarray) -> tuple:
    """What identifies positions cheaply: dtype, shape, first and last (the cache compares the
    rest)."""
    ends = (positions.item(0), positions.item(-1)) if positions.size else ()
    return (positions.dtype, positions.shape, *ends)


def _checked_table_dtype(dtype: object) -> np.dtype:
    """The dtype of tables asked for by name: float32 or float64, the dtypes cos_sin makes."""
    try:
        checked = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        checked = None
    if checked is None or checked not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be np.float32 or np.float64, the dtypes of rope's tables "
                        f"(float32 for float16 and bfloat16 data); got {shown(dtype)}")
    return checked


def _table_dtype(x: np.ndarray) -> np.dtype:
    # float32 data is rotated with float64 tables in float64 arithmetic (rounded once, exact);
    # float16 and bfloat16 data need no more than float32 tables.
    return np.dtype(np.float32 if x.itemsize == 2 else np.float64)


class Rope:
    """An immutable RoPE configuration with cached frequencies and tables.

    Parameters
    ----------
    dim : int
        Head dimension: the last axis of the arrays to rotate (Hugging Face's ``head_dim``;
        ``head_dim=`` is accepted as its alias).
    base : float, default 10000.0
        The base (``rope_theta``); a ``rope_theta`` inside a scaling dict overrides it.
    scaling : None, str or dict
        The context-extension family and, as a dict, its parameters; see `rope.frequencies`.
    rotary_dim : int, optional
        Rotate only the first `rotary_dim` coordinates (even); the rest pass through.
    partial_rotary_factor : float, optional
        Hugging Face's way to say the same: ``rotary_dim = int(dim * partial_rotary_factor)``.
    interleaved : bool, default False
        Pair (2i, 2i + 1) instead of Hugging Face's half-split (i, i + d/2).
    mrope_section : list of int, optional
        Multi-axis positions (M-RoPE, 2-D RoPE): the number of pairs that follow each position
        axis, adding up to ``rotary_dim / 2`` (Qwen2-VL: ``[16, 24, 24]`` for temporal, height
        and width). Positions are then given as one row per axis; see `apply`.
    mrope_interleaved : bool, default False
        Deal the pairs to the axes in turn (Qwen3-VL) instead of in consecutive blocks
        (Qwen2-VL, Qwen2.5-VL): pair k follows axis k mod n while that axis has pairs left.
    mrope_grouped : bool, default False
        With `mrope_interleaved`, keep each axis's pairs together, in axis order (Pixtral's 2-D
        RoPE: rows turn the first half of the pairs at frequencies theta_0, theta_2, ...,
        columns the second half at theta_1, theta_3, ...).
    **params
        The scaling family's parameters (Hugging Face names), as for `rope.frequencies`.

    Examples
    --------
    >>> import numpy as np, rope
    >>> r = rope.Rope(128, base=500000.0, scaling="llama3", factor=8.0, low_freq_factor=1.0,
    ...               high_freq_factor=4.0, original_max_position_embeddings=8192)
    >>> r
    Rope(dim=128, base=500000.0, scaling='llama3', factor=8.0, high_freq_factor=4.0,
         low_freq_factor=1.0, original_max_position_embeddings=8192)
    >>> round(float(r.frequencies[30]), 10), r.attention_factor
    (0.0013718936, 1.0)
    >>> q = np.ones((1, 2, 6, 128), dtype=np.float32)       # (batch, heads, seq, dim)
    >>> k = np.ones((1, 2, 6, 128), dtype=np.float32)
    >>> _ = r.apply(q, 0, layout="bhsd"); _ = r.apply(k, 0, layout="bhsd")  # tables built once
    >>> bool(np.array_equal(q, k))
    True
    >>> r == rope.Rope(head_dim=128, base=500000.0, scaling=dict(
    ...     rope_type="llama3", factor=8, low_freq_factor=1, high_freq_factor=4,
    ...     original_max_position_embeddings=8192))
    True
    """

    __slots__ = ("_dim", "_rotary_dim", "_base", "_scaling", "_params", "_interleaved",
                 "_axes", "_uses_length", "_key", "_default", "_one_theta", "_by_length",
                 "_remembered_calls")
    # The slots' types (set once, by object.__setattr__, in __init__).
    _dim: int
    _rotary_dim: int
    _base: float
    _scaling: str | None
    _params: tuple[tuple[str, Any], ...]
    _interleaved: bool
    _axes: Any  # rope._mrope's pair axes, or None
    _uses_length: bool
    _key: tuple[Any, ...]
    _default: ScaledFrequencies
    _one_theta: np.ndarray | None
    _by_length: tuple[Any, ScaledFrequencies] | None
    _remembered_calls: dict[tuple[Any, ...], tuple[np.ndarray, ScaledFrequencies, float]]

    def __init__(
        self,
        dim: int | None = None,
        base: float = 10000.0,
        scaling: Scaling = None,
        *,
        rotary_dim: int | None = None,
        partial_rotary_factor: float | None = None,
        head_dim: int | None = None,
        interleaved: bool = False,
        mrope_section: Sequence[int] | None = None,
        mrope_interleaved: bool = False,
        mrope_grouped: bool = False,
        **params: Any,
    ) -> None:
        if params:
            check_keywords(params, Rope.__init__, "Rope()")
        if dim is None and head_dim is None:
            raise TypeError("Rope needs the head dimension: Rope(dim=128, ...)")
        if dim is not None and head_dim is not None and dim != head_dim:
            raise ValueError(f"dim={dim} and head_dim={head_dim} disagree; pass one of them")
        dim = check_dim(dim if dim is not None else head_dim, "dim")
        if partial_rotary_factor is not None:
            params["partial_rotary_factor"] = partial_rotary_factor
        base, name, checked, partial = resolve(base, scaling, params)
        if partial is not None:
            from_partial = rotary_dimension(dim, partial)
            if rotary_dim is not None and rotary_dim != from_partial:
                raise ValueError(
                    f"rotary_dim={rotary_dim} disagrees with partial_rotary_factor={partial} "
                    f"(int({dim} * {partial}) = {from_partial}); pass one of them"
                )
            rotary_dim = from_partial
        rotary_dim = check_rotary_dim(rotary_dim, dim)
        interleaved = check_flag(interleaved, "interleaved")
        mrope_interleaved = check_flag(mrope_interleaved, "mrope_interleaved")
        mrope_grouped = check_flag(mrope_grouped, "mrope_grouped") and mrope_interleaved
        if mrope_section is None:
            if mrope_interleaved:
                raise TypeError("mrope_interleaved needs mrope_section (the pairs per axis)")
            axes = None
        else:
            axes = pair_axes(mrope_section, mrope_interleaved, mrope_grouped, rotary_dim // 2)
        set_ = object.__setattr__
        set_(self, "_dim", dim)
        set_(self, "_rotary_dim", rotary_dim)
        set_(self, "_base", base)
        set_(self, "_scaling", name)
        set_(self, "_params", tuple(sorted(checked.items())))
        set_(self, "_interleaved", bool(interleaved))
        set_(self, "_axes", axes)
        set_(self, "_uses_length", uses_length(name))
        axes_key = None if axes is None else (axes.sections, axes.interleaved, axes.grouped)
        set_(self, "_key", (dim, rotary_dim, base, name, self._params, bool(interleaved),
                            axes_key))
        # Built eagerly: a Rope that cannot compute its frequencies (e.g. longrope factor lists
        # of the wrong length) fails at construction, before any array is touched.
        set_(self, "_default", self._in_pair_order(
            scaled_frequencies(rotary_dim, base, name, checked)))
        # The frequencies of a one-token rotation in C (rotated_one), where neither the
        # length nor an attention factor changes them.
        one = self._default.theta if not self._uses_length and \
            self._default.attention_factor == 1.0 else None
        set_(self, "_one_theta", one)
        set_(self, "_by_length", None)  # (length key, ScaledFrequencies) of the last length used
        set_(self, "_remembered_calls", {})  # see _apply_checked

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Rope is immutable; build a new one with the changed configuration")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rope) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        parts = [f"dim={self._dim}", f"base={self._base!r}"]
        if self._rotary_dim != self._dim:
            parts.append(f"rotary_dim={self._rotary_dim}")
        if self._scaling is not None:
            parts.append(f"scaling={self._scaling!r}")
            parts += [f"{k}={list(v) if isinstance(v, tuple) else v!r}" for k, v in self._params]
        if self._interleaved:
            parts.append("interleaved=True")
        if self._axes is not None:
            parts.append(f"mrope_section={list(self._axes.sections)}")
            if self._axes.interleaved:
                parts.append("mrope_interleaved=True")
            if self._axes.grouped:
                parts.append("mrope_grouped=True")
        return f"Rope({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the configuration and its key numbers as a small table."""
        from html import escape

        finite = self.periods[np.isfinite(self.periods)]
        rows = [("dim", self._dim), ("rotary_dim", self._rotary_dim), ("base", f"{self._base:g}"),
                ("layout", "interleaved" if self._interleaved else "half-split"),
                ("scaling", self._scaling or "none")]
        if self._axes is not None:
            rows.append(("mrope_section", list(self._axes.sections)))
            rows.append(("pairs per axis", "grouped, interleaved frequencies" if
                         self._axes.grouped else "interleaved" if self._axes.interleaved
                         else "blocks"))
        rows += [(k, list(v) if isinstance(v, tuple) else v) for k, v in self._params]
        rows += [("attention factor", f"{self.attention_factor:.6g}"),
                 ("shortest period", f"{finite.min():.6g} tokens" if finite.size else "none"),
                 ("longest period", f"{finite.max():.6g} tokens" if finite.size else "none")]
        body = "".join(f"<tr><th style='text-align:left'>{escape(str(k))}</th>"
                       f"<td style='text-align:left'>{escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table><caption>rope.Rope</caption>{body}</table>"

    def __reduce__(self):
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self._params}
        axes = self._key[-1]
        return (_rebuild, (self._dim, self._base, self._scaling, self._rotary_dim,
                           self._interleaved, params, axes))

    # -- configuration --------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Head dimension (last axis of x)."""
        return self._dim

    @property
    def rotary_dim(self) -> int:
        """Number of rotated coordinates (the d of the formulas)."""
        return self._rotary_dim

    @property
    def base(self) -> float:
        """The base (rope_theta) before any scaling."""
        return self._base

    @property
    def scaling(self) -> str | None:
        """The scaling family's canonical name, or None."""
        return self._scaling

    @property
    def params(self) -> Mapping[str, Any]:
        """The scaling parameters, checked and with Hugging Face's defaults filled in."""
        return MappingProxyType(dict(self._params))

    @property
    def interleaved(self) -> bool:
        """True for (2i, 2i + 1) pairs, False for half-split (i, i + d/2)."""
        return self._interleaved

    @property
    def mrope_section(self) -> tuple[int, ...] | None:
        """Pairs per position axis (M-RoPE, 2-D RoPE), or None for one position per token."""
        return None if self._axes is None else self._axes.sections

    @property
    def mrope_interleaved(self) -> bool:
        """True if the pairs are dealt to the position axes in turn (Qwen3-VL, Pixtral)."""
        return self._axes is not None and self._axes.interleaved

    @property
    def mrope_grouped(self) -> bool:
        """True if each axis's pairs sit together though dealt in turn (Pixtral)."""
        return self._axes is not None and self._axes.grouped

    # -- frequencies ----------------------------------------------------------------------

    @property
    def frequencies(self) -> np.ndarray:
        """Read-only float64 theta of the rotary_dim/2 pairs, in pair order (dynamic: at
        max_position_embeddings; longrope: the short factors). See `frequencies_at`."""
        return self._default.theta

    @property
    def periods(self) -> np.ndarray:
        """Periods 2*pi/theta, in tokens, of `frequencies` (inf for unrotated pairs)."""
        return periods_of(self._default.theta)

    @property
    def attention_factor(self) -> float:
        """What cos and sin are multiplied by (YaRN, LongRoPE; else 1.0)."""
        return self._default.attention_factor

    def frequencies_at(self, seq_len: int) -> np.ndarray:
        """theta for a sequence of `seq_len` tokens (differs from `frequencies` only for the
        dynamic and longrope families).

        Examples
        --------
        >>> import rope
        >>> r = rope.Rope(128, scaling="dynamic", factor=2.0, max_position_embeddings=4096)
        >>> round(float(r.frequencies_at(8192)[1] ** -64), 4)   # the base at 8192 tokens
        30527.7367
        """
        return self._scaled_at(seq_len).theta

    def _length_key(self, seq_len: int | None) -> object:
        """Lengths that give the same frequencies share a key (so a cache hit)."""
        if seq_len is None or not uses_length(self._scaling):
            return None
        params = dict(self._params)
        if self._scaling == "dynamic":
            trained = params["max_position_embeddings"]
            return None if seq_len <= trained else seq_len
        return True if seq_len > params["original_max_position_embeddings"] else None

    def _scaled_at(self, seq_len: int | None) -> ScaledFrequencies:
        key = self._length_key(check_positive_int(seq_len, "seq_len") if seq_len is not None
                               else None)
        if key is None:
            return self._default
        last = self._by_length
        if last is not None and last[0] == key:
            return last[1]
        result = self._in_pair_order(scaled_frequencies(
            self._rotary_dim, self._base, self._scaling, dict(self._params), seq_len))
        object.__setattr__(self, "_by_length", (key, result))
        return result

    def _in_pair_order(self, scaled: ScaledFrequencies) -> ScaledFrequencies:
        """The frequencies as the pairs use them (Pixtral's pairs take them in another order)."""
        order = None if self._axes is None else self._axes.order
        if order is None:
            return scaled
        return frozen_frequencies(scaled.theta[order], scaled.attention_factor)

    # -- rotation -------------------------------------------------------------------------

    def tables(
        self, positions: PositionsLike, dtype: npt.DTypeLike, *, inverse: bool = False,
        seq_len: int | None = None, attention_scaling: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """cos and sin tables (times the attention factor) for positions, cached for reuse.

        `positions` broadcasts against the leading axes of x (see `rope.apply`); the tables have
        shape ``positions.shape + (rotary_dim // 2,)``. With `mrope_section`, `positions` holds
        one row per position axis, stacked on its first axis, and the tables have the shape of
        one row. Tables are kept (in one cache for every Rope, at most 64 MiB in all;
        `rope.clear_cache` empties it): the same positions again (k after q) return the same
        read-only arrays.

        Examples
        --------
        >>> import numpy as np, rope
        >>> r = rope.Rope(8, scaling="yarn", factor=4.0, original_max_position_embeddings=64)
        >>> cos, sin = r.tables(np.arange(3), np.float32)
        >>> cos.shape, bool(cos[0, 0] == np.float32(r.attention_factor))
        ((3, 4), True)
        >>> r.tables(np.arange(3), np.float32)[0] is cos
        True
        """
        try:
            positions = checked_positions(positions)
        except (TypeError, ValueError) as exc:  # its messages call it pos, as rope.apply does
            raise type(exc)(f"positions: {exc}") from None
        inverse = check_flag(inverse, "inverse")
        attention_scaling = check_flag(attention_scaling, "attention_scaling")
        dtype = _checked_table_dtype(dtype)
        if self._axes is not None and (positions.ndim == 0 or
                                       positions.shape[0] != len(self._axes.sections)):
            raise ValueError(
                f"this Rope's pairs follow {len(self._axes.sections)} position axes: pass "
                f"positions of shape ({len(self._axes.sections)}, ...), one row per axis"
            )
        scaled, attention = self._scaled_for(positions, seq_len, attention_scaling)
        check_angle_range(positions, scaled.fastest)
        return self._cached_tables(positions, scaled, dtype, inverse, attention,
                                   self._axes is not None)

    def _scaled_for(
        self, positions: np.ndarray, seq_len: int | None, attention_scaling: bool
    ) -> tuple[ScaledFrequencies, float]:
        if seq_len is None and not self._uses_length:
            scaled = self._default  # the common case, without the length bookkeeping
        else:
            if seq_len is None:
                seq_len = sequence_length(positions)
            scaled = self._scaled_at(seq_len)
        return scaled, (scaled.attention_factor if attention_scaling else 1.0)

    def _cached_tables(
        self, positions: np.ndarray, scaled: ScaledFrequencies, dtype: np.dtype, inverse: bool,
        attention: float, rows: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact tables of `positions`, kept in the table cache; `rows`: one row of positions
        per axis of `mrope_section`."""
        key = ("exact", id(scaled), dtype, inverse, attention, rows, *_positions_key(positions))
        kept = _cache.tables.get(key, scaled, positions)
        if kept is not None:
            return kept
        theta = scaled.negated if inverse else scaled.theta
        if rows:
            cos, sin = self._axes.tables(
                positions, theta, lambda row, part: build_tables(row, part, attention, dtype))
        else:
            cos, sin = build_tables(positions, theta, attention, dtype)
        cos.flags.writeable = sin.flags.writeable = False
        _cache.tables.put(key, scaled, positions, (cos, sin), cos.nbytes + sin.nbytes)
        return cos, sin

    def _kept_tables(
        self, x: np.ndarray, positions: np.ndarray, scaled: ScaledFrequencies, theta: np.ndarray,
        inverse: bool,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The tables rotate_at would build in its loop for `positions` (shared along x's
        next-to-last axis: shape (..., 1)), kept in the table cache, as rows for rotate_rows
        (shape (..., k)); or None where keeping them does not pay: tables larger than half of
        x or than KEEP_BYTES, an x larger than KEEP_X_BYTES."""
        dtype = _table_dtype(x)
        nbytes = positions.size * theta.size * 2 * dtype.itemsize
        if nbytes > KEEP_BYTES or 2 * nbytes > x.nbytes or x.nbytes > KEEP_X_BYTES:
            return None
        key = ("added", id(scaled), dtype, inverse, *_positions_key(positions))
        kept = _cache.tables.get(key, scaled, positions)
        if kept is None:
            # The same bits as rotate_at's tables (angle addition from exact ones): a call
            # that finds them kept rotates exactly as one that builds them in its loop.
            both = _core.tables(positions[..., 0], theta, dtype=dtype)
            both.flags.writeable = False
            kept = both[..., 0, :], both[..., 1, :]
            _cache.tables.put(key, scaled, positions, kept, both.nbytes)
        return kept

    def _rotate(
        self, x: np.ndarray, out: np.ndarray, positions: np.ndarray, scaled: ScaledFrequencies,
        inverse: bool, attention: float,
    ) -> None:
        """Rotate x into out, x itself or an array of its shape and dtype apart from it
        (everything already validated): the one rotating path."""
        self._rotation(x, out, positions, scaled, inverse, attention)()

    def _rotation(
        self, x: np.ndarray, out: np.ndarray, positions: np.ndarray, scaled: ScaledFrequencies,
        inverse: bool, attention: float,
    ) -> Callable[[], None]:
        """`_rotate`'s rotation, prepared: every table it needs is built, and the function
        returned only writes (threads prepare every slice before any of them writes)."""
        theta = scaled.negated if inverse else scaled.theta
        if attention == 1.0 and positions.size > 1 and x.dtype != np.float64 and \
                positions.shape[-1] == 1 < x.shape[-2]:
            # The rows of a position next to each other (the heads of a token), whose kept
            # tables rotate_rows reads once for them. (float64 data: rotate_at builds exact
            # tables, as every other path. Rows of a position planes apart: rotate_seq_at's
            # blocks of tables, in cache, beat any kept tables read once per plane.)
            kept = self._kept_tables(x, positions, scaled, theta, inverse)
            if kept is not None:
                rotate = _core.rotate_interleaved_rows if self._interleaved else \
                    _core.rotate_rows
                return partial(rotate, x, *kept, out=out)
        if attention == 1.0:
            rotate_at = _core.rotate_interleaved_at if self._interleaved else _core.rotate_at
            lead = x.ndim - 1
            if positions.ndim == 0 or (lead and positions.shape[-1] == 1):
                # The vectors of the next-to-last axis share a position (the heads of a token,
                # a decode step): one call builds each position's tables once, in the loop,
                # and rotates those rows while the tables are in cache.
                if positions.size == 1:
                    positions = positions.item()  # a Python scalar: NumPy takes it ~1 us faster
                else:
                    positions = positions[..., 0]
                if lead:
                    return partial(rotate_at, x, positions, theta, out=out)
                return partial(rotate_at, x[None], positions, theta, out=out[None])
            if positions.size * x.shape[-1] == x.size:
                # A position per vector: blocks of one row, tables built in the loop (by angle
                # addition), never materialized.
                return partial(rotate_at, x[..., None, :], positions, theta,
                               out=out[..., None, :])
            planes = planes_sharing_positions(x, positions.shape)
            if planes is not None:
                # The heads of a (batch, heads, seq, dim) x: plane by plane, each block of
                # tokens' tables built once in the loop for every plane.
                plane, along = planes
                rotate_seq_at = _core.rotate_interleaved_seq_at if self._interleaved else \
                    _core.rotate_seq_at
                core = (plane, along, x.ndim - 1)
                return partial(rotate_seq_at, x, positions.squeeze(plane), theta, out=out,
                               axes=[core, (along - 1,), (0,), core])
        # Positions shared along an outer axis (batch, heads of a (batch, heads, seq, dim) x):
        # full tables once, read for a few heads at a time, or streamed for each of those.
        cos, sin = self._cached_tables(positions, scaled, _table_dtype(x), inverse, attention)
        return partial(self._rotate_by_tables, x, out, cos, sin, positions.shape)

    def _rotate_by_tables(self, x: np.ndarray, out: np.ndarray, cos: np.ndarray,
                          sin: np.ndarray, positions_shape: tuple[int, ...]) -> None:
        """Rotate x into out by tables that broadcast against their leading axes."""
        if len(positions_shape) == x.ndim - 1 > 0 and positions_shape[-1] == 1 < x.shape[-2]:
            # The rows of a position are next to each other (the heads of a token): one block
            # of rows per table row, one loop call for all (NumPy's iterator would otherwise
            # call the loop once per position, as the tables' zero stride keeps it from
            # joining the axes).
            rotate = _core.rotate_interleaved_rows if self._interleaved else _core.rotate_rows
            rotate(x, cos[..., 0, :], sin[..., 0, :], out=out)
            return
        planes = planes_sharing_positions(x, positions_shape)
        if planes is not None:
            # The heads of a (batch, heads, seq, dim) x: plane by plane, a block of tokens at a
            # time, each row of the tables read once for two heads.
            plane, along = planes
            rotate = _core.rotate_interleaved_planes if self._interleaved else \
                _core.rotate_planes
            core, tables = (plane, along, x.ndim - 1), (along - 1, x.ndim - 2)
            rotate(x, cos.squeeze(plane), sin.squeeze(plane), out=out,
                   axes=[core, tables, tables, core])
            return
        rotate = _core.rotate_interleaved if self._interleaved else _core.rotate
        rotate(x, cos, sin, out=out)

    def _rotate_rows(
        self, x: np.ndarray, out: np.ndarray, rows: np.ndarray, scaled: ScaledFrequencies,
        inverse: bool, attention: float, threads: int,
    ) -> None:
        """Rotate x into out by M-RoPE's rows of positions (one per axis of mrope_section)."""
        cos, sin = self._cached_tables(rows, scaled, _table_dtype(x), inverse, attention, True)
        shape = cos.shape[:-1]
        if threads == 1:
            self._rotate_by_tables(x, out, cos, sin, shape)
            return
        # The threads split x along a leading axis and slice what they are given with it: an
        # index into the tables, whose rows each thread then gathers for its slice.
        flat_cos, flat_sin = cos.reshape(-1, cos.shape[-1]), sin.reshape(-1, sin.shape[-1])
        index = np.arange(flat_cos.shape[0]).reshape(shape)
        run_split(lambda part, part_out, part_index: partial(
            self._rotate_by_tables, part, part_out, flat_cos[part_index], flat_sin[part_index],
            part_index.shape), (x, out), index, threads)

    @overload
    def apply(
        self, x: ArrayOrTensorT, pos: PositionsLike, *, inverse: bool = ...,
        seq_axis: int | None = ..., layout: str | None = ..., seq_len: int | None = ...,
        attention_scaling: bool = ..., threads: int = ..., out: None = ...,
    ) -> ArrayOrTensorT: ...
    @overload
    def apply(
        self, x: ArrayOrTensor, pos: PositionsLike, *, inverse: bool = ...,
        seq_axis: int | None = ..., layout: str | None = ..., seq_len: int | None = ...,
        attention_scaling: bool = ..., threads: int = ..., out: OutT,
    ) -> OutT: ...
    def apply(
        self, x: ArrayOrTensor, pos: PositionsLike, *, inverse: bool = False,
        seq_axis: int | None = None, layout: str | None = None, seq_len: int | None = None,
        attention_scaling: bool = True, threads: int = 1, out: ArrayOrTensor | None = None,
    ) -> ArrayOrTensor:
        """Rotate `x` in place by this configuration and return it (or rotate it into `out`).

        Name x's layout (``layout="bhsd"``, ``"bshd"``, ``"shd"``, ``"thd"``, ...) or its
        `seq_axis` whenever x has more than two axes and `pos` runs along its sequence (an int
        offset or a sequence-major array); only a 2-d x (seq, dim) has a default, axis 0.
        `pos` is read as for `rope.apply`. With `mrope_section`, `pos` holds one row of
        positions per axis, stacked on its first axis (transformers' position_ids of shape
        (3, batch, seq)), or is an int offset (text: every axis at the same positions).

        Parameters
        ----------
        x : numpy.ndarray or tensor of float16, bfloat16, float32 or float64
            Writeable array whose last axis is this Rope's `dim`, or any CPU tensor with
            ``__dlpack__`` (torch), as for `rope.apply`.
        pos : int or array_like
            Positions, as for `rope.apply`.
        inverse : bool, default False
            Rotate by the negative angles (undo a rotation at the same positions; the attention
            factor is applied again, not divided out — pass ``attention_scaling=False`` both
            ways for an exact round trip).
        seq_axis : int, optional
            The sequence axis of x (any axis but the last); or name the layout.
        layout : str, optional
            x's axes, one letter each: ``b`` batch, ``h`` heads, ``s`` sequence, ``t`` packed
            tokens of several sequences, ``d`` head dimension (last), e.g. ``"bhsd"``.
        seq_len : int, optional
            Current sequence length for dynamic and longrope (default: largest position + 1,
            as Hugging Face takes it from ``position_ids``). Hugging Face's dynamic module is
            stateful: it keeps the base of the longest sequence seen until a sequence falls
            back within max_position_embeddings; pass that length as `seq_len` to match it.
            With dynamic scaling, keys cached under one length were rotated with another
            base: re-rotate them (``inverse=True`` with the old `seq_len`, then the new one).
        attention_scaling : bool, default True
            Multiply cos and sin by `attention_factor`, as Hugging Face does. False leaves the
            rotation norm-preserving, for callers who scale the logits themselves.
        threads : int, default 1
            Rotate with up to this many threads, as for `rope.apply`.
        out : numpy.ndarray or tensor, optional
            Rotate into this writeable array of x's shape and dtype, leaving x as it is (x may
            then be read-only), as for `rope.apply`.

        Returns
        -------
        numpy.ndarray or tensor
            `x`, rotated; or `out`.

        Examples
        --------
        >>> import numpy as np, rope
        >>> r = rope.Rope(2, scaling="linear", factor=4.0)
        >>> v = r.apply(np.array([1.0, 0.0]), 8)          # position 8 / 4 = 2
        >>> bool(np.allclose(v, [np.cos(2), np.sin(2)]))
        True
        >>> mrope = rope.Rope(8, mrope_section=[2, 1, 1])  # pairs 0-1 temporal, 2 height, 3 width
        >>> q = np.ones((1, 2, 3, 8))                      # (batch, heads, seq, dim)
        >>> thw = np.array([[[0, 1, 1]], [[0, 0, 1]], [[0, 1, 0]]])   # (3, batch, seq)
        >>> _ = mrope.apply(q, thw, layout="bhsd")
        """
        if out is None or out is x:
            array = x if type(x) is np.ndarray else tensor_view(x)  # a tensor: its view
            if rotated_one(self, array, pos, inverse, seq_axis, layout, seq_len, threads,
                           attention_scaling):
                return x
            array = target = check_array(x if array is None else array)
        else:
            array, target = check_into(x, out)
        self._apply_checked(array, target, pos, inverse, seq_axis, layout, seq_len,
                            attention_scaling, threads)
        return x if out is None else out

    def _apply_checked(self, x, out, pos, inverse, seq_axis, layout, seq_len, attention_scaling,
                       threads):
        """`apply` of arrays that have passed check_array or check_into: rotate x into out
        (x itself, or apart from it)."""
        # A model rotates q and k of every layer at the same positions: what the checks below
        # make of such a call depends on its arguments (an int offset, or a few positions'
        # values) and x's shape only, and is remembered for the last few (the positions, the
        # frequencies and the attention factor).
        key = _call_key(x, pos, inverse, seq_axis, layout, seq_len, attention_scaling, threads)
        remembered = None if key is None else self._remembered_calls.get(key)
        if remembered is not None:
            positions, scaled, attention = remembered
            self._rotate(x, out, positions, scaled, inverse, attention)
            return
        if x.shape[-1] != self._dim:
            raise ValueError(
                f"x has head dimension {x.shape[-1]} (its last axis) but this Rope was built for "
                f"dim={self._dim}; build a Rope with dim={x.shape[-1]}"
            )
        axis, packed = sequence_axis(x.ndim, seq_axis, layout)
        rows = None
        if self._axes is not None:
            rows = rows_for(pos, x.shape, axis, len(self._axes.sections))
        positions = positions_for(pos, x.shape, axis, packed) if rows is None else rows
        if type(pos) is not int and (np.may_share_memory(positions, x) or
                                     np.may_share_memory(positions, out)):
            # pos viewing x's (or out's) memory: read before any of it is written (threads
            # rotate slices whose positions may lie in another slice's rows).
            positions = positions.copy()
            rows = None if rows is None else positions
        threads = threads_used(x.nbytes, check_positive_int(threads, "threads"))
        inverse = check_flag(inverse, "inverse")
        attention_scaling = check_flag(attention_scaling, "attention_scaling")
        scaled, attention = self._scaled_for(positions, seq_len, attention_scaling)
        check_angle_range(positions, scaled.fastest)
        if rows is not None:
            self._rotate_rows(x, out, rows, scaled, inverse, attention, threads)
        elif threads == 1:
            if key is not None and positions.nbytes <= _REMEMBERED_POSITIONS_BYTES:
                if len(self._remembered_calls) >= _REMEMBERED_CALLS:
                    self._remembered_calls.clear()  # (safe while another thread reads it)
                # (a copy: positions may view the caller's pos, which may change)
                kept = positions if type(pos) is int else positions.copy()
                self._remembered_calls[key] = (kept, scaled, attention)
            self._rotate(x, out, positions, scaled, inverse, attention)
        else:
            run_split(lambda part, part_out, part_positions: self._rotation(
                part, part_out, part_positions, scaled, inverse, attention),
                (x, out), positions, threads)

    # -- Hugging Face ---------------------------------------------------------------------

    @classmethod
    def from_hf_config(cls, config: object, *, layer_type: str | None = None,
                       interleaved: bool | None = None) -> Rope:
        """Build the Rope of a Hugging Face model config: a config.json path, its folder, the
        parsed dict, or a transformers config object (whose class has filled in its defaults).

        Every RoPE field of the families in use is read, from the file as from the object:
        ``rope_theta`` (``rotary_emb_base``, ChatGLM's ``rope_ratio``), the head dimension
        (``head_dim``, else ``hidden_size // num_attention_heads``; DeepSeek's
        ``qk_rope_head_dim``), the rotated part (``partial_rotary_factor``, ``rotary_pct``,
        ``rotary_dim``), ``rope_parameters`` (transformers >= 5) or ``rope_scaling`` (legacy
        Phi-3 ``"su"`` read as longrope), the pairing of the family (interleaved for GPT-J,
        DeepSeek, Llama 4, GLM, Cohere; DeepSeek-V3's ``rope_interleave``), M-RoPE's
        ``mrope_section``, per-layer parameters (Gemma 3's ``rope_local_base_freq``) and a
        multimodal config's ``text_config``. A field the file leaves to its model class's
        default, a model type whose pairing rope does not know, or a RoPE field rope does not
        read is refused by name: pass the transformers object
        (``transformers.AutoConfig.from_pretrained(...)``) or the missing value instead. The
        family rules and the list of model types are in docs/huggingface.md.

        Parameters
        ----------
        config : str, os.PathLike, dict or transformers.PretrainedConfig
        layer_type : str, optional
            For a config whose layers rotate differently (Gemma 3: ``"full_attention"`` or
            ``"sliding_attention"``): which. Must be one of the config's layer types.
        interleaved : bool, optional
            Override the family's pairing, e.g. for weights converted to the other layout.

        Examples
        --------
        >>> import rope
        >>> r = rope.Rope.from_hf_config({
        ...     "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28,
        ...     "rope_theta": 1000000.0, "max_position_embeddings": 32768,
        ...     "rope_scaling": {"type": "yarn", "factor": 4.0,
        ...                      "original_max_position_embeddings": 32768}})
        >>> r.dim, r.scaling, round(r.attention_factor, 7)
        (128, 'yarn', 1.1386294)
        >>> rope.Rope.from_hf_config({"model_type": "deepseek_v3", "hidden_size": 7168,
        ...     "num_attention_heads": 128, "qk_rope_head_dim": 64, "rope_theta": 10000})
        Rope(dim=64, base=10000.0, interleaved=True)
        """
        from ._hf import rope_arguments

        return cls(**rope_arguments(config, layer_type=layer_type, interleaved=interleaved))


#: How many calls a Rope remembers (q and k of a layer, at a few shapes), the largest
#: positions it keeps for one (8192 tokens), and the most values of a pos array it takes as a
#: key (a decode step's position_ids, a short chunk's).
_REMEMBERED_CALLS = 8
_REMEMBERED_POSITIONS_BYTES = 64 << 10
_REMEMBERED_POS_VALUES = 64


def _call_key(x: np.ndarray, pos: object, inverse: object, seq_axis: object, layout: object,
              seq_len: object, attention_scaling: object, threads: object
              ) -> tuple[Any, ...] | None:
    """What a call is checked by (x's shape and the arguments: an int offset, or a small pos
    array's dtype, shape and values), as a key; None for any other call, or arguments of
    other types (the general path takes or refuses them)."""
    if not (seq_len is None and (threads is _ONE or _one_thread(x, threads))
            and (inverse is False or inverse is True)
            and (attention_scaling is True or attention_scaling is False)
            and (layout is None or type(layout) is str)
            and (seq_axis is None or type(seq_axis) is int)):
        return None
    if type(pos) is int:
        return (x.shape, pos, seq_axis, layout, attention_scaling)
    if (type(pos) is np.ndarray and pos.size <= _REMEMBERED_POS_VALUES
            and pos.dtype.kind in "iuf"):
        return (x.shape, (pos.dtype.str, pos.shape, pos.tobytes()), seq_axis, layout,
                attention_scaling)
    return None


# threads=1 by identity: CPython keeps one int 1, so the int 1 is this object and True, 1.0 or
# np.int64(1) are not (they take the general path, which accepts or refuses them); cheaper than
# `type(threads) is int and threads == 1` on a path of a microsecond and a half.
_ONE = 1


def _one_thread(x: np.ndarray, threads: object) -> bool:
    """Whether a call asking for more threads than one rotates x in one thread all the same
    (x too small to split: threads=2 then runs as fast as threads=1). Called after the test
    `threads is _ONE`, which spares threads=1 a function call."""
    return type(threads) is int and threads > 1 and threads_used(x.nbytes, threads) == 1


def rotated_one(rope: Rope, x: object, pos: object, inverse: object, seq_axis: object,
                layout: object, seq_len: object, threads: object,
                attention_scaling: object) -> bool:
    """Rotate x in place if it is one token at an int position (a decode step) and say so.

    A decode step rotates a few KiB: NumPy's ufunc dispatch and the general argument handling
    would cost more than the rotation. This checks the few things that make the case and lets
    the C function check x and take it (the gufunc's own loop, the same bits); anything else,
    valid or not, returns False for the general path to handle (and to explain). The flags are
    taken only as what the general path accepts (`threads == 1` would take True and 1.0, and
    the attention factor of 1 would let any `attention_scaling` through).
    """
    if not (type(pos) is int and inverse is False and seq_len is None
            and (attention_scaling is True or attention_scaling is False)
            and rope._one_theta is not None and type(x) is np.ndarray
            and (threads is _ONE or _one_thread(x, threads))):
        return False
    ndim = x.ndim
    if layout is not None:
        if seq_axis is not None or type(layout) is not str:
            return False
        try:
            count, axis, _ = _parsed_layout(layout)
        except ValueError:
            return False
        if count != ndim:
            return False
    elif seq_axis is None:
        if ndim != 2:
            return False
        axis = 0
    elif type(seq_axis) is int and -ndim <= seq_axis <= ndim - 2 and seq_axis != -1:
        axis = seq_axis
    else:
        return False
    if x.shape[axis] != 1 or x.shape[-1] != rope._dim:
        return False
    if _core.rotate_at_one(x, pos, rope._one_theta, rope._interleaved):
        return True
    # An ml_dtypes bfloat16 array: its bits, viewed as rope's bfloat16 (asked only here, off
    # the way of every other array).
    return is_bfloat16(x.dtype) and _core.rotate_at_one(x.view(BFLOAT16), pos, rope._one_theta,
                                                        rope._interleaved)


def _rebuild(dim, base, scaling, rotary_dim, interleaved, params, axes=None):
    section, mrope_interleaved, mrope_grouped = axes or (None, False, False)
    return Rope(dim, base, scaling, rotary_dim=rotary_dim, interleaved=interleaved,
                mrope_section=section, mrope_interleaved=mrope_interleaved,
                mrope_grouped=mrope_grouped, **params)
