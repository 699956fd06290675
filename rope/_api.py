"""The public operation: rope.apply."""
from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from ._rope import Rope, rotated_one
from ._validation import check_array, check_rotary_dim

__all__ = ["apply"]


def _frozen(value: object) -> object:
    """A hashable stand-in for a scaling argument (dicts and lists of a Hugging Face config)."""
    if isinstance(value, Mapping):
        return ("dict", tuple(sorted((k, _frozen(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple, np.ndarray)):
        return ("list", tuple(_frozen(v) for v in np.asarray(value).tolist()))
    hash(value)
    return ("value", type(value), value)  # the type too: 1, 1.0 and True are equal keys


def _thawed(value: tuple) -> object:
    kind, *content = value
    if kind == "dict":
        return {k: _thawed(v) for k, v in content[0]}
    if kind == "list":
        return [_thawed(v) for v in content[0]]
    return content[1]


@functools.lru_cache(maxsize=8)
def _cached_rope(dim, base, scaling, rotary_dim, interleaved, params) -> Rope:
    return Rope(dim, _thawed(base), _thawed(scaling), rotary_dim=_thawed(rotary_dim),
                interleaved=_thawed(interleaved), **{k: _thawed(v) for k, v in params})


@functools.lru_cache(maxsize=8)
def _cached_plain_rope(dim, base, scaling, rotary_dim, interleaved) -> Rope:
    return Rope(dim, base, scaling, rotary_dim=rotary_dim, interleaved=interleaved)


def _rope_for(dim, base, scaling, rotary_dim, interleaved, params) -> Rope:
    """The Rope of an apply call. Recent configurations are kept (a few, each with its last
    tables), so rope.apply on q then k at the same positions builds the tables once too."""
    if not params and (scaling is None or type(scaling) is str) and type(base) in (float, int) \
            and type(interleaved) is bool and (rotary_dim is None or type(rotary_dim) is int):
        # The common call, keyed without freezing (a decode step costs only microseconds);
        # these exact types cannot collide with an invalid argument that hashes equal.
        return _cached_plain_rope(dim, base, scaling, rotary_dim, interleaved)
    try:
        key = [_frozen(v) for v in (base, scaling, rotary_dim, interleaved)]
        frozen_params = tuple(sorted((k, _frozen(v)) for k, v in params.items()))
    except TypeError:  # an unhashable argument: build it uncached (and let Rope judge it)
        return Rope(dim, base, scaling, rotary_dim=rotary_dim, interleaved=interleaved, **params)
    return _cached_rope(dim, *key, frozen_params)


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
    seq_len: int | None = None,
    attention_scaling: bool = True,
    threads: int = 1,
    **params: object,
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
    scaling : None, str or dict
        Context extension: ``"linear"``, ``"ntk"`` (``"base"``), ``"dynamic"``, ``"yarn"``,
        ``"llama3"``, ``"longrope"``, ``"proportional"``, or a Hugging Face ``rope_scaling`` /
        ``rope_parameters`` dict; parameters in `params`. See `rope.frequencies`.
    seq_len : int, optional
        Current sequence length for ``"dynamic"`` and ``"longrope"``; default: the largest
        position + 1, as Hugging Face computes it from ``position_ids``.
    attention_scaling : bool, default True
        Multiply cos and sin by the family's attention factor (YaRN, LongRoPE), as Hugging
        Face does; False rotates without it (see `rope.attention_factor`).
    threads : int, default 1
        Rotate with up to this many threads (x split along a leading axis; each thread rotates
        its slice in place with the GIL released). Worth it only for large arrays: slices
        smaller than 1 MiB are not split off.
    **params
        The scaling family's parameters with Hugging Face's names (``factor``,
        ``original_max_position_embeddings``, ...), or ``partial_rotary_factor``.

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
    >>> w = rope.apply(np.array([1.0, 0.0]), 8, scaling="linear", factor=4.0)  # 8 -> 8/4
    >>> bool(np.allclose(w, v))
    True
    """
    config = None
    if type(x) is np.ndarray and x.ndim and x.shape[-1]:  # a decode step first (rotated_one)
        config = _rope_for(x.shape[-1], base, scaling, rotary_dim, interleaved, params)
        if rotated_one(config, x, pos, inverse, seq_axis, seq_len, threads):
            return x
    x = check_array(x)
    if x.shape[-1] == 0:
        check_rotary_dim(rotary_dim, 0)  # raises, with the message about x's empty last axis
    if config is None:
        config = _rope_for(x.shape[-1], base, scaling, rotary_dim, interleaved, params)
    return config._apply_checked(x, pos, inverse, seq_axis, seq_len, attention_scaling, threads)
