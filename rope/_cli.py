"""The command line: ``python -m rope demo`` and ``python -m rope spectrum``.

Argument errors (bad values, or a scaling configuration the library refuses) print the usage and
exit with status 2, as argparse does for its own errors.
"""
from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from ._frequencies import frequencies
from ._rope import Rope

__all__ = ["main"]

# (option, Hugging Face parameter, type, help) of the scaling parameters `spectrum` accepts.
_SCALING_OPTIONS = (
    ("--factor", "factor", float, "extension factor s = new length / trained length"),
    ("--original-max-position-embeddings", "original_max_position_embeddings", int,
     "trained context length L (yarn, llama3, longrope)"),
    ("--max-position-embeddings", "max_position_embeddings", int,
     "trained context length M of dynamic NTK scaling"),
    ("--low-freq-factor", "low_freq_factor", float,
     "llama3: pairs with wavelength above L / low_freq_factor are divided by the factor"),
    ("--high-freq-factor", "high_freq_factor", float,
     "llama3: pairs with wavelength below L / high_freq_factor keep their frequency"),
    ("--beta-fast", "beta_fast", float, "yarn: rotations in L above which pairs are kept (32)"),
    ("--beta-slow", "beta_slow", float, "yarn: rotations in L below which pairs are "
     "interpolated (1)"),
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rope",
        description="Rotary positional embeddings: the course in one command, and the "
                    "frequency spectrum of any configuration.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    demo = commands.add_parser(
        "demo", help="print the RoPE course's small computations (and write its figures)",
        description="Print small real computations, each labelled with the formula it shows; "
                    "with matplotlib installed, also write the course's figures as PNG files.")
    demo.add_argument("--out-dir", default="rope-figures", metavar="DIR",
                      help="directory for the PNG figures (default: ./rope-figures)")
    demo.add_argument("--no-figures", action="store_true",
                      help="do not write figures even if matplotlib is installed")

    spectrum = commands.add_parser(
        "spectrum", help="per-pair table of theta_k and period, original and scaled",
        description="Print, for every pair k = 1 ... d/2, the frequency theta_k = "
                    "b^(-2(k-1)/d) and period 2*pi/theta_k of plain RoPE and of the scaled "
                    "configuration, and their ratio theta_k / theta'_k.")
    spectrum.add_argument("--dim", type=_positive_int, default=128,
                          help="rotary dimension d, even (default 128)")
    spectrum.add_argument("--base", type=float, default=10000.0,
                          help="base b, Hugging Face's rope_theta (default 10000)")
    spectrum.add_argument("--scaling", default=None, metavar="NAME",
                          help="context-extension family: linear, ntk, dynamic, yarn, llama3 "
                               "(default: none)")
    for option, _, kind, text in _SCALING_OPTIONS:
        spectrum.add_argument(option, type=kind, default=None, help=text)
    spectrum.add_argument("--seq-len", type=_positive_int, default=None,
                          help="current sequence length (dynamic and longrope depend on it)")
    spectrum.add_argument("--hf-config", metavar="CONFIG_JSON", default=None,
                          help="read dim, base and scaling from a Hugging Face config.json "
                               "(replaces --dim, --base and the scaling options)")
    spectrum.add_argument("--format", choices=("table", "csv"), default="table",
                          help="aligned text table (default) or CSV for spreadsheets")
    spectrum.add_argument("--plot", metavar="OUT_PNG", default=None,
                          help="also draw the periods, original and scaled, to this PNG "
                               "(needs matplotlib)")
    spectrum.set_defaults(subparser=spectrum)
    return parser


def _rope_from_args(args: argparse.Namespace) -> Rope:
    if args.hf_config is not None:
        return Rope.from_hf_config(args.hf_config)
    params = {name: getattr(args, name) for _, name, _, _ in _SCALING_OPTIONS
              if getattr(args, name) is not None}
    return Rope(args.dim, args.base, args.scaling, **params)


def _write_spectrum(out, theta, theta_scaled, fmt: str) -> None:
    period = 2.0 * np.pi / theta
    with np.errstate(divide="ignore"):
        period_scaled = 2.0 * np.pi / theta_scaled
        ratio = theta / theta_scaled
    header = ("k", "theta", "period", "theta_scaled", "period_scaled", "theta/theta_scaled")
    rows = zip(range(1, theta.size + 1), theta, period, theta_scaled, period_scaled, ratio)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for k, *values in rows:
            writer.writerow([k] + [repr(float(v)) for v in values])
        return
    out.write(f"{header[0]:>4} " + " ".join(f"{h:>18}" for h in header[1:]) + "\n")
    for k, *values in rows:
        out.write(f"{k:>4} " + " ".join(f"{v:>18.10e}" for v in values) + "\n")


def spectrum(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        scaled = _rope_from_args(args)
    except (TypeError, ValueError, OSError) as error:
        parser.error(str(error))
    if args.plot is not None:
        try:
            from . import plot
        except ImportError as error:
            parser.error(f"--plot: {error}")
    theta = frequencies(scaled.rotary_dim, scaled.base)
    theta_scaled = (scaled.frequencies_at(args.seq_len) if args.seq_len is not None
                    else scaled.frequencies)
    print(f"# {scaled!r}  attention factor {scaled.attention_factor:.10g}")
    _write_spectrum(sys.stdout, theta, theta_scaled, args.format)
    if args.plot is not None:
        scaling = dict(scaled.params, rope_type=scaled.scaling) if scaled.scaling else None
        fig = plot.spectrum(scaled.rotary_dim, scaled.base,
                            [scaling] if scaling is not None else [])
        fig.savefig(args.plot, dpi=120)
        print(f"# wrote {args.plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if sys.stdout.encoding and "θ".encode(sys.stdout.encoding, "replace") == b"?":
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import demo
        return demo(None if args.no_figures else args.out_dir)
    return spectrum(args, args.subparser)
