# %% [markdown]
# # Lesson 1 — the neuron and gradient descent
#
# The course's first lesson, every number computed live by jaxnn: one neuron, activation functions
# and their derivatives, the difference quotient (and where it fails), gradient descent in one and
# two dimensions, why XOR needs a hidden layer, and the worked backpropagation example, drawn.
# Run top to bottom (Colab: *Runtime → Run all*). `QUICK` (set by the tests) shortens the slow
# cells.

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
from jaxnn import activations, data, plots

F64, TOL = jaxnn.precision.exact()   # float64 for exact comparisons (a TPU: float32, said so)
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# ## One neuron
# A neuron weighs its inputs, adds a bias and applies an activation: `z = w·x + b`, `a = σ(z)`.

# %%
w, b = jnp.array([0.5, -1.0, 2.0]), 0.1
x = jnp.array([1.0, 0.5, 0.25])
z = w @ x + b
for name in ("sigmoid", "tanh", "relu"):
    print(f"z = {float(z):.3f}   {name}(z) = {float(activations.get(name).fn(z)):.6f}")

# %% [markdown]
# ## Activation functions and their derivatives
# jaxnn's backward uses each activation's derivative written out (`deriv`); here it is plotted
# beside the function and compared with `jax.grad`.

# %%
names = ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu"]
zs = jnp.linspace(-4, 4, 401)
fig, axes = plt.subplots(2, 3, figsize=(12, 6))
for ax, name in zip(axes.ravel(), names):
    act = activations.get(name)
    a = act.fn(zs)
    d = act.deriv(zs, a)
    auto = jax.jit(jax.vmap(jax.grad(act.fn)))(zs)
    ax.plot(zs, a, label="σ(z)")
    ax.plot(zs, d, "--", label="σ'(z)")
    ax.set_title(f"{name}: max |σ' − jax.grad| = {float(jnp.max(jnp.abs(d - auto))):.1e}")
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The difference quotient
# The course approximates a derivative by `(f(x + h) − f(x)) / h`. Its error first shrinks with
# `h` (truncation), then grows again (rounding); the central quotient `(f(x+h) − f(x−h)) / 2h` is
# more accurate. At a kink it means nothing: ReLU at 0 has no derivative, the quotients give 1,
# 0 or ½, and jaxnn uses 0.

# %%
sig = activations.get("sigmoid")
x0 = 0.3
exact = float(sig.deriv(jnp.array(x0), sig.fn(jnp.array(x0))))
print(f"sigmoid'({x0}) = {exact:.12f}")
print(f"{'h':>8} {'forward error':>14} {'central error':>14}")
for h in [10.0 ** -k for k in range(1, 11)]:
    fwd = (sig.fn(x0 + h) - sig.fn(x0)) / h
    cen = (sig.fn(x0 + h) - sig.fn(x0 - h)) / (2 * h)
    print(f"{h:>8.0e} {abs(float(fwd) - exact):>14.2e} {abs(float(cen) - exact):>14.2e}")
relu = activations.get("relu").fn
h = 1e-4
print(f"ReLU at 0: forward {float((relu(h) - relu(0.0)) / h):.1f}, backward "
      f"{float((relu(0.0) - relu(-h)) / h):.1f}, central {float((relu(h) - relu(-h)) / (2 * h)):.1f}"
      f", jaxnn uses {float(activations.get('relu').deriv(jnp.array(0.0), relu(0.0))):.1f}")

# %% [markdown]
# ## Gradient descent
# Step against the gradient: `x ← x − η f'(x)`. In 1-D on `f(x) = (x − 2)² + 1`, then in 2-D on
# the elongated bowl `f(x, y) = x² + 10 y²`, where a too large `η` zig-zags across the valley.

# %%
def descend(f, start, eta, steps):
    grad = jax.jit(jax.grad(f))
    path = [jnp.asarray(start, F64)]
    for _ in range(steps):
        path.append(path[-1] - eta * grad(path[-1]))
    return jnp.stack(path)


f1 = lambda x: (x - 2.0) ** 2 + 1.0           # noqa: E731
f2 = lambda p: p[0] ** 2 + 10.0 * p[1] ** 2   # noqa: E731
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
xs = jnp.linspace(-1, 5, 200)
ax1.plot(xs, f1(xs), color="0.5")
for eta in (0.1, 0.45, 0.9):
    p = descend(f1, -0.5, eta, 12)
    ax1.plot(p, f1(p), "o-", ms=3, label=f"η = {eta}: x = {float(p[-1]):.4f} after 12 steps")
ax1.set(title="1-D: f(x) = (x − 2)² + 1", xlabel="x")
ax1.legend(fontsize=8)
gx, gy = jnp.meshgrid(jnp.linspace(-3, 3, 100), jnp.linspace(-1.5, 1.5, 100))
ax2.contour(gx, gy, gx ** 2 + 10 * gy ** 2, levels=20, colors="0.8")
for eta in (0.02, 0.09):
    p = descend(f2, [-2.5, 1.2], eta, 30)
    ax2.plot(p[:, 0], p[:, 1], "o-", ms=3,
             label=f"η = {eta}: f = {float(f2(p[-1])):.2e} after 30 steps")
