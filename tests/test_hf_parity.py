"""Parity with Hugging Face transformers: its own rope init functions (inv_freq and attention
factor, for every rope_type over a grid) and its rotary embedding + apply_rotary_pos_emb on real
tensors. Each case is one config dict, read by transformers' LlamaConfig and by
rope.Rope.from_hf_config, so the dict interop is tested too.

transformers computes in float32: frequencies agree to rtol 1e-6, rotated tensors to float32
rounding of angles below 64 rad.
"""
import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="Hugging Face parity needs torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="Hugging Face parity needs transformers")
rope_utils = pytest.importorskip("transformers.modeling_rope_utils")
llama = pytest.importorskip("transformers.models.llama.modeling_llama")

import rope  # noqa: E402

from conftest import random_array  # noqa: E402


def _config(head_dim, base, scaling, max_len=8192, partial=None, **extra):
    config = {"hidden_size": head_dim * 4, "num_attention_heads": 4, "head_dim": head_dim,
              "num_key_value_heads": 4, "max_position_embeddings": max_len, "rope_theta": base,
              "rope_scaling": scaling, **extra}
    if partial is not None:
        config["partial_rotary_factor"] = partial
    return config


def _longrope(head_dim, rng_seed, **params):
    rng = np.random.default_rng(rng_seed)
    half = head_dim // 2
    return {"type": "longrope", "short_factor": list(1.0 + rng.random(half)),
            "long_factor": list(1.0 + 30.0 * np.sort(rng.random(half))), **params}


CASES = []
for dim, base in itertools.product((32, 64, 128), (10000.0, 500000.0, 1e6)):
    CASES.append(_config(dim, base, None))
    CASES.append(_config(dim, base, {"rope_type": "default"}))
    for factor in (1.0, 2.0, 4.0, 8.0):
        CASES.append(_config(dim, base, {"type": "linear", "factor": factor}))
        CASES.append(_config(dim, base, {"rope_type": "dynamic", "factor": factor}))
    for factor, original in ((2.0, 4096), (4.0, 32768), (8.0, 8192), (40.0, 4096)):
        CASES.append(_config(dim, base, {"rope_type": "yarn", "factor": factor,
                                         "original_max_position_embeddings": original}))
    # (16, 1, 1): Llama 4 Scout, equal factors: a step at original_max_position_embeddings
    for factor, low, high in ((8.0, 1.0, 4.0), (32.0, 1.0, 4.0), (4.0, 2.0, 8.0), (16.0, 1.0, 1.0)):
        CASES.append(_config(dim, base, {"rope_type": "llama3", "factor": factor,
                                         "low_freq_factor": low, "high_freq_factor": high,
                                         "original_max_position_embeddings": 8192},
                             max_len=131072))
for dim in (64, 96, 128):
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}
    CASES += [
        _config(dim, 1e6, {**yarn, "truncate": False}),
        _config(dim, 1e4, {**yarn, "beta_fast": 16, "beta_slow": 2}),
        _config(dim, 1e4, {**yarn, "mscale": 0.707, "mscale_all_dim": 1.0}),
        _config(dim, 1e4, {**yarn, "mscale": 1.0, "mscale_all_dim": 1.0}),  # DeepSeek-V3
        _config(dim, 1e4, {**yarn, "mscale": 0, "mscale_all_dim": 1.0}),  # HF: 0 = not given
        _config(dim, 1e4, {**yarn, "mscale": 0.707}),  # one alone: the default factor
        _config(dim, 1e4, {**yarn, "attention_factor": 1.5}),
        _config(dim, 1e4, {**yarn, "factor": None}, max_len=65536),  # factor from the lengths
        _config(dim, 1e4, {**yarn, "beta_fast": 0}),  # HF: 0 means the default 32
        # no original length in the dict: transformers falls back to max_position_embeddings
        _config(dim, 1e4, {"rope_type": "yarn", "factor": 4.0}, max_len=2048),
        _config(dim, 5e5, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0}, max_len=8192),
        _config(dim, 1e4, yarn, partial=0.5),
        _config(dim, 1e4, {"rope_type": "linear", "factor": 2.0}, partial=0.25),
        _config(dim, 1e6, {"rope_type": "proportional"}, partial=0.25),  # Gemma 4
        _config(dim, 1e6, {"rope_type": "proportional", "factor": 8.0}, partial=0.5),
        _config(dim, 1e4, {"rope_type": "proportional"}),
        # Phi-3: original length at the top level, factor from the lengths
        _config(dim, 1e4, _longrope(dim, dim), max_len=131072,
                original_max_position_embeddings=4096),
        _config(dim, 1e4, _longrope(dim, dim + 1, factor=8.0,
                                    original_max_position_embeddings=2048)),
        _config(dim, 1e4, _longrope(dim, dim + 2, attention_factor=1.2,
                                    original_max_position_embeddings=2048), max_len=4096),
        _config(dim, 1e4, _longrope(dim // 2, dim + 3), max_len=4096, partial=0.5,
                original_max_position_embeddings=4096),
    ]


def _hf_config(case):
    import copy
    return transformers.LlamaConfig(**copy.deepcopy(case))


def _hf_init(case, seq_len=None):
    config = _hf_config(case)
    rope_type = config.rope_parameters.get("rope_type", "default")
    if rope_type == "default":
        dim = int(case["head_dim"] * case.get("partial_rotary_factor", 1.0))
        base = config.rope_parameters["rope_theta"]
        inv = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)
        return inv.double().numpy(), 1.0
    inv, attention = rope_utils.ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len=seq_len)
    return inv.double().numpy(), float(attention)


