"""rope.plot: each figure draws the numbers of rope's public functions (checked against the
formulas, computed here independently), names its configuration, and shades the bands."""
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
    keep = 1 - np.clip((k - 1 - 23) / (40 - 23), 0, 1)         # lo = 23, hi = 40 (Qwen2.5)
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


def test_score_matrix_draws_rope_score_matrix():
    import rope

    q, k = np.random.default_rng(3).standard_normal((2, 16))
    fig = plot.score_matrix(q, k, 20, base=500.0)
    image = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(image, rope.score_matrix(q, k, 20, base=500.0))
    assert "d = 16, b = 500" in fig.axes[0].get_title()


def test_attention_draws_rope_attention_weights():
    import rope

    q, k = np.random.default_rng(4).standard_normal((2, 6, 16))
    words = ["The", "cat", "is", "sleeping", "on", "mats"]
    fig = plot.attention(q, k, 6, labels=words)
    image = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(image, rope.attention_weights(q, k, 6))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == words
    with pytest.raises(ValueError, match="labels"):
        plot.attention(q, k, 6, labels=words[:3])


def test_decay_starts_its_axis_at_zero_and_defines_its_label():
    import rope

    ax = plot.decay(128, max_distance=300).axes[0]
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(300))
    np.testing.assert_array_equal(line.get_ydata(), rope.decay_bound(128, distances=np.arange(300)))
    assert ax.get_ylim()[0] == 0.0
    assert "S_j(r) =" in " ".join(t.get_text() for t in ax.texts)   # S_j is defined on the axes
    assert ax.get_ylabel().count("$") >= 2                              # mathtext


@pytest.mark.parametrize("scaling", [
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 8192},
])
def test_spectrum_shades_the_bands_and_marks_the_thresholds(scaling):
    import rope

    base = 500000.0
    ax = plot.spectrum(128, base, [scaling]).axes[0]
    bands = rope.scaling_bands(128, base, scaling)
    spans = {p.get_label().split(":")[0]: p.get_x() for p in ax.patches}
    assert set(spans) == {"kept", "ramp", "interpolated"}
    for name in spans:
        pairs = np.flatnonzero(getattr(bands, name)) + 1                # pair numbers k
        label = next(p.get_label() for p in ax.patches if p.get_label().startswith(name))
        assert label == f"{name}: pairs {pairs[0]}–{pairs[-1]}"
    thresholds = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":")
    assert thresholds == [bands.keep_below, bands.interpolate_above]
    assert scaling["rope_type"] in ax.get_title() and "bands shaded" in ax.get_title()
    # several scalings on one plot: no shading unless asked
    both = plot.spectrum(128, base, [scaling, {"rope_type": "linear", "factor": 2.0}]).axes[0]
    assert not both.patches


def test_spectrum_names_its_configuration_and_uses_mathtext():
    ax = plot.spectrum(64, 1e6, [{"rope_type": "ntk", "factor": 2.0}]).axes[0]
    assert ax.get_title() == "RoPE periods, d = 64, b = 1e+06, ntk ×2"
    assert ax.get_ylabel() == r"period $2\pi/\theta_k$ (tokens)"
    assert not ax.patches                                                # ntk has no bands


def test_spectrum_at_a_sequence_length():
    import rope

    dynamic = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 4096}
    ax = plot.spectrum(128, 10000.0, [dynamic], seq_len=16384).axes[0]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(),
                                  rope.periods(128, scaling=dynamic, seq_len=16384))
    assert not np.allclose(ax.lines[1].get_ydata(), ax.lines[0].get_ydata())
    assert "16384" in ax.get_title()


def test_drift_draws_rope_score_drift():
    import rope

    q, k = np.random.default_rng(5).standard_normal((2, 8, 32))
    offsets = [0, 100, 10**5]
    ax = plot.drift(q, k, 3, offsets, dtypes=["float16"]).axes[0]
    exact = np.einsum("nd,nd->n", q, rope.apply(k.copy(), np.full(8, 3)))
    scale = np.sqrt(np.mean(exact ** 2))
    for line, angles in zip(ax.lines, ("exact", "float32")):
        drift = rope.score_drift(q, k, 3, offsets, dtype=np.float16, angles=angles)
        np.testing.assert_allclose(line.get_ydata(), np.sqrt(np.mean(drift ** 2, axis=0)) / scale)
        assert angles in line.get_label()


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
    for fig in (plot.spectrum(), plot.score_matrix(q, k, 8), plot.decay(16), plot.unit_circle(),
                plot.attention(q, k, 4), plot.drift(q, k, 1, [0, 10], dtypes=["float16"])):
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
