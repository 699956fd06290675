"""The teaching and measurement functions (rope.score_matrix, attention_weights, decay_bound,
scaling_bands, score_drift) against independent oracles: the float64 reference rotation, the
closed forms, ml_dtypes' and torch's bfloat16, and Hugging Face's own rotation in torch."""
import math

import numpy as np
import pytest

import rope
from rope import reference
from rope._explore import round_to_bfloat16


def reference_scores(q, k, query_positions, key_positions, theta):
    return np.array([[reference.rotate(q, i, theta) @ reference.rotate(k, j, theta)
                      for j in key_positions] for i in query_positions])


# ---- score_matrix, attention_weights -------------------------------------------------------

def test_score_matrix_against_the_reference_and_toeplitz():
    q, k = np.random.default_rng(3).standard_normal((2, 16))
    scores = rope.score_matrix(q, k, 20)
    np.testing.assert_allclose(scores, reference_scores(q, k, range(20), range(20),
                                                        reference.frequencies(16)), atol=1e-12)
    for offset in range(-19, 20):                                   # constant along diagonals
        diagonal = np.diagonal(scores, offset)
        np.testing.assert_allclose(diagonal, diagonal[0], atol=1e-12)


def test_score_matrix_per_position_vectors_key_positions_and_interleaved():
    rng = np.random.default_rng(4)
    q, k = rng.standard_normal((2, 5, 8))
    qpos, kpos = np.array([3, 9, 100, 7, 0]), np.array([1, 2, 3, 4, 5])
    theta = reference.frequencies(8, 500.0)
    scores = rope.score_matrix(q, k, qpos, kpos, base=500.0, interleaved=True)
    expected = np.array([[reference.rotate(q[a], qpos[a], theta, interleaved=True) @
                          reference.rotate(k[b], kpos[b], theta, interleaved=True)
                          for b in range(5)] for a in range(5)])
    np.testing.assert_allclose(scores, expected, atol=1e-12)


def test_score_matrix_carries_the_square_of_the_attention_factor():
    q, k = np.random.default_rng(5).standard_normal((2, 16))
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
    theta = rope.frequencies(16, scaling=yarn)
    a = 0.1 * math.log(4) + 1
    np.testing.assert_allclose(rope.score_matrix(q, k, 6, scaling=yarn),
                               a * a * reference_scores(q, k, range(6), range(6), theta),
                               atol=1e-12)


def test_score_matrix_with_dynamic_scaling_takes_one_length():
    q, k = np.random.default_rng(6).standard_normal((2, 32))
    dynamic = {"scaling": "dynamic", "factor": 4.0, "max_position_embeddings": 64}
    theta = rope.frequencies(32, seq_len=1000, **dynamic)
    near = rope.score_matrix(q, k, [10], [300], seq_len=1000, **dynamic)
    far = rope.score_matrix(q, k, [500], [790], seq_len=1000, **dynamic)
    expected = reference.rotate(q, 10, theta) @ reference.rotate(k, 300, theta)
    np.testing.assert_allclose([near[0, 0], far[0, 0]], expected, atol=1e-12)
    # by default the length is the largest position + 1: another base for the second pair
    default = rope.score_matrix(q, k, [500], [790], **dynamic)[0, 0]
    theta_791 = rope.frequencies(32, seq_len=791, **dynamic)
    assert default == pytest.approx(reference.rotate(q, 500, theta_791) @
                                    reference.rotate(k, 790, theta_791), abs=1e-12)


@pytest.mark.parametrize("args, match", [
    ((np.ones(8), np.ones(6), 4), "one length"),
    ((np.ones((3, 8)), np.ones(8), 4), r"\(4, d\)"),
    ((np.ones(8), np.ones(8), 0), "positions"),
    ((np.ones(8), np.ones(8), [0.5, 1.5]), "integer"),
])
def test_score_matrix_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        rope.score_matrix(*args)


