"""Scaling (context extension): which frequencies and attention factor each family gives.

Every family keeps the rotation and changes the angles (docs/theory.md, "The scaling condition"):
``Ro'(x_i, i theta) = Ro(x_i, i theta')``. A family is a function of the unscaled frequencies
``omega_i = base**(-2i/d)`` (i = 0 ... d/2 - 1), the rotary dimension d, the base, its checked
parameters and the current sequence length, returning ``(theta', A)``: the scaled frequencies
and the attention factor that Hugging Face multiplies cos and sin by.

Parameter names, defaults and edge cases follow Hugging Face transformers'
``modeling_rope_utils`` (``_compute_*_parameters``), so a config's ``rope_scaling`` /
``rope_parameters`` dict passes straight in. Everything is float64; Hugging Face computes the
same formulas in float32.
"""
from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ._validation import (
    MAX_POSITION,
    check_base,
    check_dim,
    check_flag,
    check_positive_int,
    shown,
)

__all__ = [
    "ScaledFrequencies",
    "base_scale",
    "canonical_name",
    "check_keywords",
    "family_parameters",
    "parameter_names",
    "periods_of",
    "resolve",
    "scaled_frequencies",
    "scaling_names",
    "unscaled",
]

# Keys of a Hugging Face rope_scaling / rope_parameters dict that are not family parameters.
_TYPE_KEYS = ("rope_type", "type")
_ALIASES = {"base": "ntk", "default": None}


def unscaled(dim: int, base: float) -> np.ndarray:
    """omega_i = base**(-2i/dim) for i = 0 ... dim/2 - 1 (pair k = i + 1 of docs/theory.md)."""
    return np.power(base, -np.arange(0, dim, 2, dtype=np.float64) / dim)


def base_scale(dim: int, factor: float) -> float:
    """The NTK base multiplier lambda = factor**(dim/(dim-2)), from period matching.

    Scaling the base by lambda makes the period of the lowest-frequency pair (k = dim/2) equal
    `factor` times its original period, as linear interpolation by `factor` would:
    ``2 pi (lambda b)**((d-2)/d) = factor * 2 pi b**((d-2)/d)``.

    Parameters
    ----------
    dim : int
        Rotary dimension d, even and > 2 (d = 2 has a single pair of frequency 1 at every
        base: no base can change its period).
    factor : float
        Context-extension factor s = m / m_l, > 0.

    Returns
    -------
    float
        lambda; the scaled base is ``lambda * base``.

    Examples
    --------
    >>> import rope
    >>> round(rope.base_scale(128, 4.0), 6)      # 4**(128/126)
    4.088994
    """
    dim = check_dim(dim, "dim")
    if dim <= 2 or dim % 2:
        raise ValueError(
            f"dim must be even and greater than 2 for base scaling; got {dim} (with d = 2 the "
            f"only frequency is 1 at every base, so no base matches the period)"
        )
    factor = _real(factor, "factor", positive=True)
    try:
        return factor ** (dim / (dim - 2))
    except OverflowError:
        raise ValueError(
            f"factor={factor} is too large: the base multiplier factor**(dim/(dim-2)) overflows "
            f"float64; a context-extension factor is a ratio of lengths such as 2 to 64"
        ) from None


# ---------------------------------------------------------------------------------------------
# Parameter checks (each names the parameter and the fix)


def _real(value: object, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"scaling parameter {name} must be a real number; got {shown(value)}")
    try:
        value = float(value)
    except OverflowError:  # an int past float64's range
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"scaling parameter {name} must be finite; got {value}")
    if positive and value <= 0.0:
        raise ValueError(f"scaling parameter {name} must be > 0; got {value}")
    return value


def _length(value: object, name: str) -> int:
    """A token count (max_position_embeddings, seq_len...): an integer >= 1; 4096.0 accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    value = check_positive_int(value, name, "an integer number of tokens")
    if value > MAX_POSITION + 1:
        raise ValueError(
            f"{name}={shown(value)} is more tokens than rope has positions for (positions reach "
            f"2**53, so lengths 2**53 + 1); pass the model's length in tokens"
        )
    return value


def _fraction(value: object, name: str) -> float:
    value = _real(value, name, positive=True)
    if value > 1.0:
        raise ValueError(f"{name} must be in (0, 1]; got {value}")
    return value


def _rotations(value: object, name: str) -> float:
    """YaRN's beta (a number of rotations): > 0, or 0 meaning the default as in Hugging Face."""
    value = _real(value, name)
    if value < 0:
        raise ValueError(
            f"scaling parameter {name} must be >= 0 (0 means the default); got {value}"
        )
    return value


