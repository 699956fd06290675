"""Benchmark rope against the memory roof, plain NumPy and torch.

    python benchmarks/bench.py            # every case (a few minutes)
    python benchmarks/bench.py --quick    # one shape per dtype, fewer cases
    python benchmarks/bench.py --against old/_core.so   # this build against another one
    python benchmarks/bench.py --cold --record docs/performance.md   # also update that page

Prints one table: case, implementation, min and median ms, GB/s (bytes read + written, at the
min time) and the ratio to the roof measured in the same run: min to min, median to median,
and the median of the ratios within each repeat ("paired", the steadiest of the three where the
machine's memory speed drifts while the case runs).
Rotating in place reads and writes every element once, so the roof is the faster of
``np.copyto`` of the same bytes into a pre-touched buffer and an in-place ``np.multiply``.

Every buffer is written once before timing (a first touch of fresh pages costs more than the
rotation itself), the implementations of a case run interleaved (repeat r of each, then repeat
r + 1), and each is timed at least 7 times (11 by default). Timings on a shared machine are
noisy: compare the ratios, not the milliseconds.

A last-level cache larger than a case's bytes (300 MiB, shared with other tenants, on the
machine of the README's table) holds them between calls whenever the other tenants leave it
alone, and the roof is then the cache's bandwidth (a 32 MiB in-place multiply: 1.5 ms warm,
2.8-3.9 ms after a read of 640 MiB). ``--cold`` reads a buffer of twice that cache's size
before every timed call, so that each call streams from memory.

``--against`` loads another build of the extension (say, main's ``rope/_core*.so``, copied
aside) and times every rope row twice, interleaved: with this build and, marked ``[against]``,
with that one under the same Python code; a row ``this / against`` gives the paired ratio.
"""
from __future__ import annotations

import argparse
import os

# OpenBLAS's idle threads spin on the cores the two-thread cases need (5% of a profile, and
# rope.apply(threads=2) at 1.1x the roof instead of 0.7x). Nothing here calls BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import importlib.machinery
import importlib.util

import numpy as np

import rope
from rope import _core

THIS_CORE = _core
AGAINST_CORE = None  # --against: another build of rope._core

try:
    import torch
except ImportError:  # torch is optional
    torch = None

ROWS: list[tuple[str, str, float, float, float, str]] = []

# With --cold: a buffer read before every timed call of a single call, to push the case's
# bytes out of the last-level cache.
EVICT: np.ndarray | None = None


