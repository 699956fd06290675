"""bfloat16: the NumPy array through which rope reaches bfloat16 data.

rope's loops run on NumPy arrays, and NumPy has no bfloat16: bfloat16 data
(``ml_dtypes.bfloat16``) is viewed as uint16 of the dtype `BFLOAT16`, which rope's loops read
as bfloat16 and which is told apart from any other uint16 by identity (views keep their dtype
object).
"""
from __future__ import annotations

import numpy as np

from . import _core

__all__ = ["BFLOAT16", "is_bfloat16", "tensor_view"]

#: rope's dtype for bfloat16 data: uint16 holding the bits, with metadata that names it.
BFLOAT16: np.dtype = _core.bfloat16_bits


def is_bfloat16(dtype: np.dtype) -> bool:
    """True for ml_dtypes' bfloat16 (what JAX and NumPy users hold bfloat16 in)."""
    return dtype.kind == "V" and dtype.itemsize == 2 and dtype.name == "bfloat16"


def tensor_view(x: object, name: str = "x") -> np.ndarray | None:
    """The NumPy array that views x's memory: x itself for a NumPy array (an ml_dtypes
    bfloat16 array as uint16 of dtype `BFLOAT16`), or None when x is none (a list, a scalar,
    ...). Never a copy."""
    if isinstance(x, np.ndarray):
        return x.view(BFLOAT16) if is_bfloat16(x.dtype) else x
    return None
