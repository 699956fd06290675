"""Exploration and teaching: the numbers that the figures, the notebooks and docs/theory.md show.

Each function answers one question about RoPE with rope's own rotation (`Rope.apply`), so
what a figure shows is what the library computes:

- `score_matrix`, `attention_weights`: the score of every query/key position pair, and the
  softmax attention it becomes (relative position made visible);
- `decay_bound`: RoFormer's bound on the score against the distance (long-range decay);
- `scaling_bands`: which pairs a context extension keeps, ramps or interpolates;
- `score_drift`: how far the score of one query/key pair moves when both are shifted to a
  long offset, for a storage dtype and a way of forming the angles (precision at long context).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._frequencies import frequencies
from ._rope import Rope
from ._types import Scaling
from ._validation import MAX_POSITION

__all__ = ["ScalingBands", "attention_weights", "decay_bound", "scaling_bands", "score_drift",
           "score_matrix"]


def _positions(value: Any, name: str) -> np.ndarray:
    """An int n means 0 ... n-1; anything else is a 1-d array of integer positions."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{name} must be a number of positions >= 1 or an array; got {value}")
        return np.arange(int(value))
    positions = np.asarray(value)
    if positions.ndim != 1 or positions.size == 0 or positions.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be an int n (positions 0 ... n-1) or a non-empty 1-d array of integer "
            f"positions; got {value!r}")
    return positions.astype(np.int64)


def _vectors(x: Any, n: int, name: str) -> np.ndarray:
    """(d,) -> the same vector at each of n positions; (n, d) as it is; float64 copies."""
    x = np.array(x, dtype=np.float64)
    if x.ndim == 1:
        return np.tile(x, (n, 1))
    if x.ndim == 2 and x.shape[0] == n:
        return x.copy()
    raise ValueError(
        f"{name} must be one vector (d,) or one vector per position ({n}, d); got shape {x.shape}")


def score_matrix(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    positions: npt.ArrayLike = 64,
    key_positions: npt.ArrayLike | None = None,
    *,
    base: float = 10000.0,
    scaling: Scaling = None,
    interleaved: bool = False,
    seq_len: int | None = None,
    **params: Any,
) -> np.ndarray:
    """The score ⟨Ro(q_i, p_i θ), Ro(k_j, p_j θ)⟩ of every query position i and key position j.

    RoPE makes the score of one query and one key vector depend on the distance p_j − p_i only:
    with the same vectors at every position the matrix is constant along each diagonal (a
    Toeplitz matrix). See docs/theory.md, "Why the score depends on the distance only".

    Parameters
    ----------
    q, k : array_like
        One vector of even length d, placed at every position, or one vector per position:
        shape (len(positions), d) for `q`, (len(key_positions), d) for `k`.
    positions : int or array_like of int, default 64
        Query positions: an int n means 0 ... n − 1.
    key_positions : int or array_like of int, optional
        Key positions; default: the query positions.
    base, scaling, interleaved, **params
        The configuration, as for `rope.apply`. With an attention factor (YaRN, LongRoPE) the
        scores carry its square, as in Hugging Face.
    seq_len : int, optional
        The sequence length that selects the frequencies of dynamic and LongRoPE scaling, the
        same for q and k; default: the largest position + 1.

    Returns
    -------
    numpy.ndarray
        float64 array of shape (number of query positions, number of key positions).

    Examples
    --------
    >>> import numpy as np, rope
    >>> cat, sleeping = np.random.default_rng(0).standard_normal((2, 8))
    >>> s = rope.score_matrix(cat, sleeping, 12)
    >>> s.shape
    (12, 12)
    >>> bool(np.isclose(s[2, 4], s[9, 11]))      # cat at 2, sleeping at 4; at 9 and 11
    True
    """
    query_positions = _positions(positions, "positions")
    key_positions = query_positions if key_positions is None else \
        _positions(key_positions, "key_positions")
    qs = _vectors(q, query_positions.size, "q")
    ks = _vectors(k, key_positions.size, "k")
    if qs.shape[1] != ks.shape[1]:
        raise ValueError(f"q and k must have one length d; got {qs.shape[1]} and {ks.shape[1]}")
    config = Rope(qs.shape[1], base, scaling, interleaved=interleaved, **params)
    if seq_len is None:
        seq_len = max(int(max(query_positions.max(), key_positions.max())) + 1, 1)
    config.apply(qs, query_positions, seq_len=seq_len)
    config.apply(ks, key_positions, seq_len=seq_len)
    return qs @ ks.T


