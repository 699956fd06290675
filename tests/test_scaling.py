"""Context extension: the scaling condition, period matching, docs/theory.md's worked and
reference values, rope.Rope, and bad input.

Oracles: rope.reference (float64 NumPy rotation, no C), closed forms written out here from the
theory page, and a bisection solve of the period-matching equation.
"""
import json
import math
import pickle

import numpy as np
import pytest

import rope
from rope import reference
from rope._scaling import yarn_correction_range, resolve

from conftest import random_array, tolerance

LLAMA31 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
QWEN25_YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


# ---------------------------------------------------------------------------------------------
# Section 3: the scaling condition Ro'(x_i, i theta) = Ro(x_i, i theta')


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("factor", [2.0, 4.0, 8.0])
def test_linear_equals_unscaled_rotation_at_positions_over_s(dtype, factor):
    x = random_array((3, 40, 64), dtype)
    pos = np.arange(100, 140)
    got = rope.apply(x.copy(), pos, scaling="linear", factor=factor, layout="hsd")
    expected = reference.rotate(x, pos / factor, reference.frequencies(64))
    np.testing.assert_allclose(got, expected, rtol=0, atol=4 * tolerance(dtype))


@pytest.mark.parametrize("factor", [1.5, 4.0, 16.0])
@pytest.mark.parametrize("dim", [4, 64, 128])
def test_ntk_equals_unscaled_rotation_with_base_lambda_b(factor, dim):
    x = random_array((50, dim), np.float64)
    got = rope.apply(x.copy(), 7, scaling="ntk", factor=factor)
    lam = factor ** (dim / (dim - 2))  # period matching, written out independently of base_scale
    expected = rope.apply(x.copy(), 7, base=10000.0 * lam)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(rope.frequencies(dim, scaling="base", factor=factor),
                                  rope.frequencies(dim, scaling="ntk", factor=factor))


FAMILIES = [
    ("linear", {"factor": 4.0}),
    ("ntk", {"factor": 4.0}),
    ("dynamic", {"factor": 2.0, "max_position_embeddings": 64}),
    ("yarn", {"factor": 4.0, "original_max_position_embeddings": 64}),
    ("yarn", {"factor": 4.0, "original_max_position_embeddings": 64, "truncate": False,
              "beta_fast": 16, "beta_slow": 2, "mscale": 0.707, "mscale_all_dim": 1.0}),
    ("llama3", {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64}),
    ("longrope", {"short_factor": list(np.linspace(1, 2, 16)),
                  "long_factor": list(np.linspace(1, 9, 16)),
                  "original_max_position_embeddings": 64, "max_position_embeddings": 512}),
]


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("name,params", FAMILIES,
                         ids=[f"{n}{i}" for i, (n, _) in enumerate(FAMILIES)])
