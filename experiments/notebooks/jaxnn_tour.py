# %% [markdown]
# # jaxnn: backpropagation by hand, proven equal to `jax.grad`, trained fast
#
# Run top to bottom (Colab: *Runtime → Run all*). `QUICK` (set by the tests) shortens the MNIST
# training; the seven lessons go through each part step by step (`01_…` to `07_…`, the last one
# backward passes of your own to write).

# %% tags=["install"]
# Install jaxnn: its distribution is "jaxnn-backprop" ("jaxnn" on PyPI is another project). Run
# locally, the checkout this notebook lives in is installed. On Colab, upload the wheel
# (jaxnn_backprop-*.whl) beside the notebook or into /content and it is found, or set
# JAXNN_SOURCE to the repository's git URL (a fork works the same way). jax, jaxlib and numpy are
# never reinstalled or upgraded.
import glob
import importlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile

JAXNN_SOURCE = os.environ.get("JAXNN_SOURCE", "")   # or e.g. "git+https://github.com/<you>/jaxnn.git"


def install_jaxnn(source=JAXNN_SOURCE):
    """Install this course's jaxnn unless it is importable; one sentence if that cannot be done."""
    out = ("run !pip uninstall -y jaxnn jaxnn-backprop (both: they share the folder 'jaxnn'), "
           "restart the runtime, run this cell again.")
    try:
        importlib.metadata.distribution("jaxnn")       # PyPI's project, even one that fails to import
        raise SystemExit(f"The jaxnn installed here is another project (PyPI's 'jaxnn'): {out}")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        import jaxnn
    except ImportError:
        pass
    else:
        if getattr(jaxnn, "__jaxnn_course__", False):
            return
        if getattr(jaxnn, "__file__", None) is None:   # a folder without __init__.py: leftovers
            raise SystemExit(f"A broken jaxnn (files left in {list(jaxnn.__path__)[0]} by an "
                             f"uninstall) is in the way: {out}")
        raise SystemExit(f"The jaxnn installed here is another project (PyPI's 'jaxnn'), not this "
                         f"course's: {out}")
    checkout = os.path.abspath(os.path.join(os.getcwd(), "..", ".."))
    project = os.path.join(checkout, "pyproject.toml")
    wheels = sorted(glob.glob("jaxnn_backprop*.whl") + glob.glob("/content/jaxnn_backprop*.whl"))
    if not source and os.path.exists(project) and 'name = "jaxnn-backprop"' in open(project).read():
        source = checkout
    source = source or (wheels[-1] if wheels else "")
    wheel = re.sub(r"\s*\(\d+\)(?=\.whl$)", "", os.path.basename(source))   # a browser's "… (1).whl"
    if source.endswith(".whl") and wheel != os.path.basename(source) and os.path.isfile(source):
        source = shutil.copy(source, os.path.join(tempfile.mkdtemp(), wheel))   # pip wants the real name
    if not source:
        raise SystemExit("jaxnn is not installed: upload jaxnn_backprop-*.whl next to this notebook "
                         "(Colab: into /content) or set JAXNN_SOURCE to the repository's git URL.")
    pins = []
    for name in ("jax", "jaxlib", "numpy"):            # keep the runtime's own versions
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pinned:
        pinned.write("\n".join(pins))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", source, "-c", pinned.name],
                          capture_output=True, text=True)
    if done.returncode:
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in done.stderr.splitlines()]
        lines = [line for line in lines if line and not line.startswith("[notice]")] or ["pip failed"]
        why = next((line for line in lines if line.startswith("ERROR")), lines[-1])   # pip's reason
        raise SystemExit(f"Could not install jaxnn from {source!r} ({why}); set JAXNN_SOURCE to a "
                         "git URL or a wheel's path that exists.")
    importlib.invalidate_caches()


install_jaxnn()
QUICK = os.environ.get("JAXNN_NOTEBOOK_QUICK", "0") == "1"

# %%
# Runtime check: which devices does JAX see?
import jax
import jax.numpy as jnp

import jaxnn

print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# ## The course's worked example
# 2 inputs, 2 hidden (sigmoid reading), 2 outputs, the lesson's weights; every partial derivative
# from the hand-derived backward (BP1–BP4) beside `jax.grad`, and the updated weights (η = 0.5).

# %%
from jaxnn import data

F64, TOL = jaxnn.precision.exact()   # float64 for exact comparisons (a TPU: float32, said so)
ex = data.worked_example()
net = jaxnn.Network([2, 2, 2], hidden="sigmoid", output="sigmoid", loss="quadratic")
params = jax.tree.map(jnp.asarray, ex["params"])
value, hand = jaxnn.value_and_grad(net, params, ex["x"], ex["y"])
auto = jax.grad(jaxnn.loss, argnums=1)(net, params, ex["x"], ex["y"])
print(f"E_total = {value:.6f}")
names = iter(["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"])
for l in range(2):
    for h, a, w in zip(hand[l]["W"].ravel(), auto[l]["W"].ravel(), params[l]["W"].ravel()):
        print(f"{next(names)}: hand {h:+.9f}  jax.grad {a:+.9f}  updated {w - 0.5 * h:.6f}")

# %% [markdown]
# ## Gradient check: hand vs `jax.grad` vs finite differences (float64)

# %%
from jaxnn.gradient_check import format_table

net = jaxnn.Network([64, 32, 10], hidden="relu", output="softmax", loss="cross_entropy")
params = jaxnn.init(jax.random.key(0), net, "he", dtype=F64)
x = jax.random.uniform(jax.random.key(1), (16, 64), F64)
y = jnp.arange(16) % 10
print(format_table(jaxnn.gradcheck(net, params, x, y)))
jaxnn.precision.for_training()   # float32, the default matmul precision
# ## MNIST with live curves
# Uses tfds MNIST where it is prepared (Colab), otherwise IDX files in `$JAXNN_DATA_DIR`, otherwise
# the shipped 5,000-digit subset (the printed line says which).

# %%
import optax

from jaxnn import plots

train, test = data.load("mnist", "train"), data.load("mnist", "test")
print("data:", train.description)
net = jaxnn.Network([784, 128, 64, 10], hidden="relu", output="softmax", loss="cross_entropy")
params = jaxnn.init(jax.random.key(0), net, "he")
params, history = jaxnn.fit(net, params, (train.x, train.y), optimizer=optax.adam(1e-3),
                            epochs=2 if QUICK else 10, batch_size=64, key=jax.random.key(1),
                            eval_data=(test.x, test.y),
                            callbacks=[plots.live_curves(f"data: {train.description}")],
                            progress=False)
print(f"test accuracy: {100 * history['eval_accuracy'][-1]:.2f}% ({train.source})")
