"""rope.alternatives: the other position encodings against their definitions and against
transformers' own code (T5's buckets, BLOOM's ALiBi slopes, DistilBERT's sinusoids)."""
import math

import numpy as np
import pytest

import rope
from rope import alternatives


def test_sinusoidal_is_sin_and_cos_of_the_position_times_omega():
    positions = np.array([0, 1, 5, 1000])
    table = alternatives.sinusoidal(positions, 8, base=100.0)
    for row, p in zip(table, positions):
        for i in range(4):
            omega = 100.0 ** (-2 * i / 8)
            assert row[2 * i] == pytest.approx(math.sin(p * omega), abs=1e-13)
            assert row[2 * i + 1] == pytest.approx(math.cos(p * omega), abs=1e-13)


def test_sinusoidal_matches_distilbert():
    distilbert = pytest.importorskip("transformers.models.distilbert.modeling_distilbert")
    torch = pytest.importorskip("torch")
    out = torch.empty(50, 16)
    distilbert.create_sinusoidal_embeddings(50, 16, out)
    np.testing.assert_allclose(out.numpy(), alternatives.sinusoidal(np.arange(50), 16),
                               atol=1e-6)                                  # float32


@pytest.mark.parametrize("heads", [1, 2, 3, 5, 8, 12, 16, 24, 40, 64])
def test_alibi_slopes_match_bloom(heads):
    bloom = pytest.importorskip("transformers.models.bloom.modeling_bloom")
    torch = pytest.importorskip("torch")
    theirs = bloom._get_alibi_slopes(heads, torch.device("cpu")).double().numpy()
    np.testing.assert_allclose(alternatives.alibi_slopes(heads), theirs, rtol=1e-6)  # float32


def test_alibi_slopes_by_hand():
    assert alternatives.alibi_slopes(4).tolist() == [0.25, 0.0625, 0.015625, 0.00390625]
    with pytest.raises(ValueError):
        alternatives.alibi_slopes(0)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (16, 64), (8, 20)])
def test_t5_bucket_matches_transformers(bidirectional, num_buckets, max_distance):
    t5 = pytest.importorskip("transformers.models.t5.modeling_t5")
    torch = pytest.importorskip("torch")
    relative = np.arange(-3000, 3000)
    theirs = t5.T5Attention._relative_position_bucket(
        torch.from_numpy(relative), bidirectional=bidirectional, num_buckets=num_buckets,
        max_distance=max_distance).numpy()
    np.testing.assert_array_equal(
        alternatives.t5_bucket(relative, bidirectional=bidirectional, num_buckets=num_buckets,
                               max_distance=max_distance), theirs)


def test_t5_bucket_by_hand():
    # causal, 32 buckets: distances 0-15 exact, then log-spaced up to 128, then all in 31
    buckets = alternatives.t5_bucket(-np.arange(200), bidirectional=False)
    assert buckets[:16].tolist() == list(range(16))
    assert (np.diff(buckets) >= 0).all() and (buckets[128:] == 31).all() and buckets[100] < 31


def is_toeplitz(s):
    return all(np.allclose(np.diagonal(s, o), np.diagonal(s, o)[0], atol=1e-12)
               for o in range(-s.shape[0] + 1, s.shape[0]))


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).standard_normal((2, 32))


@pytest.mark.parametrize("method, relative", [
    ("nope", True), ("alibi", True), ("t5", True), ("rope", True),
    ("sinusoidal", False), ("learned", False),
])
def test_which_methods_are_relative(vectors, method, relative):
    q, k = vectors
    assert is_toeplitz(alternatives.score_matrix(method, q, k, 40)) == relative


def test_each_score_matrix_against_its_formula(vectors):
    q, k = vectors
    n, content = 12, q @ k
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    np.testing.assert_allclose(alternatives.score_matrix("nope", q, k, n), content)
    np.testing.assert_allclose(alternatives.score_matrix("alibi", q, k, n, slope=0.5),
                               content - 0.5 * np.abs(j - i))
    bias = np.linspace(0, -3, 32)
    expected = content + bias[alternatives.t5_bucket(j - i, bidirectional=False)]
    np.testing.assert_allclose(alternatives.score_matrix("t5", q, k, n, bias=bias), expected)
    pe = alternatives.sinusoidal(np.arange(n), 32)
    np.testing.assert_allclose(alternatives.score_matrix("sinusoidal", q, k, n),
                               (q + pe) @ (k + pe).T)
    np.testing.assert_allclose(alternatives.score_matrix("rope", q, k, n),
                               rope.score_matrix(q, k, n))


def test_learned_positions_do_not_extrapolate(vectors):
    q, k = vectors
    s = alternatives.score_matrix("learned", q, k, 20, trained_length=16)
    assert np.isfinite(s[:16, :16]).all()
    assert np.isnan(s[16:, :]).all() and np.isnan(s[:, 16:]).all()


def test_t5_cannot_tell_far_distances_apart(vectors):
    q, k = vectors
    s = alternatives.score_matrix("t5", q, k, 400)
    assert s[399, 399 - 200] == s[399, 399 - 390]                   # both past max_distance
    assert s[399, 398] != s[399, 397]


@pytest.mark.parametrize("args, match", [
    (("bogus", np.ones(4), np.ones(4)), "method"),
    (("rope", np.ones(4), np.ones(6)), "one even length"),
    (("t5", np.ones(4), np.ones(4)), None),
])
def test_score_matrix_arguments(args, match):
    if match is None:
        with pytest.raises(ValueError, match="bias"):
            alternatives.score_matrix(*args, 8, bias=[1.0, 2.0])
        return
    with pytest.raises(ValueError, match=match):
        alternatives.score_matrix(*args)
