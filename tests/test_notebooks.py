"""Every notebook runs top to bottom (quick setting), so they never rot; each notebook is generated
from its jupytext source (``name.py`` beside it) and must agree with it."""

import os
import subprocess
import sys
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
        "SelfAttention(heads=4, causal=True, block=64): worst error vs jax.vjp", "a whole block",
        "GPT: 117,479 parameters", "LSTM: 118,695 parameters", "generated: The return value of ",
        "attention weights: 4 heads over 64 characters; each row sums to 1.000"],
    "07_your_turn.ipynb": [
        "grading in float64", "sigmoid: not yet", "jax.grad through your backward vs autodiff: max |Δ|",
        "with the backward doubled, jax.grad doubles too: True",
        "nothing returned yet: write sigmoid_backward(z, a, g)",
        "attention: not yet", "dropout: not yet", "batchnorm: not yet", "groupnorm: not yet",
        "lstm: not yet", "makemore: not yet",
        "solutions: 23 of 23 exercises pass"],
}


NO_X64 = {   # with float64 refused (as on a TPU): what each notebook must print instead
    name: ["devices:", "float64 is not native on this backend (cpu, simulated)"]
    for name in ("01_neuron_and_gradient_descent.ipynb", "02_backpropagation.ipynb",
                 "03_building_a_network.ipynb", "05_beyond_the_mlp.ipynb", "06_attention.ipynb")}
NO_X64["07_your_turn.ipynb"] = ["grading in float32", "solutions: 23 of 23 exercises pass"]
# (jaxnn_tour runs with float64 refused in the wheel test below; 04 uses no float64)


def what_differs_without_float64(cells):
    """The cells whose work depends on float64: everything but the float32 training, from the cell
    that calls ``precision.for_training()`` to the next that calls ``precision.exact(``, which
    does the same in both runs (the float64 run has run it; its results stay in the kernel)."""
    kept, training = [], False
    for cell in cells:
        exact, train = "precision.exact(" in cell.source, "precision.for_training()" in cell.source
        if exact or not (training or train):
            kept.append(cell)
        training = train or (training and not exact)
    return kept


