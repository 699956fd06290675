"""Typed uses of rope that must type-check (mypy, in .ci/run): the types a caller gets back."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import rope

q: npt.NDArray[np.float32] = np.ones((1, 2, 4, 8), np.float32)
k = np.ones((4, 8), np.float64)

# apply returns the caller's object: the same array type, or out's
q2: npt.NDArray[np.float32] = rope.apply(q, 0, layout="bhsd")
k2: npt.NDArray[np.float64] = rope.apply(k, np.arange(4), base=500000.0)
into: npt.NDArray[np.float64] = rope.apply(k, [0, 1, 2, 3], out=np.empty_like(k))
rope.apply(k, np.arange(4, dtype=np.float64), scaling="yarn", factor=4.0,
           original_max_position_embeddings=64)
rope.apply(k, 0, scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
rope.apply(np.ones((3, 1, 2, 8)), np.zeros((3, 1, 2), np.int64), mrope_section=[1, 1, 2],
           layout="bhsd")

# a Rope: the same, and its tables and frequencies
r = rope.Rope(8, scaling="linear", factor=2.0)
k3: npt.NDArray[np.float64] = r.apply(k, 0)
cos, sin = r.tables(np.arange(4), np.float32)
theta: np.ndarray[Any, Any] = rope.frequencies(8, scaling="ntk", factor=2.0)
factor: float = rope.attention_factor(8, 1e6, "yarn", factor=4.0,
                                      original_max_position_embeddings=32768)
from_config: rope.Rope = rope.Rope.from_hf_config({"model_type": "llama", "head_dim": 8})

# the gufunc wrappers: a new array, or out
c, s = rope.cos_sin(np.arange(4), rope.frequencies(8))
new: np.ndarray[Any, Any] = rope.rotate(k, c, s)
same: npt.NDArray[np.float64] = rope.rotate_interleaved(k, c, s, out=k)
level: str = rope.simd_level()
