"""Real Hugging Face config.json files (tests/hf_configs/), read by rope.Rope.from_hf_config,
checked against transformers' own rotary module and rotation of each family.

For every file: the Rope read from the file equals the Rope read from transformers' parsed
config object, and it has transformers' frequencies (rtol 1e-6 against its float32), attention
factor, rotary dimension and pairing (the whole rotation of a random q at transformers'
position_ids, which fails if any of them differs). A file that leaves a RoPE field to its class's
defaults is refused by a message naming the field, and its transformers object is read instead.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

import rope

torch = pytest.importorskip(
    "torch", reason="Hugging Face parity needs torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="Hugging Face parity needs transformers")

CONFIGS = Path(__file__).resolve().parent / "hf_configs"
FILES = sorted(p.stem for p in CONFIGS.glob("*.json"))

# Layer types of the files whose layers rotate differently; one Rope each.
LAYERS = {
    "gemma-3-1b-it": ("full_attention", "sliding_attention"),
    "gemma-3-4b-it": ("full_attention", "sliding_attention"),
    "gemma-3-12b-it-qat-q4_0-unquantized": ("full_attention", "sliding_attention"),
    "olmo-3.1-32b-instruct": ("full_attention", "sliding_attention"),
}
# Files refused as published: the field rope names (the transformers object is read instead).
REFUSED = {"gemma-3-4b-it": "head_dim"}
# Vision encoders with 2-D RoPE, read from the file's vision_config; refused ones name a field.
VISION = {"devstral-small-2-24b-instruct": None, "pixtral-12b": "hidden_size"}
# Files transformers cannot load: read as its config class converts them.
CONVERTED = {
    # Phi3Config renames "su" to "longrope" after its own check of the longrope fields, so
    # transformers 5 refuses the first Phi-3 files; this is the file as that renaming means it.
    "phi-3-128k-su": lambda raw: {**raw, "rope_scaling": {**raw["rope_scaling"],
                                                          "type": "longrope"}},
}

CASES = [(name, lt) for name in FILES if name != "chatglm3-6b"
         for lt in LAYERS.get(name, (None,))]


def _raw(name):
    return json.loads((CONFIGS / f"{name}.json").read_text())


def _hf_object(raw):
    fields = {k: v for k, v in raw.items() if k != "model_type"}
    return transformers.AutoConfig.for_model(raw["model_type"], **fields)


def _module(model_type):
    package = {"gemma3_text": "gemma3", "llama4_text": "llama4", "qwen3_vl_text": "qwen3_vl",
               "qwen3_5_text": "qwen3_5", "qwen2_vl_text": "qwen2_vl",
               "qwen2_5_vl_text": "qwen2_5_vl"}.get(model_type, model_type)
    return importlib.import_module(f"transformers.models.{package}.modeling_{package}")


def _rotary_class(module, vision):
    names = [n for n in vars(module) if n.endswith("RotaryEmbedding") and
             (("Vision" in n) == vision)]
    assert len(names) == 1, names
    return getattr(module, names[0])


class HF:
    """transformers' rotary module of one config: its frequencies, attention factor, and its
    rotation of q (batch, heads, seq, dim) at position_ids, as its attention layer does it."""

    def __init__(self, config, layer_type=None, vision=False):
        self.config, self.layer_type = config, layer_type
        self.kind = config.model_type
        self.module = _module(self.kind)
        if self.kind in ("gptj", "codegen"):
            self.embedding = self.module.GPTJRotaryEmbedding(config) if self.kind == "gptj" else \
                _rotary_class(self.module, False)(config)
        else:
            self.embedding = _rotary_class(self.module, vision)(config)

    def _embed(self, x, position_ids):
        if self.layer_type is not None:
            return self.embedding(x, position_ids, self.layer_type)
        return self.embedding(x, position_ids)

    @property
    def frequencies(self):
        if self.kind in ("gptj", "codegen"):  # a sin/cos table: the angles at position 1
            sin, cos = self.embedding(torch.zeros(1), torch.ones((1, 1), dtype=torch.int64))
            return np.arctan2(sin.double().numpy()[0, 0], cos.double().numpy()[0, 0])
        prefix = f"{self.layer_type}_" if self.layer_type else ""
        return getattr(self.embedding, f"{prefix}inv_freq").double().numpy()

    @property
    def attention_factor(self):
        if self.kind in ("gptj", "codegen"):
            return 1.0
        prefix = f"{self.layer_type}_" if self.layer_type else ""
        return float(getattr(self.embedding, f"{prefix}attention_scaling"))

    def rotate(self, q, position_ids, rotary_dim):
        qt = torch.from_numpy(q)
        pos = torch.from_numpy(position_ids)
        rot, rest = qt[..., :rotary_dim], qt[..., rotary_dim:]
        m = self.module
        if self.kind in ("gptj", "codegen"):  # (batch, seq, heads, dim), sin/cos tables
            sin, cos = self.embedding(qt, pos)
            bshd = rot.transpose(1, 2)
            out = m.apply_rotary_pos_emb(bshd, sin, cos).transpose(1, 2)
        elif self.kind in ("deepseek_v2",):  # complex freqs_cis
            out = m.apply_rotary_emb(rot, rot, self._embed(qt, pos))[0]
        elif self.kind in ("llama4_text",):  # complex freqs_cis on (batch, seq, heads, dim)
            bshd = rot.transpose(1, 2)
            out = m.apply_rotary_emb(bshd, bshd, self._embed(qt, pos))[0].transpose(1, 2)
        elif self.kind == "pixtral":  # (patches, 2) positions, tables of (patches, dim)
            cos, sin = self._embed(qt, pos)
            out = m.apply_rotary_pos_emb(rot, rot, cos, sin, unsqueeze_dim=0)[0]
        else:
            cos, sin = self._embed(qt, pos)
            apply = m.apply_rotary_pos_emb
            if self.kind == "deepseek_v3" and self.config.rope_interleave:
                apply = m.apply_rotary_pos_emb_interleave
            out = apply(rot, rot, cos, sin)[0]
        return torch.cat([out.to(qt.dtype), rest], dim=-1).numpy()


def _text(config):
    return getattr(config, "text_config", None) or config


def _positions(r, batch=2, seq=16, seed=0):
    """transformers' position_ids for the Rope's kind: (batch, seq), or M-RoPE's rows."""
    rng = np.random.default_rng(seed)
    if r.mrope_section is None:
        return np.stack([np.arange(seq), np.arange(5, 5 + seq)][:batch]).astype(np.int64)
    rows = len(r.mrope_section)
    return rng.integers(0, 24, size=(rows, batch, seq)).astype(np.int64)