def _factor_list(value: Any, name: str) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(
            f"scaling parameter {name} must be a list of numbers; got {shown(value)}")
    return tuple(_real(v, f"{name}[{i}]", positive=True) for i, v in enumerate(value))


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "factor": lambda v, n: _real(v, n, positive=True),
    "original_max_position_embeddings": _length,
    "max_position_embeddings": _length,
    "low_freq_factor": lambda v, n: _real(v, n, positive=True),
    "high_freq_factor": lambda v, n: _real(v, n, positive=True),
    "beta_fast": _rotations,
    "beta_slow": _rotations,
    "mscale": _real,
    "mscale_all_dim": _real,
    "attention_factor": lambda v, n: None if v is None else _real(v, n, positive=True),
    "truncate": check_flag,
    "partial_rotary_factor": _fraction,
    "short_factor": _factor_list,
    "long_factor": _factor_list,
}


# ---------------------------------------------------------------------------------------------
# The families. Each gets (omega, dim, base, params, seq_len) with params checked and complete.


def _linear(omega, dim, base, p, seq_len):
    # theta' = theta / s is the same rotation as positions p / s (linear interpolation).
    return omega / p["factor"], 1.0


def _ntk(omega, dim, base, p, seq_len):
    # Static base scaling by period matching (NTK-aware): b' = lambda b.
    return unscaled(dim, base * base_scale(dim, p["factor"])), 1.0


def _dynamic(omega, dim, base, p, seq_len):
    # Hugging Face's rule: the length is never taken below max_position_embeddings, so nothing
    # changes until the sequence outgrows the trained window.
    trained = p["max_position_embeddings"]
    length = max(seq_len or trained, trained)
    s = p["factor"]
    if dim <= 2:
        raise ValueError(f"dynamic scaling needs a rotary dimension > 2; got {dim}")
    scaled_base = base * (s * length / trained - (s - 1.0)) ** (dim / (dim - 2))
    return unscaled(dim, scaled_base), 1.0


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1.0 else 0.1 * mscale * math.log(scale) + 1.0


def yarn_correction_range(dim: int, base: float, p: Mapping) -> tuple[float, float]:
    """(lo, hi): the pair indices between which YaRN ramps from extrapolation to interpolation."""
    trained = p["original_max_position_embeddings"]

    def correction_dim(name: str) -> float:
        rotations = p[name]
        ratio = trained / (rotations * 2 * math.pi)
        if not 0.0 < ratio < math.inf:  # 2 pi beta overflowed, or trained / (2 pi beta) did
            raise ValueError(
                f"yarn {name}={rotations} is out of range: the ramp needs "
                f"original_max_position_embeddings / (2 pi {name}) finite and > 0, here "
                f"{trained} / (2 pi {rotations}); {name} is a number of rotations (defaults: "
                f"beta_fast 32, beta_slow 1)"
            )
        return dim * math.log(ratio) / (2 * math.log(base))

    lo, hi = correction_dim("beta_fast"), correction_dim("beta_slow")
    if p["truncate"]:
        lo, hi = math.floor(lo), math.ceil(hi)
    return max(lo, 0), min(hi, dim - 1)


def _yarn(omega, dim, base, p, seq_len):
    lo, hi = yarn_correction_range(dim, base, p)
    if lo == hi:
        hi += 0.001  # as Hugging Face: avoid a zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    keep = 1.0 - ramp  # weight of the unscaled (extrapolated) frequency
    s = p["factor"]
    theta = (omega / s) * (1.0 - keep) + omega * keep
    attention = p.get("attention_factor")
    if attention is None:
        mscale, mscale_all_dim = p.get("mscale"), p.get("mscale_all_dim")
        if mscale and mscale_all_dim:  # both given and non-zero, as Hugging Face tests it
            numerator, denominator = _yarn_mscale(s, mscale), _yarn_mscale(s, mscale_all_dim)
            if not (numerator > 0.0 and denominator > 0.0):
                raise ValueError(
                    f"yarn's attention factor (0.1 mscale ln(factor) + 1) / (0.1 mscale_all_dim "
                    f"ln(factor) + 1) needs both terms > 0; with factor={s}, mscale={mscale} and "
                    f"mscale_all_dim={mscale_all_dim} they are {numerator:g} and "
                    f"{denominator:g}. Models set mscale and mscale_all_dim >= 0 (DeepSeek-V3: "
                    f"1.0 and 1.0)"
                )
            attention = numerator / denominator
        else:
            attention = _yarn_mscale(s)
    return theta, float(attention)


