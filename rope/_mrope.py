"""Multi-axis positions (M-RoPE, 2-D RoPE): which pair of a head follows which position axis.

Plain RoPE rotates every pair by one position. Multimodal models give each token several
coordinates and split the pairs among them: Qwen2-VL's M-RoPE rotates 16 pairs by a temporal,
24 by a height and 24 by a width position (``mrope_section = [16, 24, 24]``); Pixtral's vision
encoder rotates half of its pairs by a patch's row and half by its column. The rotation and the
frequencies are the ones of plain RoPE; only the position each pair is rotated by changes, so
the tables are built per axis by the same exact cos/sin and the rotation is the same kernel.

Three ways to split the pairs are in use, all described by `mrope_section` (pairs per axis):

- in blocks (Qwen2-VL, Qwen2.5-VL): axis 0 takes the first pairs, axis 1 the next, ...;
- interleaved (Qwen3-VL, ``mrope_interleaved``): pair k follows axis k mod n while that axis
  has pairs left, and axis 0 takes the rest;
- interleaved and grouped (Pixtral, ``mrope_grouped``): the frequencies are dealt as for
  interleaved, but each axis's pairs sit together, rows first: pairs 0 ... d/4 - 1 turn with the
  row at frequencies theta_0, theta_2, ..., the others with the column at theta_1, theta_3, ...
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import shown

__all__ = ["PairAxes", "pair_axes"]


@dataclass(frozen=True)
class PairAxes:
    """How the pairs of a head follow several position axes."""

    sections: tuple[int, ...]  # pairs per axis
    interleaved: bool
    grouped: bool
    order: np.ndarray | None  # the frequency index of each pair; None: pair k has frequency k
    pairs: tuple[tuple[slice, ...], ...]  # the pairs that follow each axis, as runs

    def tables(self, rows: np.ndarray, theta: np.ndarray, build) -> tuple[np.ndarray, np.ndarray]:
        """cos and sin for positions `rows` (one row per axis, stacked on the first axis), each
        pair's angle the position of its axis times its frequency `theta` (pair order).
        `build(positions, theta)` makes the tables of one axis (rope's exact cos/sin)."""
        shape = np.broadcast_shapes(*(row.shape for row in rows)) + (theta.size,)
        cos = sin = np.empty(0)  # replaced by the first part, in its dtype
        for row, runs in zip(rows, self.pairs):
            for run in runs:  # evenly spaced pairs: a strided copy, not a scatter
                part_cos, part_sin = build(row, np.ascontiguousarray(theta[run]))
                if cos.shape != shape:
                    cos = np.empty(shape, dtype=part_cos.dtype)
                    sin = np.empty(shape, dtype=part_sin.dtype)
                cos[..., run] = part_cos
                sin[..., run] = part_sin
        return cos, sin


def _check_sections(sections: Any, pairs: int) -> tuple[int, ...]:
    if isinstance(sections, (str, bytes)) or not hasattr(sections, "__len__"):
        raise TypeError(
            f"mrope_section must be a list of pair counts, one per position axis (Qwen2-VL: "
            f"[16, 24, 24]); got {shown(sections)}"
        )
    checked = []
    for value in sections:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"mrope_section must hold integers >= 1; got {shown(sections)}")
        checked.append(int(value))
    if len(checked) < 2:
        raise ValueError(
            f"mrope_section {checked} names {len(checked)} position axis; M-RoPE splits the "
            f"pairs among two or more (for one axis, leave mrope_section out)"
        )
    if sum(checked) != pairs:
        raise ValueError(
            f"mrope_section {checked} counts {sum(checked)} pairs, but the rotary dimension "
            f"{2 * pairs} has {pairs}; the sections must add up to rotary_dim / 2"
        )
    return tuple(checked)


def _runs(index: np.ndarray) -> tuple[slice, ...]:
    """An increasing index as slices of evenly spaced entries, each as long as it goes
    (Qwen3-VL's temporal pairs 0, 3, ..., 60, 61, 62, 63: two slices)."""
    runs, start = [], 0
    while start < index.size:
        step, end = 1, start + 1  # end: one past the run's last entry
        if end < index.size:
            step = int(index[end] - index[start])
            while end < index.size and index[end] - index[end - 1] == step:
                end += 1
        runs.append(slice(int(index[start]), int(index[end - 1]) + 1, step))
        start = end
    return tuple(runs)


def pair_axes(sections: object, interleaved: bool, grouped: bool, pairs: int) -> PairAxes:
    """The checked split of `pairs` pairs among the position axes of `sections`."""
    sections = _check_sections(sections, pairs)
    count = len(sections)
    if interleaved:
        # Qwen3-VL: axis r > 0 takes frequencies r, r + n, ... below n * sections[r]; axis 0
        # keeps the rest. A section too long to fit that pattern cannot be interleaved.
        axis_of = np.zeros(pairs, dtype=np.intp)
        for axis in range(1, count):
            axis_of[axis:count * sections[axis]:count] = axis
        taken = np.bincount(axis_of, minlength=count)
        if tuple(taken) != sections:
            raise ValueError(
                f"mrope_section {list(sections)} cannot be interleaved over {pairs} pairs: "
                f"axis r > 0 takes every {count}-th pair from r on, which gives "
                f"{taken.tolist()} pairs"
            )
    else:
        axis_of = np.repeat(np.arange(count), sections)
    order = None
    if grouped and interleaved:
        order = np.argsort(axis_of, kind="stable")  # each axis's frequencies, pairs together
        order.flags.writeable = False
        axis_of = axis_of[order]
    split = tuple(_runs(np.flatnonzero(axis_of == axis)) for axis in range(count))
    return PairAxes(sections, bool(interleaved), bool(grouped), order, split)