def test_attention_weights_are_the_causal_softmax_of_the_scores():
    q, k = np.random.default_rng(6).standard_normal((2, 7, 32))
    theta = reference.frequencies(32)
    scores = np.array([[reference.rotate(q[i], i, theta) @ reference.rotate(k[j], j, theta)
                        for j in range(7)] for i in range(7)]) / math.sqrt(32)
    expected = np.zeros_like(scores)
    for i in range(7):
        e = np.exp(scores[i, :i + 1] - scores[i, :i + 1].max())
        expected[i, :i + 1] = e / e.sum()
    np.testing.assert_allclose(rope.attention_weights(q, k, 7), expected, atol=1e-14)
    full = rope.attention_weights(q, k, 7, causal=False)
    np.testing.assert_allclose(full.sum(axis=1), 1.0)
    assert (full > 0).all()
    with pytest.raises(ValueError, match="causal"):
        rope.attention_weights(q[:2], k[:2], [0, 1], [5, 6])


def test_a_sentence_moved_along_keeps_its_attention_pattern():
    # "The cat is sleeping": the same token vectors at positions 1-4 and at 8-11.
    q, k = np.random.default_rng(7).standard_normal((2, 4, 64))
    near = rope.attention_weights(q, k, np.arange(1, 5))
    far = rope.attention_weights(q, k, np.arange(8, 12))
    np.testing.assert_allclose(near, far, atol=1e-13)


# ---- decay_bound ----------------------------------------------------------------------------

def test_decay_bound_is_roformers_abel_sum():
    d, base = 32, 10000.0
    theta = reference.frequencies(d, base)
    for r in (0, 1, 7, 100):
        partial = [abs(sum(complex(math.cos(r * t), math.sin(r * t)) for t in theta[:j]))
                   for j in range(1, d // 2 + 1)]
        assert rope.decay_bound(d, base, [r])[0] == pytest.approx(sum(partial) / (d / 2),
                                                                   rel=1e-12)
    bound = rope.decay_bound(128, distances=np.arange(300))
    assert bound[0] == pytest.approx((64 + 1) / 2)
    assert bound[-50:].mean() < bound[:10].mean() / 2               # it decays with distance
    linear = rope.decay_bound(128, distances=[40], scaling="linear", factor=4.0)
    assert linear[0] == pytest.approx(rope.decay_bound(128, distances=[10])[0], rel=1e-12)


# ---- scaling_bands --------------------------------------------------------------------------

def test_scaling_bands_llama31_and_qwen25():
    llama = rope.scaling_bands(128, 500000.0, "llama3", factor=8.0, low_freq_factor=1.0,
                               high_freq_factor=4.0, original_max_position_embeddings=8192)
    assert np.flatnonzero(llama.kept).tolist() == list(range(29))
    assert np.flatnonzero(llama.interpolated).tolist() == list(range(35, 64))
    assert (llama.keep_below, llama.interpolate_above, llama.context) == (2048.0, 8192.0, 8192.0)
    qwen = rope.scaling_bands(128, 1e6, "yarn", factor=4.0,
                              original_max_position_embeddings=32768)
    # lo = floor(c(32)) = 23, hi = ceil(c(1)) = 40: i <= 23 kept, i >= 40 interpolated
    assert np.flatnonzero(qwen.kept).tolist() == list(range(24))
    assert np.flatnonzero(qwen.interpolated).tolist() == list(range(40, 64))
    assert (qwen.keep_below, qwen.interpolate_above) == (1024.0, 32768.0)
    assert qwen.factor == 4.0


@pytest.mark.parametrize("base", [1e4, 5e5, 1e6])
@pytest.mark.parametrize("family", ["yarn", "llama3"])
def test_bands_agree_with_the_threshold_wavelengths(base, family):
    params = {"factor": 4.0, "original_max_position_embeddings": 4096}
    if family == "llama3":
        params.update(low_freq_factor=1.0, high_freq_factor=4.0)
    bands = rope.scaling_bands(128, base, family, **params)
    period = 2 * np.pi / reference.frequencies(128, base)
    assert (period[bands.kept] <= bands.keep_below).all()
    assert (period[bands.interpolated] >= bands.interpolate_above).all()
    assert (bands.kept | bands.ramp | bands.interpolated).all()
    assert not (bands.kept & bands.interpolated).any()


def test_bands_of_the_families_without_thresholds():
    plain = rope.scaling_bands(64)
    assert plain.kept.all() and plain.factor is None and plain.keep_below is None
    linear = rope.scaling_bands(64, scaling="linear", factor=2.0)
    assert linear.interpolated.all()
    ntk = rope.scaling_bands(64, scaling="ntk", factor=2.0)
    # θ_1 = 1 at every base; the last pair's period is matched to linear interpolation's
    assert ntk.kept[0] and ntk.ramp[1:-1].all() and ntk.interpolated[-1]


# ---- bfloat16 rounding ----------------------------------------------------------------------

def bfloat16_test_values():
    rng = np.random.default_rng(8)
    bits = rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**16, 1000, dtype=np.uint32) << 16) | np.uint32(0x8000)
    special = np.array([0.0, -0.0, 1.0, np.inf, -np.inf, 3.3895314e38, 3.4028235e38, 1e-45,
                        1.17549435e-38, 1.00390625, 1.01171875], np.float32).view(np.uint32)
    return np.concatenate([bits, ties, special]).view(np.float32)