def _llama3(omega, dim, base, p, seq_len):
    s, trained = p["factor"], p["original_max_position_embeddings"]
    low, high = p["low_freq_factor"], p["high_freq_factor"]
    wavelength = 2 * math.pi / omega
    theta = np.where(wavelength > trained / low, omega / s, omega)  # long waves: interpolate
    if low == high:  # Llama 4: no band between the two, a step at trained / low
        return theta, 1.0
    smooth = (trained / wavelength - low) / (high - low)
    medium = ~(wavelength < trained / high) & ~(wavelength > trained / low)
    return np.where(medium, (1.0 - smooth) * omega / s + smooth * omega, theta), 1.0


def _longrope(omega, dim, base, p, seq_len):
    trained = p["original_max_position_embeddings"]
    long = seq_len is not None and seq_len > trained
    factors = np.asarray(p["long_factor"] if long else p["short_factor"], dtype=np.float64)
    attention = p.get("attention_factor")
    if attention is None:
        s = p["factor"]
        if s > 1.0 and trained == 1:
            raise ValueError(
                "longrope's attention factor sqrt(1 + ln(factor) / "
                "ln(original_max_position_embeddings)) needs original_max_position_embeddings "
                "> 1; got 1. Pass the model's trained length, or attention_factor="
            )
        attention = 1.0 if s <= 1.0 else math.sqrt(1.0 + math.log(s) / math.log(trained))
    return omega / factors, float(attention)


