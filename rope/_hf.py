"""Hugging Face configs: what a config.json (or a transformers config object) says about RoPE.

transformers reads a config in two places: the config class fills in what the file leaves
out (defaults that differ from class to class: a base of 10**4, 10**6 or 5 * 10**5, a head
dimension of 128 or 256, a rotated fraction of 1/4 or 1/2), and the model's own code decides
what no field says (which coordinates pair, where the rotated part of a DeepSeek head sits).
`rope_arguments` reads both: the fields, by the rules of the model's family (the table
`_FAMILIES`), and what the family's code does. A transformers config object has its class's
defaults filled in, so everything it lacks is transformers' own default; a file or a dict is
read as written, and a field it leaves to a class default that rope does not know to be
universal is refused by name rather than guessed. So are model types rope has no rules for
(their pairing is in their code) and RoPE fields rope does not read.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._scaling import canonical_name, family_parameters, parameter_names
from ._validation import check_flag, shown

__all__ = ["model_types", "read_config", "rope_arguments"]

# Field names that belong to RoPE: anything named so that rope does not read is refused.
_ROPE_WORDS = frozenset({"rope", "rotary", "mrope"})

_ASK_FOR_THE_OBJECT = (
    "pass the transformers config object instead (transformers.AutoConfig.from_pretrained"
    "(path)), whose class fills in its defaults, or add the field to the config"
)


@dataclass(frozen=True)
class _Family:
    """How one family of models (a transformers model type) lays out its RoPE."""

    interleaved: bool = False  # pairs (2i, 2i + 1) in its code; else half-split (i, i + d/2)
    interleave_field: str | None = None  # a field that says the weights use the other pairing
    # The rotated head's size: "derived": head_dim, else hidden_size // num_attention_heads;
    # "class": head_dim, whose class default is a number; "hidden": always hidden_size //
    # num_attention_heads; "gptj": n_embd // n_head; any other: the one field that holds it.
    head: str = "derived"
    # The rotated part: the field of its fraction; "rotary_dim": a count; "half": the first
    # half, fixed in the code.
    partial: str = "partial_rotary_factor"
    partial_default: float | None = 1.0  # the fraction when that field is absent (None: refuse)
    base: str = "rope_theta"  # the field of the base; "fixed": 10000 in the code; "rope_ratio":
    # 10000 times that field
    base_default: float | None = None  # the base (or ratio) when absent (None: refuse)
    legacy_types: tuple[tuple[str, str], ...] = ()  # rope_type spellings its config converts
    mrope: str | None = None  # "blocks" or "interleaved": M-RoPE as its code recomposes it
    mrope_default: tuple[int, ...] | None = None  # the sections its code takes if none given
    axial: bool = False  # Pixtral's 2-D RoPE: rows and columns
    sliding_base: str | None = None  # the field of the base of its sliding-window layers,
    # which rotate without the scaling that its full-attention layers take (Gemma 3, OLMo 3)
    not_rotation: tuple[str, ...] = ()  # RoPE-named fields that do not change the rotation
    must_be_true: tuple[str, ...] = ()  # flags whose false value is a variant without rules


_LLAMA = _Family(base_default=10000.0)  # Llama 1 and 2 files predate rope_theta
_GENERIC = _LLAMA  # a dict without model_type: a Llama config written out by hand
_DERIVED = _Family()
_CLASS_HEAD = _Family(head="class")
_GPTJ = _Family(interleaved=True, head="gptj", partial="rotary_dim", base="fixed",
                must_be_true=("rotary",))
_QWEN2_VL = _Family(mrope="blocks", mrope_default=(16, 24, 24), legacy_types=(("mrope", ""),))

_FAMILIES: dict[str, _Family] = {
    # half-split, head_dim or hidden_size // num_attention_heads
    "llama": _LLAMA,
    "mistral": _DERIVED,
    "mixtral": _DERIVED,
    "qwen2": _DERIVED,
    "qwen2_moe": _DERIVED,
    "qwen3_moe": _DERIVED,
    "starcoder2": _DERIVED,
    "olmo2": _DERIVED,
    "granite": _DERIVED,
    "phi3": _Family(legacy_types=(("su", "longrope"), ("yarn", "longrope"))),
    "phi": _Family(partial_default=None),
    "stablelm": _Family(partial_default=None),
    "gpt_neox": _Family(partial="rotary_pct", partial_default=None, base="rotary_emb_base"),
    # half-split, head_dim whose class default is not derived
    "qwen3": _CLASS_HEAD,
    "gemma": _CLASS_HEAD,
    "gemma2": _CLASS_HEAD,
    "gemma3_text": _Family(head="class", sliding_base="rope_local_base_freq"),
    "olmo3": _Family(sliding_base="rope_theta"),
    "gpt_oss": _CLASS_HEAD,
    "ministral3": _Family(head="class", not_rotation=("llama_4_scaling_beta",)),
    # interleaved pairs
    "cohere": _Family(interleaved=True),
    "glm": _Family(interleaved=True, head="class", partial_default=None),
    "glm4": _Family(interleaved=True, head="class", partial_default=None),
    "llama4_text": _Family(interleaved=True, head="class",
                           not_rotation=("no_rope_layers", "no_rope_layer_interval")),
    "deepseek_v2": _Family(interleaved=True, head="qk_rope_head_dim"),
    "deepseek_v3": _Family(interleaved=True, interleave_field="rope_interleave",
                           head="qk_rope_head_dim"),
    "gptj": _GPTJ,
    "codegen": _GPTJ,
    "chatglm": _Family(interleaved=True, head="kv_channels", partial="half", base="rope_ratio",
                       base_default=1.0, must_be_true=("original_rope",)),
    # several position axes
    "qwen2_vl": _QWEN2_VL,
    "qwen2_5_vl": _QWEN2_VL,
    "qwen3_vl_text": _Family(head="class", mrope="interleaved", mrope_default=(24, 20, 20)),
    "qwen3_5_text": _Family(head="class", partial_default=None, mrope="interleaved",
                            mrope_default=(11, 11, 10)),
    "pixtral": _Family(head="hidden", axial=True, legacy_types=(("axial", ""),)),
}
# Text configs of multimodal models, and composite configs read through their text part.
for _alias, _name in (("gemma3", "gemma3_text"), ("llama4", "llama4_text"),
                      ("qwen2_vl_text", "qwen2_vl"), ("qwen2_5_vl_text", "qwen2_5_vl"),
                      ("qwen3_vl", "qwen3_vl_text"), ("qwen3_5", "qwen3_5_text")):
    _FAMILIES[_alias] = _FAMILIES[_name]


def model_types() -> tuple[str, ...]:
    """The model types `rope.Rope.from_hf_config` has rules for."""
    return tuple(sorted(_FAMILIES))


def read_config(config: Any) -> tuple[dict, bool]:
    """(the config as a dict, whether a transformers class has filled in its defaults)."""
    if isinstance(config, Mapping):
        return dict(config), False
    if callable(getattr(config, "to_dict", None)):  # a transformers PretrainedConfig
        return dict(config.to_dict()), True
    try:
        path = os.fspath(config)
    except TypeError:
        raise TypeError(
            f"config must be a path to config.json (or its folder), a dict or a transformers "
            f"config object; got {type(config).__name__}"
        ) from None
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise OSError(f"cannot read Hugging Face config {path!r}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path!r} is not a JSON config file: {exc}") from exc
    except RecursionError:  # json's decoder recurses once per level of nesting
        raise ValueError(f"{path!r} nests its values too deeply to be a model config") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path!r} holds a JSON {type(data).__name__}, not a config object")
    return data, False


class _Fields:
    """A config's fields, read by name: remembers what was read, explains what is missing."""

    def __init__(self, cfg: Mapping, complete: bool, model_type: str | None) -> None:
        self.cfg = cfg
        self.complete = complete
        self.model_type = model_type
        self.read: set[str] = set()

    def has(self, name: str) -> bool:
        return self.cfg.get(name) is not None  # transformers writes absent fields as null

    def get(self, name: str, default: object = None) -> Any:
        self.read.add(name)
        value = self.cfg.get(name)
        return default if value is None else value

    def count(self, name: str, why: str = "") -> int:
        """The field's value, a count (a dimension, a number of heads): an integer >= 1."""
        value = self.need(name, why)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"config field {name} must be an integer{why}; got {shown(value)}")
        if not 1 <= value <= 2**31:
            raise ValueError(f"config field {name} must be in [1, 2**31]{why}; got "
                             f"{shown(value)}")
        return value

    def real(self, name: str, default: float) -> float:
        """The field's value (or `default`), a number > 0."""
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"config field {name} must be a number; got {shown(value)}")
        try:
            value = float(value)
        except OverflowError:  # an int past float64's range
            value = float("inf")
        if not 0.0 < value < float("inf"):
            raise ValueError(f"config field {name} must be finite and > 0; got {shown(value)}")
        return value

    def need(self, name: str, why: str = "") -> Any:
        """The field's value; if the config leaves it out, an error naming it."""
        if self.has(name):
            return self.get(name)
        self.read.add(name)
        raise self.missing(name, why)

    def missing(self, name: str, why: str = "") -> ValueError:
        owner = f"the {self.model_type} config class" if self.model_type else "a model class"
        if self.complete or self.model_type is None:
            return ValueError(f"the config has no {name}{why}; rope cannot tell the RoPE "
                              f"without it")
        return ValueError(
            f"the config leaves {name}{why} to {owner}'s default, which rope does not assume; "
            f"{_ASK_FOR_THE_OBJECT}"
        )

    def refuse_unread(self, known: tuple[str, ...]) -> None:
        for name in self.cfg:
            words = set(name.lower().split("_"))
            if words & _ROPE_WORDS and name not in self.read and name not in known and \
                    self.cfg[name] is not None:
                raise ValueError(
                    f"config field {name}={shown(self.cfg[name])} is a RoPE field rope does not "
                    f"read{f' for model type {self.model_type!r}' if self.model_type else ''}"
                    f", so it cannot tell how it changes the rotation; build the Rope "
                    f"directly (rope.Rope(...)) if you know"
                )


