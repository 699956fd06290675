"""Command line: ``python -m rope demo``."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import apply, frequencies


def demo() -> None:
    """Print the relative-position property of seed 003 as a small real computation."""
    d = 8
    rng = np.random.default_rng(0)
    cat, sleeping = rng.standard_normal((2, d))
    print("RoPE rotates pair k of a vector at position p by the angle p * theta_k,")
    print("theta_k = b**(-2(k-1)/d).  d = 512, k = 129:", frequencies(512)[128])
    print()
    print("'The(1) cat(2) is(3) sleeping(4) ...'  and  '... the(8) cat(9) is(10) sleeping(11) ...'")
    for i, j in ((2, 4), (9, 11)):
        q = apply(cat.copy(), i)
        k = apply(sleeping.copy(), j)
        print(f"  score <Ro(cat, {i}θ), Ro(sleeping, {j}θ)> = {q @ k:+.12f}   (j - i = {j - i})")
    print("Equal scores: the score depends only on the distance j - i.")
    print("The rotated vectors differ: Ro(cat, 2θ)[:3] =", np.round(apply(cat.copy(), 2)[:3], 4),
          " Ro(cat, 9θ)[:3] =", np.round(apply(cat.copy(), 9)[:3], 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rope", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="print the RoPE course's small computations")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