def test_every_family_is_the_original_rotation_at_its_frequencies_times_a(name, params,
                                                                          interleaved):
    """apply(scaling) == A * Ro(x, p theta') with theta' from rope.frequencies at the current
    length (largest position + 1), for short and long sequences."""
    for length in (40, 200):
        x = random_array((2, length, 40), np.float64, seed=length)
        pos = np.arange(length)
        got = rope.apply(x.copy(), pos, scaling=name, rotary_dim=32, interleaved=interleaved,
                         layout="hsd", **params)
        theta = rope.frequencies(32, scaling=name, seq_len=length, **params)
        a = rope.attention_factor(32, scaling=name, **params)
        expected = reference.rotate(x, pos, theta, interleaved=interleaved)
        expected[..., :32] *= a
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_attention_scaling_switch_leaves_a_pure_rotation():
    x = random_array((8, 64), np.float32)
    params = dict(scaling="yarn", factor=8.0, original_max_position_embeddings=32)
    plain = rope.apply(x.copy(), 3, attention_scaling=False, **params)
    scaled = rope.apply(x.copy(), 3, **params)
    a = rope.attention_factor(64, **params)
    assert a == pytest.approx(0.1 * math.log(8.0) + 1)
    np.testing.assert_allclose(np.linalg.norm(plain, axis=-1), np.linalg.norm(x, axis=-1),
                               rtol=1e-6)
    np.testing.assert_allclose(scaled, a * plain.astype(np.float64), rtol=2e-7, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Section 4: linear interpolation, worked values


def test_linear_worked_value_4096_maps_to_1024():
    m_l, m = 2048, 8192
    x = random_array((1, 128), np.float64)
    scaled = rope.apply(x.copy(), 4096, scaling="linear", factor=m / m_l)
    plain = rope.apply(x.copy(), 1024)
    np.testing.assert_array_equal(scaled, plain)  # 4096 * theta/4 == 1024 * theta exactly


def test_linear_last_new_position_falls_inside_trained_range():
    m_l, m = 2048, 8192
    theta, theta_s = rope.frequencies(128), rope.frequencies(128, scaling="linear", factor=m / m_l)
    effective = (m - 1) * theta_s / theta  # the position the model sees for token m - 1
    np.testing.assert_allclose(effective, (m_l / m) * (m - 1), rtol=1e-15)
    assert np.all(effective < m_l)


# ---------------------------------------------------------------------------------------------
# Section 5: base scaling by period matching


def _solve_lambda(dim, factor, base=10000.0):
    """lambda from 2 pi (lambda b)**((d-2)/d) = factor * 2 pi b**((d-2)/d), by bisection on
    log(lambda), without the closed form."""
    def mismatch(log_lam):
        return 2 * math.pi * (math.exp(log_lam) * base) ** ((dim - 2) / dim) - \
            factor * 2 * math.pi * base ** ((dim - 2) / dim)
    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mismatch(mid) > 0:
            hi = mid
        else:
            lo = mid
    return math.exp(0.5 * (lo + hi))


@pytest.mark.parametrize("dim", [4, 8, 64, 128, 256])
@pytest.mark.parametrize("factor", [0.5, 2.0, 4.0, 32.0])
def test_period_matching(dim, factor):
    assert rope.base_scale(dim, factor) == pytest.approx(_solve_lambda(dim, factor), rel=1e-12)
    # the lowest-frequency pair's period is factor times the original ...
    ntk = rope.periods(dim, scaling="ntk", factor=factor)
    assert ntk[-1] == pytest.approx(factor * rope.periods(dim)[-1], rel=1e-12)
    # ... while the highest-frequency pair keeps theta_1 = 1 at every base
    assert ntk[0] == 2 * math.pi


def test_lambda_worked_value_and_growth():
    assert rope.base_scale(128, 4.0) == pytest.approx(4.088994, abs=1e-6)
    assert rope.base_scale(128, 2.0) > 2.0  # m = 2 m_l gives lambda = 2**(d/(d-2)) > 2
    lams = [rope.base_scale(128, s) for s in (1.0, 1.5, 2.0, 4.0, 8.0, 64.0)]
    assert lams[0] == 1.0 and all(a < b for a, b in zip(lams, lams[1:]))


@pytest.mark.parametrize("dim,factor", [(2, 4.0), (0, 4.0), (128, 0.0), (128, -1.0)])
def test_base_scale_rejects(dim, factor):
    with pytest.raises(ValueError):
        rope.base_scale(dim, factor)


# ---------------------------------------------------------------------------------------------
# Section 6: reference values


def test_llama31_reference_values():
    theta = rope.frequencies(128, base=500000.0, scaling=LLAMA31)
    omega = reference.frequencies(128, 500000.0)
    np.testing.assert_array_equal(theta[:29], omega[:29])
    np.testing.assert_allclose(theta[35:], omega[35:] / 8, rtol=1e-15)
    assert omega[30] == pytest.approx(2.1311195e-3, rel=1e-7)
    assert theta[30] == pytest.approx(1.3718936e-3, rel=1e-7)
    # between the bands, Llama 3's smoothing written out
    wavelength = 2 * math.pi / omega[29:35]
    sigma = (8192 / wavelength - 1.0) / (4.0 - 1.0)
    np.testing.assert_allclose(theta[29:35], (1 - sigma) * omega[29:35] / 8 + sigma * omega[29:35],
                               rtol=1e-15)


def test_llama3_with_equal_factors_is_a_step():
    """Llama 4 Scout: low_freq_factor == high_freq_factor == 1 leaves no band to smooth:
    wavelengths up to original_max_position_embeddings keep their frequency, longer ones are
    divided by the factor (transformers' where(wavelen > low_freq_wavelen, ...))."""
    theta = rope.frequencies(128, 500000.0, "llama3", factor=16.0, low_freq_factor=1.0,
                             high_freq_factor=1.0, original_max_position_embeddings=8192)
    omega = reference.frequencies(128, 500000.0)
    long = 2 * math.pi / omega > 8192
    assert 0 < long.sum() < 64
    np.testing.assert_array_equal(theta[~long], omega[~long])
    np.testing.assert_allclose(theta[long], omega[long] / 16, rtol=1e-15)


def test_qwen25_yarn_reference_values():
    _, _, params, _ = resolve(1e6, QWEN25_YARN, {})
    assert yarn_correction_range(128, 1e6, params) == (23, 40)
    theta = rope.frequencies(128, base=1e6, scaling=QWEN25_YARN)
    omega = reference.frequencies(128, 1e6)
    np.testing.assert_array_equal(theta[:24], omega[:24])  # ramp 0 up to lo = 23
    np.testing.assert_allclose(theta[40:], omega[40:] / 4, rtol=1e-15)
    i = np.arange(24, 40)
    keep = 1 - (i - 23) / (40 - 23)
    np.testing.assert_allclose(theta[24:40], omega[i] * keep + omega[i] / 4 * (1 - keep),
                               rtol=1e-15)
    assert rope.attention_factor(128, 1e6, QWEN25_YARN) == pytest.approx(1.1386294, abs=1e-7)


def test_yarn_without_truncation_uses_the_continuous_range():
    _, _, params, _ = resolve(1e6, {**QWEN25_YARN, "truncate": False}, {})
    lo, hi = yarn_correction_range(128, 1e6, params)
    assert lo == pytest.approx(128 * math.log(32768 / (32 * 2 * math.pi)) / (2 * math.log(1e6)))
    assert hi == pytest.approx(128 * math.log(32768 / (2 * math.pi)) / (2 * math.log(1e6)))
    assert not float(lo).is_integer()


def test_dynamic_ntk_reference_base_and_seq_len_rule():
    r = rope.Rope(128, scaling="dynamic", factor=2.0, max_position_embeddings=4096)
    assert r.frequencies_at(8192)[1] ** -64 == pytest.approx(30527.7367, abs=1e-4)
    closed = 10000.0 * (2.0 * 8192 / 4096 - 1.0) ** (128 / 126)
    np.testing.assert_allclose(r.frequencies_at(8192), reference.frequencies(128, closed),
                               rtol=1e-14)
    # no change while the sequence fits the trained window
    np.testing.assert_array_equal(r.frequencies_at(4096), reference.frequencies(128))
    np.testing.assert_array_equal(r.frequencies, reference.frequencies(128))
    # apply takes the length from the positions (largest + 1), or an explicit seq_len
    x = random_array((8192, 128), np.float64)
    got = r.apply(x.copy(), 0)
    expected = rope.apply(x.copy(), 0, base=closed)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11)
    tail = x[-4:]
    np.testing.assert_allclose(r.apply(tail.copy(), 8188), expected[-4:], rtol=0, atol=1e-11)
    np.testing.assert_allclose(r.apply(tail.copy(), 8188, seq_len=4096),
                               rope.apply(tail.copy(), 8188), rtol=0, atol=1e-11)


