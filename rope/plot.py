"""Figures of RoPE: the pictures every course draws by hand, drawn from the library's numbers.

Needs matplotlib (``pip install "rope-numpy[plot]"``); ``import rope`` never does. Figures are
built with :class:`matplotlib.figure.Figure` directly, not pyplot, so they work headless (Agg),
leave pyplot's global state alone and show inline in Jupyter. Each function returns the Figure;
save it with ``fig.savefig("name.png")``.

The numbers drawn come from rope itself (`rope.frequencies`, `rope.periods`, `rope.apply`), so a
figure shows what the library computes, not a second implementation of it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

try:
    from matplotlib.figure import Figure
except ImportError as error:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        "rope.plot draws with matplotlib, which is not installed; install it with "
        'pip install "rope-numpy[plot]" (or pip install matplotlib)'
    ) from error

from ._api import apply
from ._frequencies import frequencies, periods
from ._validation import check_positive_int

__all__ = ["decay", "decay_bound", "score_matrix", "spectrum", "unit_circle"]


def _scaling_label(scaling: object) -> str:
    """A short legend label for a scaling given by name or as a Hugging Face-style dict."""
    if isinstance(scaling, dict):
        kind = scaling.get("rope_type", scaling.get("type", "scaled"))
        factor = scaling.get("factor")
        return f"{kind} ×{factor:g}" if isinstance(factor, (int, float)) else str(kind)
    return str(scaling)


def _context_of(scalings: Sequence[object]) -> float | None:
    """The original context length named by the first scaling that names one."""
    for scaling in scalings:
        if isinstance(scaling, dict):
            for key in ("original_max_position_embeddings", "max_position_embeddings"):
                if scaling.get(key):
                    return float(scaling[key])
    return None


def spectrum(
    dim: int = 128,
    base: float = 10000.0,
    scalings: Iterable[object] = (),
    *,
    quantity: str = "period",
    context: float | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    """The RoPE spectrum: period (or frequency) of each pair, original and under each scaling.

    Pair k = 1 ... d/2 turns at θ_k = b^(−2(k−1)/d) radians per token, so its period is
    T_k = 2π/θ_k tokens; on a log scale both are straight lines in k. A scaling bends the line:
    linear interpolation shifts all of it, NTK-style base scaling rotates it about k = 1,
    YaRN and Llama 3 keep the high-frequency pairs and shift only the low-frequency ones.

    Parameters
    ----------
    dim : int, default 128
        Rotary dimension d (even).
    base : float, default 10000.0
        The base b (``rope_theta``).
    scalings : iterable, optional
        Scalings to draw next to the original, each passed as ``scaling=`` to
        :func:`rope.frequencies` (a name or a Hugging Face-style ``rope_scaling`` dict).
    quantity : {"period", "frequency"}
        Plot T_k in tokens or θ_k in radians per token.
    context : float, optional
        Original context length, drawn as a horizontal line on the period plot (pairs above it
        never complete a turn in training). Defaults to the first scaling's
        ``original_max_position_embeddings``.
    labels : sequence of str, optional
        Legend labels of the scalings.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; line 0 is the original, line j the j-th scaling (x = k, y = T_k or θ_k).

    Examples
    --------
    >>> from rope import plot
    >>> fig = plot.spectrum(128)
    >>> line = fig.axes[0].lines[0]
    >>> round(float(line.get_ydata()[-1]), 2)          # period of pair 64: 2π·10000^(126/128)
    54410.14
    """
    if quantity not in ("period", "frequency"):
        raise ValueError(f"quantity must be 'period' or 'frequency'; got {quantity!r}")
    scalings = list(scalings)
    if labels is not None and len(labels) != len(scalings):
        raise ValueError(
            f"labels must name each of the {len(scalings)} scalings; got {len(labels)}")
    value_of = periods if quantity == "period" else frequencies
    pairs = np.arange(1, dim // 2 + 1)
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(pairs, value_of(dim, base), color="black", lw=2.2, label=f"original (b = {base:g})")
    for j, scaling in enumerate(scalings):
        label = labels[j] if labels is not None else _scaling_label(scaling)
        ax.plot(pairs, value_of(dim, base, scaling=scaling), lw=1.6, label=label)
    context = context if context is not None else _context_of(scalings)
    if context is not None and quantity == "period":
        ax.axhline(context, color="grey", ls="--", lw=1)
        ax.annotate(f"original context {context:g}", (pairs[0], context), xytext=(2, 4),
                    textcoords="offset points", color="grey", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("pair k")
    if quantity == "period":
        ax.set_ylabel("period 2π/θ_k (tokens)")
        ax.set_title(f"RoPE periods, d = {dim}")
    else:
        ax.set_ylabel("θ_k (radians per token)")
        ax.set_title(f"RoPE frequencies θ_k = b^(−2(k−1)/d), d = {dim}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def score_matrix(
    q: object,
    k: object,
    n_positions: int = 64,
    *,
    base: float = 10000.0,
    scaling: object = None,
) -> Figure:
    """The score ⟨Ro(q, iθ), Ro(k, jθ)⟩ of one query and one key over all position pairs (i, j).

    RoPE makes the score depend on j − i only, so the matrix is constant along every diagonal
    (a Toeplitz matrix): the relative-position property made visible.

    Parameters
    ----------
    q, k : array_like
        One query and one key vector of the same even length d.
    n_positions : int, default 64
        Positions 0 ... n_positions − 1 for both the query (rows) and the key (columns).
    base : float, default 10000.0
        The base b.
    scaling : optional
        Passed to :func:`rope.apply` as ``scaling=``.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0].images[0].get_array()[i, j]`` is the score of query position i and key
        position j.

    Examples
    --------
    >>> import numpy as np
    >>> from rope import plot
    >>> q, k = np.random.default_rng(0).standard_normal((2, 8))
    >>> s = plot.score_matrix(q, k, 16).axes[0].images[0].get_array()
    >>> bool(np.isclose(s[2, 4], s[9, 11]))             # cat₂/sleeping₄ and cat₉/sleeping₁₁
    True
    """
    n_positions = check_positive_int(n_positions, "n_positions")
    q = np.array(q, dtype=np.float64)
    k = np.array(k, dtype=np.float64)
    if q.ndim != 1 or q.shape != k.shape:
        raise ValueError(
            f"q and k must be two vectors of one length; got shapes {q.shape}, {k.shape}")
    positions = np.arange(n_positions)
    rotated_q = apply(np.tile(q, (n_positions, 1)), positions, base=base, scaling=scaling)
    rotated_k = apply(np.tile(k, (n_positions, 1)), positions, base=base, scaling=scaling)
    scores = rotated_q @ rotated_k.T
    fig = Figure(figsize=(5.6, 4.6), layout="constrained")
    ax = fig.add_subplot()
    limit = float(np.abs(scores).max()) or 1.0
    image = ax.imshow(scores, cmap="RdBu_r", vmin=-limit, vmax=limit, origin="upper",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="score ⟨Ro(q, iθ), Ro(k, jθ)⟩")
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
    ax.set_title("Scores depend on j − i only (constant diagonals)")
    return fig


def decay_bound(dim: int = 128, base: float = 10000.0, distances: object = None,
                scaling: object = None) -> np.ndarray:
    """RoFormer's long-range decay: the relative upper bound of the score at distance r.

    With h_i = q_i k_i* (pairs as complex numbers), Abel summation gives (RoFormer, §3.4.3)

        |Σ_i h_i e^{i r θ_i}| ≤ (max_i |h_{i+1} − h_i|) · Σ_{j=1}^{d/2} |S_j|,
        S_j = Σ_{i=0}^{j−1} e^{i r θ_i},

    and the relative bound (1/(d/2)) Σ_{j=1}^{d/2} |S_j| shrinks as r grows: distant tokens can
    interact less strongly. At r = 0 every term is 1 and the bound is (d/2 + 1)/2.

    Parameters
    ----------
    dim : int, default 128
    base : float, default 10000.0
    distances : array_like, optional
        Relative distances r; default 0 ... 255.
    scaling : optional
        Passed to :func:`rope.frequencies`.

    Returns
    -------
    numpy.ndarray
        The bound at each distance.

    Examples
    --------
    >>> from rope import plot
    >>> float(plot.decay_bound(128, distances=[0])[0])   # (64 + 1) / 2
    32.5
    """
    distances = np.arange(256) if distances is None else np.asarray(distances, dtype=np.float64)
    theta = frequencies(dim, base, scaling=scaling)
    partial_sums = np.cumsum(np.exp(1j * np.multiply.outer(distances, theta)), axis=-1)
    return np.abs(partial_sums).mean(axis=-1)


def decay(dim: int = 128, base: float = 10000.0, max_distance: int = 256,
          scaling: object = None) -> Figure:
    """Plot :func:`decay_bound` against the relative distance 0 ... max_distance − 1.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0].lines[0]`` holds (r, bound).

    Examples
    --------
    >>> from rope import plot
    >>> float(plot.decay(8).axes[0].lines[0].get_ydata()[0])   # (4 + 1) / 2
    2.5
    """
    max_distance = check_positive_int(max_distance, "max_distance")
    distances = np.arange(max_distance)
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(distances, decay_bound(dim, base, distances, scaling), color="C0")
    ax.set_xlabel("relative distance r = j − i")
    ax.set_ylabel("relative upper bound  (2/d) Σ_j |S_j|")
    ax.set_title(f"Long-range decay of the RoPE score bound (d = {dim}, b = {base:g})")
    ax.grid(True, alpha=0.3)
    return fig


def unit_circle(dim: int = 8, pair: int = 1, positions: object = None, *,
                base: float = 10000.0) -> Figure:
    """One pair rotating on the unit circle: the unit vector (1, 0) of pair k at each position p.

    Pair k at position p is the point (cos pθ_k, sin pθ_k), computed here by `rope.apply` on a
    vector whose pair k is (1, 0) (half-split layout: coordinates k − 1 and k − 1 + d/2).

    Parameters
    ----------
    dim : int, default 8
        Rotary dimension d.
    pair : int, default 1
        The pair k (1 ... d/2); pair 1 turns by 1 radian per token at any base.
    positions : array_like of int, optional
        Positions drawn; default 0 ... 12.
    base : float, default 10000.0

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0].lines[1]`` holds the points (x = cos pθ_k, y = sin pθ_k).

    Examples
    --------
    >>> import numpy as np
    >>> from rope import plot
    >>> line = plot.unit_circle(positions=[0, 1, 2]).axes[0].lines[1]
    >>> bool(np.allclose(line.get_xdata(), np.cos([0, 1, 2])))
    True
    """
    dim = check_positive_int(dim, "dim")
    pair = check_positive_int(pair, "pair")
    if dim % 2 or pair > dim // 2:
        raise ValueError(f"pair must be 1 ... dim/2 for an even dim; got pair={pair}, dim={dim}")
    positions = np.arange(13) if positions is None else np.asarray(positions)
    a, b = pair - 1, pair - 1 + dim // 2
    vectors = np.zeros((positions.size, dim))
    vectors[:, a] = 1.0
    apply(vectors, positions, base=base)
    x, y = vectors[:, a], vectors[:, b]
    theta = frequencies(dim, base)[pair - 1]

    fig = Figure(figsize=(4.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    circle = np.linspace(0.0, 2.0 * np.pi, 361)
    ax.plot(np.cos(circle), np.sin(circle), color="lightgrey", lw=1)
    ax.plot(x, y, "o", color="C3")
    for p, px, py in zip(positions, x, y):
        ax.annotate("", (px, py), xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": "C3", "alpha": 0.35})
        ax.annotate(f"p={p}", (px, py), xytext=(1.12 * px, 1.12 * py), ha="center",
                    va="center", fontsize=8)
    ax.set_aspect("equal")
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.35, 1.35)
    ax.set_xlabel("x_a = cos pθ_k")
    ax.set_ylabel("x_b = sin pθ_k")
    ax.set_title(f"Pair k = {pair} at positions p: angle p·θ_k, θ_k = {theta:.4g}")
    return fig
