"""Benchmark rope against the memory roof, plain NumPy and torch.

    python benchmarks/bench.py --cold     # every case, each call streaming from memory
    python benchmarks/bench.py --quick    # one case per kind, fewer repeats
    python benchmarks/bench.py --against old/_core.so   # this build against another one
    python benchmarks/bench.py --cold --record docs/performance.md   # also update that page

Prints one table: case, implementation, min and median ms, GB/s (bytes read + written, at the
min time) and the ratio to the roof measured in the same run: min to min, median to median,
and the median of the ratios within each repeat ("paired", the steadiest of the three where the
machine's memory speed drifts while the case runs), then the speed targets and where each
stands. Rotating in place reads and writes every element once: the roof is a C loop that
multiplies the same bytes in place (benchmarks/roof.c, compiled here for this machine), beside
``np.copyto`` and ``np.multiply`` of the same bytes. Arrays in cache also get the floor of the
arithmetic: the same file's plain C loop that widens float32 pairs to float64, rotates them by
a row of float64 tables and rounds them back (what rope's one-ulp promise costs, with nothing
else), so the table shows how far the rotation itself, not rope's Python or loops, is from the
roof.

Every buffer is written once before timing (a first touch of fresh pages costs more than the
rotation itself), the implementations of a case run interleaved (repeat r of each, then repeat
r + 1), and each is timed at least 7 times (11 by default). Timings on a shared machine are
noisy: compare the ratios, not the milliseconds.

Cases: every layout (shd, bshd, bhsd, thd) and both pairings, float32 and float16, from
memory with ``--cold`` (a read of twice the last-level cache before every timed call); arrays
that fit in cache (0.25 to 16 MiB, always warm); one decode step; two threads, from memory
and in cache; strided views; the table builders; each SIMD level.

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
# torch's OpenMP threads likewise spin for a while after each of its calls, on the cores the
# next implementation's run needs (bfloat16 rows 1.05-1.51x the roof from run to run with them
# spinning, 1.05-1.34x without). They sleep at once when idle with the passive policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
    """Route rope's Python layer, and the cases here, through `core`: its gufuncs, and its
    bfloat16 dtype (each build registers its own)."""
    global _core
    _core = core
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("rope."):
            if hasattr(module, "_core"):
                module._core = core
            if hasattr(module, "BFLOAT16"):
                module.BFLOAT16 = core.bfloat16_bits


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


def timed(impls: dict, repeats: int, calls: int = 1, warm: bool = False) -> dict:
    """Seconds per call of each implementation, one sample per repeat, run interleaved: repeat
    r times each implementation once, in turn (forward on even repeats, backward on odd ones,
    so that no implementation always follows the same neighbour). With --cold each call first
    evicts the caches, unless `warm` (a case of arrays in cache) or `calls` > 1."""
    impls = with_against(impls)
    samples = {name: [] for name in impls}
    for fn in impls.values():  # warm-up: imports, caches, lazily built tables
        fn()
    names = list(impls)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            fn = impls[name]
            if EVICT is not None and calls == 1 and not warm:
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


ROOF = "roof: C multiply in place"
FLOOR = "floor: float64 rotation in C"
FLOOR_COMPENSATED = "floor: compensated float32 in C"
_ROOF_LIBRARY = None


def roof_library():
    """benchmarks/roof.c compiled for this machine and loaded (ctypes), or None without a C
    compiler."""
    global _ROOF_LIBRARY
    if _ROOF_LIBRARY is None:
        import ctypes
        import subprocess
        import sysconfig
        import tempfile

        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "roof.c")
        library = os.path.join(tempfile.mkdtemp(prefix="rope-roof-"), "roof.so")
        compiler = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
        try:
            subprocess.run([compiler, "-O3", "-march=native", "-shared", "-fPIC", source, "-o",
                            library, "-lm"], check=True, capture_output=True)
            loaded = ctypes.CDLL(library)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"no C roof ({exc}); the roof is np.multiply", file=sys.stderr)
            _ROOF_LIBRARY = False
            return None
        loaded.roof_multiply.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32]
        loaded.roof_multiply.restype = None
        loaded.floor_rotate_f32.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                                            ctypes.c_void_p, ctypes.c_void_p]
        loaded.floor_rotate_f32.restype = None
        loaded.floor_compensated_f32.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                                 ctypes.c_size_t] + [ctypes.c_void_p] * 4
        loaded.floor_compensated_f32.restype = None
        _ROOF_LIBRARY = loaded
    return _ROOF_LIBRARY or None


def c_roof():
    """The C roof (roof_multiply of benchmarks/roof.c), or None without a C compiler."""
    library = roof_library()
    return None if library is None else library.roof_multiply


def floor_rotation(x: np.ndarray, k: int, compensated: bool = False):
    """benchmarks/roof.c's float64 rotation of float32 x in place (rows of 2k, one row of
    tables for all), or with `compensated` its float32 rotation with two-float tables, as a
    call of no arguments; None without a C compiler."""
    library = roof_library()
    if library is None or x.dtype != np.float32 or not x.flags.c_contiguous:
        return None
    angles = rope.frequencies(2 * k) * 1000.0
    cos, sin = np.cos(angles), np.sin(angles)
    rows = x.size // (2 * k)
    address = x.ctypes.data
    if not compensated:
        return lambda: library.floor_rotate_f32(address, rows, k, cos.ctypes.data,
                                                sin.ctypes.data)
    halves = []
    for table in (cos, sin):
        hi = table.astype(np.float32)
        halves += [hi, (table - hi).astype(np.float32)]
    addresses = [halves[i].ctypes.data for i in (0, 1, 2, 3)]
    return lambda: library.floor_compensated_f32(address, rows, k, *addresses)


def roofs(x: np.ndarray, copy_dst: np.ndarray) -> dict:
    """The roof rows of a case on x: the C loop (the one ratios are taken to), np.copyto of the
    same bytes into another buffer, np.multiply of them in place (as integers: NumPy's float16
    multiply converts element by element, far slower than memory)."""
    words = x.view(np.uint16 if x.dtype.itemsize == 2 else np.uint32)
    impls = {}
    loop = c_roof()
    if loop is not None:
        address, nbytes = x.ctypes.data, x.nbytes
        impls[ROOF] = lambda: loop(address, nbytes, 1)
    impls["roof: np.copyto"] = lambda: np.copyto(copy_dst, x)
    impls["roof: np.multiply in place"] = lambda: np.multiply(words, 1, out=words)
    return impls


def roof_of(impls: dict) -> tuple[str, ...]:
    """The row ratios are taken to: the C roof, or the fastest NumPy one without it."""
    return (ROOF,) if ROOF in impls else ("roof: np.copyto", "roof: np.multiply in place")


# Speed targets (issue #18): (target, limit, the case and row whose paired ratio it reads).
TARGETS: list[tuple[str, float, str, str]] = []


def target(name: str, limit: float, case: str, row: str) -> None:
    TARGETS.append((name, limit, case, row))


def paired(case: str, row: str) -> float | None:
    """The paired ratio of a row of the table."""
    for c, name, lo, _, _, ratio in ROWS:
        if c == case and name == row:
            return float(ratio.split()[-1] if lo else ratio.split()[0])
    return None


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

LAYOUTS = {  # shape and how rope.apply is told the sequence axis
    "shd": (4096, 32, 128),
    "bshd": (4, 1024, 32, 128),
    "bhsd": (4, 32, 1024, 128),
    "thd": (4096, 32, 128),      # four packed sequences of 1024 tokens
}


def layout_case(layout, dtype, interleaved, repeats, rng, slow_refs: bool) -> None:
    """rope.apply and a reused Rope on one layout, against the roof of the same bytes."""
    shape = LAYOUTS[layout]
    x, copy_dst = touched(shape, dtype, rng), touched(shape, dtype, rng)
    dim = shape[-1]
    if layout == "thd":
        pos = rope.packed_positions(np.arange(0, shape[0] + 1, 1024))
    else:
        pos = 0
    impls = roofs(x, copy_dst)
    impls["rope.apply"] = lambda: rope.apply(x, pos, layout=layout, interleaved=interleaved)
    cached = rope.Rope(dim, interleaved=interleaved)
    impls["rope.Rope (reused)"] = lambda: cached.apply(x, pos, layout=layout)
    if layout != "thd":  # an attention factor: tables built once, kept, read by the rotation
        yarn = rope.Rope(dim, interleaved=interleaved, scaling="yarn", factor=4.0,
                         original_max_position_embeddings=shape[layout.index("s")])
        impls["rope.Rope, YaRN (kept tables)"] = lambda: yarn.apply(x, pos, layout=layout)
    if slow_refs and layout in ("shd", "bhsd"):
        seq = shape[layout.index("s")]
        pos_shape = [1] * (len(shape) - 1)
        pos_shape[layout.index("s")] = seq
        positions = np.arange(seq).reshape(pos_shape)
        hc, hs = hf_tables(positions, rope.frequencies(dim), interleaved, dtype)
        t1, t2 = touched(shape, dtype, rng), touched(shape, dtype, rng)
        impls["numpy HF-style"] = lambda: numpy_hf(x, hc, hs, t1, t2, interleaved)
        if torch is not None and not interleaved:
            tx, tc, ts = torch.from_numpy(x), torch.from_numpy(hc), torch.from_numpy(hs)
            u1, u2 = torch.from_numpy(t1), torch.from_numpy(t2)
            impls["torch HF-style"] = lambda: torch_hf(tx, tc, ts, u1, u2)
    case = f"{np.dtype(dtype).name} {'inter' if interleaved else 'split'} {layout} {shape}"
    report(case, timed(impls, repeats), x.nbytes, roof_of(impls))
    if EVICT is not None:
        limit = 1.15 if dtype == np.float32 else 1.2
        target(f"cold {case}", limit, case, "rope.apply")


def warm_case(mib: float, dtype, repeats, rng, slow_refs: bool) -> None:
    """(seq, 8, 128) that fits in cache, never evicted: the table building and the
    arithmetic show, not the memory."""
    seq = int(mib * 2**20) // (8 * 128 * np.dtype(dtype).itemsize)
    shape = (seq, 8, 128)
    x, copy_dst = touched(shape, dtype, rng), touched(shape, dtype, rng)
    impls = roofs(x, copy_dst)
    for name, compensated in ((FLOOR, False), (FLOOR_COMPENSATED, True)):
        floor = floor_rotation(x, 64, compensated)
        if floor is not None:
            impls[name] = floor
    cached = rope.Rope(128)
    impls["rope.apply"] = lambda: rope.apply(x, 0, layout="shd")
    impls["rope.Rope (reused)"] = lambda: cached.apply(x, 0, layout="shd")
    if slow_refs:
        hc, hs = hf_tables(np.arange(seq)[:, None], rope.frequencies(128), False, dtype)
        t1, t2 = touched(shape, dtype, rng), touched(shape, dtype, rng)
        impls["numpy HF-style"] = lambda: numpy_hf(x, hc, hs, t1, t2, False)
        if torch is not None:
            tx, tc, ts = torch.from_numpy(x), torch.from_numpy(hc), torch.from_numpy(hs)
            u1, u2 = torch.from_numpy(t1), torch.from_numpy(t2)
            impls["torch HF-style"] = lambda: torch_hf(tx, tc, ts, u1, u2)
    samples = timed(impls, repeats, warm=True)
    case = f"warm {np.dtype(dtype).name} {shape} {mib:g} MiB"
    report(case, samples, x.nbytes, roof_of(impls))
    target(f"{case}: reused Rope", 1.5, case, "rope.Rope (reused)")
    target(f"{case}: rope.apply", 2.0, case, "rope.apply")


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

    impls = roofs(x, copy_dst)
    impls.update({f"rope.apply [{level}]": at(level) for level in rope.simd_levels()})
    try:
        report(f"{np.dtype(dtype).name} split {shape} levels", timed(impls, repeats), x.nbytes,
               roof_of(impls))
    finally:
        rope.set_simd_level(current)


def tables_case(repeats) -> None:
    """The table builders, per (position, pair): the exact one (cos_sin, correctly rounded)
    and the one rotate_at and the kept tables use (angle addition from exact anchors)."""
    positions, theta = np.arange(4096), rope.frequencies(128)
    impls = {
        "cos_sin (exact), float64": lambda: _core.cos_sin(positions, theta),
        "tables (angle addition), float64": lambda: _core.tables(positions, theta),
        "cos_sin (exact), float32": lambda: _core.cos_sin(positions, theta, dtype=np.float32),
        "tables (angle addition), float32":
            lambda: _core.tables(positions, theta, dtype=np.float32),
    }
    samples = timed(impls, repeats)
    values = positions.size * theta.size
    for name, s in samples.items():
        ROWS.append(("tables, 4096 positions x 64 pairs", f"{name}: ns a value", 0, 0, 0,
                     f"{np.median(s) / values * 1e9:5.2f}"))
    for kind in ("float64", "float32"):
        speedup = np.median(samples[f"cos_sin (exact), {kind}"] /
                            samples[f"tables (angle addition), {kind}"])
        ROWS.append(("tables, 4096 positions x 64 pairs", f"exact / added, {kind}", 0, 0, 0,
                     f"{speedup:5.2f}"))


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


def threads_case(shape, dtype, repeats, rng, warm: bool) -> None:
    """threads=2 against one thread and against two threads of the C roof, each on its half."""
    x, copy_dst = touched(shape, dtype, rng), touched(shape, dtype, rng)
    pool = ThreadPoolExecutor(2)
    impls = roofs(x, copy_dst)
    loop = c_roof()
    if loop is not None:
        halves = [(x[: len(x) // 2].ctypes.data, x[: len(x) // 2].nbytes),
                  (x[len(x) // 2:].ctypes.data, x[len(x) // 2:].nbytes)]

        def roof2():
            for f in [pool.submit(loop, address, nbytes, 1) for address, nbytes in halves]:
                f.result()

        impls["roof: C multiply, 2 threads"] = roof2
    impls["rope.apply"] = lambda: rope.apply(x, 0, layout="shd")
    impls["rope.apply threads=2"] = lambda: rope.apply(x, 0, layout="shd", threads=2)
    samples = timed(impls, repeats, warm=warm)
    case = f"{'warm' if warm else 'cold'} {np.dtype(dtype).name} {shape} threads"
    report(case, samples, x.nbytes, roof_of(impls))
    ROWS.append((case, "threads=2 / one thread", 0, 0, 0,
                 f"{np.median(samples['rope.apply threads=2'] / samples['rope.apply']):5.2f}"))
    target(f"{case}: never slower than one thread", 1.05, case, "threads=2 / one thread")
    pool.shutdown()


def decode_case(repeats, rng) -> None:
    """One token: (1, 32, 128) float32 at an int offset, against np.multiply(x, c, out=x)."""
    x = touched((1, 32, 128), np.float32, rng)
    c = np.ones(128, np.float32)
    theta = rope.frequencies(128)
    cos, sin = _core.cos_sin(np.array([[4096]]), theta, dtype=np.float32)
    cached = rope.Rope(dim=128, base=10000.0)
    impls = {
        "np.multiply(x, c, out=x)": lambda: np.multiply(x, c, out=x),
        "rope.apply": lambda: rope.apply(x, 4096, layout="shd"),
        "rope.Rope (reused)": lambda: cached.apply(x, 4096, layout="shd"),
        "gufunc, prebuilt tables": lambda: _core.rotate(x, cos, sin, out=x),
    }
    case = "decode float32 (1, 32, 128)"
    report(case, timed(impls, repeats, calls=200), x.nbytes, ("np.multiply(x, c, out=x)",))
    target(f"{case}: reused Rope", 1.0, case, "rope.Rope (reused)")
    target(f"{case}: rope.apply", 1.3, case, "rope.apply")


def bfloat16_values(shape, rng) -> np.ndarray:
    """Normal values as bfloat16, in rope's dtype for it (uint16 bits), every page written."""
    values = rng.standard_normal(shape, dtype=np.float32)
    bits = ((values.view(np.uint32) + 0x8000) >> 16).astype(np.uint16)  # nearest, ties away
    return bits.view(_core.bfloat16_bits)


