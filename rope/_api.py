"""The public operations: rope.apply, and the rotate gufuncs for NumPy arrays and tensors."""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from . import _core
from ._rope import Rope, rotated_one
from ._scaling import check_keywords
from ._tensors import BFLOAT16, tensor_view
from ._types import ArrayOrTensor, ArrayOrTensorT, OutT, PositionsLike, Scaling
from ._validation import check_array, check_into, check_overlap_free, check_rotary_dim

__all__ = ["apply", "rotate", "rotate_interleaved"]


def _frozen(value: object) -> object:
    """A hashable stand-in for a scaling argument (dicts and lists of a Hugging Face config)."""
    if isinstance(value, Mapping):
        if any(isinstance(v, Mapping) for v in value.values()):  # no scaling dict nests one:
            raise TypeError("a nested dict")  # left to Rope to explain, without recursing here
        return ("dict", tuple(sorted((k, _frozen(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            items = np.asarray(value).tolist()
        except ValueError:  # ragged, or nested past NumPy's 64 dimensions: not a list of numbers
            raise TypeError("not a list of numbers") from None
        return ("list", tuple(_frozen(v) for v in items))
    hash(value)
    return ("value", type(value), value)  # the type too: 1, 1.0 and True are equal keys


def _thawed(value: tuple) -> Any:
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


def forget_ropes() -> None:
    """Forget the Ropes of recent calls (`rope.clear_cache`)."""
    _cached_rope.cache_clear()
    _cached_plain_rope.cache_clear()


def _rope_for(dim, base, scaling, rotary_dim, interleaved, params) -> Rope:
    """The Rope of an apply call. Recent configurations are kept (a few; their tables go to the
    shared, bounded table cache), so rope.apply on q then k at the same positions builds the
    tables once too."""
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


@overload
def apply(
    x: ArrayOrTensorT,
    pos: PositionsLike,
    *,
    base: float = ...,
    interleaved: bool = ...,
    rotary_dim: int | None = ...,
    inverse: bool = ...,
    seq_axis: int | None = ...,
    layout: str | None = ...,
    scaling: Scaling = ...,
    seq_len: int | None = ...,
    attention_scaling: bool = ...,
    threads: int = ...,
    mrope_section: Sequence[int] | None = ...,
    mrope_interleaved: bool = ...,
    mrope_grouped: bool = ...,
    out: None = ...,
    **params: Any,
) -> ArrayOrTensorT: ...
@overload
def apply(
    x: ArrayOrTensor,
    pos: PositionsLike,
    *,
    base: float = ...,
    interleaved: bool = ...,
    rotary_dim: int | None = ...,
    inverse: bool = ...,
    seq_axis: int | None = ...,
    layout: str | None = ...,
    scaling: Scaling = ...,
    seq_len: int | None = ...,
    attention_scaling: bool = ...,
    threads: int = ...,
    mrope_section: Sequence[int] | None = ...,
    mrope_interleaved: bool = ...,
    mrope_grouped: bool = ...,
    out: OutT,
    **params: Any,
) -> OutT: ...
def apply(
    x: ArrayOrTensor,
    pos: PositionsLike,
    *,
    base: float = 10000.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    inverse: bool = False,
    seq_axis: int | None = None,
    layout: str | None = None,
    scaling: Scaling = None,
    seq_len: int | None = None,
    attention_scaling: bool = True,
    threads: int = 1,
    mrope_section: Sequence[int] | None = None,
    mrope_interleaved: bool = False,
    mrope_grouped: bool = False,
    out: ArrayOrTensor | None = None,
    **params: Any,
) -> ArrayOrTensor:
    """Apply rotary positional embeddings to `x` in place and return it (or rotate it into
    `out`).

    ``rope.apply(q, 0, layout="bhsd")`` rotates q of shape (batch, heads, seq, dim) by
    positions 0, 1, ... along seq. Name the layout (``"bhsd"``, ``"bshd"``, ``"shd"``,
    ``"thd"``, ...) or the `seq_axis` of any x of more than two axes: an int offset or a
    sequence-major `pos` is refused without it, never guessed, since (batch, seq, heads, dim)
    and (batch, heads, seq, dim) look alike. A 2-d x is (seq, dim): its sequence axis is 0.

    Pair k of each vector at position p is rotated by the angle p * theta_k, with
    theta_k = base**(-2(k-1)/d). The angle is formed exactly in float64 and reduced modulo
    2*pi before cos and sin are taken, so the result is exact to the data's rounding at any
    position up to 2**53 and any angle ``|p * theta_k|`` up to 2**54 (a scaling factor < 1 raises
    the frequencies above 1: positions whose angle would pass 2**54 are refused with a
    ValueError, never rotated to NaN). Everything is checked before x is touched: on an
    exception x is unchanged.

    Parameters
    ----------
    x : numpy.ndarray or tensor of float16, bfloat16, float32 or float64
        Writeable array with the head dimension on the last axis, e.g. (seq, dim),
        (batch, heads, seq, dim) or (seq, heads, dim). Rotated in place; any strides.
        A 1-d x is one vector. Any tensor in CPU memory with ``__dlpack__`` (a torch.Tensor,
        also a strided view such as the q part of a fused qkv) is rotated in place too, its
        memory shared, never copied; bfloat16 as ``torch.bfloat16`` or ``ml_dtypes.bfloat16``.
    pos : int or array_like of int or float64
        An int: positions ``pos, pos + 1, ...`` along the sequence axis (the KV-cache offset;
        for a 1-d x the position of the vector). A 1-d array: one position per sequence index.
        An array of shape (batch, seq) (transformers' ``position_ids``): the leading axes of
        x, then its sequence axis (x of layout ``"bhsd"`` or ``"bshd"``). An array with
        ``x.ndim - 1`` dimensions that broadcasts to ``x.shape[:-1]``: positions per vector,
        whatever the layout. Per-sequence offsets: `rope.offset_positions`; packed sequences:
        `rope.packed_positions`. Negative positions are valid.
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
    seq_axis : int, optional
        The sequence axis of x (any axis but the last). Default: axis 0 of a 2-d x; for more
        axes, name it (or the layout) whenever positions run along it.
    layout : str, optional
        x's axes, one letter each: ``b`` batch, ``h`` heads, ``s`` sequence, ``t`` packed
        tokens of several sequences (an int offset is then refused), ``d`` head dimension
        (last): ``"bhsd"`` (Hugging Face, PyTorch SDPA), ``"bshd"`` (flash-attn), ``"shd"``,
        ``"thd"`` (vLLM, packed), ``"sd"``, ... An alternative to `seq_axis`.
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
        smaller than 128 MiB are not split off (one thread is used below 256 MiB, as fast as
        threads=1), as handing slices to threads costs more than the second core saves on
        smaller ones. Every slice's tables are built before any thread writes, so an error
        (a MemoryError too) leaves x unchanged. A KeyboardInterrupt is raised only once every
        thread has stopped, so x no longer changes after it; an interrupt that arrives while
        the threads rotate can leave x partly rotated (some slices rotated, the others as they
        were): recompute x from its source then.
    mrope_section : list of int, optional
        M-RoPE (Qwen2-VL ``[16, 24, 24]``): the pairs that follow each position axis; `pos` is
        then an int (text) or one row of positions per axis, stacked first, e.g.
        transformers' position_ids of shape (3, batch, seq). See `rope.Rope`.
    mrope_interleaved : bool, default False
        Deal the pairs to the axes in turn (Qwen3-VL) instead of in blocks.
    mrope_grouped : bool, default False
        With `mrope_interleaved`, keep each axis's pairs together (Pixtral's 2-D RoPE).
    out : numpy.ndarray or tensor, optional
        Rotate x into this writeable array (or tensor) of x's shape and dtype, leaving x as it
        is (x may then be read-only, such as a JAX array): NumPy's ``out=``. The same bits as
        in place; ``out=x`` is in place.
    **params
        The scaling family's parameters with Hugging Face's names (``factor``,
        ``original_max_position_embeddings``, ...), or ``partial_rotary_factor``.

    Returns
    -------
    numpy.ndarray or tensor
        `x` itself, rotated (the caller's object: a torch tensor for a torch tensor); or `out`.

    Examples
    --------
    >>> import numpy as np, rope
    >>> q = np.ones((1, 2, 4, 8), dtype=np.float32)     # (batch, heads, seq, dim)
    >>> rope.apply(q, 0, layout="bhsd") is q
    True
    >>> bool(np.allclose(q[:, :, 0], 1.0))              # position 0 is not rotated
    True
    >>> k = np.ones((4, 2, 8), dtype=np.float32)        # (seq, heads, dim)
    >>> _ = rope.apply(k, 0, layout="shd")              # or seq_axis=-3
    >>> bool(np.array_equal(k, q[0].transpose(1, 0, 2)))
    True
    >>> position_ids = np.array([[0, 1, 2, 3], [7, 8, 9, 10]])   # (batch, seq)
    >>> _ = rope.apply(np.ones((2, 2, 4, 8)), position_ids, layout="bhsd")
    >>> v = rope.apply(np.array([1.0, 0.0]), 2)         # one pair at position 2: (cos 2, sin 2)
    >>> bool(np.allclose(v, [np.cos(2), np.sin(2)]))
    True
    >>> w = rope.apply(np.array([1.0, 0.0]), 8, scaling="linear", factor=4.0)  # 8 -> 8/4
    >>> bool(np.allclose(w, v))
    True
    >>> k = np.ones((4, 8), dtype=np.float32)          # (seq, dim), left as it is:
    >>> rotated = rope.apply(k, 0, out=np.empty_like(k))
    >>> bool(np.array_equal(rotated[1:], k[1:]))
    False
    """
    if mrope_section is not None or mrope_interleaved is not False or \
            mrope_grouped is not False:
        params = dict(params, mrope_section=mrope_section, mrope_interleaved=mrope_interleaved,
                      mrope_grouped=mrope_grouped)
    config = None
    if out is None or out is x:
        array = x if type(x) is np.ndarray else tensor_view(x)  # a tensor: its view
        if array is not None and array.ndim and array.shape[-1]:  # a decode step first
            try:
                config = _rope_for(array.shape[-1], base, scaling, rotary_dim, interleaved,
                                   params)
            except TypeError:
                check_keywords(params, apply, "rope.apply()")  # a misspelt keyword, by name
                raise
            if rotated_one(config, array, pos, inverse, seq_axis, layout, seq_len, threads,
                           attention_scaling):
                return x
        array = target = check_array(x if array is None else array)
    else:
        array, target = check_into(x, out)
    if array.shape[-1] == 0:
        check_rotary_dim(rotary_dim, 0)  # raises, with the message about x's empty last axis
    if config is None:
        try:
            config = _rope_for(array.shape[-1], base, scaling, rotary_dim, interleaved, params)
        except TypeError:
            check_keywords(params, apply, "rope.apply()")
            raise
    config._apply_checked(array, target, pos, inverse, seq_axis, layout, seq_len,
                          attention_scaling, threads)
    return x if out is None else out


@overload
def rotate(x: npt.ArrayLike | ArrayOrTensor, cos: npt.ArrayLike, sin: npt.ArrayLike, /,
           out: None = ..., **kwargs: Any) -> np.ndarray[Any, Any]: ...
@overload
def rotate(x: npt.ArrayLike | ArrayOrTensor, cos: npt.ArrayLike, sin: npt.ArrayLike, /,
           out: OutT | tuple[OutT], **kwargs: Any) -> OutT: ...
def rotate(x: npt.ArrayLike | ArrayOrTensor, cos: npt.ArrayLike, sin: npt.ArrayLike, /,
           out: ArrayOrTensor | tuple[ArrayOrTensor] | None = None,
           **kwargs: Any) -> ArrayOrTensor:
    """Rotate pairs (x[j], x[j + k]) of the last axis by the angles whose cos and sin are given.

    The half-split pairing of GPT-NeoX and Hugging Face's ``rotate_half``. For each j < k::

        out[j]     = x[j] * cos[j] - x[j + k] * sin[j]
        out[j + k] = x[j + k] * cos[j] + x[j] * sin[j]

    Coordinates from 2*k on are copied unchanged (partial rotary). Pass ``out=x`` to rotate in
    place without a copy. The gufunc ``rope._core.rotate`` with tensors taken as `rope.apply`
    takes them: `x` and `out` may be tensors in CPU memory with ``__dlpack__`` (torch) or
    bfloat16 arrays (``ml_dtypes.bfloat16``), their memory shared, never copied. NumPy's gufunc
    keywords (``axes=``, ``signature=``, ...) are passed on.

    Loops: float16 and bfloat16 data with float32 tables (computed in float32, rounded once);
    float32 data with float32 tables (float32 arithmetic) or with float64 tables (float64
    arithmetic, rounded once: exact to float32 rounding); float64 with float64. A result past
    the data type's largest finite value (float16: 65504) rounds to inf, without a warning or
    a FloatingPointError under ``np.errstate``, at every SIMD level.

    Parameters
    ----------
    x : array_like or tensor, core dimension n
        Vectors to rotate, last axis the head dimension.
    cos, sin : array_like, core dimension k, k <= n/2
        cos and sin of the angle of each pair, for example from ``rope.cos_sin``.
    out : numpy.ndarray or tensor, optional
        Where to write the result; may be ``x`` itself. Needed for a bfloat16 tensor x, for
        which NumPy has no dtype to make a new result of.

    Returns
    -------
    numpy.ndarray or tensor
        The rotated vectors: `out` if given (the caller's object), else a new NumPy array.

    See Also
    --------
    rotate_interleaved : the (2j, 2j+1) pairing.
    cos_sin : the tables.
    apply : the whole operation, with positions and frequencies.

    Examples
    --------
    >>> import numpy as np, rope
    >>> x = np.array([1.0, 0.0, 0.0, 1.0])
    >>> c, s = rope.cos_sin(1, np.array([np.pi / 2, np.pi]))
    >>> np.round(rope.rotate(x, c, s), 12) + 0.0
    array([ 0.,  0.,  1., -1.])
    """
    return _rotated(_core.rotate, x, cos, sin, out, kwargs)


@overload
def rotate_interleaved(x: npt.ArrayLike | ArrayOrTensor, cos: npt.ArrayLike, sin: npt.ArrayLike, /,
           out: None = ..., **kwargs: Any) -> np.ndarray[Any, Any]: ...
@overload
def rotate_interleaved(x: npt.ArrayLike | ArrayOrTensor, cos: npt.ArrayLike, sin: npt.ArrayLike, /,
           out: OutT | tuple[OutT], **kwargs: Any) -> OutT: ...
def rotate_interleaved(x: npt.ArrayLike | ArrayOrTensor, cos: npt.ArrayLike, sin: npt.ArrayLike, /,
           out: ArrayOrTensor | tuple[ArrayOrTensor] | None = None,
           **kwargs: Any) -> ArrayOrTensor:
    """Rotate adjacent pairs (x[2j], x[2j + 1]) of the last axis by the given cos and sin.

    The interleaved pairing of the RoFormer paper, GPT-J, Meta's Llama and ggml's normal mode.
    For each j < k::

        out[2j]     = x[2j] * cos[j] - x[2j + 1] * sin[j]
        out[2j + 1] = x[2j + 1] * cos[j] + x[2j] * sin[j]

    Coordinates from 2*k on are copied unchanged. ``out=x`` rotates in place. Types, tensors
    and keywords as for `rotate`.

    Parameters
    ----------
    x : array_like or tensor, core dimension n
        Vectors to rotate, last axis the head dimension.
    cos, sin : array_like, core dimension k, k <= n/2
        cos and sin of the angle of each pair.
    out : numpy.ndarray or tensor, optional
        Where to write the result; may be ``x`` itself.

    Returns
    -------
    numpy.ndarray or tensor
        The rotated vectors: `out` if given, else a new NumPy array.

    Examples
    --------
    >>> import numpy as np, rope
    >>> x = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)
    >>> c, s = rope.cos_sin(1, np.array([np.pi / 2, np.pi]), dtype=np.float32)
    >>> rope.rotate_interleaved(x, c, s, out=x) is x
    True
    >>> np.round(x, 6) + 0.0
    array([ 0.,  1.,  0., -1.], dtype=float32)
    """
    return _rotated(_core.rotate_interleaved, x, cos, sin, out, kwargs)


def _gufunc_operand(a: object, name: str) -> object:
    """What a rotate gufunc takes for `a`: a NumPy array as it is (NumPy's gufunc judges it),
    a bfloat16 array or a tensor as the array viewing it, anything else as an array_like. Any
    other uint16 array is refused: the gufuncs read uint16 as bfloat16."""
    if type(a) is np.ndarray and a.dtype.kind not in "uV":
        return a
    view = tensor_view(a, name)
    if view is None:
        return a
    if view.dtype == np.uint16 and view.dtype is not BFLOAT16:
        raise TypeError(
            f"{name} has dtype uint16; rope rotates float16, bfloat16, float32 and float64 "
            f"arrays (bfloat16 as ml_dtypes.bfloat16 or torch.bfloat16). Convert with "
            f"{name}.astype(np.float32)"
        )
    return view


def _rotated(gufunc: np.ufunc, x: object, cos: object, sin: object, out: object,
             kwargs: dict) -> Any:
    """gufunc(x, cos, sin, out=out, **kwargs) on the arrays that view x and out."""
    array = _gufunc_operand(x, "x")
    if isinstance(out, tuple) and len(out) == 1:  # NumPy's out=(array,)
        out = out[0]
    if out is not None:
        target = _gufunc_operand(out, "out")
        if isinstance(target, np.ndarray):
            check_overlap_free(target, "out")
        gufunc(array, cos, sin, out=target, **kwargs)
        return out
    if getattr(array, "dtype", None) is BFLOAT16:
        if not isinstance(x, np.ndarray):
            raise TypeError(
                "x is a bfloat16 tensor, and NumPy has no bfloat16 dtype to make a new result "
                "of: pass out= (a bfloat16 tensor of x's shape; out=x rotates in place)"
            )
        return gufunc(array, cos, sin, **kwargs).view(x.dtype)
    return gufunc(array, cos, sin, **kwargs)
