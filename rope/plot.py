"""Figures of RoPE: the pictures every course draws by hand, drawn from the library's numbers.

Needs matplotlib (``pip install -e ".[plot]"`` from the clone; ``import rope`` never does).
Figures are built with :class:`matplotlib.figure.Figure` directly, not pyplot, so they work
headless (Agg), leave pyplot's global state alone and show inline in Jupyter. Each function
returns the Figure; save it with ``fig.savefig("name.png")``.

Every number drawn comes from a public function of rope (`rope.periods`, `rope.score_matrix`,
`rope.attention_weights`, `rope.decay_bound`, `rope.scaling_bands`, `rope.score_drift`,
`rope.apply`): call that function for the data, the figure is only its picture. Titles name
the configuration drawn. docs/theory.md explains what each figure shows.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

try:
    from matplotlib.figure import Figure
except ImportError as error:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        "rope.plot draws with matplotlib, which is not installed; install it with "
        'pip install -e ".[plot]" in the rope clone (or pip install matplotlib)'
    ) from error

from ._api import apply
from . import _explore
from ._explore import attention_weights, decay_bound, scaling_bands, score_drift
from ._frequencies import frequencies, periods
from ._types import Scaling
from ._validation import check_positive_int

__all__ = ["attention", "decay", "drift", "score_matrix", "spectrum", "unit_circle"]

_BAND_COLOURS = {"kept": "#d9ead3", "ramp": "#fff2cc", "interpolated": "#f4cccc"}


def _scaling_label(scaling: Scaling) -> str:
    """A short label for a scaling given by name or as a Hugging Face-style dict."""
    if not isinstance(scaling, Mapping):
        return str(scaling)
    kind = scaling.get("rope_type", scaling.get("type", "scaled"))
    label = str(kind)
    factor = scaling.get("factor")
    if isinstance(factor, (int, float)):
        label += f" ×{factor:g}"
    trained = scaling.get("original_max_position_embeddings") or \
        scaling.get("max_position_embeddings")
    if trained:
        label += f", L = {trained:g}"
    return label


def _context_of(scalings: Sequence[Scaling]) -> float | None:
    """The original context length named by the first scaling that names one."""
    for scaling in scalings:
        if isinstance(scaling, Mapping):
            for key in ("original_max_position_embeddings", "max_position_embeddings"):
                if scaling.get(key):
                    return float(scaling[key])
    return None


def _configuration(dim: int, base: float, scaling: Scaling = None) -> str:
    """'d = 128, b = 10000' and the scaling, for titles."""
    text = f"d = {dim}, b = {base:g}"
    return text if scaling is None else f"{text}, {_scaling_label(scaling)}"


def _shade_bands(ax, dim: int, base: float, scaling: Scaling, seq_len: int | None) -> bool:
    """Shade the kept / ramp / interpolated pairs of `scaling` and mark its threshold
    wavelengths; return False (drawing nothing) for a family without thresholds."""
    bands = scaling_bands(dim, base, scaling, seq_len=seq_len)
    if bands.keep_below is None:
        return False
    pairs = np.arange(1, bands.ratio.size + 1)
    for name in ("kept", "ramp", "interpolated"):
        members = pairs[getattr(bands, name)]
        if members.size:
            ax.axvspan(members[0] - 0.5, members[-1] + 0.5, color=_BAND_COLOURS[name], zorder=0,
                       label=f"{name}: pairs {members[0]}–{members[-1]}")
    for wavelength, text in ((bands.keep_below, "keep below"),
                             (bands.interpolate_above, "interpolate above")):
        ax.axhline(wavelength, color="dimgrey", ls=":", lw=1)
        ax.annotate(f"{text} {wavelength:g} tokens", (pairs[-1], wavelength), xytext=(-2, 3),
                    textcoords="offset points", ha="right", color="dimgrey", fontsize=8)
    return True


def spectrum(
    dim: int = 128,
    base: float = 10000.0,
    scalings: Iterable[Scaling] = (),
    *,
    quantity: str = "period",
    context: float | None = None,
    labels: Sequence[str] | None = None,
    seq_len: int | None = None,
    bands: bool | None = None,
) -> Figure:
    """The RoPE spectrum: period (or frequency) of each pair, original and under each scaling.

    Pair k = 1 ... d/2 turns at θ_k = b^(−2(k−1)/d) radians per token, so its period is
    T_k = 2π/θ_k tokens; on a log scale both are straight lines in k. A scaling bends the line:
    linear interpolation shifts all of it, NTK-style base scaling rotates it about k = 1,
    YaRN and Llama 3 keep the high-frequency pairs and shift only the low-frequency ones
    (shaded: the kept, ramp and interpolated bands, and the wavelengths between them).

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
    seq_len : int, optional
        Sequence length for the families that depend on it (dynamic, longrope).
    bands : bool, optional
        Shade the bands of the first scaling that has thresholds (YaRN, Llama 3). Default:
        when it is the only scaling drawn.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; line 0 is the original, line j the j-th scaling (x = k, y = T_k or θ_k).
        The same numbers: `rope.periods` / `rope.frequencies`, `rope.scaling_bands`.

    Examples
    --------
    >>> from rope import plot
    >>> fig = plot.spectrum(128)
    >>> fig.axes[0].get_title()
    'RoPE periods, d = 128, b = 10000'
    """
    if quantity not in ("period", "frequency"):
        raise ValueError(f"quantity must be 'period' or 'frequency'; got {quantity!r}")
    scalings = list(scalings)
    if labels is not None and len(labels) != len(scalings):
        raise ValueError(
            f"labels must name each of the {len(scalings)} scalings; got {len(labels)}")
    value_of = periods if quantity == "period" else frequencies
    pairs = np.arange(1, dim // 2 + 1)
    fig = Figure(figsize=(7.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(pairs, value_of(dim, base), color="black", lw=2.2, label="original")
    for j, scaling in enumerate(scalings):
        label = labels[j] if labels is not None else _scaling_label(scaling)
        ax.plot(pairs, value_of(dim, base, scaling=scaling, seq_len=seq_len), lw=1.6,
                label=label)
    context = context if context is not None else _context_of(scalings)
    if context is not None and quantity == "period":
        ax.axhline(context, color="grey", ls="--", lw=1)
        ax.annotate(f"original context {context:g}", (pairs[0], context), xytext=(2, 4),
                    textcoords="offset points", color="grey", fontsize=8)
    shaded = False
    if bands or (bands is None and len(scalings) == 1):
        for scaling in scalings:
            if quantity == "period" and _shade_bands(ax, dim, base, scaling, seq_len):
                shaded = True
                break
    ax.set_yscale("log")
    ax.set_xlabel("pair $k$")
    ax.set_xlim(0.5, pairs[-1] + 0.5)
    title = "RoPE periods" if quantity == "period" else "RoPE frequencies"
    configuration = _configuration(dim, base, scalings[0] if len(scalings) == 1 else None)
    if seq_len is not None:
        configuration += f", sequence of {seq_len} tokens"
    if quantity == "period":
        ax.set_ylabel(r"period $2\pi/\theta_k$ (tokens)")
    else:
        ax.set_ylabel(r"$\theta_k = b^{-2(k-1)/d}$ (radians per token)")
    ax.set_title(f"{title}, {configuration}" + (" (bands shaded)" if shaded else ""))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left" if quantity == "period" else "upper right")
    return fig


def score_matrix(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    positions: npt.ArrayLike = 64,
    *,
    base: float = 10000.0,
    scaling: Scaling = None,
    **params: Any,
) -> Figure:
    """The score ⟨Ro(q, iθ), Ro(k, jθ)⟩ of one query and one key over all position pairs (i, j).

    RoPE makes the score depend on j − i only, so the matrix is constant along every diagonal
    (a Toeplitz matrix): the relative-position property made visible.

    Parameters
    ----------
    q, k : array_like
        One query and one key vector of the same even length d, or one per position.
    positions : int or array_like, default 64
        Positions of both the query (rows) and the key (columns); an int n means 0 ... n − 1.
    base, scaling, **params
        The configuration, as for `rope.apply`.

    Returns
    -------
    matplotlib.figure.Figure
        The picture of ``rope.score_matrix(q, k, positions, ...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rope import plot
    >>> q, k = np.random.default_rng(0).standard_normal((2, 8))
    >>> plot.score_matrix(q, k, 16).axes[0].get_xlabel()
    'key position $j$'
    """
    scores = _explore.score_matrix(q, k, positions, base=base, scaling=scaling, **params)
    dim = np.shape(np.atleast_2d(q))[-1]
    fig = Figure(figsize=(5.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    limit = float(np.abs(scores).max()) or 1.0
    image = ax.imshow(scores, cmap="RdBu_r", vmin=-limit, vmax=limit, origin="upper",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax,
                 label=r"score $\langle \mathrm{Ro}(q, i\theta), \mathrm{Ro}(k, j\theta)\rangle$")
    ax.set_xlabel("key position $j$")
    ax.set_ylabel("query position $i$")
    ax.set_title(f"Scores depend on $j - i$ only ({_configuration(dim, base, scaling)})",
                 fontsize=10)
    return fig


def attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    positions: npt.ArrayLike = 32,
    *,
    causal: bool = True,
    labels: Sequence[str] | None = None,
    base: float = 10000.0,
    scaling: Scaling = None,
    **params: Any,
) -> Figure:
    """The softmax attention weights of every query position over the key positions.

    Parameters
    ----------
    q, k, positions, causal, base, scaling, **params
        As for `rope.attention_weights`.
    labels : sequence of str, optional
        Token labels of the positions (e.g. the words of a sentence), for both axes.

    Returns
    -------
    matplotlib.figure.Figure
        The picture of ``rope.attention_weights(q, k, positions, ...)`` (0 to 1).

    Examples
    --------
    >>> import numpy as np
    >>> from rope import plot
    >>> q, k = np.random.default_rng(0).standard_normal((2, 8))
    >>> plot.attention(q, k, 6).axes[0].get_title()
    'Causal softmax attention, d = 8, b = 10000'
    """
    weights = attention_weights(q, k, positions, causal=causal, base=base, scaling=scaling,
                                **params)
    dim = np.shape(np.atleast_2d(q))[-1]
    fig = Figure(figsize=(5.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, label=r"weight $\mathrm{softmax}_j(s_{ij}/\sqrt{d})$")
    if labels is not None:
        if len(labels) != weights.shape[0] or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"labels must name each of the {weights.shape[0]} positions; got "
                             f"{len(labels)}")
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    kind = "Causal softmax attention" if causal else "Softmax attention"
    ax.set_title(f"{kind}, {_configuration(dim, base, scaling)}")
    return fig


def decay(dim: int = 128, base: float = 10000.0, max_distance: int = 256,
          scaling: Scaling = None, **params: Any) -> Figure:
    """Plot `rope.decay_bound` against the relative distance 0 ... max_distance − 1.

    The y axis starts at 0, so the height of the curve is the bound itself; the value at
    r = 0, (d/2 + 1)/2, is marked.

    Returns
    -------
    matplotlib.figure.Figure
        The picture of ``rope.decay_bound(dim, base, range(max_distance), scaling)``.

    Examples
    --------
    >>> from rope import plot
    >>> float(plot.decay(8).axes[0].get_ylim()[0])
    0.0
    """
    max_distance = check_positive_int(max_distance, "max_distance")
    distances = np.arange(max_distance)
    bound = decay_bound(dim, base, distances, scaling, **params)
    fig = Figure(figsize=(6.8, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(distances, bound, color="C0")
    ax.axhline(bound[0], color="grey", ls=":", lw=1)
    ax.annotate(f"$r = 0$: $(d/2 + 1)/2 = {bound[0]:g}$", (distances[-1], bound[0]),
                xytext=(-2, -12), textcoords="offset points", ha="right", color="grey",
                fontsize=8)
    ax.set_ylim(0.0, 1.08 * float(bound.max()))
    ax.set_xlim(0, distances[-1])
    ax.set_xlabel("relative distance $r = j - i$ (tokens)")
    ax.set_ylabel(r"relative bound $\frac{2}{d}\sum_{j=1}^{d/2} |S_j(r)|$")
    ax.text(0.98, 0.75, r"$S_j(r) = \sum_{i=1}^{j} e^{\mathrm{i}\, r\theta_i}$: the unit "
            "rotations of\nthe first $j$ pairs at distance $r$, summed", transform=ax.transAxes,
            ha="right", va="top", fontsize=9)
    ax.set_title(f"Long-range decay of RoFormer's score bound ({_configuration(dim, base, scaling)})")
    ax.grid(True, alpha=0.3)
    return fig


def unit_circle(dim: int = 8, pair: int = 1, positions: npt.ArrayLike | None = None, *,
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
    ax.set_xlabel(r"$x_a = \cos p\theta_k$")
    ax.set_ylabel(r"$x_b = \sin p\theta_k$")
    ax.set_title(f"Pair $k = {pair}$ at positions $p$: angle $p\\theta_k$, "
                 f"$\\theta_k = {theta:.4g}$ (d = {dim}, b = {base:g})", fontsize=10)
    return fig


def drift(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    distance: int,
    offsets: npt.ArrayLike,
    *,
    dtypes: Sequence[npt.DTypeLike] = ("float32", "float16", "bfloat16"),
    base: float = 10000.0,
    scaling: Scaling = None,
    **params: Any,
) -> Figure:
    """Root-mean-square drift of the score against the offset, per storage dtype and angle path.

    Solid lines: rope's exact angles (the drift is the storage's rounding alone); dashed:
    float32 angles, as most frameworks form them (the angle's error grows with the offset).
    Relative to the exact scores' root-mean-square. Both axes are logarithmic; offset 0 sits
    at the left end of a linear stretch (symlog).

    Parameters
    ----------
    q, k : array_like
        Query and key vectors, (n, d) for n pairs (the drift is averaged over them).
    distance, offsets, base, scaling, **params
        As for `rope.score_drift`.
    dtypes : sequence, default ("float32", "float16", "bfloat16")
        Storage dtypes to compare.

    Returns
    -------
    matplotlib.figure.Figure
        Lines in the order (dtype, exact), (dtype, float32) for each dtype; the y values are
        ``sqrt(mean(rope.score_drift(...)**2)) / rms(exact score)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rope import plot
    >>> q, k = np.random.default_rng(0).standard_normal((2, 4, 16))
    >>> len(plot.drift(q, k, 2, [0, 10, 100], dtypes=["float32"]).axes[0].lines)
    2
    """
    offsets = np.asarray(offsets)
    q64 = np.atleast_2d(np.asarray(q, dtype=np.float64))
    k64 = np.atleast_2d(np.asarray(k, dtype=np.float64))
    exact = np.einsum("...d,...d->...", q64, apply(k64.copy(), np.full(k64.shape[:-1], distance),
                                                     base=base, scaling=scaling, seq_len=1,
                                                     **params))
    scale = float(np.sqrt(np.mean(exact ** 2))) or 1.0
    fig = Figure(figsize=(7.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for j, dtype in enumerate(dtypes):
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        for angles, style in (("exact", "-"), ("float32", "--")):
            error = score_drift(q64, k64, distance, offsets, dtype=dtype, angles=angles,
                                base=base, scaling=scaling, **params)
            rms = np.sqrt(np.mean(error.reshape(-1, offsets.size) ** 2, axis=0)) / scale
            ax.plot(offsets, rms, style, marker="o", ms=3, color=f"C{j}",
                    label=f"{name}, {'exact' if angles == 'exact' else 'float32'} angles")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("log")
    ax.set_xlabel(f"offset $i$ (query at $i$, key at $i + {distance}$)")
    ax.set_ylabel("rms(score − exact) / rms(exact)")
    dim = q64.shape[-1]
    ax.set_title(f"Score drift at long offsets ({_configuration(dim, base, scaling)})",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
