"""The other ways transformers encode position, small enough to compare with RoPE on one toy.

Each function is the textbook form of a method, in float64 NumPy; `score_matrix` scores one
query and one key vector at every pair of positions under any of them, so that what each
method does to the score as a function of distance can be put side by side with RoPE's
(docs/theory.md, "Why attention needs positions"; examples/03_rope_and_the_alternatives.ipynb):

- ``"nope"``: no position at all (the causal mask alone tells order);
- ``"sinusoidal"``: a fixed sinusoid added to each token's vector (Vaswani et al., 2017);
- ``"learned"``: a trained table of one vector per position, added (BERT, GPT-2); a stand-in
  random table here, with no entry past its length;
- ``"alibi"``: a penalty proportional to the distance added to the score (Press et al., 2022);
- ``"t5"``: a trained bias per bucket of relative distance added to the score (Raffel et al.,
  2020); a stand-in bias table here;
- ``"rope"``: the query and key rotated (rope itself).

The toy leaves out the learned query/key projections: it adds or rotates the raw vectors.
"""
from __future__ import annotations

import math

import numpy as np

from ._explore import score_matrix as _rope_score_matrix

__all__ = ["METHODS", "alibi_slopes", "score_matrix", "sinusoidal", "t5_bucket"]

#: The methods `score_matrix` knows.
METHODS = ("nope", "sinusoidal", "learned", "alibi", "t5", "rope")


