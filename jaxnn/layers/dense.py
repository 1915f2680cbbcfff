"""Dense, Activation and Flatten layers: the MLP's pieces as init/forward/backward triples
(the contract is in [`jaxnn.layers.base`][]).

``Dense(n, activation)`` is one layer ``l`` of a feedforward network, ``a^l = σ(W^l a^{l-1} + b^l)``,
and its ``backward`` is where BP2–BP4 live; a [`jaxnn.Network`][] is a stack of them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import activations, initializers
from jaxnn.layers import base, kernels


class DenseCache(NamedTuple):
    """``x = a^{l-1}`` ``(m, n_{l-1})``, ``z = z^l`` and ``a = a^l`` ``(m, n_l)``."""

    x: jax.Array
    z: jax.Array
    a: jax.Array


class ActivationCache(NamedTuple):
    z: jax.Array
    a: jax.Array


@base.register
@dataclasses.dataclass(frozen=True)
class Dense:
    """Fully connected, then an activation: ``z = x Wᵀ + b``, ``a = σ(z)`` over the last axis (any
    leading axes: batch, time). In the notation ``z^l = W^l a^{l-1} + b^l`` with ``W^l`` of shape
    ``(n_l, n_{l-1})``, batch-first (one example per row, hence ``x Wᵀ``).

    Params ``{"W": (units, n_in), "b": (units,)}``, He-initialised (biases zero); ``bias=False``:
    no ``b`` (``z = x Wᵀ``), for a layer followed by a normalisation whose shift ``β`` takes its place.
    """

    units: int
    activation: str = "identity"
    bias: bool = True

    def __post_init__(self):
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units <= 0:
            raise ValueError(f"Dense units must be a positive int, got {self.units!r}")
        object.__setattr__(self, "activation", activations.get(self.activation).name)

    def init(self, key, in_shape, dtype=jnp.float32):
        he = initializers.get("he")
        params = {"W": he(key, (self.units, in_shape[-1]), dtype)}
        if self.bias:
            params["b"] = he(key, (self.units,), dtype)
        return params, (*in_shape[:-1], self.units)

    def forward(self, params, x):
        if x.shape[-1] != params["W"].shape[1]:
            raise ValueError(f"{self}: input has {x.shape[-1]} features, the layer expects "
                             f"{params['W'].shape[1]} (input shape {x.shape})")
        z = x @ params["W"].T + params.get("b", 0)
        a = activations.get(self.activation).fn(z)
        return a, DenseCache(x, z, a)

    def pre_activation(self, cache):
        return cache.z

    def backward(self, params, cache, g):
        delta = activations.get(self.activation).backward(cache.z, cache.a, g)  # BP2: ⊙ σ'(z^l)
        return self.backward_z(params, cache, delta)

    def backward_z(self, params, cache, delta):
        """From ``δ = ∂C/∂z``: the weight and bias gradients and ``δ W`` for the layer below."""
        grads = {"W": kernels.sum_over_rows(delta, cache.x)}   # BP4: ∂C/∂W^l = δ^l (a^{l-1})ᵀ
        if "b" in params:
            grads["b"] = delta.reshape(-1, delta.shape[-1]).sum(axis=0)   # BP3: ∂C/∂b^l = δ^l
        return grads, delta @ params["W"]          # BP2, first half: (W^l)ᵀ δ^l; σ' comes below


@base.register
@dataclasses.dataclass(frozen=True)
class Activation:
    """An activation as its own layer (``"relu"``, ``"softmax"``, ...): ``a = σ(z)``; no params."""

    name: str

    def __post_init__(self):
        object.__setattr__(self, "name", activations.get(self.name).name)

    def init(self, key, in_shape, dtype=jnp.float32):
        return {}, in_shape

    @property
    def activation(self) -> str:
        return self.name

    def forward(self, params, z):
        a = activations.get(self.name).fn(z)
        return a, ActivationCache(z, a)

    def pre_activation(self, cache):
        return cache.z

    def backward(self, params, cache, g):
        return {}, activations.get(self.name).backward(cache.z, cache.a, g)   # ⊙ σ'(z)

    def backward_z(self, params, cache, delta):
        return {}, delta


@base.register
@dataclasses.dataclass(frozen=True)
class Flatten:
    """``(m, d1, d2, ...)`` → ``(m, d1·d2·…)``; no params."""

    def init(self, key, in_shape, dtype=jnp.float32):
        return {}, (math.prod(in_shape),)

    def forward(self, params, x):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, params, shape, g):
        return {}, g.reshape(shape)


@base.register
@dataclasses.dataclass(frozen=True)
class Dropout:
    """In training, each input zeroed with probability ``rate`` and the rest scaled by
    ``1/(1 − rate)`` (so the expected output is the input); at evaluation (no key) the identity.
    Backward: ``g ⊙ mask``, the same mask the forward drew. No params."""

    rate: float = 0.5
    stochastic = True             # not a field: takes forward(params, x, key)

    def __post_init__(self):
        if not 0 <= self.rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {self.rate!r}")

    def init(self, key, in_shape, dtype=jnp.float32):
        return {}, in_shape

    def forward(self, params, x, key=None):
        if key is None or self.rate == 0:
            return x, None                                    # evaluation: nothing dropped
        keep = jax.random.bernoulli(key, 1.0 - self.rate, x.shape)
        mask = keep.astype(x.dtype) / (1.0 - self.rate)
        return x * mask, mask

    def backward(self, params, mask, g):
        return {}, g if mask is None else g * mask