def torch_bfloat16(x: np.ndarray):
    """A torch.bfloat16 tensor of the memory of x (rope's bfloat16 bits)."""
    return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)


def bfloat16_case(layout, interleaved, repeats, rng) -> None:
    """bfloat16 data (rope's uint16 bits; ml_dtypes arrays and torch tensors reach the same
    loops) on one layout, against the roof of its bytes; a torch.bfloat16 tensor of the same
    memory; transformers' rotation of that tensor in bfloat16."""
    shape = LAYOUTS[layout]
    x, copy_dst = bfloat16_values(shape, rng), bfloat16_values(shape, rng)
    pos = rope.packed_positions(np.arange(0, shape[0] + 1, 1024)) if layout == "thd" else 0
    impls = roofs(x, copy_dst)
    # x as the bfloat16 of the build in use (with --against, each build's own dtype)
    impls["rope.apply"] = lambda: rope.apply(x.view(_core.bfloat16_bits), pos, layout=layout,
                                             interleaved=interleaved)
    cached = rope.Rope(shape[-1], interleaved=interleaved)
    impls["rope.Rope (reused)"] = lambda: cached.apply(x.view(_core.bfloat16_bits), pos,
                                                       layout=layout)
    if torch is not None:
        tx = torch_bfloat16(x)
        impls["rope.apply, torch tensor"] = lambda: rope.apply(tx, pos, layout=layout,
                                                               interleaved=interleaved)
        if not interleaved and layout in ("shd", "bhsd"):
            pos_shape = [1] * (len(shape) - 1)
            pos_shape[layout.index("s")] = shape[layout.index("s")]
            hc, hs = hf_tables(np.arange(shape[layout.index("s")]).reshape(pos_shape),
                               rope.frequencies(shape[-1]), False, np.float32)
            tc, ts = (torch.from_numpy(t).to(torch.bfloat16) for t in (hc, hs))
            u1, u2 = torch.empty_like(tx), torch.empty_like(tx)
            impls["torch HF-style"] = lambda: torch_hf(tx, tc, ts, u1, u2)
    case = f"bfloat16 {'inter' if interleaved else 'split'} {layout} {shape}"
    report(case, timed(impls, repeats), x.nbytes, roof_of(impls))
    if EVICT is not None:
        target(f"cold {case}", 1.3, case, "rope.apply")


