"""Exercises that grade themselves: derive a backward pass, write it, check it against ``jax.vjp``.

Each exercise names a forward (written out in its ``task``) and the backward to write; ``check``
runs yours on random inputs and compares every result with ``jax.vjp`` of the forward: *exact*
(rounding only), *close* (right up to float noise) or *wrong* — then with a hint read from the
error: a transposed result, a missing batch mean, a factor 2, a flipped sign, or the exercise's
typical slip (the derivative at ``z`` instead of at ``a``, the mean and variance of LayerNorm
treated as constants, ...)::

    from jaxnn import exercises
    exercises.show("sigmoid")                          # the task and the signature
    def sigmoid_backward(z, a, g):
        return g * a * (1 - a)
    exercises.check("sigmoid", sigmoid_backward)       # prints a line per result; .passed

Shapes are batch-first (one example per row), as everywhere in jaxnn: a Dense layer computes
``z = x Wᵀ + b`` with ``W`` of shape ``(n_out, n_in)``. Costs are means over the batch.
Runs in float64 when ``jax_enable_x64`` is on, else float32 with matching tolerances.
Solutions: :mod:`jaxnn.exercises.solutions` (try first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.layers.conv import unslice, window_slices


class Exercise(NamedTuple):
    signature: str                      # what to write
    task: str                           # the forward and what is asked
    inputs: Callable                    # (rng, dtype) -> {name: NumPy array}: the forward's arguments
    forward: Callable                   # (**inputs) -> output; differentiated w.r.t. `grads`
    grads: tuple[str, ...]              # the inputs whose gradients are returned, in this order
    args: Callable                      # (inputs, output, g) -> the student function's arguments
    mistakes: dict[str, Callable]       # hint -> (inputs, output, g) -> the wrong results


# ------------------------------------------------------------------------------- the forwards
def _normal(rng: np.random.Generator, shape, dtype):
    """Standard normal draws in NumPy: the inputs compile nothing (grading is compile-bound)."""
    return rng.standard_normal(shape).astype(dtype)


def _integers(rng: np.random.Generator, n: int, shape):
    return rng.integers(0, n, shape, dtype=np.int32)


def _onehot(rng, m, n, dtype):
    return np.eye(n, dtype=dtype)[_integers(rng, n, (m,))]


def im2col(x, kh: int, kw: int):
    """The patches of a valid, stride-1 convolution: ``x (m, H, W, C)`` → ``P (m·H_o·W_o, kh·kw·C)``
    with ``H_o = H − kh + 1``; one row per output pixel, ordered like ``k.reshape(kh·kw·C, F)``
    (``Conv2D``'s own gather, :func:`jaxnn.layers.conv.window_slices`)."""
    m, H, W, C = x.shape
    cols = window_slices(x, (kh, kw), (1, 1), (H - kh + 1, W - kw + 1))
    return jnp.concatenate(cols, axis=3).reshape(-1, kh * kw * C)


def col2im(dP, x_shape, kh: int, kw: int):
    """The adjoint of :func:`im2col`: each patch row's gradient added back onto the pixels it was
    taken from (overlapping patches add up). ``dP (m·H_o·W_o, kh·kw·C)`` → ``(m, H, W, C)``."""
    m, H, W, C = x_shape
    parts = jnp.split(dP.reshape(m, H - kh + 1, W - kw + 1, kh * kw * C), kh * kw, axis=3)
    return unslice(parts, (kh, kw), (1, 1), (H, W))


def _conv(k, x):
    kh, kw, C, F = k.shape
    m, H, W, _ = x.shape
    return (im2col(x, kh, kw) @ k.reshape(-1, F)).reshape(m, H - kh + 1, W - kw + 1, F)


def _maxpool(x):
    m, H, W, C = x.shape
    return x.reshape(m, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))


def _layernorm(x, gamma, beta, eps=1e-5, mean_path=True):
    mu = x.mean(-1, keepdims=True)
    mu = mu if mean_path else jax.lax.stop_gradient(mu)     # False: the slip without the mean term
    return (x - mu) / jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * gamma + beta


def _attention(x, Wq, Wk, Wv, scale_backward=True, causal=True, row_sum=True):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    s0, c = q @ k.T, 1 / jnp.sqrt(Wq.shape[1])
    # scale_backward=False: the same forward, a gradient as if S = q kᵀ (the slip to recognise)
    s = s0 * c if scale_backward else s0 + jax.lax.stop_gradient(s0 * c - s0)
    if causal:
        s = jnp.where(jnp.tril(jnp.ones(s.shape, bool)), s, -jnp.inf)
    if not row_sum:   # the softmax's normaliser held constant: dS = P ⊙ dP, the slip to recognise
        e = jnp.exp(s - jax.lax.stop_gradient(s.max(-1, keepdims=True)))
        return e / jax.lax.stop_gradient(e.sum(-1, keepdims=True)) @ v
    return jax.nn.softmax(s, axis=-1) @ v


def _hinge(s, y, clip=True, correct_path=True):
    m, n = s.shape
    correct = s[jnp.arange(m), y][:, None]
    correct = correct if correct_path else jax.lax.stop_gradient(correct)   # False: a slip
    margins = s - correct + 1
    margins = jnp.maximum(0, margins) if clip else margins                 # False: a slip
    return jnp.where(jnp.arange(n) == y[:, None], 0, margins).sum() / m


