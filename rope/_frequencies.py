"""Frequencies: theta_k = base**(-2(k-1)/d), their periods, and (in time) the scaling families.

All float64. The rotation kernels form the angle p * theta_k exactly from these values, so the
precision of rope is the precision of this array.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_base, check_positive_int

__all__ = ["frequencies", "periods"]


def _unscaled(dim: int, base: float) -> np.ndarray:
    """theta_i = base**(-2i/dim) for i = 0 ... dim/2 - 1 (pair k = i + 1 of the formula sheet)."""
    return np.power(base, -np.arange(0, dim, 2, dtype=np.float64) / dim)


def frequencies(dim: int, base: float = 10000.0, scaling: object = None) -> np.ndarray:
    """Rotation frequencies of the dim/2 pairs: theta_k = base**(-2(k-1)/dim), k = 1 ... dim/2.

    Parameters
    ----------
    dim : int
        Rotary dimension d (even): the number of rotated coordinates.
    base : float, default 10000.0
        The base b (Hugging Face's ``rope_theta``), > 1.
    scaling : None
        Reserved for the context-extension families.

    Returns
    -------
    numpy.ndarray
        float64 array of dim/2 frequencies in radians per position, decreasing from 1.

    Examples
    --------
    >>> import rope
    >>> theta = rope.frequencies(512)
    >>> float(theta[0]), float(theta[128])   # k = 1 and k = 129: 10000**(-256/512) = 0.01
    (1.0, 0.01)
    """
    dim = check_positive_int(dim, "dim")
    if dim % 2:
        raise ValueError(f"dim must be even (RoPE rotates pairs); got {dim}")
    base = check_base(base)
    if scaling is not None:
        raise ValueError(f"unknown scaling {scaling!r}; pass scaling=None")
    return _unscaled(dim, base)


def periods(dim: int, base: float = 10000.0, scaling: object = None) -> np.ndarray:
    """Periods (wavelengths, in tokens) of the pairs: 2*pi / theta_k.

    Examples
    --------
    >>> import rope
    >>> round(float(rope.periods(128)[-1]), 2)   # 2*pi * 10000**(126/128)
    54410.14
    """
    return 2.0 * np.pi / frequencies(dim, base, scaling)
