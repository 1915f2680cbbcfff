"""A NumPy re-implementation of Nielsen's ``network.py``: the reference that jaxnn is
checked (tests/test_parallel.py) and benchmarked (bench_training.py) against. Examples are
column vectors, one at a time, exactly as Nielsen writes them; sigmoid everywhere and the quadratic cost.

Parameters use jaxnn's pytree (``[{"W": (n_l, n_{l-1}), "b": (n_l,)}]``); Nielsen's biases are
``(n_l, 1)`` columns, reshaped on the fly.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1/(1+e^{-z}) without overflow warnings


def backprop(params, x: np.ndarray, y: np.ndarray):
    """Nielsen's ``backprop(x, y)`` for one example: ``x`` ``(n_0,)``, ``y`` ``(n_L,)``.

    Returns the gradient of ``C_x = ½‖a^L − y‖²`` as ``[{"W", "b"}, ...]``.
    """
    activation = x.reshape(-1, 1)
    activations, zs = [activation], []
    for p in params:
        z = p["W"] @ activation + p["b"].reshape(-1, 1)
        zs.append(z)
        activation = _sigmoid(z)
        activations.append(activation)
    sp = lambda z: _sigmoid(z) * (1 - _sigmoid(z))  # noqa: E731
    delta = (activations[-1] - y.reshape(-1, 1)) * sp(zs[-1])          # BP1
    grads = [None] * len(params)
    grads[-1] = {"W": delta @ activations[-2].T, "b": delta[:, 0]}     # BP3, BP4
    for l in range(2, len(params) + 1):
        delta = (params[-l + 1]["W"].T @ delta) * sp(zs[-l])            # BP2
        grads[-l] = {"W": delta @ activations[-l - 1].T, "b": delta[:, 0]}
    return grads


def update_mini_batch(params, x: np.ndarray, y: np.ndarray, eta: float):
    """Nielsen's ``update_mini_batch``: sum per-example gradients in a loop, step by ``η/m``."""
    total = [{"W": np.zeros_like(p["W"]), "b": np.zeros_like(p["b"])} for p in params]
    for xi, yi in zip(x, y):
        for t, g in zip(total, backprop(params, xi, yi)):
            t["W"] += g["W"]
            t["b"] += g["b"]
    m = len(x)
    return [{"W": p["W"] - eta / m * t["W"], "b": p["b"] - eta / m * t["b"]}
            for p, t in zip(params, total)]
