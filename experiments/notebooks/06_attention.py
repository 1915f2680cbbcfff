# %% [markdown]
# # Lesson 6 — attention, from one head to a small GPT
#
# A transformer is built from layers we can derive by hand like every other: embeddings, layer
# normalisation, self-attention, and the dense layers we already know, with residual connections
# `x + f(x)` around them. This lesson derives attention's backward pass equation by equation,
# checks each against `jax.vjp`, then trains a small GPT on characters and looks inside it.
# Run top to bottom (Colab: *Runtime → Run all*). `QUICK` (set by the tests) trains for seconds.
#
# Notation: a sequence is a matrix `X` of shape `(T, d)`, one row per position. One head computes
# `Q = X W_qᵀ`, `K = X W_kᵀ`, `V = X W_vᵀ`, the scores `S = Q Kᵀ / √d`, the attention weights
# `P = softmax(S)` row by row (causal: position `t` sees positions `≤ t` only), and `O = P V`.

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
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnn
from jaxnn import layers as L
from jaxnn import plots
from jaxnn.data import text
from jaxnn.gradient_check import format_table

F64, TOL = jaxnn.precision.exact()   # float64 for exact comparisons (a TPU: float32, said so)
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# ## One head, forward
# Six positions, four features. The causal mask puts `−∞` above the diagonal before the softmax,
# so those weights are exactly 0.

# %%
T, d = 6, 4
kx, kq, kk, kv = jax.random.split(jax.random.key(0), 4)
X = jax.random.normal(kx, (T, d), F64)
Wq, Wk, Wv = (jax.random.normal(k, (d, d), F64) / 2 for k in (kq, kk, kv))
causal = jnp.tril(jnp.ones((T, T), bool))


def head(X, Wq, Wk, Wv):
    Q, K, V = X @ Wq.T, X @ Wk.T, X @ Wv.T
    S = jnp.where(causal, Q @ K.T / math.sqrt(d), -jnp.inf)
    P = jax.nn.softmax(S, axis=-1)
    return Q, K, V, P, P @ V


Q, K, V, P, O = head(X, Wq, Wk, Wv)
print("attention weights P (row t: how much position t reads from each position):")
print(np.round(np.asarray(P), 3))

# %% [markdown]
# ## One head, backward — each equation against `jax.vjp`
# Given `dO = ∂C/∂O`:
#
# - `dV = Pᵀ dO` (O = P V is a matrix product: BP4's shape),
# - `dP = dO Vᵀ`,
# - `dS = P ⊙ (dP − rowsum(dP ⊙ P))` (the softmax's Jacobian, row by row),
# - `dQ = dS K / √d`, `dK = dSᵀ Q / √d`,
# - then `dW_q = dQᵀ X`, and `dX = dQ W_q + dK W_k + dV W_v` (three paths from `X`).

# %%
dO = jax.random.normal(jax.random.key(1), (T, d), F64)
dV = P.T @ dO
dP = dO @ V.T
dS = P * (dP - (dP * P).sum(axis=1, keepdims=True))
dQ, dK = dS @ K / math.sqrt(d), dS.T @ Q / math.sqrt(d)
dX = dQ @ Wq + dK @ Wk + dV @ Wv

_, vjp = jax.vjp(lambda X, Wq, Wk, Wv: head(X, Wq, Wk, Wv)[-1], X, Wq, Wk, Wv)
aX, aWq, aWk, aWv = vjp(dO)
for name, hand, auto in [("dX", dX, aX), ("dW_q", dQ.T @ X, aWq), ("dW_k", dK.T @ X, aWk),
                         ("dW_v", dV.T @ X, aWv)]:
    err = float(jnp.max(jnp.abs(hand - auto)))
    print(f"{name:5s} max |hand − jax.vjp| = {err:.1e}")
    assert err < TOL

# %% [markdown]
# ## Many heads, and the other layers
# `jaxnn.layers.SelfAttention(heads)` runs the heads side by side (the `d` features split into
# `heads` groups, a fifth projection `W_o` after them) and keeps no `P`: its backward recomputes
# `P` from `Q`, `K` and each row's log-sum-exp. `LayerNorm` and `Embedding` have their backward
# written out too (`jaxnn/layers/attention.py`). `check_layer` compares each with `jax.vjp` and
# finite differences:

# %%
for layer, shape, x in [(L.SelfAttention(heads=4), (16, 8), None), (L.LayerNorm(), (16, 8), None),
                        (L.Embedding(10, 8, context=16), (16,),
                         jax.random.randint(jax.random.key(2), (3, 16), 0, 10))]:
    rows = jaxnn.check_layer(layer, shape, dtype=F64, x=x)
    print(f"{layer}: worst error vs jax.vjp {max(r.vs_autodiff for r in rows):.1e}")
    assert max(r.vs_autodiff for r in rows) < 100 * TOL
