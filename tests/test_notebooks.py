"""The example notebooks teach (a goal, prose between the code) and run top to bottom in a real
Jupyter kernel, drawing their figures from rope's public functions."""
import pathlib
import re
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
TOPICS = ["frequency_spectra_and_scaling", "relative_position_and_decay",
          "rope_and_the_alternatives", "past_the_trained_context",
          "precision_and_the_relative_property"]


def test_the_five_notebooks_are_there():
    assert [p.stem[3:] for p in NOTEBOOKS] == TOPICS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_teaches(path):
    nb = nbformat.read(path, as_version=4)
    prose = [c for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert prose[0].source.startswith("# ") and "**Goal:**" in prose[0].source
    assert len(prose) >= len(code) - 1, "prose between the code cells"
    assert sum(len(c.source.split()) for c in prose) >= 400, "too little explanation"
    assert "theory.md" in prose[0].source
    source = "".join(c.source for c in nb.cells)
    # data comes from rope's functions, not from inside the figures
    assert not re.search(r"\.get_array\(\)|\.get_ydata\(\)|\.images\[", source)
    assert not any(c.get("outputs") for c in code), "commit notebooks without outputs"


def execute(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # Run the kernel on this interpreter (the one with rope installed), whatever `python3`
    # kernelspec the machine has.
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
        kernel_manager_class=_kernel_manager_class())
    client.execute()
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_and_draws(path, tmp_path):
    outputs = execute(path, tmp_path)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name} drew {len(images)} figures"
    if "rope.Rope(" in path.read_text():
        assert any("<table" in o.get("data", {}).get("text/html", "") for o in outputs)


def test_spectra_notebook_without_ipywidgets_draws_static_figures(tmp_path, monkeypatch):
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "ipywidgets.py").write_text("raise ImportError('ipywidgets blocked by the test')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocker))             # the kernel inherits it
    outputs = execute(NOTEBOOKS[0], tmp_path)
    assert not [o for o in outputs if o.output_type == "error"]
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in outputs)
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 7


def _kernel_manager_class():
    from jupyter_client.manager import KernelManager

    class ThisInterpreter(KernelManager):
        """A kernel started with sys.executable, so it imports the rope under test."""

        def format_kernel_cmd(self, extra_arguments=None):
            return [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file]

    return ThisInterpreter
