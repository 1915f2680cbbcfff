# %% [markdown]
# # Lesson 7 — your turn: write the backward passes
#
# The skill this course teaches is deriving a backward pass. Here you write twenty-three of them:
# from the sigmoid to one attention head; ReLU, tanh, the SVM loss, dropout and the three
# normalisations (BatchNorm, spatial BatchNorm, GroupNorm); the recurrent nets (an RNN and an LSTM,
# one step and through time), embeddings and sequence losses; and last a whole small network,
# step by step (Karpathy's makemore part 4). Each grades
# itself: `exercises.check` runs your function on random inputs and compares every result with
# `jax.vjp` of the forward — *exact* (rounding only), *close*, or *wrong* with a hint read from the
# error (a transposed result, a missing batch mean, a factor 2, a flipped sign, or the exercise's
# typical slip).
#
# Each cell below holds a function that returns `None`; replace the `return None` with your
# derivation and run the cell. Shapes are batch-first (one example per row): a Dense layer computes
# `z = x Wᵀ + b` with `W` of shape `(n_out, n_in)`, and costs are means over the batch `m`.
# Solutions are in `jaxnn/exercises/solutions.py` — and the last cell runs them.

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

from jaxnn import exercises, precision

# exact grading in float64 where the backend runs it (TPUs do not: float32 tolerances there)
jax.config.update("jax_enable_x64", precision.float64_available())
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| grading in",
      "float64" if jax.config.jax_enable_x64 else "float32")

# %% [markdown]
# ## 1. The sigmoid
# `a = σ(z) = 1/(1 + e^{−z})`. Its derivative can be written with the output alone.

# %%
exercises.show("sigmoid")


def sigmoid_backward(z, a, g):
    return None   # ← your code: ∂C/∂z


exercises.check("sigmoid", sigmoid_backward).passed

# %% [markdown]
# ## 2. The quadratic cost
# `C = (1/m) Σ_x ½‖a_x − y_x‖²`. Mind the mean over the batch.

# %%
exercises.show("quadratic")


def quadratic_backward(a, y):
    return None   # ← your code: ∂C/∂a


exercises.check("quadratic", quadratic_backward).passed

# %% [markdown]
# ## 3. Softmax and cross-entropy, fused
# Derive `∂C/∂z` through the softmax in one step: the Jacobian of the softmax and the derivative of
# the logarithm cancel to something very short.

# %%
exercises.show("softmax_cross_entropy")


def softmax_cross_entropy_backward(z, y):
    return None   # ← your code: ∂C/∂z


exercises.check("softmax_cross_entropy", softmax_cross_entropy_backward).passed

# %% [markdown]
# ## 4. A Dense layer: BP2–BP4
# From `g = ∂C/∂a` to the error `δ = ∂C/∂z`, then the weight, bias and input gradients. Check the
# shapes first: `∂C/∂W` has the shape of `W`.

# %%
exercises.show("dense")


def dense_backward(x, W, z, a, g):
    return None   # ← your code: (dW, db, dx)


exercises.check("dense", dense_backward).passed

# %% [markdown]
# ### Your backward inside `jax.grad`
# `jax.grad` of a function that calls the forward differentiates the forward itself: it never sees
# the backward you wrote. `jax.custom_vjp` registers it: from then on every `jax.grad`, `jit` and
# `vmap` over the function runs *your* backward. (Until your `dense_backward` passes, the
# solution's stands in.) Doubling the backward doubles what `jax.grad` returns: proof that it is
# yours that runs. `jaxnn.custom_vjp(layer)` does this for any layer or whole model.

# %%
import jax
import jax.numpy as jnp

from jaxnn.exercises.solutions import dense_backward as solution

mine = dense_backward if exercises.check("dense", dense_backward, verbose=False).passed else solution


@jax.custom_vjp
def dense(W, b, x):
    return jax.nn.sigmoid(x @ W.T + b)


def dense_fwd(W, b, x):
    z = x @ W.T + b
    return jax.nn.sigmoid(z), (x, W, z, jax.nn.sigmoid(z))   # what the backward needs


def dense_bwd(saved, g):
    return mine(*saved, g)                                   # (dW, db, dx): your BP2–BP4


