"""rope.plot: each figure's data against the formulas (computed here independently)."""
import math
import subprocess
import sys

import numpy as np
import pytest

from rope import reference

# Skip on matplotlib itself: rope.plot turns its absence into an ImportError with install advice,
# which pytest.importorskip (skipping only ModuleNotFoundError) would report as an error.
pytest.importorskip("matplotlib", reason="rope.plot needs matplotlib")
from rope import plot  # noqa: E402


def test_import_rope_does_not_import_matplotlib():
    code = "import sys, rope; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_spectrum_periods_and_frequencies():
    k = np.arange(1, 65)
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    fig = plot.spectrum(128, 1e6, [{"rope_type": "linear", "factor": 2.0}, yarn])
    ax = fig.axes[0]
    original, linear, scaled = ax.lines[:3]
    np.testing.assert_array_equal(original.get_xdata(), k)
    np.testing.assert_allclose(original.get_ydata(), 2 * np.pi * 1e6 ** (2 * (k - 1) / 128),
                               rtol=1e-14)
    np.testing.assert_allclose(linear.get_ydata(), 2 * original.get_ydata(), rtol=1e-14)
    keep = 1 - np.clip((k - 1 - 23) / (40 - 23), 0, 1)         # lo = 23, hi = 40 (sheet §6)
    omega = reference.frequencies(128, 1e6)
    yarn_theta = omega * keep + omega / 4 * (1 - keep)
    np.testing.assert_allclose(scaled.get_ydata(), 2 * np.pi / yarn_theta, rtol=1e-13)
    assert ax.get_yscale() == "log"
    context = ax.lines[3]                                        # the original context, marked
    assert list(context.get_ydata()) == [32768, 32768]
    theta = plot.spectrum(128, quantity="frequency").axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(theta, reference.frequencies(128), rtol=1e-15)


def test_spectrum_rejects_bad_quantity():
    with pytest.raises(ValueError, match="quantity"):
        plot.spectrum(quantity="angle")


def test_score_matrix_is_the_toeplitz_matrix_of_scores():
    q, k = np.random.default_rng(3).standard_normal((2, 16))
    n = 20
    scores = np.asarray(plot.score_matrix(q, k, n).axes[0].images[0].get_array())
    theta = reference.frequencies(16)
    expected = np.array([[reference.rotate(q, i, theta) @ reference.rotate(k, j, theta)
                          for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(scores, expected, atol=1e-12)
    for offset in range(-n + 1, n):                              # constant along diagonals
        diagonal = np.diagonal(scores, offset)
        np.testing.assert_allclose(diagonal, diagonal[0], atol=1e-12)
    assert scores.shape == (n, n)


def test_decay_bound_is_roformers_abel_sum():
    d, base = 32, 10000.0
    theta = reference.frequencies(d, base)
    for r in (0, 1, 7, 100):
        partial = [abs(sum(complex(math.cos(r * t), math.sin(r * t)) for t in theta[:j]))
                   for j in range(1, d // 2 + 1)]
        assert plot.decay_bound(d, base, [r])[0] == pytest.approx(sum(partial) / (d / 2), rel=1e-12)
    line = plot.decay(128, max_distance=300).axes[0].lines[0]
    assert line.get_ydata()[0] == pytest.approx((64 + 1) / 2)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(300))
    y = np.asarray(line.get_ydata())
    assert y[-50:].mean() < y[:10].mean() / 2                    # it decays with distance


def test_unit_circle_points_are_cos_sin_of_p_theta():
    positions = np.arange(10)
    fig = plot.unit_circle(dim=16, pair=3, positions=positions, base=100.0)
    points = fig.axes[0].lines[1]
    theta = 100.0 ** (-2 * (3 - 1) / 16)
    np.testing.assert_allclose(points.get_xdata(), np.cos(positions * theta), atol=1e-15)
    np.testing.assert_allclose(points.get_ydata(), np.sin(positions * theta), atol=1e-15)
    with pytest.raises(ValueError, match="pair"):
        plot.unit_circle(dim=8, pair=5)


def test_figures_render_headless(tmp_path):
    q, k = np.ones((2, 8))
    for fig in (plot.spectrum(), plot.score_matrix(q, k, 8), plot.decay(16), plot.unit_circle()):
        path = tmp_path / "f.png"
        fig.savefig(path)
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_rope_repr_html_shows_config_and_key_numbers():
    import rope

    r = rope.Rope(128, base=1e6, scaling="yarn", factor=4.0, original_max_position_embeddings=32768)
    html = r._repr_html_()
    assert html.startswith("<table") and "yarn" in html and "32768" in html
    assert f"{0.1 * math.log(4) + 1:.6g}" in html                       # attention factor
    theta = reference.frequencies(128, 1e6)
    assert f"{2 * math.pi:.6g} tokens" in html                           # θ_1 = 1 is kept
    assert f"{2 * math.pi / (theta[-1] / 4):.6g} tokens" in html         # last pair: θ/4


def test_docstring_examples_of_rope_plot():
    import doctest

    failures, tried = doctest.testmod(plot, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= len(plot.__all__) and failures == 0
