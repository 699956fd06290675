"""Type information for the C extension rope._core."""
import numpy as np

rotate: np.ufunc
"""(n),(k),(k)->(n): rotate half-split pairs (x[j], x[j + k])."""
rotate_interleaved: np.ufunc
"""(n),(k),(k)->(n): rotate adjacent pairs (x[2j], x[2j + 1])."""
rotate_rows: np.ufunc
"""(r,n),(k),(k)->(r,n): rotate blocks of r rows that share one row of tables."""
rotate_interleaved_rows: np.ufunc
"""(r,n),(k),(k)->(r,n): rotate_rows with adjacent pairs."""
rotate_planes: np.ufunc
"""(h,s,n),(s,k),(s,k)->(h,s,n): rotate planes of rows, row t of each by row t of the tables."""
rotate_interleaved_planes: np.ufunc
"""(h,s,n),(s,k),(s,k)->(h,s,n): rotate_planes with adjacent pairs."""
rotate_at: np.ufunc
"""(r,n),(),(k)->(r,n): rotate blocks of r rows at one position each, tables built inside.

Exact for |pos * theta| <= 2**54, unchecked: a pair past it becomes NaN (rope.apply checks
first). Overflow rounds to inf without a warning."""
rotate_interleaved_at: np.ufunc
"""(r,n),(),(k)->(r,n): rotate_at with adjacent pairs."""
rotate_seq_at: np.ufunc
"""(h,s,n),(s),(k)->(h,s,n): rotate_at for planes of rows, row t of each plane at pos[t]."""
rotate_interleaved_seq_at: np.ufunc
"""(h,s,n),(s),(k)->(h,s,n): rotate_seq_at with adjacent pairs."""
tables: np.ufunc
"""(),(k)->(2,k): the cos and sin rows rotate_at builds in its loop, for many positions."""
cos_sin: np.ufunc
"""(),(k)->(k),(k): cos and sin of the exact angle pos * theta."""

bfloat16_bits: np.dtype
"""uint16 with metadata: the dtype of rope's bfloat16 arrays, which the loops read as bfloat16."""

def dlpack_view(capsule: object, name: str, /) -> np.ndarray: ...
def rotate_at_one(x: np.ndarray, pos: int, theta: np.ndarray, interleaved: bool, /) -> bool: ...
def simd_levels() -> tuple[str, ...]: ...
def fused_levels() -> tuple[str, ...]: ...
def simd_level() -> str: ...
def set_simd_level(level: str, /) -> None: ...
