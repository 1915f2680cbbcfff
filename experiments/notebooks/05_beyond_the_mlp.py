# %% [markdown]
# # Lesson 5 — beyond the MLP
#
# The course's overview lesson: a multilayer perceptron written in NumPy, then the same network in
# jaxnn, then networks built from other layers — a convolutional network and a recurrent one on
# MNIST — and what each layer's backward pass is. Every backward here is derived by hand and
# checked against `jax.vjp`. Run top to bottom (Colab: *Runtime → Run all*; a GPU runtime trains
# the CNN much faster). `QUICK` (set by the tests) trains on a small subset for one epoch.
#
# Notation: `W^l` has shape `(n_l, n_{l−1})`, `z^l = W^l a^{l−1} + b^l`, `δ^l = ∂C/∂z^l`. The
# NumPy code keeps one example per *column* (as the course does); jaxnn keeps one per *row*, so its
# code reads `z = a W^T + b`.

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
import timeit
from statistics import median

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnn
from jaxnn import data, plots
from jaxnn import layers as L
from jaxnn.gradient_check import format_table

print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# ## The MLP in NumPy and in jaxnn, side by side
# The course's NumPy network: ReLU hidden layers, softmax output, cross-entropy, He-initialised
# weights, full-batch gradient descent. Its backward starts from `δ^L = A^L − Y` (softmax with
# cross-entropy) and walks back with `δ^l = (W^{l+1})^T δ^{l+1} ⊙ ReLU'(z^l)`:

# %%
def np_forward(X, params):                       # X: (n_0, m), one example per column
    A, cache = X, [(None, X)]
    for l, (W, b) in enumerate(params, start=1):
        Z = W @ A + b
        if l < len(params):
            A = np.maximum(0, Z)
        else:
            E = np.exp(Z - Z.max(axis=0, keepdims=True))      # stable softmax
            A = E / E.sum(axis=0, keepdims=True)
        cache.append((Z, A))
    return A, cache


def np_backward(Y, params, cache):               # the gradients of the batch-mean cross-entropy
    m = Y.shape[1]
    delta = cache[-1][1] - Y                     # δ^L = A^L − Y
    grads = []
    for l in range(len(params), 0, -1):
        A_prev = cache[l - 1][1]
        grads.append((delta @ A_prev.T / m, delta.sum(axis=1, keepdims=True) / m))
        if l > 1:
            delta = (params[l - 1][0].T @ delta) * (cache[l - 1][0] > 0)
    return grads[::-1]


F64, TOL = jaxnn.precision.exact()   # float64 for exact comparisons (a TPU: float32, said so)
train = data.load("mnist", "train", limit=1000 if QUICK else None)
test = data.load("mnist", "test")
print("data:", train.description)
sizes = [784, 128, 64, 10]
rng = np.random.default_rng(42)
np_params = [(rng.standard_normal((n, k)) * np.sqrt(2 / k), np.zeros((n, 1)))
             for k, n in zip(sizes[:-1], sizes[1:])]
X = np.asarray(train.x[:1000], F64).T      # (784, m)
Y = np.eye(10)[train.y[:1000]].T                  # one-hot, (10, m)
net = jaxnn.Network(sizes, hidden="relu", output="softmax", loss="cross_entropy")
params = [{"W": jnp.asarray(W), "b": jnp.asarray(b[:, 0])} for W, b in np_params]   # same numbers

np_grads = np_backward(Y, np_params, np_forward(X, np_params)[1])
_, jx_grads = jaxnn.value_and_grad(net, params, X.T, train.y[:1000])
err = max(max(float(np.max(np.abs(gW - g["W"]))), float(np.max(np.abs(gb[:, 0] - g["b"]))))
          for (gW, gb), g in zip(np_grads, jx_grads))
print(f"NumPy backward vs jaxnn.value_and_grad: max |Δ| = {err:.1e}")
assert err < TOL

# %% [markdown]
# Same numbers; what differs is how they run. NumPy runs each product on the CPU as the line
# comes; jaxnn compiles the whole step (`jax.jit`) for whatever device the runtime has. On a CPU
# both do the same products and take about as long; on a GPU or TPU runtime the compiled step runs
# on the accelerator. One full-batch gradient step on the 1,000 images above, in float32 (as
# training runs), on this runtime:

# %%
def np_step(X, Y, params, lr=0.01):
    grads = np_backward(Y, params, np_forward(X, params)[1])
    return [(W - lr * gW, b - lr * gb) for (W, b), (gW, gb) in zip(params, grads)]


@jax.jit
def jx_step(params, x, y, lr=0.01):
    _, g = jaxnn.value_and_grad(net, params, x, y)
    return jax.tree.map(lambda p, d: p - lr * d, params, g)


def ms(f, *args, repeats=5):
    """Median wall time of f(*args) in milliseconds, after one call that compiles it."""
    jax.block_until_ready(f(*args))
    return 1000 * median(timeit.repeat(lambda: jax.block_until_ready(f(*args)), number=1, repeat=repeats))


jaxnn.precision.for_training()   # float32, the default matmul precision
X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
np32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in np_params]
p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
x32, y32 = jnp.asarray(X32.T), jnp.asarray(train.y[:1000])
t_np = ms(np_step, X32, Y32, np32)
t_jx = ms(jx_step, p32, x32, y32)
print(f"one step: NumPy {t_np:.1f} ms (CPU), jaxnn {t_jx:.1f} ms ({jax.default_backend().upper()})")