block = L.Residual(L.Sequential([L.LayerNorm(), L.SelfAttention(heads=2)]))
print("a whole block, x + attention(LayerNorm(x)):")
print(format_table(jaxnn.check_layer(block, (5, 8), dtype=F64)))

# %% [markdown]
# ## A small GPT on characters
# `jaxnn.models.gpt` stacks token and position embeddings, `depth` blocks of `x + attn(LN(x))` and
# `x + mlp(LN(x))`, a last LayerNorm and a softmax over the characters; the cost is the
# cross-entropy of the next character at every position. The text is Python's own reference
# documentation, which ships with Python. Batches are random windows drawn inside the compiled
# loop. An LSTM of about the same size gets the same training time.

# %%
jaxnn.precision.for_training()   # float32, the default matmul precision
corpus, description = text.load_text()
vocab = text.Vocab.of(corpus)
train, val = text.split(vocab.encode(corpus), 64)
print("data:", description, f"| {len(vocab.chars)} distinct characters")
starts = np.random.default_rng(0).integers(0, len(val) - 64, 128)
val_x = np.stack([val[s:s + 64] for s in starts])
val_y = np.stack([val[s + 1:s + 65] for s in starts])
seconds = 1 if QUICK else 90
models = {"GPT": jaxnn.models.gpt(len(vocab.chars), 64, dim=64, heads=4, depth=2),
          "LSTM": jaxnn.models.char_lstm(len(vocab.chars), 64)}   # Embedding → LSTM(128) → Dense
trained, curves = {}, {}
for name, model in models.items():
    params = jaxnn.init(jax.random.key(0), model)
    opt = optax.adamw(3e-3)
    state, run = opt.init(params), jaxnn.epoch.make_stream_steps(model, opt, batch_size=32,
                                                                 steps=5 if QUICK else 25)
    jax.block_until_ready(run(params, state, jax.random.key(1), jnp.asarray(train)))   # compile
    spent, curves[name] = 0.0, []
    while spent < seconds:
        t0 = time.perf_counter()
        params, state, _ = run(params, state, jax.random.key(len(curves[name]) + 2), jnp.asarray(train))
        jax.block_until_ready(params)
        spent += time.perf_counter() - t0
        curves[name].append((spent, float(jaxnn.loss(model, params, val_x, val_y))))
    trained[name] = params
    n = sum(a.size for a in jax.tree.leaves(params))
    print(f"{name}: {n:,} parameters, validation loss after {spent:.0f} s: {curves[name][-1][1]:.3f} "
          f"nats/char ({curves[name][-1][1] / math.log(2):.2f} bits)")

fig, ax = plots.subplots(figsize=(6, 3.5))
for name, c in curves.items():
    ax.plot(*zip(*c), label=name)
ax.set(xlabel="training seconds", ylabel="validation loss (nats/char)")
ax.legend()
ax.grid(alpha=0.3)

# %% [markdown]
# ## What the GPT writes
# `jaxnn.generate` samples one character at a time from the model's next-character distribution,
# all steps in one compiled program:

# %%
gpt, gpt_params = models["GPT"], trained["GPT"]
prompt = "The return value of "
sample = jaxnn.generate(gpt, gpt_params, vocab.encode(prompt), 40 if QUICK else 300, temperature=0.8,
                        key=jax.random.key(3))
print("generated:", prompt + vocab.decode(sample))

# %% [markdown]
# ## Where it looks
# The attention weights of the first block, for the start of a sentence of the text: row `t` shows
# which earlier characters position `t` reads from, one panel per head. They are recomputed from the
# layer's cache (`Q`, `K` and each row's log-sum-exp), exactly as its backward does.

# %%
sentence = "Assert statements are a convenient way to insert debugging assertions into a program"
tokens = vocab.encode(sentence[:64])[None]
_, cache = jaxnn.forward(gpt, gpt_params, np.pad(tokens, ((0, 0), (0, 64 - tokens.shape[1]))))
attn_layer, attn_cache = gpt.layers[1].layer.layers[1], cache.layers[1].layers[1]
weights = np.asarray(attn_layer.probabilities(attn_cache))[0]          # (heads, T, T)
n, shown = tokens.shape[1], 24                                         # draw the first 24
fig, axes = plots.subplots(2, 2, figsize=(10, 10.5), constrained_layout=True)
for h, ax in enumerate(axes.flat):
    ax.imshow(weights[h, :shown, :shown], cmap="viridis")
    ax.set_title(f"head {h + 1}: row t reads from column s")
    ax.set_xticks(range(shown), list(sentence[:shown]), fontsize=9)
    ax.set_yticks(range(shown), list(sentence[:shown]), fontsize=9)
print(f"attention weights: {weights.shape[0]} heads over {n} characters; each row sums to "
      f"{weights[0, :n, :n].sum(axis=1).mean():.3f}")
