"""Frequencies: theta_k = base**(-2(k-1)/d), their periods and attention factors, scaled or not.

All float64. The rotation kernels form the angle p * theta_k exactly from these values, so the
precision of rope is the precision of this array. The scaling families live in `_scaling`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._scaling import (
    ScaledFrequencies,
    base_scale,
    check_keywords,
    periods_of,
    resolve,
    rotary_dimension,
    scaled_frequencies,
)
from ._types import Scaling

__all__ = ["attention_factor", "base_scale", "frequencies", "periods", "scaled"]


def scaled(
    dim: int, base: object, scaling: object, params: dict, seq_len: int | None = None
) -> ScaledFrequencies:
    """Frequencies and attention factor of one request (the shared path of the public functions)."""
    if params:
        check_keywords(params, frequencies, "rope.frequencies()")
    base, name, checked, partial = resolve(base, scaling, params)
    return scaled_frequencies(rotary_dimension(dim, partial), base, name, checked, seq_len)


def frequencies(
    dim: int, base: float = 10000.0, scaling: Scaling = None, *, seq_len: int | None = None,
    **params: Any,
) -> np.ndarray:
    """Rotation frequencies of the pairs, scaled for context extension if asked.

    Unscaled, theta_k = base**(-2(k-1)/d), k = 1 ... d/2. A scaling family changes the angles,
    never the rotation (docs/theory.md, "The scaling condition").

    Parameters
    ----------
    dim : int
        Rotary dimension d (even). With ``partial_rotary_factor`` (a parameter, as in Hugging
        Face configs) `dim` is the head dimension and ``int(dim * partial_rotary_factor)``
        coordinates rotate.
    base : float, default 10000.0
        The base b (Hugging Face's ``rope_theta``), > 1. A ``rope_theta`` inside a scaling
        dict overrides it.
    scaling : None, str or dict
        None (or ``"default"``) for plain RoPE, or one of ``"linear"``, ``"ntk"`` (alias
        ``"base"``), ``"dynamic"``, ``"yarn"``, ``"llama3"``, ``"longrope"``,
        ``"proportional"``; or a Hugging
        Face ``rope_scaling`` / ``rope_parameters`` dict (key ``rope_type`` or ``type``), whose
        entries are used as parameters.
    seq_len : int, optional
        The current sequence length, for the families that depend on it: ``"dynamic"``
        (default: max_position_embeddings, i.e. unscaled) and ``"longrope"`` (long factors
        when seq_len > original_max_position_embeddings; default: short factors).
    **params
        The family's parameters, with Hugging Face's names:

        - linear: ``factor`` (theta / factor, i.e. positions / factor);
        - ntk: ``factor`` (base * factor**(d/(d-2)), see `base_scale`);
        - dynamic: ``factor``, ``max_position_embeddings``;
        - yarn: ``factor``, ``original_max_position_embeddings``, optional ``beta_fast`` (32),
          ``beta_slow`` (1), ``mscale``, ``mscale_all_dim``, ``attention_factor``,
          ``truncate`` (True), ``max_position_embeddings``;
        - llama3: ``factor``, ``low_freq_factor``, ``high_freq_factor``,
          ``original_max_position_embeddings``;
        - longrope: ``short_factor``, ``long_factor`` (d/2 entries each),
          ``original_max_position_embeddings``, ``factor`` or ``max_position_embeddings``,
          optional ``attention_factor``;
        - proportional (Gemma 4): ``partial_rotary_factor`` (1), ``factor`` (1): the first
          ``int(partial_rotary_factor * dim // 2)`` pairs at base**(-2i/dim) / factor, the
          others 0. Here partial_rotary_factor does not shorten the rotary dimension: pairs
          stay (i, i + dim/2) across the whole head.

        As in Hugging Face, ``original_max_position_embeddings`` defaults to
        ``max_position_embeddings``, and for yarn and longrope a missing ``factor`` is
        ``max_position_embeddings / original_max_position_embeddings``.

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of d/2 frequencies in radians per position.

    Raises
    ------
    ValueError
        Unknown scaling (the message lists the known ones), a missing parameter (named),
        factor <= 0, factor lists of the wrong length, inconsistent parameters.
    TypeError
        A parameter of the wrong type, or one the family does not take.

    Examples
    --------
    >>> import rope
    >>> theta = rope.frequencies(512)
    >>> float(theta[0]), float(theta[128])   # k = 1 and k = 129: 10000**(-256/512) = 0.01
    (1.0, 0.01)
    >>> float(rope.frequencies(512, scaling="linear", factor=4.0)[128])
    0.0025
    >>> llama31 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    ...            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    >>> theta = rope.frequencies(128, base=500000.0, scaling=llama31)
    >>> round(float(theta[30]), 10)            # a pair in the smoothed band
    0.0013718936
    """
    return scaled(dim, base, scaling, params, seq_len).theta


def periods(
    dim: int, base: float = 10000.0, scaling: Scaling = None, *, seq_len: int | None = None,
    **params: Any,
) -> np.ndarray:
    """Periods (wavelengths, in tokens) of the pairs: 2*pi / theta_k (inf where theta_k = 0,
    the pairs that ``"proportional"`` leaves unrotated).

    Takes the arguments of `frequencies`.

    Examples
    --------
    >>> import rope
    >>> round(float(rope.periods(128)[-1]), 2)   # 2*pi * 10000**(126/128)
    54410.14
    >>> round(float(rope.periods(128, scaling="ntk", factor=4.0)[-1] / 54410.14), 4)
    4.0
    """
    return periods_of(frequencies(dim, base, scaling, seq_len=seq_len, **params))


def attention_factor(
    dim: int, base: float = 10000.0, scaling: Scaling = None, *, seq_len: int | None = None,
    **params: Any,
) -> float:
    """The factor A that Hugging Face multiplies cos and sin by (so attention logits by A**2).

    1 for plain RoPE, linear, ntk, dynamic and llama3. YaRN: ``0.1 ln s + 1`` for s > 1, or
    ``g(s, mscale) / g(s, mscale_all_dim)`` when both are given, or the explicit
    ``attention_factor``. LongRoPE: ``sqrt(1 + ln s / ln original_max_position_embeddings)``
    for s > 1 (s from ``factor``, else max/original lengths), or the explicit one.
    Takes the arguments of `frequencies`.

    Examples
    --------
    >>> import rope
    >>> round(rope.attention_factor(128, 1e6, "yarn", factor=4.0,
    ...                             original_max_position_embeddings=32768), 7)
    1.1386294
    >>> rope.attention_factor(128, scaling="linear", factor=4.0)
    1.0
    """
    return scaled(dim, base, scaling, params, seq_len).attention_factor