def bfloat16_levels_case(shape, repeats, rng) -> None:
    """bfloat16 (seq, heads, dim) at every SIMD level this CPU runs (avx512bf16: avx512 with
    the results narrowed by vcvtneps2bf16): rope.apply, and the kernel alone (prebuilt
    tables)."""
    x, copy_dst = bfloat16_values(shape, rng), bfloat16_values(shape, rng)
    cos, sin = _core.cos_sin(np.arange(shape[0])[:, None], rope.frequencies(shape[-1]),
                             dtype=np.float32)
    current = rope.simd_level()

    def at(level, run):
        def run_at_level():
            rope.set_simd_level(level)
            run()
        return run_at_level

    impls = roofs(x, copy_dst)
    for level in rope.simd_levels():
        impls[f"rope.apply [{level}]"] = at(level, lambda: rope.apply(x, 0, layout="shd"))
        impls[f"prebuilt tables [{level}]"] = at(level, lambda: _core.rotate(x, cos, sin, out=x))
    try:
        report(f"bfloat16 split {shape} levels", timed(impls, repeats), x.nbytes,
               roof_of(impls))
    finally:
        rope.set_simd_level(current)


def torch_case(dtype, repeats, rng) -> None:
    """A torch tensor (read through its DLPack view) against a NumPy array of the same memory,
    (seq, heads, dim) from memory."""
    if torch is None:
        return
    shape = LAYOUTS["shd"]
    x, copy_dst = touched(shape, dtype, rng), touched(shape, dtype, rng)
    t = torch.from_numpy(x)
    impls = roofs(x, copy_dst)
    impls["rope.apply, NumPy array"] = lambda: rope.apply(x, 0, layout="shd")
    impls["rope.apply, torch tensor"] = lambda: rope.apply(t, 0, layout="shd")
    report(f"torch {np.dtype(dtype).name} shd {shape}", timed(impls, repeats), x.nbytes,
           roof_of(impls))


