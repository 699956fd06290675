"""Validation: every check that must pass before rope writes into a caller's array.

Each function raises TypeError or ValueError with a message that names the argument, says what
was wrong and how to fix it. Nothing here modifies its inputs.
"""
from __future__ import annotations

import math
import numbers
import operator
import reprlib

import numpy as np

from ._tensors import BFLOAT16, tensor_view

__all__ = [
    "MAX_ANGLE",
    "MAX_POSITION",
    "check_array",
    "check_angle_range",
    "check_base",
    "check_dim",
    "check_flag",
    "check_into",
    "check_overlap_free",
    "check_rotary_dim",
    "check_seq_axis",
    "check_int",
    "check_positive_int",
    "dtype_name",
    "shown",
]

#: Largest |position|: beyond 2**53 integers are no longer exact in float64, and the angle
#: p * theta could no longer be formed exactly.
MAX_POSITION = 2**53

#: Largest |pos * theta| whose angle the kernels reduce modulo 2 pi exactly: past it the
#: quotient by 2 pi no longer rounds to an integer, and the kernels give NaN.
MAX_ANGLE = 2.0**54

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 3, 60, 60, 60
_SHOWN.maxdict = _SHOWN.maxlist = _SHOWN.maxtuple = 8


def shown(value: object) -> str:
    """repr(value) for a message, cut short: a deeply nested or huge value (from a config
    file, say) would otherwise make the message itself fail (RecursionError) or flood it."""
    return _SHOWN.repr(value)


_DATA_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_DATA_TYPES_TEXT = "float16, bfloat16, float32 and float64"


def check_array(x: object, name: str = "x", *, writeable: bool = True) -> np.ndarray:
    """The NumPy array through which rope rotates `x` in place, else raise: x itself, or a view
    of its memory for a tensor with ``__dlpack__`` (torch, ...) or a bfloat16 array. With
    `writeable` False (an x rotated into another array), x is only read: it may be read-only
    and repeat elements (stride 0)."""
    if (type(x) is np.ndarray and x.dtype in _DATA_DTYPES and x.ndim and x.flags.writeable
            and 0 not in x.strides and (x.flags.forc or not _overlapping(x))):
        return x  # the common case, checked cheaply (== on dtypes includes the byte order)
    array = tensor_view(x, name)
    if array is None:
        raise TypeError(
            f"{name} must be a NumPy array or a tensor with __dlpack__ (torch, JAX, ...), "
            f"since rope rotates it in place; got {type(x).__name__}. Convert it first: "
            f"{name} = np.asarray({name}, dtype=np.float32)"
        )
    if (type(array) is np.ndarray and array.ndim
            and (array.dtype is BFLOAT16 or array.dtype in _DATA_DTYPES)
            and (not writeable or array.flags.writeable and 0 not in array.strides
                 and not _overlapping(array))):
        return array  # a tensor, a bfloat16 array or an x only read, that passes as above
    if isinstance(array, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array; rope would rotate masked values too. Pass "
            f"{name}.data (rotating every element) or fill the masked values first"
        )
    if isinstance(array, np.matrix):
        raise TypeError(f"{name} is an np.matrix; pass np.asarray({name}) instead")
    if array.dtype is not BFLOAT16 and (array.dtype.fields is not None or
                                        array.dtype.newbyteorder("=") not in _DATA_DTYPES):
        raise TypeError(
            f"{name} has dtype {array.dtype}; rope rotates {_DATA_TYPES_TEXT} arrays. "
            f"Convert with {name}.astype(np.float32)"
        )
    if not array.dtype.isnative:
        raise TypeError(
            f"{name} has non-native byte order ({array.dtype.str}); convert it with "
            f"{name} = {name}.astype({name}.dtype.newbyteorder('='))"
        )
    if array.ndim == 0:
        raise ValueError(f"{name} is 0-d; rope needs at least one axis (the head dimension)")
    if not writeable:
        return array
    if not array.flags.writeable:
        raise ValueError(
            f"{name} is read-only (a read-only NumPy array, or a tensor whose library does not "
            f"let others write it, as JAX's) and rope rotates in place: rotate it into a "
            f"writeable array of its shape and dtype with out=, or rotate a writeable copy "
            f"({name}.copy())"
        )
    for axis, (length, stride) in enumerate(zip(array.shape, array.strides)):
        # A zero stride (np.broadcast_to, as_strided) makes several vectors one memory: rotating
        # them in place would rotate that memory once per vector, by each one's angle.
        if stride == 0 and length > 1 and array.size:
            raise ValueError(
                f"{name} has stride 0 on axis {axis}: its {length} entries along that axis share "
                f"memory, so rotating in place would rotate it {length} times. Pass a real array "
                f"({name} = {name}.copy())"
            )
    check_overlap_free(array, name)
    return array


