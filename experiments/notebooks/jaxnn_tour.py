# %% [markdown]
# # jaxnn: backpropagation by hand, proven equal to `jax.grad`, trained fast
#
# Run top to bottom (Colab: *Runtime → Run all*). `QUICK` (set by the tests) shortens the MNIST
# training; the lessons go through each part step by step (`01_…` to `05_…`).

# %%
# Install jaxnn. Locally the checkout this notebook lives in is installed. On Colab set
# JAXNN_SOURCE to your copy of the repository: a git URL (your fork works the same way) or the
# path of a wheel you uploaded (e.g. "/content/jaxnn-0.1.0-py3-none-any.whl").
import importlib.util
import os
import subprocess
import sys

JAXNN_SOURCE = "git+https://github.com/<your-account>/jaxnn.git"   # <- edit this line on Colab
if importlib.util.find_spec("jaxnn") is None:
    checkout = os.path.abspath(os.path.join("..", ".."))
    local = os.path.exists(os.path.join(checkout, "pyproject.toml"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", checkout if local else JAXNN_SOURCE],
                   check=True)
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

jax.config.update("jax_enable_x64", True)
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
params = jaxnn.init(jax.random.key(0), net, "he", dtype=jnp.float64)
x = jax.random.uniform(jax.random.key(1), (16, 64), jnp.float64)
y = jnp.arange(16) % 10
print(format_table(jaxnn.gradcheck(net, params, x, y)))
jax.config.update("jax_enable_x64", False)

# %% [markdown]
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
                            eval_data=(test.x, test.y), callbacks=[plots.live_curves()],
                            progress=False)
print(f"test accuracy: {100 * history['eval_accuracy'][-1]:.2f}% ({train.source})")