def attention_weights(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    positions: npt.ArrayLike = 64,
    key_positions: npt.ArrayLike | None = None,
    *,
    causal: bool = True,
    base: float = 10000.0,
    scaling: Scaling = None,
    interleaved: bool = False,
    seq_len: int | None = None,
    **params: Any,
) -> np.ndarray:
    """Softmax attention of each query position over the key positions, with RoPE scores.

    ``softmax(S / sqrt(d))`` row by row, where S is `score_matrix`; with `causal` a query
    attends only to keys at its own position or before (the decoder's mask).

    Parameters
    ----------
    q, k, positions, key_positions, base, scaling, interleaved, seq_len, **params
        As for `score_matrix`.
    causal : bool, default True
        Mask the keys whose position is greater than the query's.

    Returns
    -------
    numpy.ndarray
        float64 weights of shape (queries, keys); each row sums to 1 (masked entries are 0).

    Examples
    --------
    >>> import numpy as np, rope
    >>> q, k = np.random.default_rng(1).standard_normal((2, 16))
    >>> w = rope.attention_weights(q, k, 5)
    >>> bool(np.allclose(w.sum(axis=1), 1.0)), float(w[0, 0]), float(w[0, 1])
    (True, 1.0, 0.0)
    """
    query_positions = _positions(positions, "positions")
    key_positions = query_positions if key_positions is None else \
        _positions(key_positions, "key_positions")
    scores = score_matrix(q, k, query_positions, key_positions, base=base, scaling=scaling,
                          interleaved=interleaved, seq_len=seq_len, **params)
    logits = scores / math.sqrt(np.shape(np.atleast_1d(q))[-1])
    if causal:
        future = key_positions[None, :] > query_positions[:, None]
        if future.all(axis=1).any():
            raise ValueError("with causal=True every query needs a key at or before its position")
        logits = np.where(future, -np.inf, logits)
    logits = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def decay_bound(dim: int = 128, base: float = 10000.0, distances: npt.ArrayLike | None = None,
                scaling: Scaling = None, **params: Any) -> np.ndarray:
    """RoFormer's long-range decay: the relative upper bound of the score at distance r.

    With the pairs of q and k as complex numbers, h_i = q_i conj(k_i), the score at distance r
    is Re Σ_i h_i e^{i r θ_i}. Abel summation bounds it (RoFormer, section 3.4.3)::

        |Σ_i h_i e^{i r θ_i}| ≤ (max_i |h_{i+1} − h_i|) · Σ_{j=1}^{d/2} |S_j(r)|,
        S_j(r) = Σ_{i=1}^{j} e^{i r θ_i}   (the sum of the first j pairs' unit rotations),

    and the relative bound ``(1/(d/2)) Σ_j |S_j(r)|`` shrinks as r grows: distant tokens can
    interact less strongly. At r = 0 every ``|S_j| = j`` and the bound is (d/2 + 1)/2.
    docs/theory.md, "Long-range decay", derives it.

    Parameters
    ----------
    dim : int, default 128
        Rotary dimension d.
    base : float, default 10000.0
        The base b.
    distances : array_like, optional
        Relative distances r; default 0 ... 255.
    scaling, **params
        A context extension, as for `rope.frequencies`.

    Returns
    -------
    numpy.ndarray
        The bound at each distance.

    Examples
    --------
    >>> import rope
    >>> float(rope.decay_bound(128, distances=[0])[0])    # (64 + 1) / 2
    32.5
    """
    distances = np.arange(256) if distances is None else np.asarray(distances, dtype=np.float64)
    theta = frequencies(dim, base, scaling, **params)
    partial_sums = np.cumsum(np.exp(1j * np.multiply.outer(distances, theta)), axis=-1)
    return np.abs(partial_sums).mean(axis=-1)


