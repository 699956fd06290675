"""Calls that must NOT type-check: each line carries the error mypy must report, and mypy runs
with --warn-unused-ignores, so a line that type-checks fails the run (.ci/run)."""
from __future__ import annotations

import numpy as np

import rope

q = np.ones((4, 8), np.float32)

rope.apply(q, "abc")  # type: ignore[arg-type]
rope.apply(q, 1.5)  # type: ignore[call-overload]
rope.apply([[1.0, 0.0]], 0)  # type: ignore[call-overload]
rope.apply(q, 0, scaling="no-such-scaling")  # type: ignore[call-overload]
rope.apply(q, 0, layout=2)  # type: ignore[call-overload]
rope.Rope(8, scaling="yarnn")  # type: ignore[arg-type]
rope.Rope(8).apply(q, "0")  # type: ignore[arg-type]
rope.frequencies(8, scaling=4)  # type: ignore[arg-type]
rope.set_simd_level(2)  # type: ignore[arg-type]
wrong: str = rope.apply(q, 0)  # type: ignore[assignment]
