"""The "bias neuron": the bias folded into ``W`` as the weight of an extra input fixed at 1.

One can give every layer but the output an extra neuron with constant activation 1 at index 0;
its outgoing weights play the role of ``b``. So ``W̃^l = [b^l | W^l]`` of shape ``(n_l, 1 + n_{l-1})``
and ``z^l = W̃^l [1; a^{l-1}]``, which equals ``W^l a^{l-1} + b^l``. The two formulations give the
same outputs and the same gradients (``∂C/∂W̃ = [∂C/∂b | ∂C/∂W]``); the tests prove it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn import activations
from jaxnn.layers.model import Model, Params

Array = jax.Array


def fold(params: Params) -> list[Array]:
    """``[{"W", "b"}, ...]`` → ``[W̃^l = [b | W]]``, each ``(n_l, 1 + n_{l-1})``. Works on grads too."""
    return [jnp.concatenate([p["b"][:, None], p["W"]], axis=1) for p in params]


def unfold(weights: list[Array]) -> Params:
    """Inverse of :func:`fold`: ``W̃ = [b | W]`` → ``{"W": W̃[:, 1:], "b": W̃[:, 0]}``."""
    return [{"W": w[:, 1:], "b": w[:, 0]} for w in weights]


def forward_folded(model: Model, weights: list[Array], x) -> Array:
    """The forward pass of a :func:`jaxnn.Network` with bias neurons: prepend the bias neuron's 1
    to each layer's input. ``(m, n_L)``."""
    a = jnp.asarray(x)
    for w, name in zip(weights, model.activations, strict=True):
        ones = jnp.ones((a.shape[0], 1), a.dtype)
        a = activations.get(name).fn(jnp.concatenate([ones, a], axis=1) @ w.T)
    return a