def _lengths(case):
    scaling = case["rope_scaling"] or {}
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "dynamic":
        m = case["max_position_embeddings"]
        return [None, m // 2, m, m + 1, 3 * m + 5]
    if kind == "longrope":
        return [None, 100, 100000]
    return [None]


@pytest.mark.parametrize("case", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_inv_freq_and_attention_factor_match_transformers(case):
    r = rope.Rope.from_hf_config(case)
    for seq_len in _lengths(case):
        inv_freq, attention = _hf_init(case, seq_len)
        ours = r.frequencies if seq_len is None else r.frequencies_at(seq_len)
        np.testing.assert_allclose(ours, inv_freq, rtol=1e-6, atol=0,
                                   err_msg=f"{case['rope_scaling']} seq_len={seq_len}")
        assert r.attention_factor == pytest.approx(attention, rel=1e-12)


@pytest.mark.parametrize("index", range(0, len(CASES), 7))
def test_from_hf_config_reads_a_transformers_config_object(index):
    """AutoConfig/LlamaConfig objects (standardized by transformers) give the same Rope as the
    raw dict they were built from."""
    assert rope.Rope.from_hf_config(_hf_config(CASES[index])) == \
        rope.Rope.from_hf_config(CASES[index])


def test_grid_covers_every_transformers_rope_type():
    ours = {rope.Rope.from_hf_config(c).scaling or "default" for c in CASES}
    theirs = set(rope_utils.ROPE_INIT_FUNCTIONS)
    assert theirs <= ours


def _hf_rotate(case, q, position_ids, unsqueeze_dim=1):
    """transformers' own forward: LlamaRotaryEmbedding (with its dynamic/longrope update) then
    apply_rotary_pos_emb on the rotated part, the rest passed through as Phi/NeoX do.
    unsqueeze_dim=1 for q of shape (batch, heads, seq, dim), 2 for (batch, seq, heads, dim)."""
    config = _hf_config(case)
    embedding = llama.LlamaRotaryEmbedding(config=config)
    qt = torch.from_numpy(q)
    cos, sin = embedding(qt, torch.from_numpy(position_ids))
    rotary = cos.shape[-1]
    rotated, _ = llama.apply_rotary_pos_emb(qt[..., :rotary], qt[..., :rotary], cos, sin,
                                            unsqueeze_dim=unsqueeze_dim)
    return torch.cat([rotated, qt[..., rotary:]], dim=-1).numpy()


APPLY_CASES = [
    _config(64, 1e4, None),
    _config(128, 5e5, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
    _config(128, 1e6, {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
    _config(64, 1e4, {"type": "yarn", "factor": 16.0, "original_max_position_embeddings": 32,
                      "mscale": 0.707, "mscale_all_dim": 1.0}),
    _config(64, 1e4, {"type": "linear", "factor": 4.0}, partial=0.5),
    _config(64, 1e6, {"rope_type": "proportional", "factor": 2.0}, partial=0.25),
    _config(64, 1e4, {"type": "dynamic", "factor": 2.0}, max_len=16),  # 48 tokens: scaled
    _config(96, 1e4, _longrope(96, 7), max_len=512, original_max_position_embeddings=16),
    _config(96, 1e4, _longrope(96, 8), max_len=512, original_max_position_embeddings=64),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", APPLY_CASES, ids=[str(i) for i in range(len(APPLY_CASES))])
def test_apply_matches_transformers_apply_rotary_pos_emb(case, dtype):
    batch, heads, seq, dim = 2, 3, 48, case["head_dim"]
    q = random_array((batch, heads, seq, dim), dtype, seed=dim)
    position_ids = np.stack([np.arange(seq), np.arange(5, 5 + seq)]).astype(np.int64)
    expected = _hf_rotate(case, q, position_ids)
    r = rope.Rope.from_hf_config(case)
    got = r.apply(q.copy(), position_ids, layout="bhsd")  # transformers' (batch, seq) ids
    # transformers forms the angle p * theta in float32 (|angle| < 64 here: ~4e-6 rad)
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-5)
    # rope.apply takes the same configuration as a dict and goes through the same path
    scaling = {"rope_type": r.scaling or "default", "rope_theta": r.base, **r.params}
    again = rope.apply(q.copy(), position_ids, layout="bhsd", scaling=scaling,
                       rotary_dim=r.rotary_dim)
    np.testing.assert_array_equal(again, got)
    # (batch, seq, heads, dim), as q comes out of its projection: unsqueeze_dim=2
    bshd = np.ascontiguousarray(q.transpose(0, 2, 1, 3))
    np.testing.assert_allclose(r.apply(bshd.copy(), position_ids, layout="bshd"),
                               _hf_rotate(case, bshd, position_ids, unsqueeze_dim=2),
                               rtol=0, atol=3e-5)


def test_attention_factor_multiplies_hf_cos_and_sin():
    case = _config(64, 1e4, {"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64})
    embedding = llama.LlamaRotaryEmbedding(config=_hf_config(case))
    cos, _ = embedding(torch.zeros(1, dtype=torch.float64), torch.zeros((1, 1), dtype=torch.int64))
    r = rope.Rope.from_hf_config(case)
    assert float(cos[0, 0, 0]) == pytest.approx(r.attention_factor, rel=1e-7)
    assert r.attention_factor == pytest.approx(0.1 * math.log(8) + 1, rel=1e-15)