def _deinterleaved(x, rotary_dim):
    """DeepSeek-V3's transformers rotation writes the pairs (2i, 2i + 1) back half-split: the
    same permutation of q and k, so attention is unchanged; rope keeps the layout in place."""
    order = np.r_[0:rotary_dim:2, 1:rotary_dim:2, rotary_dim:x.shape[-1]]
    return x[..., order]


def check_against_transformers(r, hf, *, bshd=False):
    inv_freq = hf.frequencies
    assert r.rotary_dim == 2 * inv_freq.size
    np.testing.assert_allclose(r.frequencies, inv_freq, rtol=1e-6, atol=0)
    assert r.attention_factor == pytest.approx(hf.attention_factor, rel=1e-6)
    q = np.random.default_rng(r.dim).standard_normal((2, 3, 16, r.dim)).astype(np.float32)
    position_ids = _positions(r)
    expected = hf.rotate(q, position_ids, r.rotary_dim)
    got = r.apply(q.copy(), position_ids, layout="bhsd")
    if hf.kind == "deepseek_v3" and hf.config.rope_interleave:
        got = _deinterleaved(got, r.rotary_dim)
    # transformers forms the angle p * theta in float32 (|angle| < 32 here: ~4e-6 rad)
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-5)


@pytest.mark.parametrize("name,layer_type", CASES,
                         ids=[f"{n}-{lt}" if lt else n for n, lt in CASES])
