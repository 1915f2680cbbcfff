"""The MLP's pieces: activations, costs, a Dense layer, dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.exercises.base import Exercise, _autodiff, _integers, _normal, _normals, _onehot


def _z_dense(i):
    return i["x"] @ i["W"].T + i["b"]


def _hinge(s, y, clip=True, correct_path=True):
    m, n = s.shape
    correct = s[jnp.arange(m), y][:, None]
    correct = correct if correct_path else jax.lax.stop_gradient(correct)   # False: a slip
    margins = s - correct + 1
    margins = jnp.maximum(0, margins) if clip else margins                 # False: a slip
    return jnp.where(jnp.arange(n) == y[:, None], 0, margins).sum() / m


def _relu_inputs(rng, dt):
    z = 2 * _normal(rng, (7, 5), dt)
    z[::2, ::2] = 0                                         # exact zeros: ReLU'(0) matters
    return {"z": z}


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
        _normals(("W", "b", "x"), ((3, 4), (3,), (5, 4))),
        lambda W, b, x: jax.nn.sigmoid(x @ W.T + b), ("W", "b", "x"),
        lambda i, out, g: (i["x"], i["W"], i["x"] @ i["W"].T + i["b"], out, g),
        {"δ is g ⊙ σ'(z), not g: multiply by a·(1 − a) first":
         lambda i, out, g: (g.T @ i["x"], g.sum(0), g @ i["W"]),
         "σ'(z) = a·(1 − a), taken at the activation a = σ(z), not z·(1 − z)": lambda i, out, g: (
             lambda d: (d.T @ i["x"], d.sum(0), d @ i["W"]))(g * _z_dense(i) * (1 - _z_dense(i)))}),
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
}