def _batchnorm(x, gamma, beta, eps=1e-5, axes=(0,), mean_path=True, var_path=True, groups=None,
               interleaved=False):
    """Training-mode normalisation over ``axes`` (BatchNorm: the batch; spatial: batch and pixels);
    with ``groups``: GroupNorm, each example's channels in groups of ``C/groups``. The flags make
    the slips to recognise: a path of μ or σ² held constant, channels grouped ``c % G``."""
    shape = x.shape
    if groups is not None:                       # (m, …, C) → (m, …, G, C/G): stats per example, group
        split = (shape[-1] // groups, groups) if interleaved else (groups, shape[-1] // groups)
        x = x.reshape(*shape[:-1], *split)
        x = jnp.swapaxes(x, -1, -2) if interleaved else x
        axes = (*range(1, x.ndim - 2), x.ndim - 1)
    mu = x.mean(axes, keepdims=True)
    mu = mu if mean_path else jax.lax.stop_gradient(mu)
    var = ((x - mu) ** 2).mean(axes, keepdims=True)
    var = var if var_path else jax.lax.stop_gradient(var)
    x_hat = (x - mu) / jnp.sqrt(var + eps)
    x_hat = jnp.swapaxes(x_hat, -1, -2) if groups is not None and interleaved else x_hat
    return x_hat.reshape(shape) * gamma + beta


def _norm_inputs(shape, scale=0.02):
    """``x`` of ``shape`` with variance ≈ 4e-4 (so ε = 1e-5 matters), γ and β per channel."""
    def inputs(rng, dt):
        kx, kg, kb = rng.spawn(3)
        return {"x": scale * _normal(kx, shape, dt), "gamma": _normal(kg, shape[-1:], dt),
                "beta": _normal(kb, shape[-1:], dt)}

    return inputs


def _norm_slips(**variants):
    """Each hint's wrong ``(dx, dγ, dβ)``: the vjp of ``_batchnorm`` with that slip (dx only)."""
    return {hint: (lambda i, out, g, kw=kw: (_autodiff(_batchnorm, i, ("x", "gamma", "beta"), g, **kw)[0],
                                            None, None))
            for hint, kw in variants.items()}


def _z_dense(i):
    return i["x"] @ i["W"].T + i["b"]


def _rnn(x, h0, Wx, Wh, b, carry=True):
    """Every state ``h_t = tanh(x_t W_xᵀ + h_{t−1} W_hᵀ + b)``, ``(m, T, H)``; ``carry=False``: the
    slip of not carrying the gradient back into ``h_{t−1}``."""
    def step(h, x_t):
        h = jnp.tanh(x_t @ Wx.T + (h if carry else jax.lax.stop_gradient(h)) @ Wh.T + b)
        return h, h

    return jnp.swapaxes(jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))[1], 0, 1)


