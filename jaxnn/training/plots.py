"""Plots people would rather look at than read: training curves (matplotlib, written to PNG or
redrawn live in a notebook) and small networks drawn with their numbers."""

from __future__ import annotations

import math
from pathlib import Path


def _pyplot():
    import sys

    import matplotlib

    if "IPython" not in sys.modules:   # scripts: files only, works without a display; notebooks
        matplotlib.use("Agg")          # keep their inline backend so figures show
    import matplotlib.pyplot as plt

    return plt


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the file-only (Agg) backend."""
    return _pyplot().subplots(*args, **kwargs)


def save(fig, path, dpi: int = 100) -> Path:
    """Lay out, write ``fig`` to ``path`` (creating its folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def _draw_history(history: dict, figsize):
    """Loss (train, and test where measured) and test accuracy per epoch, side by side."""
    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=figsize)
    epochs = history["epoch"]
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train")
    if any(not math.isnan(v) for v in history["eval_loss"]):
        ax_loss.plot(epochs, history["eval_loss"], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * v for v in history["eval_accuracy"]], "s-", color="C1")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    return fig


def plot_history(history: dict, path, title: str = "") -> Path:
    """Loss (train and eval) and eval accuracy per epoch, side by side, saved to ``path``."""
    fig = _draw_history(history, (10, 4))
    if title:
        fig.suptitle(title)
    return save(fig, path)


def live_curves(note: str = ""):
    """A [`jaxnn.fit`][] callback for a notebook: after every epoch it redraws the train/test
    loss and the test accuracy of the history so far (IPython ``display``). Redrawing clears the
    cell's output, so ``note`` (e.g. which data) is printed again above the curves.

    Examples:
        >>> params, history = jaxnn.fit(..., eval_data=(x_test, y_test),
        ...                             callbacks=[live_curves(f"data: {train.description}")])
    """
    from IPython.display import clear_output, display

    def callback(epoch):
        clear_output(wait=True)
        if note:
            print(note)
        fig = _draw_history(epoch.history, (10, 3.5))
        display(fig)
        _pyplot().close(fig)

    return callback


def network_diagram(model, params, x=None, y=None, *, show: str = "values", max_neurons: int = 12):
    """Draw a small [`jaxnn.Network`][] as a 2-2-2 example is drawn by hand.

    Neurons in columns (layer 0 = the inputs), each labelled with its ``z``/``a`` for the input
    ``x`` (one example, shape ``(n_0,)`` or ``(1, n_0)``); each edge ``W^l[j, k]`` (from neuron
    ``k`` of layer ``l−1`` to neuron ``j`` of layer ``l``) numbered ``w1, w2, …`` row by row,
    layer by layer, as such examples number them, coloured by sign (blue +, red −) and drawn as
    wide as ``|w|``; each neuron's bias written under it.

    ``show``: ``"values"`` labels edges with the weights; ``"gradients"`` with ``∂C/∂w`` from the
    hand-derived backward ([`jaxnn.value_and_grad`][] for the target ``y``); ``"both"`` with
    both. Biases get the same treatment. Numbers are printed with 5 significant digits.

    Returns:
        The matplotlib figure (nothing is saved; see [`save`][jaxnn.save]).

    Raises:
        ValueError: a layer has more than ``max_neurons`` neurons, ``show`` is unknown, gradients
            were asked for without ``x`` and ``y``, or ``x`` is not one example.
    """
    import jax.numpy as jnp
    import numpy as np

    from jaxnn import model as M
    from jaxnn.backprop import value_and_grad

    if show not in ("values", "gradients", "both"):
        raise ValueError(f"show must be 'values', 'gradients' or 'both', got {show!r}")
    if show != "values" and (x is None or y is None):
        raise ValueError(f"show={show!r} needs the input x and the target y for ∂C/∂w")
    if max(model.sizes) > max_neurons:
        raise ValueError(f"network_diagram draws at most {max_neurons} neurons per layer; "
                         f"{list(model.sizes)} is too wide to read (pass max_neurons= to force it)")
    M.check_params(model, params)
    z_a = grads = None
    if x is not None:
        x = jnp.asarray(x).reshape(-1, model.sizes[0])
        if x.shape[0] != 1:
            raise ValueError(f"network_diagram shows one example; x has {x.shape[0]} rows")
        dense = M.forward(model, params, x)[1].layers        # each a DenseCache(x, z, a)
        z_a = [(None, np.asarray(x[0]))] + [(np.asarray(c.z[0]), np.asarray(c.a[0])) for c in dense]
    if show != "values":
        y = jnp.asarray(y)
        grads = value_and_grad(model, params, x, y.reshape(1) if y.ndim == 0 else y.reshape(1, -1))[1]

    def fmt(v):
        return f"{float(v):.5g}"

    def label(value, grad, name):
        parts = ([f"{name} = {fmt(value)}"] if show in ("values", "both") else [])
        parts += [f"∂C/∂{name} = {fmt(grad)}"] if grad is not None else []
        return "\n".join(parts)

    L = len(model.sizes)
    dx, wide = 4.5, max(model.sizes)                         # layer spacing, tallest column
    fig, ax = subplots(figsize=(4.2 * (L - 1) + 2.0, 1.3 * wide + 1.5))
    pos = [[(dx * l, (n - 1) / 2 - j) for j in range(n)] for l, n in enumerate(model.sizes)]
    w_max = max(float(np.abs(np.asarray(p["W"])).max()) for p in params) or 1.0
    count = 0
    for l in range(1, L):
        W, b = np.asarray(params[l - 1]["W"]), np.asarray(params[l - 1]["b"])
        for j in range(W.shape[0]):
            for k in range(W.shape[1]):
                count += 1
                (x0, y0), (x1, y1) = pos[l - 1][k], pos[l][j]
                ax.plot([x0, x1], [y0, y1], color="C0" if W[j, k] >= 0 else "C3",
                        lw=0.5 + 3 * abs(W[j, k]) / w_max, alpha=0.6, zorder=1)
                t = 0.2 + 0.6 * (k + 0.5) / W.shape[1]           # spread labels along the edges
                g = None if grads is None else grads[l - 1]["W"][j, k]
                ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0), label(W[j, k], g, f"w{count}"),
                        fontsize=7, ha="center", va="center", zorder=3,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
            g = None if grads is None else grads[l - 1]["b"][j]
            xb, yb = pos[l][j]
            ax.text(xb, yb - 0.3, label(b[j], g, f"b{l},{j + 1}"), fontsize=7, ha="center",
                    va="top", color="0.3", zorder=3)
    for l, column in enumerate(pos):
        for j, (xn, yn) in enumerate(column):
            ax.scatter([xn], [yn], s=2200, color="white", edgecolors="black", zorder=2)
            if z_a is None:
                text = f"x{j + 1}" if l == 0 else f"n{l},{j + 1}"
            elif l == 0:
                text = f"x{j + 1}\n{fmt(z_a[0][1][j])}"
            else:
                text = f"z={fmt(z_a[l][0][j])}\na={fmt(z_a[l][1][j])}"
            ax.text(xn, yn, text, fontsize=7, ha="center", va="center", zorder=4)
    titles = ["input"] + [f"layer {l} ({layer.activation})" for l, layer in enumerate(model.layers, 1)]
    for l, title in enumerate(titles):
        ax.text(dx * l, (wide - 1) / 2 + 0.6, title, ha="center", fontsize=9)
    ax.set_axis_off()
    ax.set_xlim(-0.8, dx * (L - 1) + 0.8)
    ax.set_ylim(-(wide - 1) / 2 - 0.9, (wide - 1) / 2 + 0.8)
    return fig
