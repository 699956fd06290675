"""The example notebooks run top to bottom in a real Jupyter kernel and draw their plots."""
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_and_draws(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # Run the kernel on this interpreter (the one with rope installed), whatever `python3`
    # kernelspec the machine has.
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
        kernel_manager_class=_kernel_manager_class())
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name} drew {len(images)} figures"
    if "Rope(" in "".join(cell.source for cell in nb.cells):
        assert any("<table" in o.get("data", {}).get("text/html", "") for o in outputs)


def _kernel_manager_class():
    from jupyter_client.manager import KernelManager

    class ThisInterpreter(KernelManager):
        """A kernel started with sys.executable, so it imports the rope under test."""

        def format_kernel_cmd(self, extra_arguments=None):
            return [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file]

    return ThisInterpreter
