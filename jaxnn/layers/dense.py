"""Dense, Activation and Flatten layers: the MLP's pieces as init/forward/backward triples.

Every layer is a frozen dataclass (a hashable spec, static under ``jit``) with three methods:

- ``init(key, in_shape, dtype) -> (params, out_shape)``; shapes exclude the batch axis;
- ``forward(params, x) -> (y, cache)``;
- ``backward(params, cache, g) -> (grads, g_x)``: ``g = ∂C/∂y`` in, ``∂C/∂params`` and ``∂C/∂x``
  out, written out by hand (no ``jax.grad``/``jax.vjp``).

``g`` is the gradient of the *batch-mean* cost (the model scales the output delta by 1/m once), so
weight gradients are plain sums over the batch.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxnn import activations


def _check_rank(layer, x, rank: int, what: str):
    if x.ndim != rank:
        raise ValueError(f"{layer}: expects input of rank {rank} {what}, got shape {x.shape}")


@dataclasses.dataclass(frozen=True)
class Dense:
    """Fully connected: ``z = x Wᵀ + b`` over the last axis (any leading axes: batch, time).

    Params ``{"W": (n_out, n_in), "b": (n_out,)}``, He-initialised (biases zero).
    """

    units: int

    def __post_init__(self):
        if not isinstance(self.units, int) or self.units <= 0:
            raise ValueError(f"Dense units must be a positive int, got {self.units!r}")

    def init(self, key, in_shape, dtype=jnp.float32):
        n_in = in_shape[-1]
        W = math.sqrt(2.0 / n_in) * jax.random.normal(key, (self.units, n_in), dtype)
        return {"W": W, "b": jnp.zeros(self.units, dtype)}, (*in_shape[:-1], self.units)

    def forward(self, params, x):
        if x.shape[-1] != params["W"].shape[1]:
            raise ValueError(f"{self}: input has {x.shape[-1]} features, the layer expects "
                             f"{params['W'].shape[1]} (input shape {x.shape})")
        return x @ params["W"].T + params["b"], x

    def backward(self, params, x, g):
        g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        grads = {"W": g2.T @ x2, "b": g2.sum(axis=0)}            # BP4, BP3
        return grads, g @ params["W"]                             # Wᵀ δ (BP2 without σ')


@dataclasses.dataclass(frozen=True)
class Activation:
    """An activation as its own layer (``"relu"``, ``"softmax"``, ...): ``a = σ(z)``; no params."""

    name: str

    def __post_init__(self):
        object.__setattr__(self, "name", activations.get(self.name).name)

    def init(self, key, in_shape, dtype=jnp.float32):
        return {}, in_shape

    def forward(self, params, z):
        a = activations.get(self.name).fn(z)
        return a, (z, a)

    def backward(self, params, cache, g):
        z, a = cache
        return {}, activations.get(self.name).backward(z, a, g)   # ⊙ σ'(z)


@dataclasses.dataclass(frozen=True)
class Flatten:
    """``(m, d1, d2, ...)`` → ``(m, d1·d2·…)``; no params."""

    def init(self, key, in_shape, dtype=jnp.float32):
        return {}, (math.prod(in_shape),)

    def forward(self, params, x):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, params, shape, g):
        return {}, g.reshape(shape)
