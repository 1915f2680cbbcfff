"""Every notebook runs top to bottom (quick setting), so they never rot; each notebook is generated
from its jupytext source (``name.py`` beside it) and must agree with it."""

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

HERE = Path(__file__).parents[1] / "experiments" / "notebooks"
NOTEBOOKS = sorted(HERE.glob("*.ipynb"))
SOURCES = sorted(HERE.glob("*.py"))
EXPECTED = {   # what each notebook must print, computed live
    "jaxnn_tour.ipynb": ["devices:", "test accuracy:", "hand vs jax.grad"],
    "01_neuron_and_gradient_descent.ipynb": [
        "devices:", "ReLU at 0: forward 1.0, backward 0.0, central 0.5, jaxnn uses 0.0",
        "XOR [2, 1]: best accuracy 50%", "XOR [2, 2, 1]: best accuracy 100%",
        "0.155959192  0.155959192"],                 # ∂E/∂w5, hand and jax.grad
    "02_backpropagation.ipynb": [
        "devices:", "BP1  δ^L: max |hand − jax.grad|", "BP2  δ^1", "BP3  ∂C/∂b^3", "BP4  ∂C/∂W^1",
        "test accuracy:"],
    "03_building_a_network.ipynb": [
        "devices:", "outputs:   max |explicit b − bias neuron|", "gradients: max |fold(hand",
        "[3,1] identity (linear): prediction for 101 over 100 seeds: median 5.00; 100% within",
        "slides' example: C = 0.3567", "single example:  1000 updates per epoch",
        "loaded network predicts the same labels: True"],
    "04_matrices_and_accelerators.ipynb": [
        "devices:", "batched matrix form", "jax.vmap of one example", "Python loop over examples",
        "this runtime: 1 CPU device(s)", "one training step: loss", "P K:",
        "Conv2D(16, 3×3) forward + backward", "augmented batch: (6, 28, 28, 1)"],
    "05_beyond_the_mlp.ipynb": [
        "devices:", "NumPy backward vs jaxnn.value_and_grad: max |Δ|", "one step: NumPy",
        "CNN: test accuracy", "SimpleRNN(128): test accuracy", "LSTM(4): worst error vs jax.vjp",
        "LSTM(4) in detail:"],
    "06_attention.ipynb": [
        "devices:", "dX    max |hand − jax.vjp|", "dW_q  max |hand − jax.vjp|",
        "SelfAttention(heads=4, causal=True): worst error vs jax.vjp", "a whole block",
        "GPT: 117,479 parameters", "LSTM: 118,695 parameters", "generated: The return value of ",
        "attention weights: 4 heads over 64 characters; each row sums to 1.000"],
}


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
    for text in EXPECTED[path.name]:
        assert text in outputs, (text, outputs[-3000:])


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_notebook_is_generated_from_its_source(source):
    """Regenerate with: jupytext --to ipynb experiments/notebooks/name.py"""
    want = jupytext.read(source)
    have = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in have.cells] == [(c.cell_type, c.source)
                                                             for c in want.cells]
    assert all(not c.get("outputs") for c in have.cells if c.cell_type == "code")