def test_longrope_switches_to_long_factors_past_the_original_length():
    short, long = np.linspace(1.0, 1.5, 48), np.linspace(1.0, 40.0, 48)
    params = dict(scaling="longrope", short_factor=list(short), long_factor=list(long),
                  original_max_position_embeddings=4096, max_position_embeddings=131072)
    omega = reference.frequencies(96)
    np.testing.assert_allclose(rope.frequencies(96, **params), omega / short, rtol=1e-15)
    np.testing.assert_allclose(rope.frequencies(96, seq_len=4096, **params), omega / short,
                               rtol=1e-15)
    np.testing.assert_allclose(rope.frequencies(96, seq_len=4097, **params), omega / long,
                               rtol=1e-15)
    # Phi-3: s = 131072 / 4096 from the lengths when factor is absent
    assert rope.attention_factor(96, **params) == pytest.approx(
        math.sqrt(1 + math.log(32) / math.log(4096)), rel=1e-15)
    assert rope.attention_factor(96, **params, factor=1.0) == 1.0
    assert rope.attention_factor(96, **params, attention_factor=1.25) == 1.25


# ---------------------------------------------------------------------------------------------
# Hugging Face dicts and rope.Rope


def test_hf_dict_passes_straight_in():
    as_dict = rope.frequencies(128, scaling={**LLAMA31, "rope_theta": 500000.0})
    as_kwargs = rope.frequencies(128, 500000.0, "llama3", factor=8.0, low_freq_factor=1.0,
                                 high_freq_factor=4.0, original_max_position_embeddings=8192)
    np.testing.assert_array_equal(as_dict, as_kwargs)
    legacy = {k if k != "rope_type" else "type": v for k, v in LLAMA31.items()}
    np.testing.assert_array_equal(rope.frequencies(128, 500000.0, legacy), as_kwargs)
    np.testing.assert_array_equal(rope.frequencies(128, scaling={"rope_type": "default"}),
                                  reference.frequencies(128))
    # partial_rotary_factor in the dict: dim is the head dimension, int(dim * f) rotate
    np.testing.assert_array_equal(
        rope.frequencies(80, scaling={"rope_type": "default", "partial_rotary_factor": 0.4}),
        reference.frequencies(32))