def last_level_cache_bytes() -> int:
    """The largest cache of CPU 0 as Linux reports it, or 256 MiB if it does not."""
    sizes = []
    for index in range(8):
        try:
            with open(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size") as f:
                text = f.read().strip()
        except OSError:
            break
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        sizes.append(int(text.rstrip("KMG")) * scale)
    return max(sizes, default=256 << 20)


def load_core(path: str):
    """Another build of rope._core, as a module of its own."""
    loader = importlib.machinery.ExtensionFileLoader("rope_against._core", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def use_core(core) -> None:
    """Route rope's Python layer, and the cases here, through `core`."""
    global _core
    _core = core
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("rope.") and hasattr(module, "_core"):
            module._core = core


def with_core(core, fn):
    def run():
        use_core(core)
        try:
            fn()
        finally:
            use_core(THIS_CORE)
    return run


def with_against(impls: dict) -> dict:
    """With --against: each rope row twice, this build's and the other's, side by side."""
    if AGAINST_CORE is None:
        return impls
    both = {}
    for name, fn in impls.items():
        both[name] = fn
        if name.startswith(("rope", "gufunc", "same loop", "exact builder")):
            both[name] = with_core(THIS_CORE, fn)
            both[f"{name} [against]"] = with_core(AGAINST_CORE, fn)
    return both


def timed(impls: dict, repeats: int, calls: int = 1) -> dict:
    """Seconds per call of each implementation, one sample per repeat, run interleaved: repeat
    r times each implementation once, in turn (forward on even repeats, backward on odd ones,
    so that no implementation always follows the same neighbour)."""
    impls = with_against(impls)
    samples = {name: [] for name in impls}
    for fn in impls.values():  # warm-up: imports, caches, lazily built tables
        fn()
    names = list(impls)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            fn = impls[name]
            if EVICT is not None and calls == 1:
                EVICT.sum()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: np.array(s) for name, s in samples.items()}


def report(case: str, samples: dict, nbytes: int, roof_names: tuple[str, ...]) -> None:
    """Add a case's rows to the table; the roof is the fastest (by median) of `roof_names`.

    Besides min to min and median to median, the median of the per-repeat ratios: this
    machine's memory speed drifts by up to 3x over a few seconds, and only the roof measured
    in the same repeat, a few milliseconds away, saw the same machine."""
    roof = min((samples[n] for n in roof_names), key=np.median)
    for name, s in samples.items():
        ratio = (f"{s.min() / roof.min():5.2f} {np.median(s) / np.median(roof):5.2f} "
                 f"{np.median(s / roof):5.2f}")
        ROWS.append((case, name, s.min() * 1e3, np.median(s) * 1e3, 2 * nbytes / s.min() / 1e9,
                     ratio))
    for name, s in samples.items():
        if f"{name} [against]" in samples:
            ROWS.append((case, f"{name}: this / against", 0, 0, 0,
                         f"{np.median(s / samples[f'{name} [against]']):5.3f}"))


def touched(shape, dtype, rng) -> np.ndarray:
    x = np.empty(shape, dtype)
    x[...] = rng.standard_normal(shape[-1]).astype(dtype)  # writes every page
    return x


# ---- reference implementations -------------------------------------------------------------

def hf_tables(positions: np.ndarray, theta: np.ndarray, interleaved: bool, dtype):
    """Hugging Face's full-width cos/sin: cat(freqs, freqs) (or each angle twice, interleaved)."""
    angles = np.multiply.outer(positions.astype(np.float64), theta)
    angles = np.repeat(angles, 2, axis=-1) if interleaved else np.concatenate([angles, angles], -1)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def numpy_hf(x, cos, sin, t1, t2, interleaved: bool) -> None:
    """x = x*cos + rotate_half(x)*sin in place, with preallocated temporaries t1, t2."""
    h = x.shape[-1] // 2
    np.multiply(x, cos, out=t1)
    if interleaved:  # GPT-J's rotate_every_two
        np.negative(x[..., 1::2], out=t2[..., 0::2])
        t2[..., 1::2] = x[..., 0::2]
    else:            # rotate_half
        np.negative(x[..., h:], out=t2[..., :h])
        t2[..., h:] = x[..., :h]
    np.multiply(t2, sin, out=t2)
    np.add(t1, t2, out=x)


def torch_hf(x, cos, sin, t1, t2) -> None:
    """transformers' apply_rotary_pos_emb (q*cos + rotate_half(q)*sin), preallocated outputs."""
    h = x.shape[-1] // 2
    torch.mul(x, cos, out=t1)
    torch.neg(x[..., h:], out=t2[..., :h])
    t2[..., h:].copy_(x[..., :h])
    torch.mul(t2, sin, out=t2)
    torch.add(t1, t2, out=x)


# ---- cases ---------------------------------------------------------------------------------

def prefill_case(shape, seq_axis, dtype, interleaved, repeats, rng, slow_refs: bool) -> None:
    x = touched(shape, dtype, rng)
    copy_dst = touched(shape, dtype, rng)
    # The in-place roof streams the same bytes through an integer multiply by one: NumPy's
    # float16 multiply converts element by element (~25x slower than memory), an integer one
    # does not.
    same_bytes = x.view(np.uint16 if dtype == np.float16 else np.uint32)
    dim = shape[-1]
    seq = shape[seq_axis]
    theta = rope.frequencies(dim)
    pos_shape = [1] * (len(shape) - 1)
    pos_shape[seq_axis] = seq
    positions = np.arange(seq).reshape(pos_shape)
    table_dtype = np.float64 if dtype == np.float64 else np.float32
    cos, sin = _core.cos_sin(positions, theta, dtype=table_dtype)

    def gufunc(*args, **kwargs):  # looked up at each call: --against swaps _core
        return (_core.rotate_interleaved if interleaved else _core.rotate)(*args, **kwargs)

    impls = {
        "roof np.copyto": lambda: np.copyto(copy_dst, x),
        "roof np.multiply": lambda: np.multiply(same_bytes, 1, out=same_bytes),
        "rope.apply": lambda: rope.apply(x, 0, seq_axis=seq_axis, interleaved=interleaved),
        "gufunc, prebuilt tables": lambda: gufunc(x, cos, sin, out=x),
    }
    if dtype == np.float32:
        # rope.apply's float32 rotation: float64 tables, float64 arithmetic, rounded once.
        cos64, sin64 = _core.cos_sin(positions, theta)
        impls["gufunc, float64 tables"] = lambda: gufunc(x, cos64, sin64, out=x)
    # The pairing is part of a Rope's configuration (Rope.apply has no `interleaved`).
    cached = rope.Rope(dim=dim, base=10000.0, interleaved=interleaved)
    impls["rope.Rope (cached)"] = lambda: cached.apply(x, 0, seq_axis=seq_axis)
    if slow_refs:
        hc, hs = hf_tables(positions, theta, interleaved, dtype)
        t1, t2 = touched(shape, dtype, rng), touched(shape, dtype, rng)
        impls["numpy HF-style"] = lambda: numpy_hf(x, hc, hs, t1, t2, interleaved)
        if torch is not None and not interleaved:
            tx, tc, ts = torch.from_numpy(x), torch.from_numpy(hc), torch.from_numpy(hs)
            u1, u2 = torch.from_numpy(t1), torch.from_numpy(t2)
            impls["torch HF-style"] = lambda: torch_hf(tx, tc, ts, u1, u2)
    name = f"{np.dtype(dtype).name} {'inter' if interleaved else 'split'} {shape}"
    report(name, timed(impls, repeats), x.nbytes, ("roof np.copyto", "roof np.multiply"))


def levels_case(shape, seq_axis, dtype, repeats, rng) -> None:
    """rope.apply at every SIMD level this CPU runs (what ROPE_SIMD=... selects at import)."""
    x = touched(shape, dtype, rng)
    copy_dst = touched(shape, dtype, rng)
    current = rope.simd_level()

    def at(level):
        def run():
            rope.set_simd_level(level)
            rope.apply(x, 0, seq_axis=seq_axis)
        return run

    impls = {"roof np.copyto": lambda: np.copyto(copy_dst, x)}
    impls.update({f"rope.apply [{level}]": at(level) for level in rope.simd_levels()})
    try:
        report(f"{np.dtype(dtype).name} split {shape} levels", timed(impls, repeats), x.nbytes,
               ("roof np.copyto",))
    finally:
        rope.set_simd_level(current)


def table_share_case(shape, seq_axis, repeats, rng) -> None:
    """How much of rope.apply is building the cos/sin tables (float64 math): rope.apply against
    the same loop and kernel at one position for every token (its tables built once)."""
    x = touched(shape, np.float32, rng)
    copy_dst = touched(shape, np.float32, rng)
    pos_shape = [1] * (len(shape) - 1)
    pos_shape[seq_axis] = shape[seq_axis]
    positions = np.arange(shape[seq_axis]).reshape(pos_shape)
    theta = rope.frequencies(shape[-1])
    impls = {
        "roof np.copyto": lambda: np.copyto(copy_dst, x),
        "rope.apply": lambda: rope.apply(x, 0, seq_axis=seq_axis),
        "same loop, tables built once": lambda: _core.rotate_at(x, 12345, theta, out=x),
        "exact builder alone (cos_sin)": lambda: _core.cos_sin(positions, theta),
    }
    results = timed(impls, repeats)
    report(f"float32 {shape} tables", results, x.nbytes, ("roof np.copyto",))
    share = 1 - np.median(results["same loop, tables built once"] / results["rope.apply"])
    ROWS.append((f"float32 {shape} tables", "tables / rope.apply", 0, 0, 0, f"{share:5.1%}"))


def strided_case(shape, seq_axis, dtype, repeats, rng) -> None:
    """Views, out=x: every other element of the last axis, and rows with gaps (q of a fused
    qkv projection), each against its contiguous twin and the in-place roof of its own bytes
    (np.multiply on the same view: strided bytes stream slower here)."""
    big = touched(shape[:-1] + (2 * shape[-1],), dtype, rng)
    view = big[..., ::2]
    outer = big[..., : shape[-1]]
    contiguous = touched(shape, dtype, rng)
    words = [a.view(f"u{contiguous.itemsize}") for a in (contiguous, view, outer)]
    impls = {
        "roof np.multiply contiguous": lambda: np.multiply(words[0], 1, out=words[0]),
        "rope.apply contiguous": lambda: rope.apply(contiguous, 0, seq_axis=seq_axis),
        "roof np.multiply strided view": lambda: np.multiply(words[1], 1, out=words[1]),
        "rope.apply strided view": lambda: rope.apply(view, 0, seq_axis=seq_axis),
        "roof np.multiply outer-strided": lambda: np.multiply(words[2], 1, out=words[2]),
        "rope.apply outer-strided": lambda: rope.apply(outer, 0, seq_axis=seq_axis),
    }
    results = timed(impls, repeats)
    case = f"{np.dtype(dtype).name} {shape} strided"
    report(case, results, contiguous.nbytes, ("roof np.multiply contiguous",))
    for kind in ("strided view", "outer-strided"):
        ratio = np.median(results[f"rope.apply {kind}"] / results["rope.apply contiguous"])
        own = np.median(results[f"rope.apply {kind}"] / results[f"roof np.multiply {kind}"])
        ROWS.append((case, f"{kind} / contiguous", 0, 0, 0,
                     f"{ratio:5.2f}  (its own roof x {own:.2f})"))


def threads_case(shape, seq_axis, dtype, repeats, rng) -> None:
    """Two threads: rope.apply(threads=2) against a two-thread copy roof."""
    x = touched(shape, dtype, rng)
    copy_dst = touched(shape, dtype, rng)
    pool = ThreadPoolExecutor(2)
    halves = [(copy_dst[: len(x) // 2], x[: len(x) // 2]), (copy_dst[len(x) // 2:], x[len(x) // 2:])]

    def copy2():
        for f in [pool.submit(np.copyto, d, s) for d, s in halves]:
            f.result()

    impls = {
        "roof np.copyto": lambda: np.copyto(copy_dst, x),
        "roof np.copyto, 2 threads": copy2,
        "rope.apply": lambda: rope.apply(x, 0, seq_axis=seq_axis),
        "rope.apply threads=2": lambda: rope.apply(x, 0, seq_axis=seq_axis, threads=2),
    }
    report(f"{np.dtype(dtype).name} split {shape} threads", timed(impls, repeats), x.nbytes,
           ("roof np.copyto, 2 threads",))
    pool.shutdown()


def decode_case(repeats, rng) -> None:
    """One token: (1, 32, 128) float32 at an int offset, against np.multiply(x, c, out=x)."""
    x = touched((1, 32, 128), np.float32, rng)
    c = np.ones(128, np.float32)
    theta = rope.frequencies(128)
    cos, sin = _core.cos_sin(np.array([[4096]]), theta, dtype=np.float32)
    impls = {
        "np.multiply(x, c, out=x)": lambda: np.multiply(x, c, out=x),
        "rope.apply": lambda: rope.apply(x, 4096, seq_axis=0),
        "gufunc, prebuilt tables": lambda: _core.rotate(x, cos, sin, out=x),
    }
    if hasattr(rope, "Rope"):
        cached = rope.Rope(dim=128, base=10000.0)
        impls["rope.Rope (cached)"] = lambda: cached.apply(x, 4096, seq_axis=0)
    report("decode float32 (1, 32, 128)", timed(impls, repeats, calls=200), x.nbytes,
           ("np.multiply(x, c, out=x)",))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    global EVICT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one shape per dtype, fewer cases")
    parser.add_argument("--repeats", type=int, default=11, help="timed runs per implementation")
    parser.add_argument("--cold", action="store_true",
                        help="stream every timed call from memory, not the last-level cache")
    parser.add_argument("--against", metavar="SO",
                        help="another build of rope/_core*.so, timed beside this one")
    parser.add_argument("--record", metavar="PAGE_MD", default=None,
                        help="also write the table into this page (docs/performance.md), "
                             "between its bench:latest markers, moving the previous one to "
                             "its history")
    args = parser.parse_args()
    global AGAINST_CORE
    if args.against:
        AGAINST_CORE = load_core(args.against)
    if args.cold:
        EVICT = np.ones(2 * last_level_cache_bytes() // 8, np.uint64)
    repeats = max(args.repeats, 7)
    rng = np.random.default_rng(0)

    # (shape, sequence axis): (seq, heads, dim) twice, then (batch, heads, seq, dim).
    shapes = [((4096, 32, 128), 0), ((32768, 8, 128), 0), ((4, 32, 1024, 128), 2)]
    if args.quick:
        shapes = shapes[:1]
    for dtype in (np.float32, np.float16):
        for interleaved in (False, True):
            for shape, axis in shapes:
                prefill_case(shape, axis, dtype, interleaved, repeats, rng,
                             slow_refs=not args.quick or dtype == np.float32)
    decode_case(repeats, rng)
    table_share_case((4096, 32, 128), 0, repeats, rng)
    for dtype in (np.float32, np.float16):
        strided_case((4096, 32, 128), 0, dtype, repeats, rng)
    if "threads" in rope.apply.__code__.co_varnames:
        for dtype in (np.float32, np.float16):
            threads_case((4096, 32, 128), 0, dtype, repeats, rng)
    if AGAINST_CORE is None:  # the levels of this build only
        for dtype in (np.float32, np.float16):
            levels_case((4096, 32, 128), 0, dtype, repeats, rng)

    lines = table_lines(repeats)
    print("\n".join(lines))
    if args.record:
        command = "python benchmarks/bench.py" + "".join(
            f" {a}" for a in sys.argv[1:] if a not in ("--record", args.record))
        record(args.record, command, lines)
        print(f"recorded in {args.record}")


def table_lines(repeats: int) -> list[str]:
    """The machine, the versions and the rows of every case measured, as lines of text."""
    lines = [
        f"rope {rope.__version__}, numpy {np.__version__}, torch "
        f"{torch.__version__ if torch else 'not installed'}, Python {sys.version.split()[0]}",
        f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs, kernels: {rope.simd_level()} "
        f"(of {', '.join(rope.simd_levels())}); {repeats} repeats"
        + (f"; cold: {EVICT.nbytes >> 20} MiB read before each call" if EVICT is not None
           else ""),
        f"{'case':<34} {'implementation':<28} {'min ms':>8} {'med ms':>8} {'GB/s':>6}  "
        f"{'roof x (min med paired)'}",
    ]
    for case, name, lo, med, gbs, ratio in ROWS:
        if lo == 0:
            lines.append(f"{case:<34} {name:<28} {'':>8} {'':>8} {'':>6}  {ratio}")
        else:
            lines.append(f"{case:<34} {name:<28} {lo:8.3f} {med:8.3f} {gbs:6.1f}  {ratio}")
    return lines


# docs/performance.md keeps the latest table between these markers; --record puts the new one
# there and moves the one it replaces, whole, to the top of the history below HISTORY.
LATEST_BEGIN, LATEST_END = "<!-- bench:latest -->", "<!-- /bench:latest -->"
HISTORY = "<!-- bench:history -->"


def record(path: str, command: str, lines: list[str]) -> None:
    """Write this run's table into the performance page, keeping the previous one as history."""
    with open(path, encoding="utf-8") as handle:
        page = handle.read()
    if page.count(LATEST_BEGIN) != 1 or page.count(LATEST_END) != 1 or HISTORY not in page:
        raise SystemExit(f"{path} lacks the markers {LATEST_BEGIN}, {LATEST_END} and {HISTORY}")
    head, rest = page.split(LATEST_BEGIN)
    previous, tail = rest.split(LATEST_END)
    date = time.strftime("%Y-%m-%d", time.gmtime())
    latest = f"\nRun on {date} with `{command}`:\n\n```\n$ {command}\n" + \
        "\n".join(lines) + "\n```\n"
    history = f"\n<details><summary>{_run_summary(previous)}</summary>\n{previous.rstrip()}\n\n" \
        "</details>\n"
    tail = tail.replace(HISTORY, HISTORY + "\n" + history, 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head + LATEST_BEGIN + latest + LATEST_END + tail)


def _run_summary(block: str) -> str:
    """'Run on <date> with <command>', the first line of a recorded block."""
    for line in block.splitlines():
        if line.startswith("Run on "):
            return line.rstrip(":").replace("`", "")
    return "An earlier run"

if __name__ == "__main__":
    main()