def test_config_reads_as_transformers_does(name, layer_type):
    raw = _raw(name)
    obj = _hf_object(CONVERTED.get(name, lambda r: r)(raw))
    from_object = rope.Rope.from_hf_config(obj, layer_type=layer_type)
    if name in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[name]) as refused:
            rope.Rope.from_hf_config(CONFIGS / f"{name}.json", layer_type=layer_type)
        assert "AutoConfig" in str(refused.value)
    else:
        assert rope.Rope.from_hf_config(CONFIGS / f"{name}.json", layer_type=layer_type) == \
            from_object
    check_against_transformers(from_object, HF(_text(obj), layer_type))


@pytest.mark.parametrize("name", sorted(VISION))
def test_vision_encoder_2d_rope_reads_as_transformers_does(name):
    raw = _raw(name)
    obj = _hf_object(raw).vision_config
    r = rope.Rope.from_hf_config(obj)
    if VISION[name]:
        with pytest.raises(ValueError, match=VISION[name]):
            rope.Rope.from_hf_config(raw["vision_config"])
    else:
        assert rope.Rope.from_hf_config(raw["vision_config"]) == r
    hf = HF(obj, vision=True)
    assert r.rotary_dim == 2 * hf.frequencies.size
    np.testing.assert_allclose(r.frequencies, hf.frequencies, rtol=1e-6, atol=0)
    # transformers' positions: one (row, column) pair per patch; rope's: one row per axis
    patches = np.stack(np.meshgrid(np.arange(5), np.arange(7), indexing="ij"), -1).reshape(-1, 2)
    q = np.random.default_rng(1).standard_normal((1, 2, len(patches), r.dim)).astype(np.float32)
    expected = hf.rotate(q, patches.astype(np.int64), r.rotary_dim)
    got = r.apply(q.copy(), patches.T, layout="bhsd")
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-5)


def test_chatglm_reads_as_the_glm_conversion_of_its_weights():
    """ChatGLM's own code is not in transformers; its GLM conversion is (head 128, half of it
    rotated in pairs (2i, 2i + 1), base 10000 * rope_ratio): the same rotation."""
    raw = _raw("chatglm3-6b")
    r = rope.Rope.from_hf_config(raw)
    glm = transformers.GlmConfig(hidden_size=raw["hidden_size"], head_dim=raw["kv_channels"],
                                 num_attention_heads=raw["num_attention_heads"],
                                 partial_rotary_factor=0.5, rope_theta=10000.0)
    check_against_transformers(r, HF(glm))
    long = rope.Rope.from_hf_config({**raw, "rope_ratio": 50})  # chatglm3-6b-32k
    assert long.base == 500000.0


def test_deepseek_v3_converted_to_half_split_reads_so():
    raw = {**_raw("deepseek-v3"), "rope_interleave": False}
    r = rope.Rope.from_hf_config(raw)
    assert not r.interleaved
    check_against_transformers(r, HF(_hf_object(raw)))
    assert rope.Rope.from_hf_config(_raw("deepseek-v3"), interleaved=False) == r


def test_every_file_is_checked():
    assert len(FILES) >= 25
    checked = {n for n, _ in CASES} | {"chatglm3-6b"}
    assert checked == set(FILES)


# ---------------------------------------------------------------------------------------------
# What rope refuses, by name


