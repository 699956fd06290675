"""M-RoPE (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) and Pixtral's 2-D RoPE: exact against a float64
oracle written from the papers' description, in place, cached and threaded as plain RoPE, and
equal to transformers' own modules when given as rope.apply arguments."""
import pickle

import numpy as np
import pytest

import rope
from rope import _parallel, reference

from conftest import random_array, tolerance


def oracle(x, rows, theta, axis_of_pair, interleaved=False):
    """Rotate pair k of float64 x by rows[axis_of_pair[k]] * theta[k] (rows on the first axis)."""
    rows = np.asarray(rows, dtype=np.float64)
    angles = np.stack([rows[axis] * t for axis, t in zip(axis_of_pair, theta)], axis=-1)
    cos, sin = np.cos(angles), np.sin(angles)
    out = np.array(x, dtype=np.float64)
    a, b = reference.pair_indices(2 * len(theta), interleaved)
    xa, xb = out[..., a].copy(), out[..., b].copy()
    out[..., a] = xa * cos - xb * sin
    out[..., b] = xb * cos + xa * sin
    return out


def qwen2_vl(section):
    """Pairs in blocks: the first section[0] pairs temporal, then height, then width."""
    return np.repeat(np.arange(len(section)), section), None


def qwen3_vl(section, pairs):
    """Pair k follows axis k mod 3 while that axis has pairs (HF's slice(offset, 3 * n, 3))."""
    axis = np.zeros(pairs, int)
    axis[1:3 * section[1]:3] = 1
    axis[2:3 * section[2]:3] = 2
    return axis, None


def pixtral(pairs):
    """Rows on the first half of the pairs at theta_0, theta_2, ..., columns on the second at
    theta_1, theta_3, ... (transformers' cat([inv_freq[0::2], inv_freq[1::2]]))."""
    order = np.r_[0:pairs:2, 1:pairs:2]
    return np.repeat([0, 1], pairs // 2), order


KINDS = {
    # name: (dim, rotary_dim, Rope keyword arguments, (axis of each pair, frequency order))
    "qwen2-vl": (128, 128, dict(mrope_section=[16, 24, 24]), qwen2_vl([16, 24, 24])),
    "qwen3-vl": (128, 128, dict(mrope_section=[24, 20, 20], mrope_interleaved=True),
                 qwen3_vl([24, 20, 20], 64)),
    "qwen3.5": (256, 64, dict(mrope_section=[11, 11, 10], mrope_interleaved=True,
                              rotary_dim=64), qwen3_vl([11, 11, 10], 32)),
    "pixtral": (64, 64, dict(mrope_section=[16, 16], mrope_interleaved=True,
                             mrope_grouped=True), pixtral(32)),
}


def _rows(count, shape, seed=0, high=500):
    return np.random.default_rng(seed).integers(0, high, size=(count,) + shape)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("interleaved", [False, True])
def test_mrope_is_exact(kind, dtype, interleaved):
    dim, rotary, kwargs, (axis_of_pair, order) = KINDS[kind]
    r = rope.Rope(dim, 1e6, interleaved=interleaved, **kwargs)
    theta = reference.frequencies(rotary, 1e6)
    if order is not None:
        theta = theta[order]
    np.testing.assert_array_equal(r.frequencies, theta)
    count = len(kwargs["mrope_section"])
    x = random_array((2, 3, 9, dim), dtype)          # (batch, heads, seq, dim)
    rows = _rows(count, (2, 9))                       # (axes, batch, seq): transformers' layout
    want = oracle(x[..., :rotary], rows[:, :, None, :], theta, axis_of_pair, interleaved)
    got = r.apply(x.copy(), rows, layout="bhsd")
    np.testing.assert_allclose(got[..., :rotary], want, rtol=0, atol=4 * tolerance(dtype))
    np.testing.assert_array_equal(got[..., rotary:], x[..., rotary:])
    # rope.apply takes the same arguments, and (seq, heads, dim) with one row per token
    again = rope.apply(x.copy(), rows, layout="bhsd", base=1e6, interleaved=interleaved,
                       **kwargs)
    np.testing.assert_array_equal(again, got)
    shd = np.ascontiguousarray(x[0].transpose(1, 0, 2))
    np.testing.assert_array_equal(r.apply(shd, rows[:, 0], layout="shd"),
                                  got[0].transpose(1, 0, 2))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_text_positions_are_plain_rope(kind):
    """Text tokens have the same position on every axis: an int offset, or equal rows."""
    dim, rotary, kwargs, (_, order) = KINDS[kind]
    r = rope.Rope(dim, 1e6, **kwargs)
    x = random_array((2, 3, 9, dim), np.float64)
    by_int = r.apply(x.copy(), 40, layout="bhsd")
    rows = np.broadcast_to(np.arange(40, 49), (len(kwargs["mrope_section"]), 1, 9))
    np.testing.assert_allclose(r.apply(x.copy(), rows, layout="bhsd"), by_int, atol=1e-13)
    theta = reference.frequencies(rotary, 1e6)
    theta = theta if order is None else theta[order]
    np.testing.assert_allclose(by_int[..., :rotary],
                               reference.rotate(x[..., :rotary], np.arange(40, 49), theta),
                               atol=1e-13)


def test_large_positions_are_exact():
    r = rope.Rope(128, 1e6, mrope_section=[16, 24, 24])
    x = random_array((1, 2, 5, 128), np.float32)
    rows = _rows(3, (1, 5), seed=3, high=2**40)
    theta = reference.frequencies(128, 1e6)
    import mpmath  # the oracle's angles, exact at these positions
    axis_of_pair = np.repeat([0, 1, 2], [16, 24, 24])
    with mpmath.workdps(40):
        angles = [[[float(mpmath.fmod(mpmath.mpf(int(rows[axis_of_pair[k], 0, s])) *
                                      mpmath.mpf(theta[k]), 2 * mpmath.pi))
                    for k in range(64)] for s in range(5)]]
    angles = np.array(angles)[:, None]                # (1, 1, seq, pairs)
    cos, sin = np.cos(angles), np.sin(angles)
    a, b = reference.pair_indices(128, False)
    want = np.array(x, dtype=np.float64)
    want[..., a] = x[..., a] * cos - x[..., b] * sin
    want[..., b] = x[..., b] * cos + x[..., a] * sin
    got = r.apply(x.copy(), rows, layout="bhsd")
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * tolerance(np.float32))