# %% [markdown]
# ## A convolutional network on MNIST
# Convolutions see the image as an image: `Conv2D(32, 3×3) → ReLU → MaxPool 2 → Conv2D(64, 3×3) →
# ReLU → MaxPool 2 → Flatten → Dense(128) → ReLU → Dense(10) → softmax`, cross-entropy, Adam 10⁻³,
# batches of 64 — the same `fit` as the MLP, every layer with its hand-derived backward. The full
# setting (6 epochs on full MNIST) reaches about 99% test accuracy; `QUICK` trains one epoch on
# 1,000 images.

# %%
epochs = 1 if QUICK else 6
images = data.load("mnist", "train", flatten=False, limit=1000 if QUICK else None)
images_test = data.load("mnist", "test", flatten=False)
cnn = jaxnn.models.small_cnn((28, 28, 1))
cnn_params, hist = jaxnn.fit(cnn, jaxnn.init(jax.random.key(0), cnn), (images.x, images.y),
                             optimizer=optax.adam(1e-3), epochs=epochs, batch_size=64,
                             key=jax.random.key(1), eval_data=(images_test.x, images_test.y),
                             callbacks=[plots.live_curves(f"data: {images.description}")],
                             progress=False)
print(f"CNN: test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after {epochs} epoch(s), "
      f"{sum(hist['seconds']):.0f} s ({images.source})")

# %% [markdown]
# ## A recurrent network on MNIST
# A recurrent layer reads a sequence, carrying a state: `h_t = tanh(W_h h_{t−1} + W_x x_t + b)`.
# Here each image is a sequence of its 28 rows (28 pixels each); the last state goes to a softmax
# layer. `LSTM` adds gates that decide what the state keeps and forgets. Backpropagation through
# time walks the sequence backward, carrying `∂C/∂h_t`. (The full setting trains 8 epochs on full
# MNIST: about 95% for SimpleRNN, 98% for the LSTM.)

# %%
rows, rows_test = images.x.reshape(-1, 28, 28), images_test.x.reshape(-1, 28, 28)
for cell in (["rnn"] if QUICK else ["rnn", "lstm"]):
    rnn = jaxnn.models.row_rnn(cell)   # SimpleRNN(128) / LSTM(128) over the rows → Dense(10) softmax
    _, hist = jaxnn.fit(rnn, jaxnn.init(jax.random.key(0), rnn), (rows, images.y),
                        optimizer=optax.adam(1e-3), epochs=1 if QUICK else 8, batch_size=64,
                        key=jax.random.key(1), eval_data=(rows_test, images_test.y), progress=False)
    print(f"{type(rnn.layers[0]).__name__}(128): test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after "
          f"{len(hist['epoch'])} epoch(s), {sum(hist['seconds']):.0f} s")

# %% [markdown]
# ## What each layer's backward is
# A layer's backward receives `g = ∂C/∂y` for its output `y` and returns `∂C/∂x` for its input
# and `∂C/∂θ` for its parameters — BP2–BP4 for that layer:
#
# | layer | forward | backward |
# |---|---|---|
# | `Dense` | `z = W a + b` | `∂C/∂W = δ aᵀ`, `∂C/∂b = δ`, `∂C/∂a = Wᵀ δ` (BP4, BP3, BP2) |
# | `Activation` | `a = σ(z)` | `δ = g ⊙ σ'(z)` (softmax: its Jacobian) |
# | `Conv2D` | `Y = P K + b` on the patch matrix `P` | `∂C/∂K = Pᵀ δ`, `∂C/∂b = Σ δ`, `∂C/∂x = col2im(δ Kᵀ)` |
# | `MaxPool2D` | the maximum of each window | `g` goes to the window's maximum (ties share) |
# | `AvgPool2D` | the mean of each window | `g` spread evenly over the window |
# | `Flatten` | reshape | reshape back |
# | `SimpleRNN` | `h_t = tanh(W_h h_{t−1} + W_x x_t + b)` | reverse scan carrying `∂C/∂h_t`; `∂C/∂W` summed over `t` |
# | `LSTM` | gates; `c_t = f c_{t−1} + i g`, `h_t = o tanh(c_t)` | reverse scan carrying `∂C/∂h_t`, `∂C/∂c_t` |
#
# `jaxnn.check_layer` tests a layer's backward against `jax.vjp` and finite differences
# (relative errors, float64; ≲ 1e-10 against `jax.vjp` means exact up to rounding):

# %%
F64, TOL = jaxnn.precision.exact(verbose=False)
checks = {"Dense(5, relu)": (L.Dense(5, "relu"), (7,)),
          "Conv2D(3, 3×3, matmul)": (L.Conv2D(3, 3, algorithm="matmul"), (6, 6, 2)),
          "MaxPool2D(2)": (L.MaxPool2D(2), (6, 6, 2)),
          "SimpleRNN(4)": (L.SimpleRNN(4), (5, 3)),
          "LSTM(4)": (L.LSTM(4), (5, 3))}
for name, (layer, shape) in checks.items():
    rows_ = jaxnn.check_layer(layer, shape, dtype=F64, max_entries=4)
    print(f"{name}: worst error vs jax.vjp {max(r.vs_autodiff for r in rows_):.1e}")
    assert max(r.vs_autodiff for r in rows_) < 100 * TOL
print(f"{name} in detail:")
print(format_table(rows_))