def test_fields_left_to_class_defaults_are_refused_by_name():
    mistral = {k: v for k, v in _raw("mistral-7b-v0.1").items() if k != "rope_theta"}
    with pytest.raises(ValueError, match="rope_theta.*AutoConfig"):
        rope.Rope.from_hf_config(mistral)
    # Llama 1 and 2 files predate rope_theta; their code always took 10000
    assert rope.Rope.from_hf_config(_raw("llama-2-7b-hf")).base == 10000.0
    neox = {k: v for k, v in _raw("pythia-160m").items() if k != "rotary_pct"}
    with pytest.raises(ValueError, match="rotary_pct"):
        rope.Rope.from_hf_config(neox)
    qwen3 = {k: v for k, v in _raw("qwen3-0.6b").items() if k != "head_dim"}
    with pytest.raises(ValueError, match="head_dim"):  # its class default (128) is not 1024 / 16
        rope.Rope.from_hf_config(qwen3)
    deepseek = {k: v for k, v in _raw("deepseek-v3").items() if k != "qk_rope_head_dim"}
    with pytest.raises(ValueError, match="qk_rope_head_dim"):
        rope.Rope.from_hf_config(deepseek)
    vl = {**_raw("qwen2-vl-7b-instruct"), "rope_scaling": {"type": "mrope"}}
    with pytest.raises(ValueError, match="mrope_section"):
        rope.Rope.from_hf_config(vl)
    gemma = {**_raw("gemma-3-1b-it")}
    del gemma["rope_local_base_freq"]
    assert rope.Rope.from_hf_config(gemma, layer_type="full_attention").base == 1e6
    with pytest.raises(ValueError, match="rope_local_base_freq"):
        rope.Rope.from_hf_config(gemma, layer_type="sliding_attention")


def test_unknown_model_types_and_rope_fields_are_refused():
    exaone = {"model_type": "exaone4", "hidden_size": 64, "num_attention_heads": 4,
              "rope_theta": 1e6}
    with pytest.raises(ValueError, match="model type 'exaone4'.*interleaved="):
        rope.Rope.from_hf_config(exaone)
    assert rope.Rope.from_hf_config(exaone, interleaved=False) == rope.Rope(16, 1e6)
    with pytest.raises(ValueError, match="rope_local_base_freq"):  # read by Gemma 3 only
        rope.Rope.from_hf_config({**_raw("mistral-7b-v0.1"), "rope_local_base_freq": 10000})
    with pytest.raises(ValueError, match="rotary_emb_fraction"):
        rope.Rope.from_hf_config({**_raw("llama-2-7b-hf"), "rotary_emb_fraction": 0.5})
    with pytest.raises(ValueError, match="mrope_section"):
        rope.Rope.from_hf_config({**_raw("qwen2-7b"), "rope_scaling": {
            "type": "default", "mrope_section": [16, 24, 24]}})
    with pytest.raises(ValueError, match="su"):  # "su" is Phi-3's alone
        rope.Rope.from_hf_config({**_raw("qwen2-7b"), "rope_scaling": {"type": "su"}})
    with pytest.raises(ValueError, match="rotary=False"):
        rope.Rope.from_hf_config({**_raw("gpt-j-6b"), "rotary": False})
    with pytest.raises(TypeError, match="finetuned"):  # a YaRN field of remote code
        rope.Rope.from_hf_config({**_raw("mistral-7b-v0.1"), "rope_scaling": {
            "type": "yarn", "factor": 16.0, "original_max_position_embeddings": 8192,
            "finetuned": True}})


def test_layer_type_is_checked_against_the_config():
    with pytest.raises(ValueError, match="layer_type='full_attention' or 'sliding_attention'"):
        rope.Rope.from_hf_config(_raw("gemma-3-1b-it"))
    with pytest.raises(ValueError, match="leave layer_type out"):
        rope.Rope.from_hf_config(_raw("llama-3.1-8b-instruct"), layer_type="full_attention")
    with pytest.raises(ValueError, match=r"\['full_attention', 'sliding_attention'\]"):
        rope.Rope.from_hf_config(_raw("gpt-oss-20b"), layer_type="chunked_attention")
    gpt_oss = rope.Rope.from_hf_config(_raw("gpt-oss-20b"))
    assert rope.Rope.from_hf_config(_raw("gpt-oss-20b"), layer_type="sliding_attention") == gpt_oss
