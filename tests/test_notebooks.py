"""Every notebook runs top to bottom (quick setting), so they never rot."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "experiments" / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("JAXNN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "devices:" in outputs and "test accuracy:" in outputs
    assert "hand vs jax.grad" in outputs


def test_notebook_is_up_to_date_with_its_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebook", NOTEBOOKS[0].parent / "make_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = [c.source for c in module.build().cells]
    assert built == [c.source for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells]