def test_rope_config_equality_hash_repr_immutability():
    a = rope.Rope(128, 500000.0, LLAMA31)
    b = rope.Rope(head_dim=128, base=500000.0, scaling="llama3", factor=8, low_freq_factor=1,
                  high_freq_factor=4, original_max_position_embeddings=8192)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != rope.Rope(128, 500000.0)
    assert a != rope.Rope(128, 500000.0, LLAMA31, interleaved=True)
    assert "scaling='llama3'" in repr(a) and "factor=8.0" in repr(a)
    assert eval(repr(a), {"Rope": rope.Rope}) == a
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.base = 1e4
    with pytest.raises(ValueError):
        a.frequencies[0] = 2.0  # read-only cache
    np.testing.assert_array_equal(a.periods, 2 * np.pi / a.frequencies)
    r = rope.Rope(80, partial_rotary_factor=0.5)
    assert r.rotary_dim == 40 and "rotary_dim=40" in repr(r)
    assert eval(repr(r), {"Rope": rope.Rope}) == r


def test_rope_reuses_tables_for_q_and_k():
    r = rope.Rope(64, scaling="yarn", factor=4.0, original_max_position_embeddings=16)
    pos = np.arange(5, 37)
    first = r.tables(pos[:, None], np.float32)
    again = r.tables(pos[:, None].copy(), np.float32)
    assert first[0] is again[0] and first[1] is again[1]
    assert r.tables(pos[:, None] + 1, np.float32)[0] is not first[0]
    q, k = random_array((32, 4, 64), np.float32, 1), random_array((32, 4, 64), np.float32, 2)
    expected_q = rope.apply(q.copy(), pos, seq_axis=-3, scaling="yarn", factor=4.0,
                            original_max_position_embeddings=16)
    expected_k = rope.apply(k.copy(), pos, seq_axis=-3, scaling="yarn", factor=4.0,
                            original_max_position_embeddings=16)
    np.testing.assert_array_equal(r.apply(q, pos, seq_axis=-3), expected_q)
    np.testing.assert_array_equal(r.apply(k, pos, seq_axis=-3), expected_k)


def test_inverse_without_attention_scaling_round_trips():
    r = rope.Rope(64, scaling="yarn", factor=4.0, original_max_position_embeddings=16)
    x = random_array((10, 64), np.float64)
    y = r.apply(x.copy(), 3, attention_scaling=False)
    np.testing.assert_allclose(r.apply(y, 3, inverse=True, attention_scaling=False), x,
                               atol=1e-13)


def test_from_hf_config_path_folder_and_dict(tmp_path):
    config = {"hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 500000.0,
              "max_position_embeddings": 131072, "rope_scaling": LLAMA31}
    (tmp_path / "config.json").write_text(json.dumps(config))
    expected = rope.Rope(128, 500000.0, LLAMA31)
    assert rope.Rope.from_hf_config(config) == expected
    assert rope.Rope.from_hf_config(tmp_path / "config.json") == expected
    assert rope.Rope.from_hf_config(str(tmp_path)) == expected
    # transformers >= 5: rope_parameters carries rope_theta
    v5 = {"head_dim": 128, "rope_parameters": {**LLAMA31, "rope_theta": 500000.0}}
    assert rope.Rope.from_hf_config(v5) == expected
    plain = rope.Rope.from_hf_config({"hidden_size": 2560, "num_attention_heads": 32,
                                      "partial_rotary_factor": 0.25, "rope_theta": 10000})
    assert (plain.dim, plain.rotary_dim, plain.scaling) == (80, 20, None)
    nulls = {"head_dim": 64, "rope_theta": 5e5, "rope_scaling": {"rope_type": "default",
                                                                 "rope_theta": None}}
    assert rope.Rope.from_hf_config(nulls) == rope.Rope(64, 5e5)
    assert rope.Rope.from_hf_config({"head_dim": 64}) == rope.Rope(64, 10000.0)


