"""``python -m rope demo``: the RoPE course as small real computations, one formula each.

Every number printed is computed by rope itself (rope.apply, rope.frequencies, rope.periods,
rope.base_scale, rope.Rope); each section names the formula it illustrates and the section of
docs/theory.md that derives it, so a reader can check each number by hand. tests/test_cli.py
checks them against closed forms.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from ._api import apply
from ._explore import score_drift
from ._frequencies import attention_factor, base_scale, frequencies, periods

__all__ = ["demo"]

# Two configurations of released models: Qwen2.5 with YaRN, Llama 3.1.
QWEN25_YARN: dict[str, Any] = {"rope_type": "yarn", "factor": 4.0,
                               "original_max_position_embeddings": 32768}
LLAMA31: dict[str, Any] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


def _section(title: str, formula: str, theory: str) -> None:
    print()
    print(f"== {title}   (docs/theory.md: {theory})")
    print(f"   {formula}")


def _frequencies() -> None:
    _section("1. Frequencies", "θ_k = b^(−2(k−1)/d),  k = 1 … d/2;  period T_k = 2π/θ_k",
             "Frequencies")
    theta = frequencies(512)
    print(f"   d = 512, b = 10000:  theta_1 = {theta[0]:.17g}   theta_129 = {theta[128]:.17g}"
          "   (10000^(−256/512) = 0.01)")
    print(f"   d = 128, b = 10000:  T_64 = {periods(128)[-1]:.10f} tokens   (2π·10000^(126/128))")


def _one_pair() -> None:
    _section("2. One pair rotated",
             "x'_a = x_a cos pθ − x_b sin pθ,   x'_b = x_b cos pθ + x_a sin pθ",
             "The rotation")
    x = np.array([1.0, 0.0])
    rotated = apply(x.copy(), 2)
    print(f"   (x_a, x_b) = (1, 0), p = 2, θ_1 = 1:  rotated = ({rotated[0]:.12f}, "
          f"{rotated[1]:.12f})   = (cos 2, sin 2)")
    x = np.array([3.0, 4.0])
    print(f"   norm kept: |(3, 4)| = 5,  |Ro((3, 4), 7θ)| = "
          f"{np.linalg.norm(apply(x.copy(), 7)):.15f}")


def _relative_position() -> None:
    _section("3. Relative position",
             "⟨Ro(q, iθ), Ro(k, jθ)⟩ = ⟨q, Ro(k, (j−i)θ)⟩ depends on j − i only",
             "Why the score depends on the distance only")
    print("   'The₁ cat₂ is₃ sleeping₄ …'  and  '… the₈ cat₉ is₁₀ sleeping₁₁ …'  (d = 8)")
    cat, sleeping = np.random.default_rng(0).standard_normal((2, 8))
    for i, j in ((2, 4), (9, 11)):
        score = apply(cat.copy(), i) @ apply(sleeping.copy(), j)
        print(f"   score(cat at {i}, sleeping at {j}) = {score:+.12f}")
    moved = np.abs(apply(cat.copy(), 2) - apply(cat.copy(), 9)).max()
    print(f"   equal scores; different vectors: max|Ro(cat, 2θ) − Ro(cat, 9θ)| = {moved:.6f}")


def _scaling_condition() -> None:
    _section("4. The scaling condition",
             "Ro'(x_i, iθ) = Ro(x_i, iθ'): change the angles, keep the rotation",
             "The scaling condition")
    x = np.random.default_rng(1).standard_normal(8)
    i, c = 5, 3
    difference = np.abs(apply(x.copy(), i + c) - apply(apply(x.copy(), i), c)).max()
    print(f"   offset c = {c}: Ro(x, (i+c)θ) vs Ro(Ro(x, iθ), cθ) at i = {i}: "
          f"max difference = {difference:.1e}")


def _linear_interpolation() -> None:
    _section("5. Linear positional interpolation",
             "Ro'(x_i, iθ) = Ro(x_i, (m_l/m)·iθ),  θ'_k = θ_k/s,  s = m/m_l",
             "Linear interpolation")
    trained, target, i = 2048, 8192, 4096
    s = target / trained
    print(f"   m_l = {trained}, m = {target}, s = {s:g}: position {i} -> {i * trained / target:g}"
          f";  last position {target - 1} -> {(target - 1) * trained / target:g} < {trained}")
    x = np.random.default_rng(2).standard_normal(64)
    scaled = apply(x.copy(), i, scaling="linear", factor=s)
    plain = apply(x.copy(), i * trained // target)
    print(f"   rope.apply(x, {i}, scaling='linear', factor={s:g}) vs rope.apply(x, "
          f"{i * trained // target}): max difference = {np.abs(scaled - plain).max():.1e}")


def _period_matching() -> None:
    _section("6. Base scaling with period matching (NTK-aware)",
             "b' = λb,  2π(λb)^((d−2)/d) = s·2π·b^((d−2)/d)  ⇒  λ = s^(d/(d−2))",
             "Base scaling by period matching")
    d, s = 128, 4.0
    print(f"   d = {d}, s = {s:g}:  lambda = {base_scale(d, s):.10f}   (4^(128/126))")
    before = periods(d)[-1]
    after = periods(d, scaling="ntk", factor=s)[-1]
    linear = periods(d, scaling="linear", factor=s)[-1]
    print(f"   lowest-frequency period T_64: before = {before:.6f}  after = {after:.6f}  "
          f"linear interpolation = {linear:.6f}")
    print(f"   highest-frequency period T_1: before = {periods(d)[0]:.12f}  after = "
          f"{periods(d, scaling='ntk', factor=s)[0]:.12f}  (θ_1 = 1 for every base)")


def _high_and_low_pairs() -> None:
    _section("7. YaRN and Llama 3: keep high-frequency pairs, interpolate low-frequency ones",
             "ratio θ_k/θ'_k: 1 = kept as trained, s = linearly interpolated, between = ramp",
             "NTK-by-parts and YaRN; Llama 3")
    for name, base, config in (("YaRN (Qwen2.5: d 128, b 1e6, s 4, L 32768)", 1e6, QWEN25_YARN),
                               ("Llama 3.1 (d 128, b 5e5, s 8, low 1, high 4, L 8192)", 5e5,
                                LLAMA31)):
        ratio = frequencies(128, base) / frequencies(128, base, scaling=config)
        kept = int(np.sum(np.isclose(ratio, 1.0, rtol=1e-12)))
        interpolated = int(np.sum(np.isclose(ratio, config["factor"], rtol=1e-12)))
        print(f"   {name}:")
        print(f"     ratio pair 1 = {ratio[0]:.10g}   ratio pair 64 = {ratio[-1]:.10g}   "
              f"kept = {kept}   interpolated = {interpolated}   ramp = "
              f"{ratio.size - kept - interpolated}   attention factor = "
              f"{attention_factor(128, base, scaling=config):.10g}")
    theta = frequencies(128, 5e5)[30]
    print(f"   Llama 3.1 pair 31 (i = 30, in the ramp): {theta:.8e} -> "
          f"{frequencies(128, 5e5, scaling=LLAMA31)[30]:.8e}")


def _precision() -> None:
    _section("8. Exact angles at long positions",
             "float32 angle p·θ: one unit in the last place of 10^6 is 0.0625 rad",
             "Exact angles at long positions")
    cat, sleeping = np.random.default_rng(0).standard_normal((2, 128))
    offsets = [0, 10**3, 10**6]
    for angles in ("exact", "float32"):
        drift = score_drift(cat, sleeping, 2, offsets, dtype=np.float32, angles=angles)
        print(f"   float32 q, k; {angles:>7} angles: score(cat at i, sleeping at i + 2) − exact "
              f"at i = 0, 10^3, 10^6:  " + "  ".join(f"{v:+.2e}" for v in drift))


def prepare_out_dir(out_dir: str, parser: argparse.ArgumentParser) -> None:
    """Create the figures' directory or end with a usage error saying why it cannot be."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        parser.error(f"--out-dir {out_dir!r} is a file, not a directory")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        parser.error(f"--out-dir {out_dir!r}: cannot create it ({error.strerror or error})")
    if not os.access(out_dir, os.W_OK):
        parser.error(f"--out-dir {out_dir!r}: not writable")