def _lstm_step(x, h, c, Wx, Wh, b, through_tanh=True, forget=True):
    """One LSTM step, ``[h_next, c_next]`` side by side ``(m, 2H)``; the flags make the slips (the
    gradient of ``h_next`` not reaching the cell, the cell's gradient not scaled by ``f``)."""
    i, f, g, o = jnp.split(x @ Wx.T + h @ Wh.T + b, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c_next = f * c + i * g if forget else c + jax.lax.stop_gradient(f * c - c) + i * g
    t = jnp.tanh(c_next)
    return jnp.concatenate([o * (t if through_tanh else jax.lax.stop_gradient(t)), c_next], -1)


def _lstm(x, h0, Wx, Wh, b, carry_c=True):
    """Every hidden state of an LSTM from ``h0`` and ``c0 = 0``, ``(m, T, H)``."""
    H = h0.shape[-1]

    def step(hc, x_t):
        h, c = hc
        out = _lstm_step(x_t, h, c if carry_c else jax.lax.stop_gradient(c), Wx, Wh, b)
        return (out[:, :H], out[:, H:]), out[:, :H]

    return jnp.swapaxes(jax.lax.scan(step, (h0, jnp.zeros_like(h0)), jnp.swapaxes(x, 0, 1))[1], 0, 1)


def _temporal_softmax(z, y, mask):
    """``−(1/m) Σ_{x,t} mask_xt ln softmax(z_xt)[y_xt]`` (cs231n's temporal softmax loss)."""
    logp = jnp.take_along_axis(jax.nn.log_softmax(z, -1), y[..., None], -1)[..., 0]
    return -jnp.sum(mask * logp) / z.shape[0]


MAKEMORE = ("e_logits", "e_h", "e_hbn", "e_hpre", "e_emb", "W2", "b2", "gamma", "beta", "W1", "C")
"""What makemore_backward returns the gradients of (``e_*``: a zero added to each intermediate)."""


def _makemore(C, W1, gamma, beta, W2, b2, tokens, y, e_emb, e_hpre, e_hbn, e_h, e_logits,
              norm_paths=True):
    """makemore part 4's network, with a zero ``e_*`` added to each intermediate so that its
    gradient is ∂C/∂(that intermediate): Embedding → Dense → BatchNorm → tanh → Dense → CE."""
    emb = C[tokens] + e_emb                                             # (m, T, D)
    hpre = emb.reshape(len(tokens), -1) @ W1.T + e_hpre                  # (m, H): β is the bias
    hbn = _batchnorm(hpre, gamma, beta, mean_path=norm_paths, var_path=norm_paths) + e_hbn
    h = jnp.tanh(hbn) + e_h
    logits = h @ W2.T + b2 + e_logits                                    # (m, V)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits, -1), y[:, None], -1))


def _makemore_inputs(rng, dt):
    m, T, V, D, H = 11, 3, 7, 2, 5            # batch, context, vocabulary, embedding, hidden
    k = rng.spawn(8)
    i = {"C": _normal(k[0], (V, D), dt), "W1": 0.5 * _normal(k[1], (H, T * D), dt),
         "gamma": 1 + 0.1 * _normal(k[2], (H,), dt), "beta": 0.1 * _normal(k[3], (H,), dt),
         "W2": 0.5 * _normal(k[4], (V, H), dt), "b2": _normal(k[5], (V,), dt),
         "tokens": _integers(k[6], V, (m, T)), "y": _integers(k[7], V, (m,))}
    shapes = {"e_emb": (m, T, D), "e_hpre": (m, H), "e_hbn": (m, H), "e_h": (m, H), "e_logits": (m, V)}
    return {**i, **{n: np.zeros(s, dt) for n, s in shapes.items()}}


def _makemore_grads(i, g, **slip):
    return _autodiff(_makemore, i, MAKEMORE, g, **slip)


def _only(n: int, value):
    """A wrong makemore answer: ``value`` at result ``n``, nothing elsewhere."""
    return tuple(value if k == n else None for k in range(len(MAKEMORE)))


def _makemore_hbn(i):
    hpre = i["C"][i["tokens"]].reshape(len(i["tokens"]), -1) @ i["W1"].T
    return _batchnorm(hpre, i["gamma"], i["beta"])


def _relu_inputs(rng, dt):
    z = 2 * _normal(rng, (7, 5), dt)
    z[::2, ::2] = 0                                         # exact zeros: ReLU'(0) matters
    return {"z": z}


def _autodiff(forward, inputs, names, g, **fixed):
    """``jax.vjp`` of ``forward`` w.r.t. ``names`` at ``inputs``, applied to ``g``."""
    def f(*wrt):
        return forward(**{**inputs, **dict(zip(names, wrt)), **fixed})

    return jax.vjp(f, *(inputs[n] for n in names))[1](g)


EXERCISES: dict[str, Exercise] = {
    "sigmoid": Exercise(
        "sigmoid_backward(z, a, g) -> dz",
        "a = σ(z) = 1/(1 + e^(−z)), elementwise. Given a and g = ∂C/∂a, return ∂C/∂z.",
        lambda rng, dt: {"z": 2 * _normal(rng, (4, 5), dt)},
        lambda z: jax.nn.sigmoid(z), ("z",),
        lambda i, out, g: (i["z"], out, g),
        {"σ' evaluated at z instead of at the activation: σ'(z) = a·(1 − a) with a = σ(z)":
         lambda i, out, g: (g * i["z"] * (1 - i["z"]),)}),
    "quadratic": Exercise(
        "quadratic_backward(a, y) -> da",
        "C = (1/m) Σ_x ½‖a_x − y_x‖² over a batch a, y of shape (m, n). Return ∂C/∂a (m, n).",
        lambda rng, dt: dict(zip("ay", (_normal(k, (7, 3), dt) for k in rng.spawn(2)))),
        lambda a, y: 0.5 * jnp.mean(jnp.sum((a - y) ** 2, -1)), ("a",),
        lambda i, out, g: (i["a"], i["y"]), {}),
    "softmax_cross_entropy": Exercise(
        "softmax_cross_entropy_backward(z, y) -> dz",
        "a = softmax(z) per row, C = −(1/m) Σ_x Σ_j y_xj ln a_xj with one-hot y (m, n). "
        "Return ∂C/∂z (m, n) — the fused form.",
        lambda rng, dt: {"z": _normal(rng, (5, 4), dt), "y": _onehot(rng, 5, 4, dt)},
        lambda z, y: -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z, -1), -1)), ("z",),
        lambda i, out, g: (i["z"], i["y"]),
        {"used z where softmax(z) belongs: δ = (a − y)/m with a = softmax(z)":
         lambda i, out, g: ((i["z"] - i["y"]) / i["z"].shape[0],),
         "that is ∂C/∂a = −y/(a·m); ∂C/∂z goes on through softmax's Jacobian, which fuses to a − y":
         lambda i, out, g: (-i["y"] / jax.nn.softmax(i["z"], -1) / i["z"].shape[0],),
         "softmax runs over each row (the classes, axis −1), not down the batch":
         lambda i, out, g: ((jax.nn.softmax(i["z"], axis=0) - i["y"]) / i["z"].shape[0],)}),
    "dense": Exercise(
        "dense_backward(x, W, z, a, g) -> (dW, db, dx)",
        "z = x Wᵀ + b, a = σ(z) (sigmoid); x (m, n_in), W (n_out, n_in), b (n_out,). Given "
        "g = ∂C/∂a (m, n_out), return ∂C/∂W, ∂C/∂b, ∂C/∂x (BP2–BP4 with δ = g ⊙ σ'(z)).",
        lambda rng, dt: dict(zip(("W", "b", "x"), (_normal(k, s, dt) for k, s in zip(
            rng.spawn(3), ((3, 4), (3,), (5, 4)))))),
        lambda W, b, x: jax.nn.sigmoid(x @ W.T + b), ("W", "b", "x"),
        lambda i, out, g: (i["x"], i["W"], i["x"] @ i["W"].T + i["b"], out, g),
        {"δ is g ⊙ σ'(z), not g: multiply by a·(1 − a) first":
         lambda i, out, g: (g.T @ i["x"], g.sum(0), g @ i["W"]),
         "σ'(z) = a·(1 − a), taken at the activation a = σ(z), not z·(1 − z)": lambda i, out, g: (
             lambda d: (d.T @ i["x"], d.sum(0), d @ i["W"]))(g * _z_dense(i) * (1 - _z_dense(i)))}),
    "maxpool": Exercise(
        "maxpool_backward(x, y, g) -> dx",
        "y = max over non-overlapping 2×2 windows of x (m, H, W, C) → (m, H/2, W/2, C). Given y "
        "and g = ∂C/∂y, return ∂C/∂x.",
        lambda rng, dt: {"x": _normal(rng, (3, 4, 6, 5), dt)},
        _maxpool, ("x",), lambda i, out, g: (i["x"], out, g),
        {"each window's gradient goes to its maximum only, not spread over the window":
         lambda i, out, g: (jnp.repeat(jnp.repeat(g, 2, 1), 2, 2) / 4,),
         "each window's gradient goes to its maximum once, not to every pixel":
         lambda i, out, g: (jnp.repeat(jnp.repeat(g, 2, 1), 2, 2),)}),
    "conv": Exercise(
        "conv_backward(x, k, g) -> (dk, dx)",
        "y = valid, stride-1 correlation of x (m, H, W, C) with k (kh, kw, C, F), no bias: with "
        "P = im2col(x, kh, kw), y = (P K).reshape(m, H_o, W_o, F), K = k.reshape(kh·kw·C, F). "
        "Given g = ∂C/∂y, return ∂C/∂k and ∂C/∂x (exercises.im2col / col2im help).",
        lambda rng, dt: dict(zip(("k", "x"), (_normal(k, s, dt) for k, s in zip(
            rng.spawn(2), ((3, 3, 2, 4), (3, 6, 7, 2)))))),
        _conv, ("k", "x"), lambda i, out, g: (i["x"], i["k"], g),
        {"∂C/∂K = Pᵀ δ (n_patch × F), reshaped to k's shape; δᵀ P reshaped scrambles it":
         lambda i, out, g: ((g.reshape(-1, g.shape[-1]).T @ im2col(i["x"], 3, 3)).reshape(i["k"].shape),
                            None)}),
    "layernorm": Exercise(
        "layernorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "Over the last axis of x (m, n): μ = mean x, σ² = mean (x − μ)², x̂ = (x − μ)/√(σ² + 1e-5), "
        "y = x̂ γ + β. Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β.",
        lambda rng, dt: dict(zip(("x", "gamma", "beta"), (s * _normal(k, shape, dt) for k, shape, s in zip(
            rng.spawn(3), ((5, 7), (7,), (7,)), (0.02, 1, 1))))),    # σ² ≈ 4e-4: ε = 1e-5 matters
        _layernorm, ("x", "gamma", "beta"), lambda i, out, g: (i["x"], i["gamma"], g),
        {"μ and σ depend on x too: dx = (ĝ − mean ĝ − x̂·mean(ĝ x̂))/σ with ĝ = g γ":
         lambda i, out, g: (g * i["gamma"] / jnp.sqrt(i["x"].var(-1, keepdims=True) + 1e-5),
                            None, None),
         "the mean's path: dx = (ĝ − mean ĝ − x̂·mean(ĝ x̂))/σ; the − mean ĝ term is missing":
         lambda i, out, g: (_autodiff(_layernorm, i, ("x", "gamma", "beta"), g, mean_path=False)[0],
                            None, None),
         "ε is part of σ: the backward divides by √(σ² + ε) as the forward does":
         lambda i, out, g: (_autodiff(_layernorm, i, ("x", "gamma", "beta"), g, eps=0.0)[0], None, None)}),
    "attention": Exercise(
        "attention_backward(x, Wq, Wk, Wv, g) -> (dx, dWq, dWk, dWv)",
        "One causal head over a sequence x (T, d): q, k, v = x Wq, x Wk, x Wv (W: (d, d_h)); "
        "S = q kᵀ/√d_h with S_ij = −∞ for j > i; P = softmax(S) per row; out = P v. Given "
        "g = ∂C/∂out (T, d_h), return ∂C/∂x, ∂C/∂Wq, ∂C/∂Wk, ∂C/∂Wv.",
        lambda rng, dt: dict(zip(("x", "Wq", "Wk", "Wv"), (0.5 * _normal(k, s, dt) for k, s in zip(
            rng.spawn(4), ((5, 4), (4, 3), (4, 3), (4, 3)))))),
        _attention, ("x", "Wq", "Wk", "Wv"), lambda i, out, g: (i["x"], i["Wq"], i["Wk"], i["Wv"], g),
        {"the scores are scaled by 1/√d_h: their gradient is too":
         lambda i, out, g: _autodiff(_attention, i, ("x", "Wq", "Wk", "Wv"), g, scale_backward=False),
         "the causal mask: position i attends to j ≤ i only":
         lambda i, out, g: _autodiff(_attention, i, ("x", "Wq", "Wk", "Wv"), g, causal=False),
         "softmax's backward has a row-sum term: dS = P ⊙ (dP − Σ_j dP ⊙ P), not P ⊙ dP":
         lambda i, out, g: _autodiff(_attention, i, ("x", "Wq", "Wk", "Wv"), g, row_sum=False)}),
    "relu": Exercise(
        "relu_backward(z, a, g) -> dz",
        "a = max(0, z), elementwise; some z are exactly 0, where ReLU'(0) = 0 (as jax.nn.relu). "
        "Given g = ∂C/∂a, return ∂C/∂z.",
        _relu_inputs, lambda z: jax.nn.relu(z), ("z",), lambda i, out, g: (i["z"], out, g),
        {"ReLU'(0) = 0 here (as jax.nn.relu): the gradient passes where z > 0, not z ≥ 0":
         lambda i, out, g: (g * (i["z"] >= 0),),
         "ReLU' is 1 or 0: the gradient passes unchanged where z > 0, not scaled by a":
         lambda i, out, g: (g * out,)}),
    "tanh": Exercise(
        "tanh_backward(z, a, g) -> dz",
        "a = tanh(z), elementwise. Given a and g = ∂C/∂a, return ∂C/∂z.",
        lambda rng, dt: {"z": _normal(rng, (7, 5), dt)}, lambda z: jnp.tanh(z), ("z",),
        lambda i, out, g: (i["z"], out, g),
        {"tanh' evaluated at z instead of at the activation: tanh'(z) = 1 − a² with a = tanh(z)":
         lambda i, out, g: (g * (1 - i["z"] ** 2),),
         "tanh'(z) = 1 − a²; a·(1 − a) is the sigmoid's": lambda i, out, g: (g * out * (1 - out),)}),
    "hinge": Exercise(
        "hinge_backward(s, y) -> ds",
        "The multiclass SVM loss of scores s (m, n) with integer labels y (m,): "
        "C = (1/m) Σ_x Σ_{j ≠ y_x} max(0, s_xj − s_x,y_x + 1). Return ∂C/∂s (m, n).",
        lambda rng, dt: {"s": _normal(rng, (7, 5), dt), "y": _integers(rng, 5, (7,))},
        _hinge, ("s",), lambda i, out, g: (i["s"], i["y"]),
        {"the correct class's score is in every positive margin: its column gets −(their count)":
         lambda i, out, g: _autodiff(_hinge, i, ("s",), g, correct_path=False),
         "only positive margins count: max(0, ·) passes no gradient where the margin is below 0":
         lambda i, out, g: _autodiff(_hinge, i, ("s",), g, clip=False)}),
    "dropout": Exercise(
        "dropout_backward(mask, g) -> dx",
        "Inverted dropout in training with p = 0.3: y = x ⊙ mask / (1 − p), mask (m, n) of 0s "
        "(dropped) and 1s (kept). Given the mask and g = ∂C/∂y, return ∂C/∂x.",
        lambda rng, dt: {"x": _normal(rng, (7, 5), dt),
                         "mask": (rng.random((7, 5)) < 0.7).astype(dt)},
        lambda x, mask: x * mask / 0.7, ("x",), lambda i, out, g: (i["mask"], g),
        {"inverted dropout scales by 1/(1 − p) in training, so its backward does too":
         lambda i, out, g: (g * i["mask"],),
         "the gradient flows only where the unit was kept: multiply by the mask":
         lambda i, out, g: (g / 0.7,)}),
    "batchnorm": Exercise(
        "batchnorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "BatchNorm in training over the batch axis of x (m, n): μ = mean over the m rows, "
        "σ² = mean (x − μ)², x̂ = (x − μ)/√(σ² + 1e-5), y = x̂ γ + β (per feature). Given "
        "g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β — through x̂, σ² and μ (the three terms).",
        _norm_inputs((7, 5)), _batchnorm, ("x", "gamma", "beta"), lambda i, out, g: (i["x"], i["gamma"], g),
        _norm_slips(**{
            "μ and σ² depend on x too: dx = (ĝ − mean ĝ − x̂·mean(ĝ x̂))/σ with ĝ = g γ, means over "
            "the batch": dict(mean_path=False, var_path=False),
            "the mean's path: ∂C/∂μ = −Σ ĝ/σ reaches every x as 1/m of it; the − mean ĝ term is missing":
                dict(mean_path=False),
            "the variance's path: ∂C/∂σ² = Σ ĝ (x − μ)·(−½)(σ² + ε)^(−3/2) reaches x as 2(x − μ)/m; "
            "the − x̂·mean(ĝ x̂) term is missing": dict(var_path=False),
            "BatchNorm's statistics run down the batch (axis 0), one per feature; over a row is "
            "LayerNorm": dict(axes=(1,)),
            "ε is part of σ: the backward divides by √(σ² + ε) as the forward does": dict(eps=0.0)})),
    "spatial_batchnorm": Exercise(
        "spatial_batchnorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "BatchNorm of images x (m, H, W, C) = (3, 5, 2, 7): one μ and σ² per channel, over the batch "
        "and every pixel (axes 0, 1, 2); x̂ = (x − μ)/√(σ² + 1e-5), y = x̂ γ + β with γ, β (C,). "
        "Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β.",
        _norm_inputs((3, 5, 2, 7)), functools.partial(_batchnorm, axes=(0, 1, 2)), ("x", "gamma", "beta"),
        lambda i, out, g: (i["x"], i["gamma"], g),
        _norm_slips(**{
            "spatial BatchNorm's means run over the batch and every pixel (axes 0, 1, 2), m·H·W "
            "values per channel; over the batch alone is one statistic per pixel": dict(axes=(0,)),
            "over the pixels of each example alone (axes 1, 2) is InstanceNorm; the batch axis belongs "
            "to the mean too": dict(axes=(1, 2)),
            "μ and σ² depend on x too: the − mean ĝ and − x̂·mean(ĝ x̂) terms, means over axes 0, 1, 2":
                dict(axes=(0, 1, 2), mean_path=False, var_path=False)})),
    "groupnorm": Exercise(
        "groupnorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "GroupNorm with G = 3 groups on x (m, H, W, C) = (5, 3, 7, 6): each example's channels split "
        "into groups of C/G consecutive channels (channel c in group c // 2); μ, σ² per example and "
        "group over its pixels and channels; x̂ = (x − μ)/√(σ² + 1e-5), y = x̂ γ + β with γ, β (C,). "
        "Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β.",
        _norm_inputs((5, 3, 7, 6)), functools.partial(_batchnorm, groups=3), ("x", "gamma", "beta"),
        lambda i, out, g: (i["x"], i["gamma"], g),
        _norm_slips(**{
            "groups are consecutive channels (c // (C/G), a reshape to (…, G, C/G)); c % G groups "
            "every G-th channel": dict(groups=3, interleaved=True),
            "the means run over each group (C/G channels), not over all C channels of the example":
                dict(groups=1),
            "the means run over a group's channels and pixels together, not one channel at a time":
                dict(groups=6),
            "μ and σ² depend on x too: the − mean ĝ and − x̂·mean(ĝ x̂) terms, means over each group":
                dict(groups=3, mean_path=False, var_path=False)})),
    "rnn_step": Exercise(
        "rnn_step_backward(x, h_prev, Wx, Wh, h_next, g) -> (dx, dh_prev, dWx, dWh, db)",
        "One step of a tanh RNN: h_next = tanh(x Wxᵀ + h_prev Whᵀ + b) with x (m, d) = (3, 5), "
        "h_prev (3, 7), Wx (7, 5), Wh (7, 7), b (7,). Given g = ∂C/∂h_next, return ∂C/∂x, "
        "∂C/∂h_prev, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        lambda rng, dt: dict(zip(("x", "h", "Wx", "Wh", "b"), (0.5 * _normal(k, s, dt) for k, s in zip(
            rng.spawn(5), ((3, 5), (3, 7), (7, 5), (7, 7), (7,)))))),
        lambda x, h, Wx, Wh, b: jnp.tanh(x @ Wx.T + h @ Wh.T + b), ("x", "h", "Wx", "Wh", "b"),
        lambda i, out, g: (i["x"], i["h"], i["Wx"], i["Wh"], out, g),
        {"tanh' at the step's input z: 1 − h_next², with h_next = tanh(z), not 1 − z²":
         lambda i, out, g: _rnn_step_grads(i, g * (1 - jnp.arctanh(out) ** 2)),
         "δ = g ⊙ (1 − h_next²): the gradient goes through tanh first":
         lambda i, out, g: _rnn_step_grads(i, g)}),
    "rnn": Exercise(
        "rnn_backward(x, h0, Wx, Wh, h, g) -> (dx, dh0, dWx, dWh, db)",
        "A tanh RNN over a sequence: h_t = tanh(x_t Wxᵀ + h_{t−1} Whᵀ + b) for t = 1..T from h0, "
        "x (m, T, d) = (3, 5, 2), h0 (3, 7), Wx (7, 2), Wh (7, 7), b (7,); h (3, 5, 7) holds every "
        "h_t. Given g = ∂C/∂h (the loss reads every step), return ∂C/∂x, ∂C/∂h0, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        lambda rng, dt: dict(zip(("x", "h0", "Wx", "Wh", "b"), (0.5 * _normal(k, s, dt) for k, s in zip(
            rng.spawn(5), ((3, 5, 2), (3, 7), (7, 2), (7, 7), (7,)))))),
        _rnn, ("x", "h0", "Wx", "Wh", "b"), lambda i, out, g: (i["x"], i["h0"], i["Wx"], i["Wh"], out, g),
        {"h_{t−1} feeds h_t: carry dh back through time, adding δ_t Wh to step t−1's g":
         lambda i, out, g: _autodiff(_rnn, i, ("x", "h0", "Wx", "Wh", "b"), g, carry=False)}),
    "lstm_step": Exercise(
        "lstm_step_backward(x, h_prev, c_prev, Wx, Wh, b, dh_next, dc_next) -> (dx, dh_prev, dc_prev, "
        "dWx, dWh, db)",
        "One LSTM step: z = x Wxᵀ + h_prev Whᵀ + b split into four (i, f, g, o) of H = 7 each; i, f, "
        "o = σ(·), g = tanh(·); c_next = f c_prev + i g, h_next = o tanh(c_next). x (3, 5), h_prev "
        "and c_prev (3, 7), Wx (28, 5), Wh (28, 7), b (28,). Given dh_next and dc_next (the gradient "
        "from later steps), return ∂C/∂x, ∂C/∂h_prev, ∂C/∂c_prev, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        lambda rng, dt: dict(zip(("x", "h", "c", "Wx", "Wh", "b"), (0.5 * _normal(k, s, dt) for k, s in zip(
            rng.spawn(6), ((3, 5), (3, 7), (3, 7), (28, 5), (28, 7), (28,)))))),
        _lstm_step, ("x", "h", "c", "Wx", "Wh", "b"),
        lambda i, out, g: (i["x"], i["h"], i["c"], i["Wx"], i["Wh"], i["b"], g[:, :7], g[:, 7:]),
        {"c_next also reaches the loss through h_next = o tanh(c_next): dc = dc_next + dh_next o "
         "(1 − tanh² c_next)": lambda i, out, g: _autodiff(_lstm_step, i, ("x", "h", "c", "Wx", "Wh", "b"), g,
                                                           through_tanh=False),
         "c_prev reaches c_next through the forget gate: dc_prev = dc ⊙ f": lambda i, out, g: _autodiff(
             _lstm_step, i, ("x", "h", "c", "Wx", "Wh", "b"), g, forget=False)}),
    "lstm": Exercise(
        "lstm_backward(x, h0, Wx, Wh, b, g) -> (dx, dh0, dWx, dWh, db)",
        "An LSTM over a sequence (the step of lstm_step) from h0 and c0 = 0: x (m, T, d) = (3, 5, 2), "
        "h0 (3, 7), Wx (28, 2), Wh (28, 7), b (28,); the output is every h_t, (3, 5, 7). Given "
        "g = ∂C/∂h, return ∂C/∂x, ∂C/∂h0, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        lambda rng, dt: dict(zip(("x", "h0", "Wx", "Wh", "b"), (0.5 * _normal(k, s, dt) for k, s in zip(
            rng.spawn(5), ((3, 5, 2), (3, 7), (28, 2), (28, 7), (28,)))))),
        _lstm, ("x", "h0", "Wx", "Wh", "b"), lambda i, out, g: (i["x"], i["h0"], i["Wx"], i["Wh"], i["b"], g),
        {"carry dc back through time too: c_t's gradient reaches c_{t−1} as dc ⊙ f":
         lambda i, out, g: _autodiff(_lstm, i, ("x", "h0", "Wx", "Wh", "b"), g, carry_c=False)}),
    "embedding": Exercise(
        "embedding_backward(tokens, vocab, g) -> dE",
        "A word embedding: out = E[tokens] for tokens (m, T) = (3, 5) of a vocabulary of 4, E (4, 6), "
        "out (3, 5, 6). Given g = ∂C/∂out, return ∂C/∂E (4, 6). Tokens repeat.",
        lambda rng, dt: {"tokens": _integers(rng, 4, (3, 5)), "E": _normal(rng, (4, 6), dt)},
        lambda tokens, E: E[tokens], ("E",), lambda i, out, g: (i["tokens"], 4, g),
        {"a token that appears several times collects every occurrence's gradient: a scatter-add "
         "(dE.at[tokens].add(g)), not .set":
         lambda i, out, g: (jnp.zeros_like(i["E"]).at[i["tokens"]].set(g),)}),
    "temporal_affine": Exercise(
        "temporal_affine_backward(x, W, g) -> (dx, dW, db)",
        "A Dense layer at every time step: y = x Wᵀ + b for x (m, T, d) = (3, 5, 2), W (7, 2), b (7,), "
        "y (3, 5, 7). Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂W, ∂C/∂b (summed over batch and time).",
        lambda rng, dt: dict(zip(("x", "W", "b"), (_normal(k, s, dt) for k, s in zip(
            rng.spawn(3), ((3, 5, 2), (7, 2), (7,)))))),
        lambda x, W, b: x @ W.T + b, ("x", "W", "b"), lambda i, out, g: (i["x"], i["W"], g), {}),
    "temporal_softmax": Exercise(
        "temporal_softmax_backward(z, y, mask) -> dz",
        "Softmax + cross-entropy at every step of a sequence, some steps masked out: "
        "C = −(1/m) Σ_x Σ_t mask_xt ln softmax(z_xt)[y_xt] with scores z (m, T, V) = (3, 5, 7), "
        "labels y (3, 5), mask (3, 5) of 0s and 1s. Return ∂C/∂z.",
        lambda rng, dt: {"z": _normal(rng, (3, 5, 7), dt), "y": _integers(rng, 7, (3, 5)),
                         "mask": (rng.random((3, 5)) < 0.6).astype(dt)},
        _temporal_softmax, ("z",), lambda i, out, g: (i["z"], i["y"], i["mask"]),
        {"a masked step (mask 0) adds nothing to C, so its gradient is 0: multiply by the mask":
         lambda i, out, g: _autodiff(_temporal_softmax, {**i, "mask": jnp.ones_like(i["mask"])}, ("z",), g),
         "C divides by m (the batch), not by m·T: every step of every sequence counts fully":
         lambda i, out, g: (_autodiff(_temporal_softmax, i, ("z",), g)[0] / 5,),
         "softmax runs over the vocabulary (axis −1) at each step, not over time":
         lambda i, out, g: ((jax.nn.softmax(i["z"], axis=1) - jax.nn.one_hot(i["y"], 7))
                            * i["mask"][..., None] / 3,)}),
    "makemore": Exercise(
        "makemore_backward(tokens, y, C, W1, gamma, beta, W2, b2) -> (dlogits, dh, dhbn, dhprebn, "
        "demb, dW2, db2, dgamma, dbeta, dW1, dC)",
        "makemore part 4's network, backward step by step. tokens (m, T) = (11, 3) of a vocabulary "
        "of 7, labels y (11,). emb = C[tokens] (11, 3, 2); hprebn = emb.reshape(11, 6) W1ᵀ "
        "(W1 (5, 6); no bias: BatchNorm's β is one); hbn = BatchNorm(hprebn) in training over the "
        "batch (ε = 1e-5) · gamma + beta; "
        "h = tanh(hbn); logits = h W2ᵀ + b2 (W2 (7, 5)); C = mean cross-entropy of softmax(logits) "
        "and y. Return the gradient of C with respect to each intermediate and parameter, in that "
        "order; None for the ones not written yet.",
        _makemore_inputs, _makemore, MAKEMORE,
        lambda i, out, g: tuple(i[n] for n in ("tokens", "y", "C", "W1", "gamma", "beta", "W2", "b2")),
        {"BatchNorm's μ and σ² depend on hprebn too: the three terms (or the compact form), means "
         "over the batch": lambda i, out, g: _only(3, _makemore_grads(i, g, norm_paths=False)[3]),
         "tanh' = 1 − h², at the output h, not at its input hbn":
         lambda i, out, g: _only(2, _makemore_grads(i, g)[1] * (1 - _makemore_hbn(i) ** 2)),
         "a token that appears several times collects every occurrence's gradient: "
         "dC.at[tokens].add, not .set": lambda i, out, g: _only(10, jnp.zeros_like(i["C"]).at[
             i["tokens"]].set(_makemore_grads(i, g)[4]))}),
}
NAMES = tuple(EXERCISES)


