"""rope: rotary positional embeddings for NumPy arrays, in place, exact, at memory speed.

The C core is NumPy gufuncs: `rotate` (half-split pairs), `rotate_interleaved` (adjacent
pairs) and `cos_sin` (exact tables). `apply` is the whole operation on q/k arrays, and on CPU
tensors with ``__dlpack__`` (torch), bfloat16 included, in place or into `out`; `Rope` is a
reusable configuration (with the context-extension scalings of `frequencies`).
`score_matrix`, `attention_weights`, `decay_bound`, `scaling_bands` and `score_drift` give the
numbers that docs/theory.md and the notebooks in examples/ explain.
"""
from __future__ import annotations

import os as _os

from . import alternatives, reference
from ._api import apply, rotate, rotate_interleaved
from ._cache import clear_cache
from ._core import cos_sin, set_simd_level, simd_level, simd_levels
from ._explore import (
    ScalingBands,
    attention_weights,
    decay_bound,
    scaling_bands,
    score_drift,
    score_matrix,
)
from ._frequencies import attention_factor, base_scale, frequencies, periods
from ._positions import offset_positions, packed_positions
from ._rope import Rope
from ._validation import MAX_POSITION

__all__ = [
    "MAX_POSITION",
    "Rope",
    "ScalingBands",
    "alternatives",
    "apply",
    "attention_factor",
    "attention_weights",
    "base_scale",
    "clear_cache",
    "cos_sin",
    "decay_bound",
    "frequencies",
    "offset_positions",
    "packed_positions",
    "periods",
    "reference",
    "rotate",
    "rotate_interleaved",
    "scaling_bands",
    "score_drift",
    "score_matrix",
    "set_simd_level",
    "simd_level",
    "simd_levels",
]

__version__ = "0.1.0"


def _cap_simd_level_from_environment() -> None:
    """ROPE_SIMD=baseline|avx2|avx512|avx512bf16 caps the kernels chosen at import (for tests,
    benchmarks and CPUs whose wide units throttle)."""
    wanted = _os.environ.get("ROPE_SIMD")
    if not wanted:
        return
    levels = simd_levels()
    if wanted not in ("baseline", "avx2", "avx512", "avx512bf16"):
        raise ImportError(f"ROPE_SIMD={wanted!r}: use baseline, avx2, avx512 or avx512bf16")
    if wanted in levels:
        set_simd_level(wanted)


_cap_simd_level_from_environment()
