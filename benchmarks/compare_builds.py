"""rope.apply of two checkouts, whole (Python layer and C core), on the same cases.

    python benchmarks/compare_builds.py OTHER_CHECKOUT [--rounds 5]

Each checkout must have its extension built in place (``python setup.py build_ext --inplace``).
The cases run in subprocesses, one per checkout, alternating for `--rounds` rounds, so that
both see the machine in the same states; each process times every case against the C roof of
bench.py (an in-place multiply of the same bytes) and the table prints, per case, each build's
median ratio to the roof and the ratio of the two (this checkout over the other: below 1 is
faster). Only arguments every version of rope.apply takes are used (`seq_axis`, an int
position), so an old checkout can be measured as it was.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
THIS = os.path.dirname(HERE)

# (name, shape, seq_axis, dtype, interleaved): from memory (cold) unless named warm.
CASES = [
    ("f32 shd", (4096, 32, 128), 0, "float32", False),
    ("f32 shd inter", (4096, 32, 128), 0, "float32", True),
    ("f16 shd", (4096, 32, 128), 0, "float16", False),
    ("f16 shd inter", (4096, 32, 128), 0, "float16", True),
    ("f32 bhsd", (4, 32, 1024, 128), 2, "float32", False),
    ("f16 bhsd", (4, 32, 1024, 128), 2, "float16", False),
    ("f32 seq-long shd", (32768, 8, 128), 0, "float32", False),
    ("f32 warm shd", (256, 8, 128), 0, "float32", False),
    ("f32 decode", (1, 32, 128), 0, "float32", False),
]

CHILD = r"""
import json, sys, timeit
import numpy as np
sys.path.insert(0, sys.argv[1])   # this checkout's rope
sys.path.insert(1, sys.argv[2])   # bench.py, for its C roof
import rope, bench
assert rope.__file__.startswith(sys.argv[1]), rope.__file__
loop = bench.c_roof()
evict = np.ones(2 * bench.last_level_cache_bytes() // 8, np.uint64)
out = {}
for name, shape, axis, dtype, inter in json.loads(sys.argv[3]):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    warm = "warm" in name or "decode" in name
    calls = 200 if "decode" in name else 1
    def run(f):
        if not warm:
            np.add(evict, 1, out=evict)  # x and the roof's bytes leave the caches
        return timeit.timeit(f, number=calls) / calls
    def apply():
        rope.apply(x, 7, seq_axis=axis, interleaved=inter)
    def roof():
        loop(x.ctypes.data, x.nbytes, 1)
    apply(); roof()
    samples = [run(apply) / run(roof) for _ in range(7)]
    out[name] = float(np.median(samples))
print(json.dumps(out))
"""


def measure(checkout: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, checkout, HERE, json.dumps(CASES)],
        capture_output=True, text=True, check=True, cwd=checkout)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the other checkout, its extension built in place")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="", help="only the cases whose name contains this")
    args = parser.parse_args()
    global CASES
    CASES = [case for case in CASES if args.cases in case[0]]
    this, other = {c[0]: [] for c in CASES}, {c[0]: [] for c in CASES}
    for _ in range(args.rounds):
        for runs, checkout in ((this, THIS), (other, args.other)):
            for name, ratio in measure(checkout).items():
                runs[name].append(ratio)
    print(f"{'case':<20} {'this / roof':>12} {'other / roof':>13} {'this / other':>13}")
    for name, *_ in CASES:
        a, b = np.median(this[name]), np.median(other[name])
        print(f"{name:<20} {a:12.2f} {b:13.2f} {a / b:13.3f}")


if __name__ == "__main__":
    main()
