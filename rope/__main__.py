"""Command line: ``python -m rope demo`` and ``python -m rope spectrum`` (see rope._cli)."""
import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
