"""Tensors of other libraries, and bfloat16: the NumPy array through which rope reaches them.

rope's loops run on NumPy arrays. A torch tensor, or any other object with ``__dlpack__`` whose
memory the CPU can address, is viewed as one by reading its DLPack capsule: the view shares the
tensor's memory (nothing is copied), so rotating the view rotates the tensor. NumPy has no
bfloat16, so bfloat16 data (``torch.bfloat16``, ``ml_dtypes.bfloat16``) is viewed as uint16 of
the dtype `BFLOAT16`, which rope's loops read as bfloat16 and which is told apart from any other
uint16 by identity (views keep their dtype object).
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import _core

__all__ = ["BFLOAT16", "is_bfloat16", "tensor_view"]

#: rope's dtype for bfloat16 data: uint16 holding the bits, with metadata that names it.
BFLOAT16: np.dtype = _core.bfloat16_bits

# DLPack device types (DLDeviceType) of memory the CPU addresses, and names of the others.
_CPU_MEMORY = (1, 3, 11, 13)  # CPU, CUDA pinned host, ROCm pinned host, CUDA managed
_DEVICES = {2: "CUDA", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 9: "VPI", 10: "ROCm",
            12: "extension-device", 14: "oneAPI", 15: "WebGPU", 16: "Hexagon", 17: "MAIA"}

# torch.Tensor and torch.utils.dlpack.to_dlpack, once the caller has imported torch. torch's own
# __dlpack__ asks for the device and its pinning in Python and costs several microseconds, more
# than a decode step's rotation; to_dlpack exports the same capsule for a tenth of that.
_torch_tensor: Any = None
_torch_to_dlpack: Any = None


def _find_torch() -> None:
    global _torch_tensor, _torch_to_dlpack
    torch = sys.modules.get("torch")
    if torch is not None and _torch_tensor is None:
        import torch.utils.dlpack

        _torch_tensor, _torch_to_dlpack = torch.Tensor, torch.utils.dlpack.to_dlpack


def is_bfloat16(dtype: np.dtype) -> bool:
    """True for ml_dtypes' bfloat16 (what JAX and NumPy users hold bfloat16 in)."""
    return dtype.kind == "V" and dtype.itemsize == 2 and dtype.name == "bfloat16"


def _type_name(x: object) -> str:
    kind = type(x)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _dlpack_capsule(x: Any, name: str) -> object:
    """x's DLPack capsule, exported without a copy after its device says the CPU addresses
    its memory; errors say what is wrong with x."""
    try:
        device_type, device_id = x.__dlpack_device__()
    except AttributeError:
        raise TypeError(f"{name} ({_type_name(x)}) has __dlpack__ but no __dlpack_device__, "
                        f"so where its memory lies is unknown") from None
    if int(device_type) not in _CPU_MEMORY:
        device = _DEVICES.get(int(device_type), f"DLPack device type {int(device_type)}")
        raise ValueError(
            f"{name} ({_type_name(x)}) is in the memory of {device} device {device_id}; rope "
            f"rotates tensors in CPU memory. Move it there and back (torch: t = {name}.cpu(), "
            f"rotate t, then {name}.copy_(t)), or rotate it with a library for that device"
        )
    try:
        try:
            return x.__dlpack__(stream=None, max_version=(1, 0), copy=False)
        except TypeError:  # an exporter older than DLPack 1.0 (which never copies)
            return x.__dlpack__(stream=None)
    except BufferError as exc:
        raise ValueError(f"{name} ({_type_name(x)}) cannot lend rope its memory: {exc}") from None


def tensor_view(x: Any, name: str = "x") -> np.ndarray | None:
    """The NumPy array that views x's memory: x itself for a NumPy array (an ml_dtypes
    bfloat16 array as uint16 of dtype `BFLOAT16`), a view of a DLPack tensor, or None when x
    is neither (a list, a scalar, ...). Never a copy."""
    if type(x) is _torch_tensor and not x.requires_grad:
        try:
            return _core.dlpack_view(_torch_to_dlpack(x), name)
        except (RuntimeError, BufferError, ValueError):
            pass  # not in CPU memory, not strided, ...: __dlpack__ below says what is wrong
    if isinstance(x, np.ndarray):
        return x.view(BFLOAT16) if is_bfloat16(x.dtype) else x
    if not hasattr(type(x), "__dlpack__"):
        return None
    _find_torch()  # the next torch tensor takes the way above
    return _core.dlpack_view(_dlpack_capsule(x, name), name)