def _overlapping(array: np.ndarray) -> bool:
    """True unless `array`'s elements are known to be apart in memory: with its axes sorted by
    |stride|, each stride must pass the bytes the axes of smaller strides span (a sufficient
    test, at a few operations per axis; every view of an array made by NumPy's slicing,
    transposing and reversing passes it). Axes of one element do not count."""
    if array.flags.forc or array.size == 0:
        return False
    span = array.itemsize
    for stride, length in sorted((abs(s), n) for s, n in zip(array.strides, array.shape)
                                 if n > 1):
        if stride < span:
            return True
        span += stride * (length - 1)
    return False


def check_overlap_free(array: np.ndarray, name: str) -> None:
    """Raise if `array`'s elements may overlap in memory (an as_strided layout): rotating it in
    place would rotate the shared memory once per element that views it."""
    if _overlapping(array):
        raise ValueError(
            f"{name} has elements that overlap in memory (shape {array.shape}, strides "
            f"{array.strides}, as np.lib.stride_tricks.as_strided makes): rope would rotate the "
            f"shared memory once per element that views it. Rotate a copy "
            f"({name} = np.ascontiguousarray({name})) instead"
        )


def dtype_name(dtype: np.dtype) -> str:
    """The name of a data type as rope's messages give it (bfloat16 for BFLOAT16)."""
    return "bfloat16" if dtype is BFLOAT16 else str(dtype)


def check_into(x: object, out: object) -> tuple[np.ndarray, np.ndarray]:
    """(the array rope reads, the array it writes) to rotate `x` into `out`: out a writeable
    array (or tensor) of x's shape and dtype. Where out shares memory with x, x is read into a
    copy first (the same memory, element for element, is x itself: rotated in place)."""
    array = check_array(x, writeable=False)
    target = check_array(out, "out")
    if target.shape != array.shape:
        raise ValueError(
            f"out has shape {target.shape} but x has shape {array.shape}; rope rotates x into "
            f"an out of its own shape (out=x rotates in place)"
        )
    if target.dtype != array.dtype or (target.dtype is BFLOAT16) != (array.dtype is BFLOAT16):
        raise TypeError(
            f"out has dtype {dtype_name(target.dtype)} but x has {dtype_name(array.dtype)}; "
            f"rope rotates x into an out of its own dtype (convert the result afterwards)"
        )
    if np.may_share_memory(array, target):
        same = (array.__array_interface__["data"][0] == target.__array_interface__["data"][0]
                and array.strides == target.strides)
        if same:
            return target, target
        if np.shares_memory(array, target):
            array = array.copy()
    return array, target