def test_inverse_and_scaling():
    """inverse undoes the rotation; a scaling's frequencies and attention factor apply to every
    axis as they do to plain RoPE's one (transformers' Qwen2-VL module takes any rope_type)."""
    yarn = dict(scaling="yarn", factor=4.0, original_max_position_embeddings=256)
    r = rope.Rope(64, 1e4, mrope_section=[8, 12, 12], **yarn)
    x = random_array((2, 3, 9, 64), np.float64)
    rows = _rows(3, (2, 9), seed=4)
    y = r.apply(x.copy(), rows, layout="bhsd")
    theta = rope.frequencies(64, 1e4, **yarn)
    want = oracle(x, rows[:, :, None, :], theta, np.repeat([0, 1, 2], [8, 12, 12]))
    np.testing.assert_allclose(y, r.attention_factor * want, atol=1e-13)
    back = r.apply(y, rows, layout="bhsd", inverse=True, attention_scaling=True)
    np.testing.assert_allclose(back, r.attention_factor ** 2 * x, atol=1e-13)


def test_tables_are_shared_by_q_and_k_and_threads_split_in_place(monkeypatch):
    monkeypatch.setattr(_parallel, "MIN_BYTES_PER_THREAD", 1024)
    r = rope.Rope(64, mrope_section=[8, 12, 12])
    rows = _rows(3, (4, 33), seed=5)
    first = r.tables(rows, np.float64)
    assert r.tables(rows.copy(), np.float64)[0] is first[0]
    assert first[0].shape == (4, 33, 32)
    with pytest.raises(ValueError, match="3 position axes"):
        r.tables(rows[0], np.float64)
    x = random_array((4, 8, 33, 64), np.float32)
    one = r.apply(x.copy(), rows, layout="bhsd")
    split = x.copy()
    assert r.apply(split, rows, layout="bhsd", threads=2) is split
    np.testing.assert_array_equal(split, one)
    bshd = np.ascontiguousarray(x.transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(r.apply(bshd, rows, layout="bshd", threads=3),
                                  one.transpose(0, 2, 1, 3))


def test_configuration_identity():
    a = rope.Rope(128, 1e6, mrope_section=[24, 20, 20], mrope_interleaved=True)
    assert a == rope.Rope(128, 1e6, mrope_section=(24, 20, 20), mrope_interleaved=True)
    assert a != rope.Rope(128, 1e6, mrope_section=[24, 20, 20])
    assert a != rope.Rope(128, 1e6)
    assert eval(repr(a), {"Rope": rope.Rope}) == a
    assert pickle.loads(pickle.dumps(a)) == a
    assert (a.mrope_section, a.mrope_interleaved, a.mrope_grouped) == ((24, 20, 20), True, False)
    # grouping only changes interleaved sections: blocks are grouped already
    assert rope.Rope(64, mrope_section=[16, 16], mrope_grouped=True) == \
        rope.Rope(64, mrope_section=[16, 16])
    with pytest.raises(ValueError, match="cannot be interleaved"):
        rope.Rope(16, mrope_section=[2, 5, 1], mrope_interleaved=True)
    with pytest.raises(ValueError, match="two or more"):
        rope.Rope(16, mrope_section=[8])
    with pytest.raises(ValueError, match="integers >= 1"):
        rope.Rope(16, mrope_section=[8, 0])
    assert "mrope_section" in a._repr_html_()


# ---------------------------------------------------------------------------------------------
# transformers' own modules, given the configuration as rope.apply arguments

torch = pytest.importorskip("torch", reason="transformers parity needs torch==2.13.0")
transformers = pytest.importorskip("transformers", reason="parity needs transformers")


def _hf(module, rotary_name, config, q, position_ids, unsqueeze_dim=1):
    m = __import__(f"transformers.models.{module}.modeling_{module}", fromlist=["_"])
    embedding = getattr(m, rotary_name)(config)
    qt = torch.from_numpy(q)
    cos, sin = embedding(qt, torch.from_numpy(position_ids))
    return m.apply_rotary_pos_emb(qt, qt, cos, sin, unsqueeze_dim=unsqueeze_dim)[0].numpy()


HF_CASES = {
    "qwen2-vl": ("qwen2_vl", "Qwen2VLRotaryEmbedding",
                 lambda: transformers.Qwen2VLTextConfig(
                     hidden_size=256, num_attention_heads=2, rope_parameters={
                         "rope_type": "default", "mrope_section": [16, 24, 24],
                         "rope_theta": 1e6}),
                 dict(base=1e6, mrope_section=[16, 24, 24]), 128),
    "qwen2.5-vl": ("qwen2_5_vl", "Qwen2_5_VLRotaryEmbedding",
                   lambda: transformers.Qwen2_5_VLTextConfig(
                       hidden_size=128, num_attention_heads=2, rope_parameters={
                           "rope_type": "default", "mrope_section": [8, 12, 12],
                           "rope_theta": 1e4}),
                   dict(mrope_section=[8, 12, 12]), 64),
    "qwen3-vl": ("qwen3_vl", "Qwen3VLTextRotaryEmbedding",
                 lambda: transformers.Qwen3VLTextConfig(
                     hidden_size=256, num_attention_heads=2, head_dim=128, rope_parameters={
                         "rope_type": "default", "mrope_section": [24, 20, 20],
                         "mrope_interleaved": True, "rope_theta": 5e6}),
                 dict(base=5e6, mrope_section=[24, 20, 20], mrope_interleaved=True), 128),
}


@pytest.mark.parametrize("kind", sorted(HF_CASES))
def test_mrope_as_transformers_module(kind):
    module, rotary_name, config, kwargs, dim = HF_CASES[kind]
    q = random_array((2, 3, 12, dim), np.float32, seed=dim)
    rows = _rows(3, (2, 12), seed=1, high=30)
    expected = _hf(module, rotary_name, config(), q, rows)
    got = rope.apply(q.copy(), rows, layout="bhsd", **kwargs)
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-5)
    # text: transformers expands (batch, seq) position ids to three equal rows
    text = np.stack([np.arange(12), np.arange(3, 15)])
    expected = _hf(module, rotary_name, config(), q, text)
    np.testing.assert_allclose(rope.apply(q.copy(), np.broadcast_to(text, (3, 2, 12)),
                                          layout="bhsd", **kwargs), expected, rtol=0, atol=3e-5)
    np.testing.assert_allclose(rope.apply(q[1:].copy(), 3, layout="bhsd", **kwargs),
                               expected[1:], rtol=0, atol=3e-5)


def test_pixtral_2d_rope_as_transformers_module():
    config = transformers.PixtralVisionConfig(hidden_size=256, num_attention_heads=4)
    patches = np.stack(np.meshgrid(np.arange(6), np.arange(9), indexing="ij"), -1).reshape(-1, 2)
    q = random_array((1, 4, len(patches), 64), np.float32, seed=2)
    expected = _hf("pixtral", "PixtralVisionRotaryEmbedding", config, q, patches, unsqueeze_dim=0)
    got = rope.apply(q.copy(), patches.T, layout="bhsd", mrope_section=[16, 16],
                     mrope_interleaved=True, mrope_grouped=True)
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-5)