def test_round_to_bfloat16_by_hand():
    # 1 + 2^-8 is the tie between 1 and 1 + 2^-7: to even (1); 1 + 3·2^-8 goes up to 1 + 2^-6.
    assert round_to_bfloat16([1.0, 1.00390625, 1.01171875, 1.0078125]).tolist() == \
        [1.0, 1.0, 1.015625, 1.0078125]
    assert round_to_bfloat16([3.4028235e38])[0] == np.inf          # past the largest: infinity
    assert np.isnan(round_to_bfloat16([np.nan])[0])


def test_round_to_bfloat16_matches_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    values = bfloat16_test_values()
    ours = round_to_bfloat16(values)
    with np.errstate(invalid="ignore"):                             # its NaN casts warn
        theirs = values.astype(ml_dtypes.bfloat16).astype(np.float32)
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(ours[finite].view(np.uint32), theirs[finite].view(np.uint32))
    assert np.isnan(ours[~finite]).all()


def test_round_to_bfloat16_matches_torch():
    torch = pytest.importorskip("torch")
    values = bfloat16_test_values()
    theirs = torch.from_numpy(values).to(torch.bfloat16).float().numpy()
    ours = round_to_bfloat16(values)
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(ours[finite].view(np.uint32), theirs[finite].view(np.uint32))


# ---- score_drift ----------------------------------------------------------------------------

OFFSETS = np.array([0, 10**3, 10**4, 10**5, 10**6])


@pytest.fixture(scope="module")
def pairs():
    return np.random.default_rng(9).standard_normal((2, 32, 128))


def test_float64_with_exact_angles_does_not_drift(pairs):
    q, k = pairs
    drift = rope.score_drift(q, k, 2, OFFSETS, dtype=np.float64)
    assert drift.shape == (32, OFFSETS.size)
    assert np.abs(drift).max() < 1e-12


@pytest.mark.parametrize("dtype, eps", [(np.float32, 2.0**-24), (np.float16, 2.0**-11),
                                        ("bfloat16", 2.0**-8)])
def test_storage_drift_is_the_dtypes_rounding_at_every_offset(pairs, dtype, eps):
    q, k = pairs
    drift = rope.score_drift(q, k, 2, OFFSETS, dtype=dtype)
    norms = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1)
    relative = np.abs(drift) / norms[:, None]
    # Two rounded vectors: |error| <= ~2 eps |q||k| (Cauchy-Schwarz), at any offset.
    assert relative.max() < 3 * eps
    rms = np.sqrt(np.mean(relative ** 2, axis=0))
    assert rms.max() < 4 * rms.min()                                 # flat in the offset


def test_float32_angles_drift_grows_with_the_offset(pairs):
    q, k = pairs
    drift = rope.score_drift(q, k, 2, OFFSETS, dtype=np.float64, angles="float32")
    rms = np.sqrt(np.mean(drift ** 2, axis=0))
    assert (np.diff(rms[1:]) > 0).all()
    assert rms[-1] > 1000 * rms[0]
    norms = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1)
    # at 10^6 the fast pairs' angles are off by up to ulp(10^6)/2 = 0.03 rad, against
    # 1e-16 relative for float64 storage alone
    assert 1e-4 < np.median(np.abs(drift[:, -1]) / norms) < 1e-2