ax2.set(title="2-D: f(x, y) = x² + 10 y²", xlabel="x", ylabel="y")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## XOR: one neuron cannot, a hidden layer can
# A single neuron draws one straight line through the plane; XOR's classes cannot be split by one
# line. With two hidden neurons the network bends the boundary. Full-batch gradient descent with
# jaxnn's hand-derived gradients, from several random starts (some get stuck).

# %%
x_xor, y_xor = data.xor()


def train_xor(net, key, steps=1500 if QUICK else 4000, lr=2.0):
    params = jaxnn.init(key, net, "uniform" if net.depth > 1 else "normal")
    params = [{"W": 4 * p["W"], "b": p["b"]} for p in params]   # wide start: breaks symmetry
    params = jaxnn.gradient_descent(net, params, x_xor, y_xor, lr=lr, steps=steps)  # W ← W − η ∂C/∂W
    return params, jnp.mean(jaxnn.predict(net, params, x_xor) == y_xor[:, 0])


gx, gy = jnp.meshgrid(jnp.linspace(-0.5, 1.5, 120), jnp.linspace(-0.5, 1.5, 120))
grid = jnp.stack([gx.ravel(), gy.ravel()], axis=1)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
keys = jax.random.split(jax.random.key(0), 4 if QUICK else 10)
for ax, sizes in zip(axes, ([2, 1], [2, 2, 1])):
    net = jaxnn.Network(sizes, hidden="sigmoid", output="sigmoid", loss="binary_cross_entropy")
    runs, acc = jax.jit(jax.vmap(lambda k, net=net: train_xor(net, k)))(keys)  # every start at once
    best = int(jnp.argmax(acc))
    params = jax.tree.map(lambda a, best=best: a[best], runs)
    out, _ = jaxnn.forward(net, params, grid)
    ax.contourf(gx, gy, out[:, 0].reshape(gx.shape), levels=20, cmap="RdBu_r", alpha=0.6)
    ax.scatter(x_xor[:, 0], x_xor[:, 1], c=y_xor[:, 0], cmap="RdBu_r", edgecolors="k", s=120)
    solved = int(jnp.sum(acc == 1.0))
    ax.set_title(f"{sizes}: best {100 * float(acc[best]):.0f}%, solved from {solved}/{len(keys)} starts")
    print(f"XOR {sizes}: best accuracy {100 * float(acc[best]):.0f}% ({solved}/{len(keys)} starts "
          "solve it)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The worked example
# Two inputs, two hidden neurons, two outputs, the course's weights `w1…w8` and biases, inputs
# 0.85/0.5, targets 0.01/0.99, cost `E = ½ Σ (y − a)²`, learning rate η = 0.5. The course calls
# the hidden layer linear but uses the sigmoid's derivative for it; both consistent readings are
# computed. Every partial derivative comes from jaxnn's hand-derived backward (BP1–BP4) and is
# checked against `jax.grad`.

# %%
ex = data.worked_example()
params = jax.tree.map(jnp.asarray, ex["params"])
for reading, hidden in (("linear", "identity"), ("sigmoid", "sigmoid")):
    net = jaxnn.Network([2, 2, 2], hidden=hidden, output="sigmoid", loss="quadratic")
    value, hand = jax.jit(jaxnn.value_and_grad, static_argnums=0)(net, params, ex["x"], ex["y"])
    auto = jax.jit(jax.grad(jaxnn.loss, argnums=1), static_argnums=0)(net, params, ex["x"], ex["y"])
    out, cache = jaxnn.forward(net, params, jnp.asarray(ex["x"]))
    print(f"\n{reading} hidden layer: hidden a = {np.round(np.asarray(cache.layers[0].a[0]), 6)}, "
          f"output a = {np.round(np.asarray(out[0]), 6)}, E = {float(value):.6f}")
    print(f"{'':>4} {'∂E/∂w (hand)':>14} {'jax.grad':>12} {'updated w':>10}")
    for i, (h, a, p) in enumerate(zip(jnp.concatenate([hand[0]["W"].ravel(), hand[1]["W"].ravel()]),
                                      jnp.concatenate([auto[0]["W"].ravel(), auto[1]["W"].ravel()]),
                                      jnp.concatenate([params[0]["W"].ravel(),
                                                       params[1]["W"].ravel()])), start=1):
        print(f"w{i:<3} {float(h):>14.9f} {float(a):>12.9f} {float(p - ex['learning_rate'] * h):>10.6f}")

# %% [markdown]
# The network drawn with its forward values and, on every edge, the weight and `∂E/∂w` (linear
# reading; `∂E/∂w5 = 0.15596` is the course's number):

# %%
net = jaxnn.Network([2, 2, 2], hidden="identity", output="sigmoid", loss="quadratic")
fig = plots.network_diagram(net, params, ex["x"], ex["y"], show="both")
plt.show()