def test_the_float64_refused_runs_skip_only_the_float32_training():
    cells = [nbformat.v4.new_code_cell(s) for s in (
        "F64, TOL = jaxnn.precision.exact()", "check(F64)", "jaxnn.precision.for_training()",
        "train()", "F64, TOL = jaxnn.precision.exact(verbose=False)", "check(F64)",
        "jaxnn.precision.for_training(); train()", "plot()")]
    assert [c.source for c in what_differs_without_float64(cells)] == [
        c.source for c in cells[:2] + cells[4:6]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    """Top to bottom as on a CPU or GPU; then, in the same kernel (its compiled programs reused),
    again with float64 refused as on a TPU: the cells that differ there."""
    monkeypatch.setenv("JAXNN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("JAXNN_REFUSE_X64", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("XLA_FLAGS", os.environ["JAXNN_TEST_XLA_FLAGS"])   # one device, as a user has
    nb = nbformat.read(path, as_version=4)
    refused = [nbformat.v4.new_code_cell('import os; os.environ["JAXNN_REFUSE_X64"] = "1"'),
               *what_differs_without_float64(nbformat.read(path, as_version=4).cells)]
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for runs, cells in ((EXPECTED, nb.cells), (NO_X64, refused)):
            if path.name not in runs:
                continue
            nb.cells = cells                                 # the notebook the kernel runs now
            for index, cell in enumerate(cells):
                client.execute_cell(cell, index)
            outputs = "".join(o.get("text", "") for c in cells if c.cell_type == "code"
                              for o in c.get("outputs", []))
            for text in runs[path.name]:
                assert text in outputs, (text, outputs[-3000:])


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_notebook_is_generated_from_its_source(source):
    """Regenerate with: jupytext --to ipynb experiments/notebooks/name.py"""
    want = jupytext.read(source)
    have = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in have.cells] == [(c.cell_type, c.source)
                                                             for c in want.cells]
    assert all(not c.get("outputs") for c in have.cells if c.cell_type == "code")


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_the_docs_show_each_notebook_executed_with_its_cells(source):
    """Regenerate with: python experiments/report.py --notebooks NAME"""
    executed = HERE.parents[1] / "docs" / "notebooks" / source.with_suffix(".ipynb").name
    want = jupytext.read(source)
    have = nbformat.read(executed, as_version=4)
    assert [(c.cell_type, c.source) for c in have.cells] == [(c.cell_type, c.source)
                                                             for c in want.cells]
    assert all(c.get("execution_count") for c in have.cells if c.cell_type == "code")


INSTALL_CELL = (HERE / "install_cell.txt").read_text()


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_every_notebook_installs_itself_with_the_same_cell(source):
    """Edit install_cell.txt, then copy it into every notebook's first code cell."""
    first = next(c for c in jupytext.read(source).cells if c.cell_type == "code")
    assert first.source == INSTALL_CELL.rstrip("\n")


def _run_install_cell(tmp_path, *flags, env=None, pythonpath=None):
    """The install cell as a script in ``tmp_path`` (a folder outside the repository)."""
    script = tmp_path / "cell.py"
    script.write_text(INSTALL_CELL)
    environ = {k: v for k, v in os.environ.items() if k not in ("JAXNN_SOURCE", "PYTHONPATH")}
    environ.update(env or {}, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {}))
    return subprocess.run([sys.executable, *flags, str(script)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_install_cell_names_a_foreign_jaxnn_in_one_sentence(tmp_path):
    (tmp_path / "other" / "jaxnn").mkdir(parents=True)
    (tmp_path / "other" / "jaxnn" / "__init__.py").write_text('"""Foundation models in JAX/Flax"""')
    done = _run_install_cell(tmp_path, pythonpath=tmp_path / "other")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "another project (PyPI's 'jaxnn')" in done.stderr and "pip uninstall -y jaxnn" in done.stderr


def test_install_cell_knows_pypis_jaxnn_by_its_metadata_and_leftovers_by_their_folder(tmp_path):
    """PyPI's jaxnn that fails to import is not installed over; an uninstall's leftovers (a folder
    without __init__.py) are named; the advice removes both distributions, which ends the loop."""
    broken = tmp_path / "broken"
    (broken / "jaxnn-9.9.dist-info").mkdir(parents=True)
    (broken / "jaxnn-9.9.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: jaxnn\n"
                                                             "Version: 9.9\n")
    (broken / "jaxnn").mkdir()
    (broken / "jaxnn" / "__init__.py").write_text("import flax  # not installed here\n")
    done = _run_install_cell(tmp_path, "-S", pythonpath=broken)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "another project (PyPI's 'jaxnn')" in done.stderr
    assert "pip uninstall -y jaxnn jaxnn-backprop" in done.stderr
    (tmp_path / "left" / "jaxnn").mkdir(parents=True)
    done = _run_install_cell(tmp_path, "-S", pythonpath=tmp_path / "left")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"files left in {tmp_path / 'left' / 'jaxnn'}" in done.stderr
    assert "pip uninstall -y jaxnn jaxnn-backprop" in done.stderr


def test_install_cell_without_a_source_or_with_a_bad_one_says_what_to_set(tmp_path):
    # -S: no site-packages, so jaxnn is not importable (as on a fresh runtime)
    done = _run_install_cell(tmp_path, "-S")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "jaxnn is not installed: upload jaxnn_backprop-*.whl" in done.stderr
    done = _run_install_cell(tmp_path, "-S", env={"JAXNN_SOURCE": str(tmp_path / "missing.whl")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"Could not install jaxnn from '{tmp_path / 'missing.whl'}'" in done.stderr


def _fake_pip(folder, stderr: str, code: int):
    """A ``pip`` package for ``python -m pip`` that records its arguments and fails as told."""
    (folder / "pip").mkdir(parents=True)
    (folder / "pip" / "__init__.py").write_text("")
    (folder / "pip" / "__main__.py").write_text(
        f"import sys\nopen({str(folder / 'args.txt')!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
        f"sys.stderr.write({stderr!r})\nsys.exit({code})\n")


def test_install_cell_shows_pips_reason_without_notices_or_colour_codes(tmp_path):
    _fake_pip(tmp_path / "fake", "\x1b[31mERROR: No matching distribution found for jax>=9\x1b[0m\n\n"
              "\x1b[1m[notice]\x1b[0m A new release of pip is available: 24.0 -> 25.1\n"
              "[notice] To update, run: pip install --upgrade pip\n", 1)
    done = _run_install_cell(tmp_path, "-S", env={"JAXNN_SOURCE": "jaxnn_backprop-0.1.0-py3-none-any.whl"},
                             pythonpath=tmp_path / "fake")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "(ERROR: No matching distribution found for jax>=9)" in done.stderr, done.stderr
    assert "notice" not in done.stderr and "\x1b" not in done.stderr


def test_install_cell_takes_a_wheel_the_browser_renamed(tmp_path):
    _fake_pip(tmp_path / "fake", "", 0)
    (tmp_path / "jaxnn_backprop-0.1.0-py3-none-any (1).whl").write_bytes(b"a wheel")
    done = _run_install_cell(tmp_path, "-S", pythonpath=tmp_path / "fake")
    assert done.returncode == 0, done.stderr
    installed = (tmp_path / "fake" / "args.txt").read_text().splitlines()[2]   # install -q WHEEL
    assert installed.endswith("/jaxnn_backprop-0.1.0-py3-none-any.whl")
    assert open(installed, "rb").read() == b"a wheel"


def test_a_notebook_copied_out_of_the_repository_installs_the_built_wheel_and_runs(tmp_path):
    """What a Colab user does: the CI-built wheel uploaded beside one notebook, in a fresh
    environment without jaxnn (here: a new venv that sees this one's packages but not its jaxnn),
    on a runtime without float64 (a TPU's, simulated)."""
    repo = HERE.parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(repo)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("jaxnn_backprop-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    site = next(p for p in sys.path if p.endswith("site-packages"))    # jax, nbclient, ... not jaxnn:
    next(venv.glob("lib/python*/site-packages")).joinpath("shared.pth").write_text(site + "\n")
    folder = tmp_path / "content"                                      # no checkout two folders up
    folder.mkdir()
    (folder / wheel.name).write_bytes(wheel.read_bytes())
    (folder / "jaxnn_tour.ipynb").write_bytes((HERE / "jaxnn_tour.ipynb").read_bytes())
    env = {**{k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PYTHONPATH", "JAXNN_SOURCE")},
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "JAXNN_NOTEBOOK_QUICK": "1",
           "MPLBACKEND": "Agg", "VIRTUAL_ENV": str(venv), "JAXNN_REFUSE_X64": "1",   # and "a TPU"
           "XLA_FLAGS": os.environ["JAXNN_TEST_XLA_FLAGS"]}
    run = ("import nbformat, nbclient; nb = nbformat.read('jaxnn_tour.ipynb', as_version=4); "
           "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute(); "
           "print(''.join(o.get('text', '') for c in nb.cells for o in c.get('outputs', [])))")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", run], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for text in [*EXPECTED["jaxnn_tour.ipynb"], "float64 is not native on this backend"]:
        assert text in done.stdout, (text, done.stdout[-2000:])
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import jaxnn; print(jaxnn.__file__)"],
                           capture_output=True, text=True, env=env, cwd=folder).stdout
    assert where.startswith(str(venv)), where                         # the wheel, not the checkout