def test_from_hf_config_phi3_top_level_original_length_wins():
    short, long = [1.0] * 48, [2.0] * 48
    config = {"hidden_size": 3072, "num_attention_heads": 32, "max_position_embeddings": 131072,
              "original_max_position_embeddings": 4096, "rope_theta": 10000.0,
              "rope_scaling": {"type": "longrope", "short_factor": short, "long_factor": long,
                               "original_max_position_embeddings": 2048}}
    r = rope.Rope.from_hf_config(config)
    assert r.params["original_max_position_embeddings"] == 4096
    assert r.attention_factor == pytest.approx(math.sqrt(1 + math.log(32) / math.log(4096)))


def test_from_hf_config_per_layer_and_text_config():
    config = {"text_config": {"head_dim": 256, "rope_parameters": {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
        "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}}
    with pytest.raises(ValueError, match="layer_type"):
        rope.Rope.from_hf_config(config)
    assert rope.Rope.from_hf_config(config, layer_type="full_attention") == \
        rope.Rope(256, 1e6, "linear", factor=8.0)
    assert rope.Rope.from_hf_config(config, layer_type="sliding_attention") == rope.Rope(256)


# ---------------------------------------------------------------------------------------------
# Bad input: clear exceptions, x untouched

BAD = [
    (dict(scaling="yarnn"), ValueError, "known: 'linear', 'ntk', 'dynamic', 'yarn'"),
    (dict(scaling={"rope_type": "su"}), ValueError, "unknown scaling 'su'"),
    (dict(scaling="linear"), ValueError, "needs factor"),
    (dict(scaling="yarn", factor=4.0), ValueError, "original_max_position_embeddings"),
    (dict(scaling="dynamic", factor=2.0), ValueError, "max_position_embeddings"),
    (dict(scaling="linear", factor=0.0), ValueError, "factor must be > 0"),
    (dict(scaling="ntk", factor=-2.0), ValueError, "factor must be > 0"),
    (dict(scaling="linear", factor="4"), TypeError, "factor must be a real number"),
    (dict(scaling="linear", factor=4.0, low_freq_fator=1.0), TypeError, "low_freq_fator"),
    (dict(factor=4.0), TypeError, "without a scaling"),
    (dict(scaling="llama3", factor=8.0, low_freq_factor=4.0, high_freq_factor=1.0,
          original_max_position_embeddings=8192), ValueError, "low_freq_factor <= high_freq"),
    (dict(scaling="longrope", short_factor=[1.0] * 7, long_factor=[1.0] * 8,
          original_max_position_embeddings=64, factor=2.0), ValueError, "short_factor has 7"),
    (dict(scaling="longrope", short_factor=[1.0] * 8, long_factor=[1.0] * 9,
          original_max_position_embeddings=64, factor=2.0), ValueError, "long_factor has 9"),
    (dict(scaling="longrope", short_factor=[1.0] * 8, long_factor=[1.0] * 8,
          original_max_position_embeddings=64), ValueError, "needs factor"),
    (dict(scaling="longrope", short_factor=[1.0] * 8, long_factor=[1.0, 0.0] * 4,
          original_max_position_embeddings=64, factor=2.0), ValueError, r"long_factor\[1\]"),
    (dict(scaling="yarn", factor=4.0, original_max_position_embeddings=64, beta_fast=1,
          beta_slow=32), ValueError, "beta_fast >= beta_slow"),
    (dict(scaling="yarn", factor=4.0, original_max_position_embeddings=64, truncate="no"),
     TypeError, "truncate"),
    (dict(scaling={"rope_type": "yarn", "type": "linear", "factor": 2.0}), ValueError, "two"),
    (dict(scaling="yarn", factor=4.0, original_max_position_embeddings=64, beta_slow=-1),
     ValueError, "beta_slow must be >= 0"),
    (dict(scaling=3), TypeError, "scaling must be"),
    (dict(scaling="linear", factor=2.0, seq_len=0), ValueError, "seq_len"),
]


@pytest.mark.parametrize("kwargs,exc,match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_scaling_raises_clearly_and_leaves_x_untouched(kwargs, exc, match):
    x = random_array((4, 16), np.float32)
    before = x.copy()
    with pytest.raises(exc, match=match):
        rope.apply(x, 0, **kwargs)
    assert x.tobytes() == before.tobytes()
    with pytest.raises(exc, match=match):
        rope.frequencies(16, **kwargs)


def test_rope_rejects_mismatched_arrays_untouched():
    r = rope.Rope(16)
    x = random_array((4, 32), np.float32)
    before = x.copy()
    with pytest.raises(ValueError, match="dim=16"):
        r.apply(x, 0)
    assert x.tobytes() == before.tobytes()
    with pytest.raises(ValueError, match="disagrees"):
        rope.Rope(64, rotary_dim=16, partial_rotary_factor=0.5)
    with pytest.raises(ValueError, match="partial_rotary_factor"):
        rope.Rope(64, partial_rotary_factor=1.5)


def test_unreadable_config(tmp_path):
    with pytest.raises(OSError, match="cannot read"):
        rope.Rope.from_hf_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON"):
        rope.Rope.from_hf_config(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a config"):
        rope.Rope.from_hf_config(tmp_path / "list.json")
    with pytest.raises(ValueError, match="head dimension"):
        rope.Rope.from_hf_config({"rope_theta": 1e4})
    with pytest.raises(TypeError, match="path"):
        rope.Rope.from_hf_config(42)


def test_apply_config_cache_keeps_checks_and_results():
    """rope.apply reuses recent configurations; equal-hashing arguments of another type must
    still be judged, and a cached configuration gives the uncached result."""
    x = random_array((6, 16), np.float64)
    first = rope.apply(x.copy(), 2, scaling="linear", factor=1)
    with pytest.raises(TypeError, match="factor"):
        rope.apply(x.copy(), 2, scaling="linear", factor=True)
    with pytest.raises(TypeError, match="interleaved"):
        rope.apply(x.copy(), 2, interleaved=1)
    np.testing.assert_array_equal(rope.apply(x.copy(), 2, scaling="linear", factor=1), first)
    np.testing.assert_array_equal(rope.apply(x.copy(), 2), first)  # factor 1 is no scaling
    scaling = {"rope_type": "longrope", "short_factor": np.linspace(1, 2, 8),
               "long_factor": [3.0] * 8, "factor": 2.0, "original_max_position_embeddings": 4}
    got = rope.apply(x.copy(), 2, scaling=scaling)
    theta = reference.frequencies(16) / 3.0  # positions 2 ... 7: length 8 > 4, long factors
    expected = rope.attention_factor(16, scaling=scaling) * \
        reference.rotate(x, np.arange(2, 8), theta)
    np.testing.assert_allclose(got, expected, atol=1e-13)


def test_proportional_rotates_the_first_pairs_of_the_whole_head():
    """Gemma 4: int(f * d // 2) pairs at base**(-2i/d) / factor, pairs (i, i + d/2) over the
    whole head, the rest untouched (period inf)."""
    d, f = 512, 0.25
    theta = rope.frequencies(d, 1e6, {"rope_type": "proportional", "partial_rotary_factor": f},
                             factor=2.0)
    omega = reference.frequencies(d, 1e6)
    np.testing.assert_allclose(theta[:64], omega[:64] / 2.0, rtol=1e-15)
    assert np.all(theta[64:] == 0.0) and theta.shape == (256,)
    assert np.all(np.isinf(rope.periods(d, 1e6, "proportional", partial_rotary_factor=f)[64:]))
    x = random_array((5, d), np.float64)
    r = rope.Rope(d, 1e6, "proportional", partial_rotary_factor=f, factor=2.0)
    assert r.rotary_dim == d
    got = r.apply(x.copy(), 100)
    np.testing.assert_allclose(got, reference.rotate(x, np.arange(100, 105), theta), atol=1e-12)
    untouched = np.r_[64:256, 256 + 64:512]
    np.testing.assert_array_equal(got[:, untouched], x[:, untouched])


def test_one_rope_shared_by_threads_gives_the_serial_results():
    """The cached tables and lengths are shared state: threads applying one Rope at different
    positions (and lengths, for dynamic) must each get their own rotation."""
    from concurrent.futures import ThreadPoolExecutor
    r = rope.Rope(64, scaling="dynamic", factor=2.0, max_position_embeddings=32)
    xs = [random_array((2, 16 + 8 * i, 64), np.float32, seed=i) for i in range(12)]
    offsets = [5 * i for i in range(12)]
    expected = [rope.Rope(64, scaling="dynamic", factor=2.0, max_position_embeddings=32)
                .apply(x.copy(), off, layout="hsd") for x, off in zip(xs, offsets)]
    for _ in range(5):
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda a: r.apply(a[0].copy(), a[1], layout="hsd"),
                                zip(xs, offsets)))
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