def _rnn_step_grads(i, delta):
    """The rnn_step results from a (possibly wrong) ``δ = ∂C/∂z``."""
    return delta @ i["Wx"], delta @ i["Wh"], delta.T @ i["x"], delta.T @ i["h"], delta.sum(0)


def show(name: str) -> None:
    """Print exercise ``name``'s task and the signature to write."""
    ex = _get(name)
    print(f"{name}: write {ex.signature}\n  {ex.task}")


def _get(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; the exercises are {', '.join(NAMES)}")
    return EXERCISES[name]


# ---------------------------------------------------------------------------------- grading
class Result(NamedTuple):
    name: str          # e.g. "dW"
    status: str        # "exact", "close", "wrong" or "not yet" (None returned for it)
    max_abs: float
    max_rel: float
    hint: str


class Report(NamedTuple):
    exercise: str
    results: list[Result]

    @property
    def passed(self) -> bool:
        return all(r.status in ("exact", "close") for r in self.results)

    def __str__(self):
        lines = [f"{self.exercise}: {'passed' if self.passed else 'not yet'}"]
        for r in self.results:
            diff = f"max abs diff {r.max_abs:.1e}, rel {r.max_rel:.1e}" if np.isfinite(r.max_abs) else ""
            lines.append(f"  {r.name:<7} {r.status:<6} {diff}{' — ' + r.hint if r.hint else ''}")
        return "\n".join(lines)


def _tolerances(dtype):
    return (1e-12, 1e-7) if dtype == jnp.float64 else (1e-5, 1e-3)   # exact, close (relative)


def _diff(got, want):
    abs_ = float(np.max(np.abs(got - want))) if want.size else 0.0
    return abs_, abs_ / max(float(np.max(np.abs(want))), 1e-30)


def _hint(got, want, m: int, mistakes, close_rel) -> str:
    """Why ``got`` is not ``want``: a known shape or scale slip, one of the exercise's mistakes."""
    if got.shape == want.shape and not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return (f"{bad} of {got.size} values are NaN or infinite: a division by zero, the log or "
                "square root of a negative or zero, or an inf − inf (is an ε missing?)")
    if got.shape != want.shape:
        if got.shape == want.T.shape and want.ndim == 2:
            return f"transposed: the result should be {want.shape}, got {got.shape}"
        if got.shape[1:] == want.shape and got.shape[0] == m:
            return f"sum over the batch axis: one gradient of shape {want.shape}, not one per example"
        return f"shape {got.shape}, expected {want.shape}"

    def same(a, b):
        return b is not None and b.shape == a.shape and _diff(a, b)[1] <= close_rel

    for hint, wrong in mistakes.items():
        if same(got, wrong):
            return hint
    if want.ndim == 2 and want.shape[0] == want.shape[1] and same(got, want.T):
        return "transposed"
    for factor, hint in ((-1.0, "the sign is flipped"), (2.0, "off by a factor 2"),
                         (0.5, "off by a factor ½"), (float(m), f"missing the batch mean: divide by m = {m}"),
                         (1 / m, f"divided by m = {m} once too often")):
        if same(got, factor * want):
            return hint
    return "no typical slip matches: compare each step with the equations"


def _inputs(name: str, seed: int, dtype) -> tuple[dict, np.ndarray]:
    """The exercise's random inputs and the upstream gradient ``g`` (1 for a cost, else drawn),
    from ``seed``, drawn in NumPy: grading compiles only the reference and the student's ops."""
    rng = np.random.default_rng(seed)
    ex = EXERCISES[name]
    inputs = ex.inputs(rng, dtype)
    out = jax.eval_shape(lambda i: ex.forward(**i), inputs)
    return inputs, (np.ones((), dtype) if out.ndim == 0 else _normal(rng, out.shape, dtype))


@functools.partial(jax.jit, static_argnums=0)
def _reference(name: str, inputs: dict, g):
    """The forward's output, ``jax.vjp``'s gradients for ``g`` and the student function's
    arguments: grading compiles one program per exercise for them, not one per operation."""
    ex = EXERCISES[name]
    out = ex.forward(**inputs)
    return out, _autodiff(ex.forward, inputs, ex.grads, g), ex.args(inputs, out, g)


@functools.partial(jax.jit, static_argnums=0)
def _mistakes(name: str, inputs, out, g):
    """Each of the exercise's typical slips' results (hint -> results), one compiled program."""
    return {hint: f(inputs, out, g) for hint, f in EXERCISES[name].mistakes.items()}


def check(name: str, backward: Callable, *, seed: int = 0, verbose: bool = True) -> Report:
    """Grade ``backward`` for exercise ``name`` against ``jax.vjp`` of its forward.

    The inputs are random (``seed``); ``g`` (the upstream gradient) too, except for costs (``g``
    = 1). Returns a :class:`Report` (``report.passed``), printed when ``verbose``.
    """
    ex = _get(name)
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    inputs, g = _inputs(name, seed, dtype)
    out, want, student_args = _reference(name, inputs, g)
    student_args = [int(a) if a.ndim == 0 else a for a in student_args]   # (a count, such as vocab)
    got = backward(*student_args)
    if got is None:
        report = Report(name, [Result("result", "wrong", np.inf, np.inf,
                                      f"nothing returned yet: write {ex.signature}")])
        if verbose:
            print(report)
        return report
    got = got if isinstance(got, tuple | list) else (got,)
    names = [n.strip() for n in ex.signature.split("->")[1].strip(" ()").split(",")]
    exact_rel, close_rel = _tolerances(dtype)
    want = [np.asarray(w) for w in want]
    wrong_by = functools.cache(lambda: jax.tree.map(np.asarray, _mistakes(name, inputs, out, g)))
    m = student_args[0].shape[0]                          # batch (or sequence) length
    results = []
    if len(got) != len(want):
        results.append(Result("result", "wrong", np.inf, np.inf,
                              f"return {len(want)} arrays ({', '.join(names)}), got {len(got)}"))
        got = ()
    for i, (name_i, a, w) in enumerate(zip(names, got, want)):
        if a is None:                                     # working on one output at a time
            results.append(Result(name_i, "not yet", np.inf, np.inf, f"None returned: write {name_i} next"))
            continue
        a = np.asarray(a, dtype)
        if a.shape == w.shape:
            abs_, rel = _diff(a, w)
            if rel <= exact_rel:
                results.append(Result(name_i, "exact", abs_, rel, ""))
                continue
            if rel <= close_rel:
                results.append(Result(name_i, "close", abs_, rel, "right up to rounding"))
                continue
        else:
            abs_ = rel = np.inf
        mistakes = {h: r[i] for h, r in wrong_by().items() if r[i] is not None}   # only when wrong
        results.append(Result(name_i, "wrong", abs_, rel, _hint(a, w, m, mistakes, close_rel)))
    report = Report(name, results)
    if verbose:
        print(report)
    return report