dense.defvjp(dense_fwd, dense_bwd)
W, b, x = jnp.full((3, 4), 0.1), jnp.zeros(3), jnp.linspace(-1, 1, 20).reshape(5, 4)
ours = jax.grad(lambda W: jnp.sum(dense(W, b, x) ** 2))(W)
autodiff = jax.grad(lambda W: jnp.sum(jax.nn.sigmoid(x @ W.T + b) ** 2))(W)
print(f"jax.grad through your backward vs autodiff: max |Δ| = {float(jnp.max(jnp.abs(ours - autodiff))):.1e}")
mine = lambda *saved: tuple(2 * t for t in solution(*saved))  # noqa: E731  (a wrong backward)
doubled = jax.grad(lambda W: jnp.sum(dense(W, b, x) ** 2))(W)
print(f"with the backward doubled, jax.grad doubles too: {bool(jnp.allclose(doubled, 2 * autodiff))}")

# %% [markdown]
# ## 5. Max pooling
# Only the largest input of each window influenced the output.

# %%
exercises.show("maxpool")


def maxpool_backward(x, y, g):
    return None   # ← your code: ∂C/∂x


exercises.check("maxpool", maxpool_backward).passed

# %% [markdown]
# ## 6. A convolution, as matrix products (im2col)
# With the patches `P` as rows, the convolution is a Dense layer `Y = P K`: its backward is BP3/BP4
# on `P`, and the patch gradients go back onto the image with `exercises.col2im`.

# %%
exercises.show("conv")


def conv_backward(x, k, g):
    return None   # ← your code: (dk, dx)


exercises.check("conv", conv_backward).passed

# %% [markdown]
# ## 7. LayerNorm
# The mean and the variance are functions of `x` too: that is where the two extra terms come from.

# %%
exercises.show("layernorm")


def layernorm_backward(x, gamma, g):
    return None   # ← your code: (dx, dgamma, dbeta)


exercises.check("layernorm", layernorm_backward).passed

# %% [markdown]
# ## 8. One attention head
# Backward through `out = P v`, the row-wise softmax, the scaled scores and the three projections.

# %%
exercises.show("attention")


def attention_backward(x, Wq, Wk, Wv, g):
    return None   # ← your code: (dx, dWq, dWk, dWv)


exercises.check("attention", attention_backward).passed

# %% [markdown]
# ## 9. ReLU
# `a = max(0, z)`. Some inputs here are exactly 0; jaxnn (and `jax.nn.relu`) use `ReLU'(0) = 0`.

# %%
exercises.show("relu")


def relu_backward(z, a, g):
    return None   # ← your code: ∂C/∂z


exercises.check("relu", relu_backward).passed

# %% [markdown]
# ## 10. tanh
# `a = tanh(z)`. Like the sigmoid's, its derivative can be written with the output alone.

# %%
exercises.show("tanh")


def tanh_backward(z, a, g):
    return None   # ← your code: ∂C/∂z


exercises.check("tanh", tanh_backward).passed

# %% [markdown]
# ## 11. The multiclass SVM (hinge) loss
# Each wrong class `j` whose score comes within 1 of the correct one's adds `s_j − s_y + 1`. Which
# scores does each such margin depend on?

# %%
exercises.show("hinge")


def hinge_backward(s, y):
    return None   # ← your code: ∂C/∂s


exercises.check("hinge", hinge_backward).passed

# %% [markdown]
# ## 12. Dropout
# Inverted dropout keeps each unit with probability `1 − p` and scales the kept ones by
# `1/(1 − p)` while training, so evaluation needs no change. The mask is what the forward drew.

# %%
exercises.show("dropout")


def dropout_backward(mask, g):
    return None   # ← your code: ∂C/∂x


exercises.check("dropout", dropout_backward).passed

# %% [markdown]
# ## 13. BatchNorm (training mode)
# Each feature is normalised by the batch's own mean and variance, and both depend on every `x`
# in the column. Draw the graph `x → (μ, σ²) → x̂ → y`: the gradient reaches `x` directly, through
# `σ²` and through `μ` — three terms. Collect them and they fold into one compact line.

# %%
exercises.show("batchnorm")


def batchnorm_backward(x, gamma, g):
    return None, None, None   # ← your code: ∂C/∂x, ∂C/∂γ, ∂C/∂β


exercises.check("batchnorm", batchnorm_backward).passed

# %% [markdown]
# ## 14. Spatial BatchNorm
# On images each channel is one feature, seen at every pixel of every example. Which axes do the
# means run over now?

# %%
exercises.show("spatial_batchnorm")