@dataclass(frozen=True)
class ScalingBands:
    """What a context extension does to each pair: kept, interpolated, or in the ramp between.

    Attributes
    ----------
    ratio : numpy.ndarray
        θ_k / θ'_k for each pair: 1 where the pair keeps its trained frequency, the factor s
        where it is interpolated like linear scaling.
    kept, ramp, interpolated : numpy.ndarray of bool
        The three bands (ratio 1; between; ratio s).
    factor : float or None
        The extension factor s (None for plain RoPE).
    keep_below, interpolate_above : float or None
        The wavelengths, in tokens, that bound the bands of YaRN (L/β_fast and L/β_slow) and
        Llama 3 (L/high_freq_factor and L/low_freq_factor): pairs whose period is shorter than
        `keep_below` are kept, those whose period is longer than `interpolate_above` are
        interpolated. None for the families without such thresholds.
    context : float or None
        The trained context length L the thresholds refer to.

    Examples
    --------
    >>> import rope
    >>> b = rope.scaling_bands(128, 1e6, "yarn", factor=4.0,
    ...                        original_max_position_embeddings=32768)
    >>> int(b.kept.sum()), b.keep_below                 # pairs turning > 32 times in 32768
    (24, 1024.0)
    """

    ratio: np.ndarray
    kept: np.ndarray
    ramp: np.ndarray
    interpolated: np.ndarray
    factor: float | None
    keep_below: float | None
    interpolate_above: float | None
    context: float | None


def scaling_bands(dim: int, base: float = 10000.0, scaling: Scaling = None, *,
                  seq_len: int | None = None, **params: Any) -> ScalingBands:
    """Which pairs a scaling keeps, ramps or interpolates, and the wavelengths between bands.

    Frequency-aware families (YaRN, Llama 3) keep the fast pairs, which turn many times within
    the trained context and so met every angle in training, and interpolate the slow ones,
    which never completed a turn; a ramp joins the two. See docs/theory.md, "NTK-by-parts and
    YaRN" and "Llama 3".

    Parameters
    ----------
    dim, base, scaling, seq_len, **params
        The configuration, as for `rope.frequencies`.

    Returns
    -------
    ScalingBands

    Examples
    --------
    >>> import rope
    >>> b = rope.scaling_bands(128, 500000.0, "llama3", factor=8.0, low_freq_factor=1.0,
    ...                        high_freq_factor=4.0, original_max_position_embeddings=8192)
    >>> int(b.kept.sum()), int(b.ramp.sum()), int(b.interpolated.sum())
    (29, 6, 29)
    >>> b.keep_below, b.interpolate_above            # 8192 / 4 and 8192 / 1 tokens
    (2048.0, 8192.0)
    """
    config = Rope(dim, base, scaling, **params)
    theta = frequencies(config.rotary_dim, config.base)
    scaled = config.frequencies if seq_len is None else config.frequencies_at(seq_len)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(scaled == 0.0, np.inf, theta / np.where(scaled == 0.0, 1.0, scaled))
    settings = dict(config.params)
    factor = settings.get("factor")
    kept = np.isclose(ratio, 1.0, rtol=1e-12, atol=0.0)
    interpolated = np.zeros_like(kept) if factor in (None, 1.0) else \
        np.isclose(ratio, factor, rtol=1e-12, atol=0.0)
    keep_below = interpolate_above = context = None
    if config.scaling == "yarn":
        context = float(settings["original_max_position_embeddings"])
        keep_below = context / settings["beta_fast"]
        interpolate_above = context / settings["beta_slow"]
    elif config.scaling == "llama3":
        context = float(settings["original_max_position_embeddings"])
        keep_below = context / settings["high_freq_factor"]
        interpolate_above = context / settings["low_freq_factor"]
    ratio.flags.writeable = False
    return ScalingBands(ratio, kept, ~kept & ~interpolated, interpolated,
                        None if factor is None else float(factor), keep_below,
                        interpolate_above, context)


# ---------------------------------------------------------------------------------------------
# Precision: storage dtypes (bfloat16 emulated where no dtype is available) and angle paths

def round_to_bfloat16(x: npt.ArrayLike) -> np.ndarray:
    """Round to the nearest bfloat16 value (ties to even), returned as float32.

    bfloat16 is the upper half of a float32: 8 exponent bits, 7 stored significand bits. Adding
    0x7FFF plus the lowest kept bit to the float32 bits and clearing the low half rounds to
    nearest, ties to even; overflow reaches infinity as it should. NaN stays NaN.

    Examples
    --------
    >>> from rope._explore import round_to_bfloat16
    >>> round_to_bfloat16([1.0, 1.00390625, 1.01171875, 3.14159265]).tolist()
    [1.0, 1.0, 1.015625, 3.140625]
    """
    x = np.array(x, dtype=np.float32)
    bits = x.view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) & np.uint32(0xFFFF0000)
    rounded = np.where(np.isnan(x), bits | np.uint32(0x00400000), rounded)
    return rounded.astype(np.uint32).view(np.float32)