def _text_part(cfg: dict) -> dict:
    """The part of a multimodal config that holds its language model's attention."""
    text = cfg.get("text_config")
    if text is None:
        return cfg
    if not isinstance(text, Mapping):
        raise TypeError(
            f"config field text_config must be a dict (the language model's config, as in a "
            f"multimodal config.json) or absent; got {type(text).__name__} {shown(text)}"
        )
    text = dict(text)
    if text.get("model_type") is None and cfg.get("model_type") is not None:
        text["model_type"] = cfg["model_type"]
    return text


def _quotient(fields: _Fields, total: str, heads: str) -> int:
    """The head dimension of a config that gives it as total // heads (two count fields)."""
    why = f" (the head dimension: {total} // {heads})"
    dim = fields.count(total, why) // fields.count(heads, why)
    if dim < 1:
        raise ValueError(f"the config has {total}={fields.get(total)} below {heads}="
                         f"{fields.get(heads)}: no head dimension {total} // {heads} >= 1")
    return dim


def _head_dim(fields: _Fields, family: _Family) -> int:
    if family.head == "gptj":  # GPT-J and CodeGen keep GPT-2's names
        return _quotient(fields, "n_embd", "n_head")
    if family.head not in ("derived", "class", "hidden"):
        return fields.count(family.head, " (the dimension of the rotated head)")
    if family.head != "hidden" and fields.has("head_dim"):
        return fields.count("head_dim", " (the head dimension)")
    fields.read.add("head_dim")  # Pixtral's class computes it, whatever the file says
    if family.head == "class" and not fields.complete:
        raise fields.missing("head_dim", " (the head dimension)")
    return _quotient(fields, "hidden_size", "num_attention_heads")