def write_figures(out_dir: str) -> list[str]:
    """Write the course's figures as PNG files into `out_dir`; return their paths."""
    from . import plot

    os.makedirs(out_dir, exist_ok=True)
    cat, sleeping = np.random.default_rng(0).standard_normal((2, 64))
    ntk = {"rope_type": "ntk", "factor": 4.0}
    linear = {"rope_type": "linear", "factor": 4.0}
    yarn = dict(QWEN25_YARN, original_max_position_embeddings=4096)
    llama3 = dict(LLAMA31, factor=4.0, original_max_position_embeddings=4096)
    queries, keys = np.random.default_rng(1).standard_normal((2, 64, 128))
    figures = {
        "spectrum.png": plot.spectrum(128, 10000.0, [linear, ntk, yarn, llama3], context=4096),
        "spectrum_yarn.png": plot.spectrum(128, 10000.0, [yarn]),
        "spectrum_llama3.png": plot.spectrum(128, 10000.0, [llama3]),
        "score_matrix.png": plot.score_matrix(cat, sleeping, 48),
        "decay.png": plot.decay(128),
        "unit_circle.png": plot.unit_circle(),
        "drift.png": plot.drift(queries, keys, 2, [0, 10, 10**2, 10**3, 10**4, 10**5, 10**6]),
    }
    paths = []
    for name, fig in figures.items():
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def demo(out_dir: str | None = None) -> int:
    """Print the course; write its figures to `out_dir` if given and matplotlib is installed."""
    print("RoPE in eight computations, every number computed by rope; docs/theory.md derives "
          "each one.")
    _frequencies()
    _one_pair()
    _relative_position()
    _scaling_condition()
    _linear_interpolation()
    _period_matching()
    _high_and_low_pairs()
    _precision()
    print()
    if out_dir is None:
        print("Figures: add --out-dir DIR to write the course's figures (PNG) into DIR.")
        return 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("Figures: matplotlib is not installed (pip install -e \".[plot]\" in the rope "
              "clone); skipped.")
        return 0
    for path in write_figures(out_dir):
        print(f"Figure written: {path}")
    return 0