def _storage(dtype: npt.DTypeLike) -> tuple[str, Any]:
    """(name, numpy dtype or None): None when bfloat16 has no NumPy dtype here."""
    if isinstance(dtype, str) and dtype.lower() == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            return "bfloat16", None
        return "bfloat16", np.dtype(ml_dtypes.bfloat16)
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        return "bfloat16", dtype
    if dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"dtype must be float16, float32, float64 or 'bfloat16'; got {dtype}")
    return dtype.name, dtype


def _rounding(name: str, dtype: npt.DTypeLike):
    """float64 -> float64 holding the nearest value of the storage dtype (round to nearest)."""
    if name == "bfloat16":
        return lambda v: round_to_bfloat16(np.asarray(v, dtype=np.float64).astype(np.float32)) \
            .astype(np.float64)
    return lambda v: np.asarray(v, dtype=np.float64).astype(dtype).astype(np.float64)


def _rotate_exact(config: Rope, stored: np.ndarray, positions: np.ndarray, name: str,
                  dtype: npt.DTypeLike, store, seq_len: int) -> np.ndarray:
    """rope's rotation of values stored in `dtype`, rounded once to it, as float64.

    A dtype rope rotates natively is rotated as such; bfloat16 (until rope takes it) is rotated
    in float32, which holds every bfloat16 value exactly, and the result rounded to bfloat16.
    """
    if dtype is not None:
        try:
            x = stored.astype(dtype)
            config.apply(x, positions, seq_len=seq_len)
            return x.astype(np.float64)
        except TypeError:
            if name != "bfloat16":
                raise
    x = stored.astype(np.float32)
    config.apply(x, positions, seq_len=seq_len)
    return store(x)


def _rotate_float32_angles(config: Rope, stored: np.ndarray, positions: np.ndarray, store,
                           theta: np.ndarray, attention: float) -> np.ndarray:
    """The rotation most frameworks run (Hugging Face's among them): θ rounded to float32, the
    angle p·θ a float32 product, cos and sin taken in float32 and cast to the storage dtype,
    then ``x·cos + rotate_half(x)·sin`` with every operation rounded to the storage dtype."""
    angles = positions.astype(np.float32)[..., None] * theta.astype(np.float32)
    cos = store(np.cos(angles) * np.float32(attention))
    sin = store(np.sin(angles) * np.float32(attention))
    half = theta.size
    if config.interleaved:
        a, b = np.arange(0, 2 * half, 2), np.arange(1, 2 * half, 2)
    else:
        a, b = np.arange(half), np.arange(half, 2 * half)
    out = stored.copy()
    xa, xb = stored[..., a], stored[..., b]
    out[..., a] = store(store(xa * cos) + store(-xb * sin))
    out[..., b] = store(store(xb * cos) + store(xa * sin))
    return out


