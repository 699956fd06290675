"""Benchmark the ways of giving positions, and M-RoPE, against the memory roof.

    python benchmarks/bench_positions.py            # every case (about a minute)
    python benchmarks/bench_positions.py --quick    # fewer repeats

Same table as benchmarks/bench.py (its timing, roof and columns): an int offset is the
baseline; transformers' (batch, seq) position_ids, per-sequence offsets, packed sequences and
M-RoPE's rows of positions should cost no more than a few table rows on top of it.
"""
from __future__ import annotations

import argparse

import numpy as np

import rope
from bench import numpy_hf, report, table_lines, timed, touched


def roof(x, copy_dst):
    return {"np.copyto (roof)": lambda: np.copyto(copy_dst, x),
            "np.multiply(x, c, out=x)": lambda: np.multiply(x, 1, out=x)}


def position_ids_case(layout: str, shape, repeats, rng) -> None:
    """(batch, seq, ...) positions as transformers passes them, per-sequence offsets."""
    x, copy_dst = touched(shape, np.float32, rng), touched(shape, np.float32, rng)
    batch, seq = shape[0], shape[layout.index("s")]
    same = np.broadcast_to(np.arange(seq), (batch, seq)).copy()
    offsets = rope.offset_positions(rng.integers(0, 10**5, batch), seq)
    impls = {**roof(x, copy_dst),
             "int offset": lambda: rope.apply(x, 0, layout=layout),
             "position_ids (batch, seq)": lambda: rope.apply(x, same, layout=layout),
             "offset_positions": lambda: rope.apply(x, offsets, layout=layout)}
    report(f"float32 {layout} {shape}", timed(impls, repeats), x.nbytes,
           tuple(impls)[:2])


def packed_case(tokens, heads, repeats, rng) -> None:
    """Four packed sequences (thd) against the same tokens as one sequence (shd)."""
    shape = (tokens, heads, 128)
    x, copy_dst = touched(shape, np.float32, rng), touched(shape, np.float32, rng)
    cu_seqlens = np.array([0, tokens // 8, tokens // 2, 3 * tokens // 4, tokens])
    packed = rope.packed_positions(cu_seqlens, offsets=rng.integers(0, 10**5, 4))
    impls = {**roof(x, copy_dst),
             "int offset (shd)": lambda: rope.apply(x, 0, layout="shd"),
             "packed_positions (thd)": lambda: rope.apply(x, packed, layout="thd")}
    report(f"float32 thd {shape}", timed(impls, repeats), x.nbytes, tuple(impls)[:2])


def mrope_case(shape, section, interleaved, repeats, rng) -> None:
    """Qwen2-VL / Qwen3-VL: rows of (temporal, height, width) positions; NumPy with the tables
    already built (as transformers' module would hand them) for scale."""
    x, copy_dst = touched(shape, np.float32, rng), touched(shape, np.float32, rng)
    seq = shape[2]
    rows = rng.integers(0, 4096, size=(3, shape[0], seq))
    r = rope.Rope(shape[-1], 1e6, mrope_section=section, mrope_interleaved=interleaved)
    plain = rope.Rope(shape[-1], 1e6)
    cos, sin = r.tables(rows, np.float64)
    full_cos = np.concatenate([cos, cos], -1)[:, None].astype(np.float32)
    full_sin = np.concatenate([sin, sin], -1)[:, None].astype(np.float32)
    t1, t2 = np.empty_like(x), np.empty_like(x)
    impls = {**roof(x, copy_dst),
             "plain Rope, int offset": lambda: plain.apply(x, 0, layout="bhsd"),
             "M-RoPE Rope, rows": lambda: r.apply(x, rows, layout="bhsd"),
             "M-RoPE, new rows each call": lambda: r.apply(x, rows + 1, layout="bhsd"),
             "NumPy x*cos+rot(x)*sin (tables)": lambda: numpy_hf(x, full_cos, full_sin, t1, t2,
                                                                  False)}
    name = "interleaved" if interleaved else "blocks"
    report(f"M-RoPE {name} {shape}", timed(impls, repeats), x.nbytes, tuple(impls)[:2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 repeats")
    parser.add_argument("--repeats", type=int, default=11, help="timed runs per implementation")
    args = parser.parse_args()
    repeats = 7 if args.quick else max(args.repeats, 7)
    rng = np.random.default_rng(0)
    position_ids_case("bhsd", (4, 32, 1024, 128), repeats, rng)
    position_ids_case("bshd", (4, 1024, 32, 128), repeats, rng)
    packed_case(4096, 32, repeats, rng)
    mrope_case((1, 28, 4096, 128), [16, 24, 24], False, repeats, rng)
    mrope_case((1, 28, 4096, 128), [24, 20, 20], True, repeats, rng)
    print("\n".join(table_lines(repeats)))


if __name__ == "__main__":
    main()
