"""Type aliases of rope's signatures, in one place, for type checkers (nothing here is checked at
run time: the functions check their arguments themselves).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar, Union

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayOrTensor", "ArrayOrTensorT", "OutT", "PositionsLike", "Scaling", "ScalingName",
           "SupportsDLPack"]


class SupportsDLPack(Protocol):
    """A tensor rope rotates through its memory: anything with ``__dlpack__`` (torch, JAX)."""

    def __dlpack__(self) -> object: ...


#: What rope rotates in place: a NumPy array or a tensor in CPU memory.
ArrayOrTensor = Union["np.ndarray[Any, Any]", SupportsDLPack]
#: x of `rope.apply`, which returns the caller's object (a tensor for a tensor).
ArrayOrTensorT = TypeVar("ArrayOrTensorT", bound=ArrayOrTensor)
#: out= of `rope.apply` and the gufunc wrappers, returned as it was given.
OutT = TypeVar("OutT", bound=ArrayOrTensor)

_Number = Union[int, float, np.integer[Any], np.floating[Any]]
#: Positions: an int offset, or an array_like of integer (or float64) positions. This is the
#: numeric part of numpy.typing.ArrayLike, whose str and bytes rope refuses.
PositionsLike = Union[
    int,
    np.integer[Any],
    npt.NDArray[Union[np.integer[Any], np.floating[Any]]],
    Sequence[_Number],
    Sequence[Sequence[_Number]],
    Sequence[Sequence[Sequence[_Number]]],
    Sequence[npt.NDArray[Union[np.integer[Any], np.floating[Any]]]],
]

#: The scaling families by name (``"base"`` is ``"ntk"``, ``"default"`` is none).
ScalingName = Literal["linear", "ntk", "base", "dynamic", "yarn", "llama3", "longrope",
                      "proportional", "default"]
#: `scaling` of `rope.apply`, `rope.Rope` and `rope.frequencies`: a family's name, a Hugging Face
#: ``rope_scaling`` / ``rope_parameters`` dict, or None for plain RoPE.
Scaling = Union[ScalingName, Mapping[str, Any], None]
