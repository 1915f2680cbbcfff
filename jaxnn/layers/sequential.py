"""Layers made of layers: [`Sequential`][jaxnn.layers.sequential.Sequential] (one after another),
[`Residual`][jaxnn.layers.sequential.Residual] (``y = x + f(x)``) and [`Remat`][jaxnn.layers.sequential.Remat]
(``f(x)``, recomputed in the backward). Each follows the layer contract itself ([`jaxnn.layers.base`][]), so
they nest: a Sequential inside a Sequential, a Residual around a block, a whole model's body.

``Sequential.backward`` is the backward sweep of backpropagation: each layer's own ``backward`` in
reverse order, the gradient ``∂C/∂a`` handed from layer to layer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.layers import base


class SequentialCache(NamedTuple):
    """Each layer's cache, in order, and the last layer's output."""

    layers: tuple
    out: jax.Array


@base.register
@dataclasses.dataclass(frozen=True)
class Sequential:
    """The layers one after another: ``y = f_L(… f_2(f_1(x)))``. Params: a list with each layer's.

    It exposes the activation its last layer applies last, so a Sequential can end a model whose
    loss fuses the output delta (softmax + cross-entropy).
    """

    layers: tuple

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, base.Layer):
                raise TypeError(f"layer {i} ({layer!r}) is not a layer: it needs init, forward "
                                "and backward (see jaxnn.layers.base)")

    def init(self, key, in_shape, dtype=jnp.float32):
        params, shape = [], tuple(in_shape)
        for i, (layer, k) in enumerate(zip(self.layers, jax.random.split(key, len(self.layers)))):
            try:
                p, shape = layer.init(k, shape, dtype)
            except ValueError as e:
                raise ValueError(f"layer {i} ({layer}) cannot take input shape {shape}: {e}") \
                    from None
            params.append(p)
        return params, tuple(shape)

    def forward(self, params, x, key=None):
        keys = [None] * len(self.layers) if key is None else jax.random.split(key, len(self.layers))
        caches = []
        for layer, p, k in zip(self.layers, params, keys):
            x, cache = base.forward(layer, p, x, k)
            caches.append(cache)
        return x, SequentialCache(tuple(caches), x)

    def backward(self, params, cache, g):
        return self._sweep(params, cache, *self.layers[-1].backward(params[-1], cache.layers[-1], g))

    def backward_z(self, params, cache, delta):
        last = base.backward_z(self.layers[-1], params[-1], cache.layers[-1], delta)
        return self._sweep(params, cache, *last)

    def _sweep(self, params, cache, last_grads, g):
        """The rest of the layers in reverse, from ``g = ∂C/∂a`` below the last one."""
        grads = [None] * len(self.layers)
        grads[-1] = last_grads
        for i in reversed(range(len(self.layers) - 1)):
            grads[i], g = self.layers[i].backward(params[i], cache.layers[i], g)
        return grads, g

    @property
    def activation(self) -> str:
        return base.output_activation(self.layers[-1])

    def pre_activation(self, cache):
        return base.pre_activation(self.layers[-1], cache.layers[-1], cache.out)

    def children(self, cache) -> list[tuple[Any, Any]]:
        return list(zip(self.layers, cache.layers))

    def new_state(self, params, cache) -> list:
        return [base.new_state(layer, p, c) for layer, p, c in zip(self.layers, params, cache.layers)]

    @property
    def stochastic(self) -> bool:
        """A layer inside is random while training (takes a key)."""
        return any(base.stochastic(layer) for layer in self.layers)

    @property
    def integer_input(self) -> bool:
        """The first layer takes integers (tokens), so the input is not cast to floats."""
        return base.integer_input(self.layers[0])

    @property
    def loop_preference(self) -> dict[str, str]:
        """``"python"`` on a backend where any layer inside prefers it (see ``fit(loop=)``)."""
        return {backend: "python" for layer in self.layers
                for backend, loop in base.loop_preference(layer).items() if loop == "python"}


class Wrapper:
    """What a layer that wraps one layer, ``self.layer``, takes over from it (Residual, Remat)."""

    def __post_init__(self):
        if not isinstance(self.layer, base.Layer):
            raise TypeError(f"{type(self).__name__} wraps a layer (init, forward and backward, see "
                            f"jaxnn.layers.base), got {self.layer!r}")

    @property
    def stochastic(self) -> bool:
        return base.stochastic(self.layer)

    @property
    def loop_preference(self) -> dict[str, str]:
        return base.loop_preference(self.layer)


@base.register
@dataclasses.dataclass(frozen=True)
class Residual(Wrapper):
    """``y = x + f(x)`` for a layer (or block) ``f`` whose output has the input's shape.

    Backward: ``∂C/∂x = g + f.backward(g)``, the gradient through the identity plus the one
    through ``f``; the parameter gradients are ``f``'s. Params: ``f``'s.
    """

    layer: Any

    def init(self, key, in_shape, dtype=jnp.float32):
        params, out_shape = self.layer.init(key, in_shape, dtype)
        if tuple(out_shape) != tuple(in_shape):
            raise ValueError(f"Residual needs its layer to keep the shape, but {self.layer} maps "
                             f"{tuple(in_shape)} to {tuple(out_shape)}")
        return params, tuple(in_shape)

    def forward(self, params, x, key=None):
        y, cache = base.forward(self.layer, params, x, key)
        return x + y, cache

    def backward(self, params, cache, g):
        grads, g_f = self.layer.backward(params, cache, g)
        return grads, g + g_f

    def children(self, cache) -> list[tuple[Any, Any]]:
        return [(self.layer, cache)]

    def new_state(self, params, cache):
        return base.new_state(self.layer, params, cache)


class RematCache(NamedTuple):
    """The input and the forward's key, which the backward recomputes from, and the inner cache,
    which only tools read (the new state, the gradient check's kinks): the backward does not, so
    a compiled training step frees it as soon as the forward is done with it."""

    x: jax.Array
    key: Any
    inner: Any


@base.register
@dataclasses.dataclass(frozen=True)
class Remat(Wrapper):
    """``f(x)`` for a layer (or block) ``f``, keeping only ``x`` for the backward, which runs ``f``'s
    forward again to rebuild ``f``'s cache and then ``f``'s own backward (gradient checkpointing:
    memory for compute). Wrapped around each block of a deep model, what is kept between forward
    and backward shrinks to the blocks' inputs plus one block's cache at a time; the price is a
    second forward of every block. The gradients are ``f``'s, computed the same way.

    The key of a random layer (``Dropout``) is kept, so the second forward draws the same mask.
    Params: ``f``'s.
    """

    layer: Any

    def init(self, key, in_shape, dtype=jnp.float32):
        return self.layer.init(key, in_shape, dtype)

    def forward(self, params, x, key=None):
        y, inner = base.forward(self.layer, params, x, key)
        return y, RematCache(x, key, inner)

    def backward(self, params, cache, g):
        # The second forward must wait for g. Without a data dependency XLA's CPU scheduler runs it
        # early, beside the first, and keeps its values (optimization_barrier does not stop that,
        # see docs/attention.md). Adding 0·g₀ to x ties the two, and keeps CSE from merging the two
        # forwards. (A non-finite g₀ makes the gradients NaN, as they would be anyway.)
        x = cache.x + (0 * g.reshape(-1)[0]).astype(cache.x.dtype)
        return self.layer.backward(params, base.forward(self.layer, params, x, cache.key)[1], g)

    def children(self, cache) -> list[tuple[Any, Any]]:
        return [(self.layer, cache.inner)]

    def new_state(self, params, cache):
        return base.new_state(self.layer, params, cache.inner)
