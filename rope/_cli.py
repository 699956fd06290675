"""The command line: ``python -m rope demo`` and ``python -m rope spectrum`` (or ``rope-numpy``).

Argument errors (bad values, paths that cannot be written, a scaling configuration the library
refuses) print the usage and exit with status 2, as argparse does for its own errors. Output
cut short by its reader (``| head``) ends the program quietly.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

from ._frequencies import frequencies
from ._rope import Rope
from ._scaling import scaling_names

__all__ = ["build_parser", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def _factor_list(text: str) -> list[float]:
    """LongRoPE factors: numbers separated by commas, or a file holding them (a JSON list, or
    numbers separated by commas, spaces or new lines)."""
    def numbers(source: str) -> list[float]:
        source = source.strip()
        if source.startswith("["):
            values = json.loads(source)
        else:
            values = source.replace(",", " ").split()
        return [float(v) for v in values]

    try:
        return numbers(text)
    except (ValueError, TypeError):
        pass
    try:
        with open(text, encoding="utf-8") as handle:
            content = handle.read()
    except OSError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a comma-separated list of numbers nor a readable file "
            f"({error.strerror or error})") from None
    try:
        return numbers(content)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"{text!r} does not hold a list of numbers (a JSON list, or numbers separated by "
            f"commas, spaces or new lines)") from None


# (option, Hugging Face parameter, argparse keywords, help) of every scaling parameter.
_SCALING_OPTIONS = (
    ("--factor", "factor", {"type": float},
     "extension factor s = new length / trained length (linear, ntk, dynamic, yarn, llama3, "
     "longrope, proportional)"),
    ("--original-max-position-embeddings", "original_max_position_embeddings",
     {"type": _positive_int}, "trained context length L (yarn, llama3, longrope)"),
    ("--max-position-embeddings", "max_position_embeddings", {"type": _positive_int},
     "trained context length M of dynamic; for yarn and longrope without --factor, "
     "s = M / L"),
    ("--low-freq-factor", "low_freq_factor", {"type": float},
     "llama3: pairs with wavelength above L / low_freq_factor are interpolated"),
    ("--high-freq-factor", "high_freq_factor", {"type": float},
     "llama3: pairs with wavelength below L / high_freq_factor are kept"),
    ("--beta-fast", "beta_fast", {"type": float},
     "yarn: pairs turning more than this many times in L are kept (default 32)"),
    ("--beta-slow", "beta_slow", {"type": float},
     "yarn: pairs turning fewer than this many times in L are interpolated (default 1)"),
    ("--mscale", "mscale", {"type": float},
     "yarn: attention factor numerator g(s, mscale) (with --mscale-all-dim)"),
    ("--mscale-all-dim", "mscale_all_dim", {"type": float},
     "yarn: attention factor denominator g(s, mscale_all_dim)"),
    ("--attention-factor", "attention_factor", {"type": float},
     "yarn, longrope: the attention factor itself, instead of the family's formula"),
    ("--truncate", "truncate", {"action": argparse.BooleanOptionalAction},
     "yarn: round the ramp's ends to whole pairs (default: yes)"),
    ("--partial-rotary-factor", "partial_rotary_factor", {"type": float},
     "fraction of the head that rotates (proportional: of the pairs, at the head's "
     "frequencies)"),
    ("--short-factor", "short_factor", {"type": _factor_list, "metavar": "LIST_OR_FILE"},
     "longrope: d/2 factors for sequences within L, as 1.0,1.1,... or a file holding them"),
    ("--long-factor", "long_factor", {"type": _factor_list, "metavar": "LIST_OR_FILE"},
     "longrope: d/2 factors for sequences longer than L, as a list or a file"),
)


def build_parser(prog: str = "python -m rope") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Rotary positional embeddings: the course in one command, and the "
                    "frequency spectrum of any configuration. docs/theory.md explains both.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    demo = commands.add_parser(
        "demo", help="print the RoPE course's small computations (and write its figures)",
        description="Print small real computations, each labelled with the formula it shows "
                    "(docs/theory.md derives them). With --out-dir and matplotlib installed, "
                    "also write the course's figures there as PNG files.")
    demo.add_argument("--out-dir", default=None, metavar="DIR",
                      help="write the figures (PNG) into this directory, created if needed; "
                           "without it no file is written")
    demo.set_defaults(subparser=demo)

    spectrum = commands.add_parser(
        "spectrum", help="per-pair table of theta_k and period, original and scaled",
        description="Print, for every pair k = 1 ... d/2, the frequency theta_k = "
                    "b^(-2(k-1)/d) and period 2*pi/theta_k of plain RoPE and of the scaled "
                    "configuration, and their ratio theta_k / theta'_k.")
    spectrum.add_argument("--dim", type=_positive_int, default=128,
                          help="rotary dimension d, even (default 128)")
    spectrum.add_argument("--base", type=float, default=10000.0,
                          help="base b, Hugging Face's rope_theta (default 10000)")
    spectrum.add_argument("--scaling", default=None, metavar="NAME", choices=scaling_names(),
                          help="context-extension family: " + ", ".join(scaling_names()) +
                               " (default: none); its parameters below")
    for option, _, keywords, text in _SCALING_OPTIONS:
        spectrum.add_argument(option, default=None, help=text, **keywords)
    spectrum.add_argument("--seq-len", type=_positive_int, default=None,
                          help="current sequence length (dynamic and longrope depend on it)")
    spectrum.add_argument("--hf-config", metavar="CONFIG_JSON", default=None,
                          help="read dim, base and scaling from a Hugging Face config.json "
                               "(replaces --dim, --base and the scaling options)")
    spectrum.add_argument("--format", choices=("table", "csv"), default="table",
                          help="aligned text table (default; the configuration on its first "
                               "line) or plain CSV with a header row, for spreadsheets and "
                               "pandas (the configuration then goes to stderr)")
    spectrum.add_argument("--plot", metavar="FILE", default=None,
                          help="also draw the periods, original and scaled, to this image "
                               "file (PNG unless its extension names another format; needs "
                               "matplotlib)")
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


def _image_format(path: str, parser: argparse.ArgumentParser) -> str:
    """The format to write `path` in, after checking that it can be a new file there."""
    from matplotlib.figure import Figure

    if os.path.isdir(path):
        parser.error(f"--plot {path!r} is a directory; give a file name, such as "
                     f"{os.path.join(path, 'spectrum.png')!r}")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        parser.error(f"--plot {path!r}: the directory {folder!r} does not exist")
    extension = os.path.splitext(path)[1][1:].lower()
    if not extension:
        return "png"  # written to `path` exactly, without an added ".png"
    supported = Figure().canvas.get_supported_filetypes()
    if extension not in supported:
        parser.error(f"--plot {path!r}: cannot write .{extension} images; use one of "
                     f"{', '.join('.' + e for e in sorted(supported))}")
    return extension


def spectrum(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        scaled = _rope_from_args(args)
        theta_scaled = (scaled.frequencies_at(args.seq_len) if args.seq_len is not None
                        else scaled.frequencies)
    except (TypeError, ValueError, OSError) as error:
        parser.error(str(error))
    if args.plot is not None:
        try:
            from . import plot
        except ImportError as error:
            parser.error(f"--plot: {error}")
        image_format = _image_format(args.plot, parser)
    theta = frequencies(scaled.rotary_dim, scaled.base)
    description = f"# {scaled!r}  attention factor {scaled.attention_factor:.10g}" + \
        (f"  sequence length {args.seq_len}" if args.seq_len is not None else "")
    print(description, file=sys.stderr if args.format == "csv" else sys.stdout)
    _write_spectrum(sys.stdout, theta, theta_scaled, args.format)
    if args.plot is not None:
        scaling = dict(scaled.params, rope_type=scaled.scaling) if scaled.scaling else None
        fig = plot.spectrum(scaled.rotary_dim, scaled.base,
                            [scaling] if scaling is not None else [], seq_len=args.seq_len)
        try:
            fig.savefig(args.plot, dpi=120, format=image_format)
        except OSError as error:
            parser.error(f"--plot {args.plot!r}: {error.strerror or error}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _program_name() -> str:
    """'python -m rope' when run as a module, else the name the program was started by."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m rope" if name in ("", "__main__.py", "-c") else name


def main(argv: list[str] | None = None) -> int:
    if sys.stdout.encoding and "θ".encode(sys.stdout.encoding, "replace") == b"?":
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        parser = build_parser(_program_name())
        args = parser.parse_args(argv)
        if args.command == "demo":
            from ._demo import demo, prepare_out_dir
            if args.out_dir is not None:
                prepare_out_dir(args.out_dir, args.subparser)
            return demo(args.out_dir)
        return spectrum(args, args.subparser)
    except BrokenPipeError:
        # The reader of stdout has gone (| head): stop quietly, as other command-line tools do.
        # stdout is pointed at /dev/null so that the interpreter's final flush cannot fail again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, the status of a program the signal ended