def check_angle_range(positions: np.ndarray, fastest: float) -> None:
    """Raise unless every angle pos * theta (positions of int64 or float64 within
    MAX_POSITION, `fastest` the largest |theta| of the scaled frequencies in use) is within
    MAX_ANGLE: a scaling factor < 1 (linear, LongRoPE, proportional) raises the frequencies
    above 1 and the angle past 2**54 before the position reaches 2**53. The test is on the
    products as the kernels round them."""
    if fastest * MAX_POSITION <= MAX_ANGLE or positions.size == 0:
        return  # (frequencies up to 2: no position that passed its own check goes past)
    top = max(abs(float(positions.min())), abs(float(positions.max())))
    if top * fastest <= MAX_ANGLE:
        return
    limit = int(MAX_ANGLE // fastest)
    while limit * fastest > MAX_ANGLE:
        limit -= 1
    raise ValueError(
        f"pos reaches {top:.0f}, and this configuration's largest frequency is {fastest!r} "
        f"radians per position (after its scaling): the angle {top * fastest:.4g} passes "
        f"2**54, beyond which it cannot be reduced exactly (cos and sin would be NaN). With "
        f"these frequencies keep |pos| <= {limit}: use smaller positions, or a scaling factor "
        f">= 1"
    )


def check_int(value: object, name: str, what: str = "an integer") -> int:
    """Return `value` as an int if it is an integer (Python or NumPy, not a bool), else raise."""
    if type(value) is int:  # fast path: the ABC check below is slow
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what}; got {shown(value)}")
    return operator.index(value)


def check_positive_int(value: object, name: str, what: str = "an integer") -> int:
    """Return `value` as an int if it is an integer >= 1 (not a bool), else raise."""
    value = check_int(value, name, what)
    if value < 1:
        raise ValueError(f"{name} must be >= 1; got {value}")
    return value


#: Largest head dimension: 2**24 coordinates (model heads have at most a few thousand); past
#: it the frequencies alone would take more memory than any machine has.
MAX_DIM = 2**24


def check_dim(value: object, name: str = "dim") -> int:
    """A head (or rotary) dimension: an integer in [1, 2**24]."""
    value = check_positive_int(value, name)
    if value > MAX_DIM:
        raise ValueError(f"{name}={shown(value)} is not a head dimension (at most 2**24); pass "
                         f"the size of the last axis of the arrays to rotate")
    return value


def check_rotary_dim(rotary_dim: object, head_dim: int) -> int:
    """The number of rotated coordinates: all of the head dimension by default."""
    if head_dim == 0:
        raise ValueError(
            "x has an empty last axis (head dimension 0): there are no coordinates to rotate; "
            "put the head dimension on the last axis of x"
        )
    if rotary_dim is None:
        if head_dim % 2:
            raise ValueError(
                f"the head dimension (last axis of x) is {head_dim}, which is odd; RoPE rotates "
                f"pairs of coordinates. Pass an even rotary_dim to rotate only the first ones"
            )
        return head_dim
    rotary_dim = check_positive_int(rotary_dim, "rotary_dim")
    if rotary_dim % 2:
        raise ValueError(f"rotary_dim must be even (RoPE rotates pairs); got {rotary_dim}")
    if rotary_dim > head_dim:
        raise ValueError(
            f"rotary_dim={rotary_dim} is larger than the head dimension {head_dim} "
            f"(last axis of x); pass rotary_dim <= {head_dim}"
        )
    return rotary_dim


def check_flag(value: object, name: str) -> bool:
    """Return `value` as a bool if it is one (Python or NumPy), else raise: a string such as
    "no" or None would otherwise pass as a truth value and silently choose a branch."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {shown(value)}")
    return bool(value)


def check_base(base: object) -> float:
    """The RoPE base (Hugging Face's rope_theta) as a float: finite and > 1."""
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a real number such as 10000.0; got {shown(base)}")
    try:
        base = float(base)
    except OverflowError:  # an int past float64's range
        base = math.inf
    if not math.isfinite(base) or base <= 1.0:
        raise ValueError(
            f"base must be finite and greater than 1 (frequencies base**(-2i/d) must decrease); "
            f"got {base}"
        )
    return base


def check_seq_axis(seq_axis: object, ndim: int) -> int:
    """The sequence axis of an `ndim`-d x as a non-negative index; never the last axis."""
    seq_axis = check_int(seq_axis, "seq_axis", "an integer axis")
    axis = seq_axis + ndim if seq_axis < 0 else seq_axis
    if not 0 <= axis < ndim - 1:
        raise ValueError(
            f"seq_axis={seq_axis} does not name a sequence axis of a {ndim}-d x: it must be one "
            f"of axes {-ndim} ... -2 (the last axis is the head dimension)"
        )
    return axis
