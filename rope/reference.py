"""A float64 pure-NumPy RoPE: the oracle of the tests and the path to read when learning.

Nothing here calls the C core. It forms angles as a plain float64 outer product (good to about
1e-16 * position radians) and rotates with the textbook formulas (docs/theory.md, "The rotation"):

    x'_a = x_a cos(p theta_k) - x_b sin(p theta_k)
    x'_b = x_b cos(p theta_k) + x_a sin(p theta_k)

with (a, b) = (k - 1, k - 1 + d/2) (half-split) or (2k - 2, 2k - 1) (interleaved).
"""
from __future__ import annotations

import numpy as np

__all__ = ["frequencies", "pair_indices", "rotate"]


def frequencies(dim: int, base: float = 10000.0) -> np.ndarray:
    """theta_k = base**(-2(k-1)/dim), k = 1 ... dim/2, in float64.

    Examples
    --------
    >>> from rope import reference
    >>> float(reference.frequencies(512)[128])
    0.01
    """
    k = np.arange(1, dim // 2 + 1, dtype=np.float64)
    return base ** (-2.0 * (k - 1) / dim)


def pair_indices(dim: int, interleaved: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices (a, b) of the two coordinates of each pair, for a rotary dimension `dim`.

    Examples
    --------
    >>> from rope import reference
    >>> reference.pair_indices(6, interleaved=False)
    (array([0, 1, 2]), array([3, 4, 5]))
    >>> reference.pair_indices(6, interleaved=True)
    (array([0, 2, 4]), array([1, 3, 5]))
    """
    half = dim // 2
    if interleaved:
        return np.arange(0, dim, 2), np.arange(1, dim, 2)
    return np.arange(half), np.arange(half, dim)


def rotate(x, positions, theta, *, interleaved: bool = False) -> np.ndarray:
    """Rotate a float64 copy of `x` by the angles ``positions * theta``.

    Parameters
    ----------
    x : array_like
        Vectors on the last axis; the first ``2 * len(theta)`` coordinates are rotated.
    positions : array_like
        Positions broadcastable to ``x.shape[:-1]``.
    theta : array_like
        Frequencies, one per pair.
    interleaved : bool
        Pairing: (2i, 2i + 1) if True, else (i, i + d/2).

    Returns
    -------
    numpy.ndarray
        A new float64 array.

    Examples
    --------
    >>> import numpy as np
    >>> from rope import reference
    >>> reference.rotate([1.0, 0.0], 2, [1.0]).round(6)
    array([-0.416147,  0.909297])
    """
    out = np.array(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    angles = np.asarray(positions, dtype=np.float64)[..., None] * theta
    cos, sin = np.cos(angles), np.sin(angles)
    a, b = pair_indices(2 * theta.size, interleaved)
    xa, xb = out[..., a].copy(), out[..., b].copy()
    out[..., a] = xa * cos - xb * sin
    out[..., b] = xb * cos + xa * sin
    return out