def _base(fields: _Fields, family: _Family, params: dict) -> float:
    base = params.pop("rope_theta", None)
    if family.base == "fixed":  # GPT-J and CodeGen: 10000 in the model code
        return 10000.0
    if family.base == "rope_ratio":  # ChatGLM: 10000 times the ratio
        return 10000.0 * fields.real("rope_ratio", family.base_default or 1.0)
    if base is None:
        base = fields.get(family.base)
    if base is None and family.base != "rope_theta":
        base = fields.get("rope_theta")  # a transformers object holds it in rope_parameters
    if base is None:
        if family.base_default is None and not fields.complete:
            raise fields.missing(family.base, " (the base)")
        base = family.base_default if family.base_default is not None else 10000.0
    return base


def _rotary(fields: _Fields, family: _Family, params: dict, dim: int) -> dict:
    """rotary_dim or partial_rotary_factor, as the family says it."""
    partial = params.pop("partial_rotary_factor", None)
    if family.partial == "half":  # ChatGLM rotates half of each head
        return {"rotary_dim": dim // 2}
    if family.partial == "rotary_dim":  # GPT-J, CodeGen
        rotary = fields.count("rotary_dim", " (the rotated part of each head)")
        return {"rotary_dim": rotary}
    if partial is None:
        partial = fields.get(family.partial)
    if partial is None and family.partial != "partial_rotary_factor":
        partial = fields.get("partial_rotary_factor")
    if partial is None and family.partial_default is None and not fields.complete:
        raise fields.missing(family.partial, " (the rotated fraction of each head)")
    whole = partial is None or type(partial) in (int, float) and partial == 1.0
    return {} if whole else {"partial_rotary_factor": partial}


def _nested(params: object) -> bool:
    """True for rope parameters given per layer type: {"full_attention": {...}, ...}."""
    return isinstance(params, Mapping) and bool(params) and \
        all(isinstance(v, Mapping) or v is None for v in params.values())


def _rope_parameters(fields: _Fields, layer_type: str | None) -> dict:
    """The rope_scaling / rope_parameters dict of the requested layer type, copied."""
    # transformers takes rope_scaling over rope_parameters when a config has both
    scaling, parameters = fields.get("rope_scaling"), fields.get("rope_parameters")
    for name, value in (("rope_scaling", scaling), ("rope_parameters", parameters)):
        if value is not None and not isinstance(value, Mapping):  # before `or` tests its truth
            raise ValueError(f"{name} must be a dict; got {shown(value)}")
    params = scaling or parameters or {}
    layer_types = fields.get("layer_types")
    declared = sorted(set(layer_types)) if isinstance(layer_types, (list, tuple)) else None
    if _nested(params):
        if layer_type not in params:
            raise ValueError(
                f"this config has rope parameters (rope_scaling / rope_parameters) per layer "
                f"type, {shown(sorted(params))}; pass "
                f"layer_type= one of them"
            )
        return dict(params[layer_type] or {})
    if layer_type is not None and (declared is None or layer_type not in declared):
        raise ValueError(
            f"layer_type={layer_type!r} is not a layer type of this config, whose layers all "
            f"rotate alike; " + (f"its layer types are {declared}" if declared else
                                 "leave layer_type out")
        )
    return dict(params)


def _layer_parameters(fields: _Fields, family: _Family, layer_type: str | None) -> dict:
    """The flat fields of a family whose layers rotate two ways (Gemma 3, OLMo 3): full
    attention at rope_theta with the scaling, sliding-window layers at their own base without."""
    kinds = ("full_attention", "sliding_attention")
    assert family.sliding_base is not None  # only the families that have one come here
    fields.read.update(("layer_types", "sliding_window_pattern", "rope_scaling", "rope_theta",
                        family.sliding_base))  # each layer type reads one of the two bases
    if layer_type not in kinds:
        raise ValueError(
            f"model type {fields.model_type!r} rotates its full-attention and sliding-window "
            f"layers differently; pass layer_type='full_attention' or 'sliding_attention'"
            + (f" (got {layer_type!r})" if layer_type is not None else "")
        )
    if layer_type == "sliding_attention":
        return {"rope_theta": fields.need(family.sliding_base, " (the sliding-window base)")}
    params = fields.get("rope_scaling")
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(f"rope_scaling must be a dict; got {shown(params)}")
    params = dict(params or {})
    params.setdefault("rope_theta", fields.need("rope_theta", " (the full-attention base)"))
    return params


def _rope_type(fields: _Fields, family: _Family, params: dict) -> str | None:
    # a legacy name is read as its config class converts it; "": the family's own rotation
    legacy = dict(family.legacy_types)
    types = [params.pop(key) for key in ("rope_type", "type") if key in params]
    names = {canonical_name(legacy[t] or None if t in legacy else t) for t in types}
    if len(names) > 1:
        raise ValueError(f"rope_scaling names two types, {types}; keep one")
    name = names.pop() if names else None
    if family.axial and name is not None:
        raise ValueError(f"Pixtral's 2-D RoPE takes no scaling; the config names {name!r}")
    return name


def _axes(fields: _Fields, family: _Family, params: dict, rotary_pairs: int) -> dict:
    section = params.pop("mrope_section", None)
    interleaved = params.pop("mrope_interleaved", None)
    if family.axial:
        return {"mrope_section": [rotary_pairs // 2, rotary_pairs // 2],
                "mrope_interleaved": True, "mrope_grouped": True}
    if family.mrope is None:
        if section is not None or interleaved:
            raise ValueError(
                f"the config gives mrope_section={shown(section)}, mrope_interleaved="
                f"{shown(interleaved)}, but rope has no M-RoPE rules for model type "
                f"{fields.model_type!r}; build the Rope directly (rope.Rope(..., "
                f"mrope_section=...)) if you know its layout"
            )
        return {}
    if section is None:
        if not fields.complete:
            raise fields.missing("mrope_section", " (in rope_scaling)")
        section = family.mrope_default
    code = family.mrope == "interleaved"
    if interleaved is not None and bool(interleaved) != code:
        raise ValueError(
            f"the config says mrope_interleaved={shown(interleaved)}, but the code of model type "
            f"{fields.model_type!r} always {'interleaves' if code else 'splits in blocks'}"
        )
    if isinstance(section, (list, tuple)):
        section = list(section)  # anything else is refused by name, by rope.Rope
    return {"mrope_section": section, "mrope_interleaved": code}


def _lengths(fields: _Fields, name: str | None, params: dict) -> None:
    """The lengths a family reads from outside its dict, as transformers does."""
    accepted = family_parameters(name) if name else ()
    for key in ("max_position_embeddings", "original_max_position_embeddings"):
        if key in accepted and fields.has(key):
            # Hugging Face gives a top-level original_max_position_embeddings (Phi-3) priority
            # over the one inside rope_scaling.
            if key == "original_max_position_embeddings":
                params[key] = fields.get(key)
            else:
                params.setdefault(key, fields.get(key))


def rope_arguments(config: object, *, layer_type: str | None = None,
                   interleaved: bool | None = None) -> dict:
    """The keyword arguments of `rope.Rope` that a Hugging Face config describes."""
    raw, complete = read_config(config)
    cfg = _text_part(raw)
    model_type = cfg.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise TypeError(f"config field model_type must be a string such as 'llama'; got "
                        f"{shown(model_type)}")
    if interleaved is not None:
        interleaved = check_flag(interleaved, "interleaved")
    if model_type is None:
        family = _GENERIC
    elif model_type in _FAMILIES:
        family = _FAMILIES[model_type]
    elif interleaved is not None:  # the caller says how it pairs; the rest is read as Llama's
        family = _DERIVED
    else:
        raise ValueError(
            f"rope has no rules for model type {model_type!r}: how its code pairs coordinates "
            f"is not in its config. Pass interleaved=False (half-split, as Llama) or True "
            f"(pairs 2i, 2i + 1) to read it as Llama's. Model types with rules: "
            f"{', '.join(model_types())}"
        )
    fields = _Fields(cfg, complete, model_type)
    fields.read.update(("model_type", "text_config"))
    dim = _head_dim(fields, family)
    if family.sliding_base and not _nested(fields.cfg.get("rope_parameters")):
        params = _layer_parameters(fields, family, layer_type)
    else:
        params = _rope_parameters(fields, layer_type)
        if family.sliding_base:  # a transformers object keeps it in the layers' dicts too
            fields.get(family.sliding_base)
    base = _base(fields, family, params)
    rotary = _rotary(fields, family, params, dim)
    name = _rope_type(fields, family, params)
    for key in family.not_rotation:
        params.pop(key, None)
    try:
        pairs = (rotary.get("rotary_dim") or
                 int(dim * rotary.get("partial_rotary_factor", 1.0))) // 2
    except (TypeError, ValueError, OverflowError):  # a bad fraction, which rope.Rope refuses
        pairs = dim // 2
    axes = _axes(fields, family, params, pairs)
    _lengths(fields, name, params)
    pairing = family.interleaved
    if family.interleave_field:  # DeepSeek-V3 weights converted to half-split say so
        pairing = bool(fields.get(family.interleave_field, family.interleaved))
    for flag in family.must_be_true:
        if fields.get(flag, True) is not True:
            raise ValueError(f"the config says {flag}={shown(fields.get(flag))}: a variant of "
                             f"{model_type!r} rope has no rules for")
    fields.refuse_unread(family.not_rotation)
    unknown = sorted(shown(k) for k in params if k not in parameter_names())
    if unknown:  # a TypeError, as a keyword that rope.Rope does not take
        raise TypeError(
            f"the config's rope_scaling / rope_parameters has {', '.join(unknown)}, which no "
            f"scaling family takes, so rope cannot tell how it changes the rotation; build the "
            f"Rope directly (rope.Rope(...)) if you know"
        )
    return {"dim": dim, "base": base, "scaling": name, **rotary, **axes,
            "interleaved": pairing if interleaved is None else interleaved, **params}
