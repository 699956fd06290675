"""Every public docstring example runs and prints what it says (functions and gufuncs)."""
import doctest
import inspect

import numpy as np
import pytest

import rope


def public_objects():
    seen = set()
    for name in rope.__all__:
        obj = getattr(rope, name)
        if inspect.ismodule(obj):
            for sub in getattr(obj, "__all__", []):
                yield f"rope.{name}.{sub}", getattr(obj, sub)
            continue
        if id(obj) not in seen:
            seen.add(id(obj))
            yield f"rope.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and getattr(member, "__doc__", None):
                        yield f"rope.{name}.{attr}", member


OBJECTS = list(public_objects())


@pytest.mark.parametrize("name,obj", OBJECTS, ids=[n for n, _ in OBJECTS])
def test_docstring_examples(name, obj):
    doc = inspect.getdoc(obj) if not isinstance(obj, np.ufunc) else obj.__doc__
    if not callable(obj) or isinstance(obj, (int, float)):
        return
    assert doc, f"{name} has no docstring"
    if isinstance(obj, np.ufunc) or inspect.isfunction(obj) or inspect.isclass(obj):
        assert "Examples" in doc or ">>>" in doc or name.startswith("rope.simd") or \
            name == "rope.set_simd_level", f"{name}'s docstring has no example"
    test = doctest.DocTestParser().get_doctest(doc, {"np": np, "rope": rope}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) in {name} failed (see output)"


# ---- the pages: README.md and docs/ -------------------------------------------------------

import pathlib  # noqa: E402
import re  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
needs_pages = pytest.mark.skipif(not README.exists() or not PAGES,
                                 reason="README.md and docs/ are not next to the tests")


@needs_pages
def test_readme_is_short_and_keeps_the_ci_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 125
    for marker in ("<!-- demo-command -->", "<!-- test-command -->"):
        after = text.split(marker, 1)[1].lstrip("\n")
        assert after.startswith("    python3 -m pip install -e "), marker


@needs_pages
def test_readme_code_runs():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@needs_pages
def test_readme_names_every_public_function():
    text = README.read_text(encoding="utf-8")
    internal = {"MAX_POSITION", "ScalingBands", "set_simd_level", "simd_level", "simd_levels"}
    for name in set(rope.__all__) - internal:
        assert f"rope.{name}" in text, name


@needs_pages
def test_the_api_page_documents_every_public_name():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in rope.__all__:
        assert f"rope.{name}" in text, name
    for module in (rope.alternatives, rope.reference):
        for name in module.__all__:
            if callable(getattr(module, name)):
                assert f"{module.__name__}.{name}" in text, f"{module.__name__}.{name}"


@needs_pages
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page):
    """The >>> examples of a page print what the page says (the theory's worked numbers)."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    text = "\n".join(blocks)
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) in {page.name} failed"


@needs_pages
@pytest.mark.parametrize("page", [README] + PAGES, ids=lambda p: p.name)
def test_relative_links_and_images_exist(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


@needs_pages
def test_the_theory_drift_table_is_what_score_drift_measures():
    """docs/theory.md's table of score drift against rope.score_drift, recomputed."""
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (float64|float32|float16|bfloat16) \| (exact|float32) \|(.*)\|$",
                      text, re.M)
    assert len(rows) == 8
    q, k = np.random.default_rng(0).standard_normal((2, 256, 128))
    norms = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1)
    offsets = [0, 10**3, 10**4, 10**5, 10**6]
    for dtype, angles, cells in rows:
        printed = np.array([float(c) for c in cells.split("|")])
        drift = rope.score_drift(q, k, 2, offsets, dtype=dtype, angles=angles)
        rms = np.sqrt(np.mean((drift / norms[:, None]) ** 2, axis=0))
        # one significant digit on the page: within rounding, and never the wrong decade
        np.testing.assert_allclose(rms, printed, rtol=0.35, err_msg=f"{dtype}, {angles}")


# Spelled in pieces, so that this file does not match itself.
REFERENCES_OUTSIDE = re.compile("|".join([
    "formula" + r"\s+sheet", "seed" + r"s?/", "seed" + r" \d{3}", "FORMULAS" + r"\.md",
    "shared" + "/"]), re.IGNORECASE)


@needs_pages
def test_no_file_points_outside_the_repository():
    """The project explains itself: no page, notebook, module or test refers to material that
    is not in the repository."""
    suffixes = {".py", ".md", ".ipynb", ".toml", ".c", ".h", ".pyi", ".txt", ".cfg", ".in"}
    offenders = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.suffix not in suffixes or parts & {".git", "build", "_build"} or \
                any(p.startswith((".ci-", ".venv")) or p.endswith(".egg-info") for p in parts):
            continue
        if REFERENCES_OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