def score_drift(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    distance: int,
    offsets: npt.ArrayLike,
    *,
    dtype: npt.DTypeLike = np.float32,
    angles: str = "exact",
    base: float = 10000.0,
    scaling: Scaling = None,
    interleaved: bool = False,
    seq_len: int | None = None,
    **params: Any,
) -> np.ndarray:
    """How far the score of a query/key pair drifts when both move to a long offset.

    RoPE promises that the score of a query at position i and a key at i + r depends on r
    only. In exact arithmetic it is the same at every offset i; computed in finite precision it
    drifts. This returns, for each offset i, the computed score
    ⟨Ro(q, iθ), Ro(k, (i + r)θ)⟩ minus the exact one (float64 arithmetic and angles on the same
    stored q and k, at offset 0), so that anyone can check a set-up: a storage dtype and a way
    of forming the angles. See docs/theory.md, "Exact angles at long positions".

    Two things make the score drift:

    - the storage: q and k are rounded to `dtype` after rotation (and, on the float32-angle
      path, cos and sin and every product too). This error is about one unit in the last
      place of the dtype, whatever the offset;
    - the angle: ``angles="float32"`` forms p·θ as a float32 product (as most frameworks
      compute their cos/sin tables), whose error grows with the position: one float32 unit in
      the last place of 10^6 is 0.0625 radians. ``angles="exact"`` is rope's rotation.

    The dot product itself is taken in float64, so the drift is the rotation's alone.

    Parameters
    ----------
    q, k : array_like
        Query and key vectors of one even length d (float64 values; they are rounded to
        `dtype` first, as a model stores them). Leading axes broadcast: pass (n, d) to measure
        n pairs at once.
    distance : int
        The relative position r of the key after the query.
    offsets : array_like of int
        The query positions i (for example ``[0, 10**3, 10**4, 10**5, 10**6]``).
    dtype : dtype or "bfloat16", default float32
        Storage of q, k and the rotated vectors: float16, float32, float64, or "bfloat16"
        (emulated by rounding float32 values to nearest even where no NumPy bfloat16 dtype is
        installed; an ml_dtypes bfloat16 dtype is accepted, and rotated by rope itself once
        rope rotates it).
    angles : {"exact", "float32"}, default "exact"
        ``"exact"``: rope's rotation (angles formed exactly, rounded once to `dtype`).
        ``"float32"``: the usual float32 angles and tables, described above.
    base, scaling, interleaved, **params
        The configuration, as for `rope.apply`.
    seq_len : int, optional
        The sequence length that selects the frequencies of ``"dynamic"`` and ``"longrope"``
        (the same for every offset; default: the trained length's frequencies).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``broadcast(q, k).shape[:-1] + (len(offsets),)``: computed
        score minus exact score.

    Examples
    --------
    >>> import numpy as np, rope
    >>> cat, sleeping = np.random.default_rng(0).standard_normal((2, 128))
    >>> offsets = [0, 10**6]
    >>> exact = rope.score_drift(cat, sleeping, 2, offsets, dtype=np.float32)
    >>> framework = rope.score_drift(cat, sleeping, 2, offsets, dtype=np.float32,
    ...                              angles="float32")
    >>> bool(abs(exact[1]) < 1e-4), bool(abs(framework[1]) > 100 * abs(exact[1]))
    (True, True)
    """
    if angles not in ("exact", "float32"):
        raise ValueError(f"angles must be 'exact' or 'float32'; got {angles!r}")
    name, numpy_dtype = _storage(dtype)
    store = _rounding(name, numpy_dtype)
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if q.ndim == 0 or k.ndim == 0 or q.shape[-1] != k.shape[-1] or q.shape[-1] % 2:
        raise ValueError(f"q and k must be vectors of one even length d; got shapes {q.shape}, "
                         f"{k.shape}")
    if isinstance(distance, bool) or not isinstance(distance, (int, np.integer)):
        raise TypeError(f"distance must be an int; got {distance!r}")
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or offsets.size == 0 or offsets.dtype.kind not in "iu":
        raise ValueError(f"offsets must be a non-empty 1-d array of ints; got {offsets!r}")
    offsets = offsets.astype(np.int64)
    if np.abs(offsets).max() + abs(int(distance)) > MAX_POSITION:
        raise ValueError(f"offsets + distance must stay within ±2**53; got up to "
                         f"{np.abs(offsets).max() + abs(int(distance))}")
    q, k = np.broadcast_arrays(q, k)
    config = Rope(q.shape[-1], base, scaling, interleaved=interleaved, **params)
    # Any length within the trained window selects the default frequencies; the same length
    # for every offset keeps dynamic and longrope from switching frequencies along the way.
    length = 1 if seq_len is None else seq_len

    lead = q.shape[:-1] + (offsets.size,)
    q_at = np.broadcast_to(store(q)[..., None, :], lead + q.shape[-1:])
    k_at = np.broadcast_to(store(k)[..., None, :], lead + k.shape[-1:])
    query_positions = np.broadcast_to(offsets, lead)
    key_positions = query_positions + int(distance)
    if angles == "exact":
        rotated_q = _rotate_exact(config, q_at, query_positions, name, numpy_dtype, store, length)
        rotated_k = _rotate_exact(config, k_at, key_positions, name, numpy_dtype, store, length)
    else:
        theta = config.frequencies_at(length)
        attention = config.attention_factor
        rotated_q = _rotate_float32_angles(config, q_at, query_positions, store, theta, attention)
        rotated_k = _rotate_float32_angles(config, k_at, key_positions, store, theta, attention)
    scores = np.einsum("...d,...d->...", rotated_q, rotated_k)

    # The exact score: float64 values, rope's exact angles, query at 0 and key at r.
    exact_q, exact_k = store(q), store(k)
    zero = 0 if q.ndim == 1 else np.zeros(q.shape[:-1], dtype=np.int64)
    config.apply(exact_q, zero, seq_len=length)
    config.apply(exact_k, zero + int(distance), seq_len=length)
    exact = np.einsum("...d,...d->...", exact_q, exact_k)
    return scores - exact[..., None]
