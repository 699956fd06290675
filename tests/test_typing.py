"""The types a type checker sees: tests/typing/usage.py must type-check against the installed
rope, and every line of tests/typing/errors.py must be an error (mypy's --warn-unused-ignores
fails on a `# type: ignore` that ignores nothing), e.g. ``rope.apply(q, "abc")``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TYPING = Path(__file__).resolve().parent / "typing"


def test_mypy_finds_rope_and_checks_its_types(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (.ci/run installs it)")
    # Run from tests/typing, where no rope folder is at hand: mypy must find the installed one
    # (an editable install included), with its py.typed and _core.pyi.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "--warn-unused-ignores",
         "usage.py", "errors.py"],
        cwd=TYPING, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