def torch_decode_case(repeats, rng) -> None:
    """One token of (1, 32, 128) as a torch tensor against a NumPy array of the same memory:
    the difference is what reading a tensor costs (its DLPack view), per call."""
    if torch is None:
        return
    x = touched((1, 32, 128), np.float32, rng)
    t, tb = torch.from_numpy(x), torch_bfloat16(bfloat16_values((1, 32, 128), rng))
    impls = {
        "rope.apply, NumPy array": lambda: rope.apply(x, 4096, layout="shd"),
        "rope.apply, torch tensor": lambda: rope.apply(t, 4096, layout="shd"),
        "rope.apply, torch bfloat16": lambda: rope.apply(tb, 4096, layout="shd"),
    }
    case = "decode torch (1, 32, 128)"
    samples = timed(impls, repeats, calls=200)
    report(case, samples, x.nbytes, ("rope.apply, NumPy array",))
    for name in ("torch tensor", "torch bfloat16"):
        extra = np.min(samples[f"rope.apply, {name}"]) - np.min(samples["rope.apply, NumPy array"])
        ROWS.append((case, f"{name} - NumPy array, us", 0, 0, 0, f"{extra * 1e6:+.2f}"))
        target(f"{case}: {name}, us above NumPy's", 1.0, case, f"{name} - NumPy array, us")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