def sinusoidal(positions: object, dim: int, base: float = 10000.0) -> np.ndarray:
    """The sinusoidal position embedding: PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i).

    ω_i = base^(−2i/dim), the same frequencies as RoPE's; the embedding is added to the
    token's vector instead of rotating it.

    Parameters
    ----------
    positions : array_like of int
    dim : int
        Embedding size, even.
    base : float, default 10000.0

    Returns
    -------
    numpy.ndarray
        float64, shape (len(positions), dim).

    Examples
    --------
    >>> from rope import alternatives
    >>> alternatives.sinusoidal([0, 1], 4).round(4)
    array([[0.    , 1.    , 0.    , 1.    ],
           [0.8415, 0.5403, 0.01  , 1.    ]])
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be even and >= 2; got {dim}")
    positions = np.asarray(positions, dtype=np.float64)
    omega = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = positions[..., None] * omega
    out = np.empty(positions.shape + (dim,))
    out[..., 0::2] = np.sin(angles)
    out[..., 1::2] = np.cos(angles)
    return out


def alibi_slopes(heads: int) -> np.ndarray:
    """ALiBi's slope m_h of each head: the geometric sequence 2^(−8h/n) for n a power of two.

    For other head counts, the slopes of the power of two below, then every other slope of
    the power of two above (as in the ALiBi paper's code).

    Examples
    --------
    >>> from rope import alternatives
    >>> alternatives.alibi_slopes(8).tolist()
    [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625]
    """
    if heads < 1:
        raise ValueError(f"heads must be >= 1; got {heads}")
    closest = 2 ** math.floor(math.log2(heads))
    slopes = 2.0 ** (-8.0 * np.arange(1, closest + 1) / closest)
    if closest < heads:
        extra = 2.0 ** (-4.0 * np.arange(1, 2 * closest + 1) / closest)[::2]
        slopes = np.concatenate([slopes, extra[:heads - closest]])
    return slopes


def t5_bucket(relative_position: object, *, bidirectional: bool = True, num_buckets: int = 32,
              max_distance: int = 128) -> np.ndarray:
    """T5's bucket of a relative position j − i (key minus query).

    Half the buckets hold the small distances exactly; the other half grow logarithmically up
    to `max_distance`, and every farther distance shares the last bucket: past it, T5 cannot
    tell distances apart. With `bidirectional` half the buckets are for keys after the query.

    Examples
    --------
    >>> from rope import alternatives
    >>> alternatives.t5_bucket([-1, -15, -16, -40, -127, -128, -5000],
    ...                        bidirectional=False).tolist()
    [1, 15, 16, 23, 31, 31, 31]
    """
    relative = np.asarray(relative_position, dtype=np.int64)
    buckets = np.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative > 0) * num_buckets
        distance = np.abs(relative)
    else:
        distance = -np.minimum(relative, 0)
    exact = num_buckets // 2
    with np.errstate(divide="ignore"):
        large = exact + (np.log(distance / exact) / math.log(max_distance / exact)
                         * (num_buckets - exact))
    large = np.minimum(np.where(distance < exact, 0, large).astype(np.int64), num_buckets - 1)
    return buckets + np.where(distance < exact, distance, large)


def score_matrix(
    method: str,
    q: object,
    k: object,
    positions: object = 64,
    *,
    trained_length: int | None = None,
    base: float = 10000.0,
    slope: float = 0.0625,
    bias: object = None,
    num_buckets: int = 32,
    max_distance: int = 128,
    seed: int = 0,
) -> np.ndarray:
    """The score of query vector `q` at position i and key vector `k` at j, for every (i, j).

    Parameters
    ----------
    method : {"nope", "sinusoidal", "learned", "alibi", "t5", "rope"}
        The position encoding (see the module's description).
    q, k : array_like
        One query and one key vector, of one even length d.
    positions : int or array_like of int, default 64
        Positions of both (an int n: 0 ... n − 1).
    trained_length : int, optional
        "learned": the table's length (default: all positions); scores involving a position
        past it are NaN, since no embedding exists there.
    base : float, default 10000.0
        "sinusoidal" and "rope": the base of the frequencies.
    slope : float, default 0.0625
        "alibi": the head's slope m (see `alibi_slopes`); the score is ``⟨q, k⟩ − m |i − j|``.
    bias : array_like, optional
        "t5": the bias of each bucket (causal buckets, `t5_bucket` with bidirectional=False);
        default −log(1 + bucket), a stand-in for the learned table that prefers near keys.
    num_buckets, max_distance : int
        "t5": as for `t5_bucket`.
    seed : int, default 0
        "learned": the seed of the stand-in table (standard normal entries / sqrt(d)).

    Returns
    -------
    numpy.ndarray
        float64, shape (n, n): rows are query positions, columns key positions.

    Examples
    --------
    >>> import numpy as np
    >>> from rope import alternatives
    >>> q, k = np.random.default_rng(0).standard_normal((2, 16))
    >>> s = alternatives.score_matrix("alibi", q, k, 8)
    >>> bool(np.isclose(s[5, 3], q @ k - 0.0625 * 2))
    True
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    positions = np.arange(positions) if isinstance(positions, (int, np.integer)) else \
        np.asarray(positions, dtype=np.int64)
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if q.ndim != 1 or q.shape != k.shape or q.size % 2:
        raise ValueError(f"q and k must be two vectors of one even length; got shapes {q.shape}, "
                         f"{k.shape}")
    dim = q.size
    content = float(q @ k)
    distance = positions[None, :] - positions[:, None]                  # j − i
    if method == "nope":
        return np.full(distance.shape, content)
    if method == "rope":
        return _rope_score_matrix(q, k, positions, base=base)
    if method == "alibi":
        return content - slope * np.abs(distance)
    if method == "t5":
        buckets = t5_bucket(distance, bidirectional=False, num_buckets=num_buckets,
                            max_distance=max_distance)
        table = -np.log1p(np.arange(num_buckets)) if bias is None else \
            np.asarray(bias, dtype=np.float64)
        if table.shape != (num_buckets,):
            raise ValueError(f"bias must hold one value per bucket ({num_buckets}); got shape "
                             f"{table.shape}")
        return content + table[buckets]
    if method == "sinusoidal":
        embedding = sinusoidal(positions, dim, base)
    else:  # learned
        length = int(positions.max()) + 1 if trained_length is None else trained_length
        table = np.random.default_rng(seed).standard_normal((length, dim)) / math.sqrt(dim)
        inside = (positions >= 0) & (positions < length)
        embedding = np.full((positions.size, dim), np.nan)
        embedding[inside] = table[positions[inside]]
    return (q + embedding) @ (k + embedding).T