def spatial_batchnorm_backward(x, gamma, g):
    return None, None, None   # ← your code


exercises.check("spatial_batchnorm", spatial_batchnorm_backward).passed

# %% [markdown]
# ## 15. GroupNorm
# No batch statistics at all: each example's channels are normalised in groups. A reshape to
# `(…, G, C/G)` makes a group an axis; then it is the same backward over other axes.

# %%
exercises.show("groupnorm")


def groupnorm_backward(x, gamma, g):
    return None, None, None   # ← your code


exercises.check("groupnorm", groupnorm_backward).passed

# %% [markdown]
# ## 16. One step of an RNN
# `h_next = tanh(x Wxᵀ + h_prev Whᵀ + b)`: a Dense layer with two inputs. Which of them is
# the previous step's state, and what does its gradient feed?

# %%
exercises.show("rnn_step")


def rnn_step_backward(x, h_prev, Wx, Wh, h_next, g):
    return None, None, None, None, None   # ← your code


exercises.check("rnn_step", rnn_step_backward).passed

# %% [markdown]
# ## 17. An RNN through time
# The loss reads every `h_t`, and each `h_t` also feeds `h_{t+1}`. Walk backwards from the
# last step, adding what step `t+1` sends back to step `t`'s own `g` (your `rnn_step_backward`
# does one step).

# %%
exercises.show("rnn")


def rnn_backward(x, h0, Wx, Wh, h, g):
    return None, None, None, None, None   # ← your code


exercises.check("rnn", rnn_backward).passed

# %% [markdown]
# ## 18. One LSTM step
# Four gates in one product; the cell `c` is the highway. The gradient reaches `c_next` twice:
# from later steps (`dc_next`) and through `h_next = o tanh(c_next)`.

# %%
exercises.show("lstm_step")


def lstm_step_backward(x, h_prev, c_prev, Wx, Wh, b, dh_next, dc_next):
    return None, None, None, None, None, None   # ← your code


exercises.check("lstm_step", lstm_step_backward).passed

# %% [markdown]
# ## 19. An LSTM through time
# As for the RNN, with two things carried back: `dh` and `dc`.

# %%
exercises.show("lstm")


def lstm_backward(x, h0, Wx, Wh, b, g):
    return None, None, None, None, None   # ← your code


exercises.check("lstm", lstm_backward).passed

# %% [markdown]
# ## 20. A word embedding
# A lookup `E[tokens]` is a matrix product with one-hot rows. Its backward sends each
# position's gradient to its token's row — and a token used twice gets both.

# %%
exercises.show("embedding")


def embedding_backward(tokens, vocab, g):
    return None   # ← your code: ∂C/∂E


exercises.check("embedding", embedding_backward).passed

# %% [markdown]
# ## 21. A Dense layer at every time step
# The same `W` at every step: its gradient sums over the batch *and* over time.

# %%
exercises.show("temporal_affine")


def temporal_affine_backward(x, W, g):
    return None, None, None   # ← your code


exercises.check("temporal_affine", temporal_affine_backward).passed

# %% [markdown]
# ## 22. Softmax + cross-entropy over a sequence, with a mask
# Captioning and language models pad short sequences; the mask says which steps count.

# %%
exercises.show("temporal_softmax")


def temporal_softmax_backward(z, y, mask):
    return None   # ← your code: ∂C/∂z


exercises.check("temporal_softmax", temporal_softmax_backward).passed

# %% [markdown]
# ## 23. A whole network, step by step (makemore part 4)
# Embedding → Dense → BatchNorm → tanh → Dense → cross-entropy, backward by hand: every
# intermediate gradient is graded on its own, so write them top to bottom and check as you go
# (return `None` for the ones still to do).

# %%
exercises.show("makemore")


def makemore_backward(tokens, y, C, W1, gamma, beta, W2, b2):
    return (None,) * 11   # ← your code: dlogits, dh, dhbn, dhprebn, demb, dW2, db2, dgamma, dbeta, dW1, dC


exercises.check("makemore", makemore_backward).passed

# %% [markdown]
# ## Stuck? The solutions, graded the same way
# Each a few lines in `jaxnn/exercises/solutions.py`; run this to see all twenty-three pass.

# %%
from jaxnn.exercises.solutions import SOLUTIONS

passed = [exercises.check(name, fn, verbose=False).passed for name, fn in SOLUTIONS.items()]
print(f"solutions: {sum(passed)} of {len(passed)} exercises pass")