#: The groups of cases, in the order they run (--only picks some).
GROUPS = ("layouts", "bfloat16", "torch", "warm", "decode", "tables", "strided", "threads",
          "levels")


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
    parser.add_argument("--only", metavar="GROUPS", default=None,
                        help="comma-separated groups to run, of: " + ", ".join(GROUPS))
    args = parser.parse_args()
    only = set(GROUPS if args.only is None else args.only.split(","))
    if not only <= set(GROUPS):
        parser.error(f"--only takes groups of {', '.join(GROUPS)}")
    global AGAINST_CORE
    if args.against:
        AGAINST_CORE = load_core(args.against)
    if args.cold:
        EVICT = np.ones(2 * last_level_cache_bytes() // 8, np.uint64)
    repeats = max(args.repeats, 7)
    rng = np.random.default_rng(0)

    layouts = ["shd", "bhsd"] if args.quick else list(LAYOUTS)
    if "layouts" in only:
        for dtype in (np.float32, np.float16):
            for interleaved in (False, True):
                for layout in layouts:
                    layout_case(layout, dtype, interleaved, repeats, rng,
                                slow_refs=not args.quick or dtype == np.float32)
    if "bfloat16" in only:
        for interleaved in (False, True):
            for layout in layouts:
                bfloat16_case(layout, interleaved, repeats, rng)
    if "torch" in only:
        for dtype in (np.float32, np.float16):
            torch_case(dtype, repeats, rng)
    if "warm" in only:
        for mib in (0.25, 4) if args.quick else (0.25, 1, 4, 16):
            warm_case(mib, np.float32, repeats, rng, slow_refs=not args.quick)
    if "decode" in only:
        decode_case(repeats, rng)
        torch_decode_case(repeats, rng)
    if "tables" in only:
        tables_case(repeats)
    if "strided" in only:
        for dtype in (np.float32, np.float16):
            strided_case((4096, 32, 128), 0, dtype, repeats, rng)
    if "threads" in only:  # in cache; from memory, at and well past the size threads start
        for shape, warm in (((1024, 8, 128), True), ((4096, 32, 128), False),
                            ((16384, 32, 128), False)):
            threads_case(shape, np.float32, repeats, rng, warm)
    if "levels" in only and AGAINST_CORE is None and not args.quick:  # this build's levels
        for dtype in (np.float32, np.float16):
            levels_case((4096, 32, 128), 0, dtype, repeats, rng)
        for shape in ((4096, 32, 128), (256, 32, 128)):  # from memory, and from the caches
            bfloat16_levels_case(shape, repeats, rng)

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
    if TARGETS:
        lines += ["", "targets (paired ratio to the roof, or as named)"]
        for name, limit, case, row in TARGETS:
            value = paired(case, row)
            if value is None:
                continue
            mark = "met" if value <= limit else "NOT MET"
            lines.append(f"  {name:<66} {value:5.2f} <= {limit:4.2f}  {mark}")
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