def _proportional(omega, dim, base, p, seq_len):
    # Gemma 4: the first int(f * dim // 2) pairs of the *whole* head rotate, at the head's
    # frequencies base**(-2i/dim); the other pairs have frequency 0 (left as they are). Unlike
    # partial_rotary_factor elsewhere, the layout keeps half-split pairs (i, i + dim/2).
    rotated = int(p["partial_rotary_factor"] * dim // 2)
    theta = np.where(np.arange(dim // 2) < rotated, omega, 0.0)
    return theta / p["factor"], 1.0


@dataclass(frozen=True)
class _Family:
    compute: Callable
    required: tuple[str, ...]
    optional: Mapping[str, object]  # name -> default
    uses_length: bool = False  # frequencies depend on the current sequence length


_FAMILIES: dict[str, _Family] = {
    "linear": _Family(_linear, ("factor",), {}),
    "ntk": _Family(_ntk, ("factor",), {}),
    "dynamic": _Family(_dynamic, ("factor", "max_position_embeddings"), {}, uses_length=True),
    "yarn": _Family(
        _yarn,
        ("factor", "original_max_position_embeddings"),
        {
            "max_position_embeddings": None,
            "beta_fast": None,
            "beta_slow": None,
            "mscale": None,
            "mscale_all_dim": None,
            "attention_factor": None,
            "truncate": True,
        },
    ),
    "llama3": _Family(
        _llama3,
        ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
        {"max_position_embeddings": None},
    ),
    "longrope": _Family(
        _longrope,
        ("short_factor", "long_factor", "original_max_position_embeddings", "factor"),
        {"max_position_embeddings": None, "attention_factor": None},
        uses_length=True,
    ),
    "proportional": _Family(_proportional, (), {"factor": 1.0, "partial_rotary_factor": 1.0}),
}


def scaling_names() -> tuple[str, ...]:
    """The accepted scaling names, aliases included."""
    return tuple(_FAMILIES) + tuple(_ALIASES)


def family_parameters(name: str | None) -> tuple[str, ...]:
    """Every parameter a family accepts (required first)."""
    if name is None:
        return ()
    family = _FAMILIES[name]
    return family.required + tuple(family.optional)


def uses_length(name: str | None) -> bool:
    """True if the family's frequencies depend on the current sequence length."""
    return name is not None and _FAMILIES[name].uses_length


def canonical_name(scaling: object) -> str | None:
    if scaling is None:
        return None
    if not isinstance(scaling, str):
        raise TypeError(
            f"scaling must be None, a name or a Hugging Face rope_scaling dict; got "
            f"{type(scaling).__name__}"
        )
    key = scaling.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key not in _FAMILIES:
        raise ValueError(
            f"unknown scaling {scaling!r}; known: {', '.join(repr(n) for n in scaling_names())}"
        )
    return key


def _fill_defaults(name: str, p: dict) -> None:
    """Hugging Face's fallbacks, in its order, before the required names are checked."""
    if name in ("yarn", "llama3", "longrope") and "original_max_position_embeddings" not in p \
            and "max_position_embeddings" in p:
        p["original_max_position_embeddings"] = p["max_position_embeddings"]
    if name in ("yarn", "longrope") and p.get("factor") is None and \
            "max_position_embeddings" in p and "original_max_position_embeddings" in p:
        # DeepSeek-V3 (yarn) and Phi-3 (longrope) give the extension as the ratio of lengths.
        p["factor"] = p["max_position_embeddings"] / p["original_max_position_embeddings"]
    if name in ("yarn", "llama3", "longrope"):
        # Used only for the two fallbacks above; dropped so that equal configurations compare
        # equal whether or not the length was written out.
        p.pop("max_position_embeddings", None)
    if name == "yarn":
        p["beta_fast"] = p.get("beta_fast") or 32.0  # `or`: 0 and None mean the default
        p["beta_slow"] = p.get("beta_slow") or 1.0


def resolve(
    base: object, scaling: object, params: Mapping[str, object]
) -> tuple[float, str | None, dict[str, Any], float | None]:
    """Check a scaling request; return (base, name, params, partial_rotary_factor).

    `scaling` is None, a name, or a Hugging Face dict (``rope_type`` or legacy ``type``; its
    ``rope_theta`` sets the base, its ``partial_rotary_factor`` the rotated fraction). Keyword
    `params` are merged over the dict's. Raises TypeError/ValueError naming what is wrong.
    """
    merged: dict[str, object] = {}
    if isinstance(scaling, Mapping):
        merged.update(scaling)
        types = [merged.pop(k) for k in _TYPE_KEYS if k in merged]
        if len({canonical_name(t) for t in types}) > 1:
            raise ValueError(f"scaling dict names two types, {types}; keep one")
        scaling = types[0] if types else None  # Hugging Face: no type means "default"
    merged.update(params)
    name = canonical_name(scaling)
    theta = merged.pop("rope_theta", None)
    base = check_base(base if theta is None else theta)
    # proportional reads partial_rotary_factor itself: it does not shorten the rotary dim
    partial = merged.pop("partial_rotary_factor", None) if name != "proportional" else None
    if partial is not None:
        partial = _fraction(partial, "partial_rotary_factor")
    if name is None:
        if merged:
            raise TypeError(
                f"parameters {sorted(merged)} were given without a scaling (plain RoPE takes "
                f"none); pass scaling= one of {', '.join(repr(n) for n in _FAMILIES)}"
            )
        return base, None, {}, partial
    family = _FAMILIES[name]
    accepted = family_parameters(name)
    unexpected = sorted(k for k in merged if k not in accepted)
    if unexpected:
        raise TypeError(
            f"scaling {name!r} does not take {', '.join(unexpected)}; it takes "
            f"{', '.join(accepted)}"
        )
    # None means "not given" (Hugging Face writes optional keys as null), so defaults apply.
    checked = {k: _CHECKS[k](v, k) for k, v in merged.items() if v is not None}
    _fill_defaults(name, checked)
    missing = [k for k in family.required if k not in checked]
    if missing:
        alternative = " (or max_position_embeddings, giving factor = max_position_embeddings / " \
            "original_max_position_embeddings)" if name in ("yarn", "longrope") and \
            missing[0] == "factor" else ""
        raise ValueError(
            f"scaling {name!r} needs {', '.join(missing)} (Hugging Face's names); pass e.g. "
            f"{missing[0]}=...{alternative} or include it in the scaling dict"
        )
    for key, default in family.optional.items():
        if default is not None:  # None-default keys stay absent (a repr shows what was given)
            checked.setdefault(key, default)
    if name == "llama3" and checked["low_freq_factor"] > checked["high_freq_factor"]:
        raise ValueError(
            f"llama3 needs low_freq_factor <= high_freq_factor; got "
            f"{checked['low_freq_factor']} and {checked['high_freq_factor']} (Llama 3.1: 1 and "
            f"4; Llama 4: 1 and 1, a step)"
        )
    if name == "yarn" and checked["beta_fast"] < checked["beta_slow"]:
        raise ValueError(
            f"yarn needs beta_fast >= beta_slow (defaults 32 and 1); got "
            f"{checked['beta_fast']} and {checked['beta_slow']}"
        )
    return base, name, checked, partial


def rotary_dimension(dim: object, partial_rotary_factor: float | None) -> int:
    """The rotated dimension: `dim`, or int(dim * partial_rotary_factor) as Hugging Face does."""
    dim = check_dim(dim, "dim")
    rotary = dim if partial_rotary_factor is None else int(dim * partial_rotary_factor)
    if rotary < 2 or rotary % 2:
        extra = "" if partial_rotary_factor is None else \
            f" (int({dim} * partial_rotary_factor {partial_rotary_factor}))"
        raise ValueError(f"the rotary dimension must be even and >= 2; got {rotary}{extra}")
    return rotary


def periods_of(theta: np.ndarray) -> np.ndarray:
    """2*pi / theta, in tokens; a pair that does not rotate (theta 0) has an infinite period."""
    with np.errstate(divide="ignore"):
        return 2.0 * np.pi / theta


_IN_RANGE = ("take parameters in the range models use (a factor is a ratio of lengths such as "
             "2 to 64, lengths are token counts)")


def _described(name: str, params: Mapping) -> str:
    """"scaling 'linear' with factor=1e-320": what a message about a configuration names."""
    text = ", ".join(f"{k}={shown(v)}" for k, v in sorted(params.items()))
    return f"scaling {name!r}" + (f" with {text}" if text else "")


#: Every name a scaling family takes as a keyword (and a Hugging Face dict's rope_theta).
_PARAMETER_NAMES = frozenset(_CHECKS) | {"rope_theta"}


def parameter_names() -> frozenset[str]:
    """Every parameter name of every family (and rope_theta), as keywords and dict keys."""
    return _PARAMETER_NAMES


def check_keywords(params: Mapping[str, object], function: Callable, caller: str) -> None:
    """Refuse keyword arguments that neither `function` nor any scaling family takes, naming
    the close ones: a misspelt ``rotary_dims=4`` would otherwise be taken for a scaling
    parameter and refused as one "given without a scaling"."""
    unknown = [name for name in params if name not in _PARAMETER_NAMES]
    if not unknown:
        return
    import inspect

    own = [p.name for p in inspect.signature(function).parameters.values()
           if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [name for name in unknown if name not in own]  # own ones passed on (M-RoPE's)
    if not unknown:
        return
    names = sorted(set(own) | _PARAMETER_NAMES)
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
        hints.append(repr(name) + (f" (did you mean {close[0]}=?)" if close else ""))
    raise TypeError(
        f"{caller} got unknown keyword argument{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(hints)}: not one of its arguments ({', '.join(own)}) nor a scaling "
        f"parameter ({', '.join(sorted(_PARAMETER_NAMES))})"
    )


@dataclass(frozen=True)
class ScaledFrequencies:
    """The frequencies of one configuration at one sequence length, and its attention factor."""

    theta: np.ndarray
    attention_factor: float
    negated: np.ndarray  # -theta, for inverse rotations (kept: building it costs a decode step)
    fastest: float  # the largest |theta|, for the angle range (kept for the same reason)


def scaled_frequencies(
    rotary_dim: int, base: float, name: str | None, params: Mapping, seq_len: int | None = None
) -> ScaledFrequencies:
    """theta' and A for an already resolved configuration (see `resolve`)."""
    omega = unscaled(rotary_dim, base)
    if name is None:
        theta, attention = omega, 1.0
    else:
        if name == "longrope":
            for key in ("short_factor", "long_factor"):
                if len(params[key]) != rotary_dim // 2:
                    raise ValueError(
                        f"longrope {key} has {len(params[key])} entries; it needs one per pair: "
                        f"rotary dimension {rotary_dim} / 2 = {rotary_dim // 2}"
                    )
        if seq_len is not None:
            seq_len = _length(seq_len, "seq_len")
        # No floating-point warning or FloatingPointError (np.errstate(all="raise")) on the way:
        # what overflows is caught below, by name.
        with np.errstate(all="ignore"):
            try:
                theta, attention = _FAMILIES[name].compute(omega, rotary_dim, base, params,
                                                           seq_len)
            except (OverflowError, ZeroDivisionError) as exc:
                raise ValueError(f"{_described(name, params)} cannot be computed in float64 "
                                 f"({exc}); {_IN_RANGE}") from None
            theta = np.ascontiguousarray(theta, dtype=np.float64)
        if not np.isfinite(theta).all():
            raise ValueError(f"{_described(name, params)} gives frequencies that overflow "
                             f"float64; {_IN_RANGE}")
        if not (math.isfinite(attention) and attention > 0.0):
            raise ValueError(f"{_described(name, params)} gives the attention factor "
                             f"{attention}, which must be finite and > 0; {_IN_RANGE}")
    return frozen_frequencies(theta, attention)


def frozen_frequencies(theta: np.ndarray, attention: float) -> ScaledFrequencies:
    """ScaledFrequencies of float64 `theta`, read-only, with what every call derives from it."""
    negated = -theta
    theta.flags.writeable = negated.flags.writeable = False
    fastest = float(np.abs(theta).max()) if theta.size else 0.0
    return ScaledFrequencies(theta, attention, negated, fastest)
