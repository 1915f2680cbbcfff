"""A simple recurrent layer with backpropagation through time written out.

Seed 000/004: ``h_t = tanh(W_h h_{t-1} + W_x x_t + b)``, ``h_0 = 0``. Batch-first sequences
``x: (m, T, d)``. Forward is a ``lax.scan`` over time; backward a reverse ``lax.scan`` carrying
``∂C/∂h_t`` back through the recurrence:

- ``δ_t = (∂C/∂h_t) ⊙ (1 − h_t²)``                 (through tanh)
- ``∂C/∂W_x += δ_tᵀ x_t``,  ``∂C/∂W_h += δ_tᵀ h_{t−1}``,  ``∂C/∂b += Σ δ_t``
- ``∂C/∂x_t = δ_t W_x``,  and ``δ_t W_h`` flows on to ``h_{t−1}``.

Outputs: the last state ``(m, H)`` (many-to-one) or every state ``(m, T, H)`` (many-to-many;
a following :class:`Dense` then acts per time step, ``y_t = g(W_y h_t + c)``).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.layers.dense import _check_rank


@dataclasses.dataclass(frozen=True)
class SimpleRNN:
    """Elman RNN with tanh. Params ``{"Wx": (H, d), "Wh": (H, H), "b": (H,)}``."""

    units: int
    return_sequences: bool = False

    def init(self, key, in_shape, dtype=jnp.float32):
        if len(in_shape) != 2 or in_shape[0] == 0:
            raise ValueError(f"{self}: expects sequences (T, features) with T ≥ 1 per example, "
                             f"got {in_shape}")
        kx, kh = jax.random.split(key)
        d, H = in_shape[1], self.units
        params = {"Wx": jax.random.normal(kx, (H, d), dtype) / math.sqrt(d),
                  "Wh": jax.random.normal(kh, (H, H), dtype) / math.sqrt(H),
                  "b": jnp.zeros(H, dtype)}
        return params, ((in_shape[0], H) if self.return_sequences else (H,))

    def forward(self, params, x):
        _check_rank(self, x, 3, "(batch, time, features)")
        if x.shape[1] == 0:
            raise ValueError(f"{self}: got sequences of length 0; every sequence needs ≥ 1 step")
        if x.shape[2] != params["Wx"].shape[1]:
            raise ValueError(f"{self}: input has {x.shape[2]} features per step, the layer "
                             f"expects {params['Wx'].shape[1]}")

        def step(h, x_t):
            h = jnp.tanh(x_t @ params["Wx"].T + h @ params["Wh"].T + params["b"])
            return h, h

        h0 = jnp.zeros((x.shape[0], self.units), x.dtype)
        _, hs = lax.scan(step, h0, jnp.swapaxes(x, 0, 1))         # hs: (T, m, H)
        out = jnp.swapaxes(hs, 0, 1) if self.return_sequences else hs[-1]
        return out, (x, hs)

    def backward(self, params, cache, g):
        x, hs = cache
        xs = jnp.swapaxes(x, 0, 1)                                   # (T, m, d)
        h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]])  # h_{t-1}, with h_0 = 0
        if self.return_sequences:
            g_out = jnp.swapaxes(g, 0, 1)                            # ∂C/∂h_t from the outputs
        else:
            g_out = jnp.zeros_like(hs).at[-1].set(g)                 # only the last state is used

        def step(carry, inputs):
            dh_next, grads = carry
            g_t, h_t, h_tm1, x_t = inputs
            delta = (g_t + dh_next) * (1 - h_t * h_t)                # through tanh
            grads = {"Wx": grads["Wx"] + delta.T @ x_t,
                     "Wh": grads["Wh"] + delta.T @ h_tm1,
                     "b": grads["b"] + delta.sum(axis=0)}
            return (delta @ params["Wh"], grads), delta @ params["Wx"]

        zeros = jax.tree.map(jnp.zeros_like, params)
        (_, grads), g_xs = lax.scan(step, (jnp.zeros_like(hs[0]), zeros),
                                    (g_out, hs, h_prev, xs), reverse=True)
        return grads, jnp.swapaxes(g_xs, 0, 1)