def test_exact_path_is_the_reference_rotation_rounded_once(pairs):
    q, k = pairs[0][:4], pairs[1][:4]
    theta = reference.frequencies(128)
    drift = rope.score_drift(q, k, 5, OFFSETS, dtype=np.float32)
    q32, k32 = q.astype(np.float32).astype(np.float64), k.astype(np.float32).astype(np.float64)
    exact = np.einsum("nd,nd->n", q32, reference.rotate(k32, 5, theta))
    for j, i in enumerate(OFFSETS):
        rq = reference.rotate(q32, i, theta).astype(np.float32).astype(np.float64)
        rk = reference.rotate(k32, i + 5, theta).astype(np.float32).astype(np.float64)
        # the reference's float64 angle at 10^6 is within ~1e-10 rad: far below float32 rounding
        np.testing.assert_allclose(drift[:, j], np.einsum("nd,nd->n", rq, rk) - exact,
                                   atol=2e-5)


def test_bfloat16_as_an_ml_dtypes_dtype_is_the_emulation(pairs):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    q, k = pairs
    for angles in ("exact", "float32"):
        np.testing.assert_array_equal(
            rope.score_drift(q, k, 3, OFFSETS, dtype=ml_dtypes.bfloat16, angles=angles),
            rope.score_drift(q, k, 3, OFFSETS, dtype="bfloat16", angles=angles))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_float32_angles_are_hugging_faces_rotation(pairs, dtype):
    """The float32-angle path against transformers' apply_rotary_pos_emb, in torch, with the
    cos/sin tables built as its rotary embedding builds them (float32 angles, cast to dtype)."""
    torch = pytest.importorskip("torch")
    modeling = pytest.importorskip("transformers.models.llama.modeling_llama")
    q, k = pairs[0][:8], pairs[1][:8]
    distance, d = 3, 128
    torch_dtype = getattr(torch, dtype)
    inv_freq = torch.from_numpy(reference.frequencies(d).astype(np.float32))

    def rotated(x, positions):
        x = torch.from_numpy(x).to(torch_dtype)[None, None]          # (1, 1, n, d)
        position_ids = torch.from_numpy(positions)[None].float()
        freqs = (inv_freq[None, :, None] @ position_ids[:, None, :]).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(torch_dtype), emb.sin().to(torch_dtype)
        out, _ = modeling.apply_rotary_pos_emb(x, x, cos, sin)
        return out[0, 0].double().numpy()

    stored = {"bfloat16": lambda v: round_to_bfloat16(v).astype(np.float64),
              "float16": lambda v: v.astype(np.float16).astype(np.float64),
              "float32": lambda v: v.astype(np.float32).astype(np.float64)}[dtype]
    exact = np.einsum("nd,nd->n", stored(q), rope.apply(stored(k), np.full(8, distance)))
    ours = rope.score_drift(q, k, distance, OFFSETS, dtype=dtype, angles="float32")
    for j, i in enumerate(OFFSETS):
        hf = np.einsum("nd,nd->n", rotated(q, np.full(8, i)), rotated(k, np.full(8, i + distance)))
        # bfloat16 and float16: the same roundings, bit for bit but for the float64 dot product;
        # float32: torch may fuse or order the float32 arithmetic differently.
        tolerance = 1e-12 if dtype != "float32" else 1e-5
        np.testing.assert_allclose(ours[:, j], hf - exact, atol=tolerance)


def test_drift_with_a_scaling_uses_one_set_of_frequencies():
    q, k = np.random.default_rng(10).standard_normal((2, 64))
    dynamic = {"scaling": "dynamic", "factor": 2.0, "max_position_embeddings": 4096}
    drift = rope.score_drift(q, k, 2, [0, 10**5], dtype=np.float64, **dynamic)
    assert np.abs(drift).max() < 1e-12                             # not a new base at 10^5
    longer = rope.score_drift(q, k, 2, [0, 10**5], dtype=np.float64, seq_len=16384, **dynamic)
    assert np.abs(longer).max() < 1e-12


@pytest.mark.parametrize("kwargs, error, match", [
    ({"angles": "float16"}, ValueError, "angles"),
    ({"dtype": np.int32}, TypeError, "dtype"),
    ({"offsets": [0.5]}, ValueError, "offsets"),
    ({"offsets": [2**53]}, ValueError, "2\\*\\*53"),
    ({"distance": 1.5}, TypeError, "distance"),
    ({"q": np.ones(7), "k": np.ones(7)}, ValueError, "even"),
])
def test_score_drift_rejects_bad_input(kwargs, error, match):
    arguments = {"q": np.ones(8), "k": np.ones(8), "distance": 2, "offsets": [0, 10]}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        rope.score_drift(**arguments)
