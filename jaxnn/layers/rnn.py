"""A simple recurrent layer with backpropagation through time written out.

``h_t = tanh(W_h h_{t-1} + W_x x_t + b)``, ``h_0 = 0``. Batch-first sequences
``x: (m, T, d)``. Forward: ``x_t W_xᵀ + b`` for all steps in one product, then a ``lax.scan``
over time adding ``h_{t−1} W_hᵀ`` (the only part that waits for the previous step); backward a
reverse ``lax.scan`` carrying ``∂C/∂h_t`` back through the recurrence and emitting every ``δ_t``:

- ``δ_t = (∂C/∂h_t) ⊙ (1 − h_t²)``                 (through tanh)
- ``δ_t W_h`` flows on to ``h_{t−1}``;  ``∂C/∂x_t = δ_t W_x``

then the weight gradients over all steps at once, as single matrix products over ``T·m`` rows:
``∂C/∂W_x = Σ_t δ_tᵀ x_t``, ``∂C/∂W_h = Σ_t δ_tᵀ h_{t−1}``, ``∂C/∂b = Σ_t δ_t``.

Outputs: the last state ``(m, H)`` (many-to-one) or every state ``(m, T, H)`` (many-to-many;
a following [`Dense`][jaxnn.layers.Dense] then acts per time step, ``y_t = g(W_y h_t + c)``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn import initializers
from jaxnn.layers import base, kernels


@base.register
@dataclasses.dataclass(frozen=True)
class SimpleRNN:
    """Elman RNN with tanh. Params ``{"Wx": (H, d), "Wh": (H, H), "b": (H,)}``."""

    units: int
    return_sequences: bool = False

    def init(self, key, in_shape, dtype=jnp.float32):
        return init_recurrent(self, key, in_shape, dtype)

    def forward(self, params, x):
        check_sequences(self, params, x)
        zx = jnp.swapaxes(x, 0, 1) @ params["Wx"].T + params["b"]   # x_t W_xᵀ + b, all t: (T, m, H)

        def step(h, zx_t):                                           # only h W_hᵀ waits for h
            h = jnp.tanh(zx_t + h @ params["Wh"].T)
            return h, h

        _, hs = lax.scan(step, jnp.zeros_like(zx[0]), zx)            # hs: (T, m, H); h_0 = 0
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

        def step(dh_next, inputs):                                   # backward through time
            g_t, h_t = inputs
            delta = (g_t + dh_next) * (1 - h_t * h_t)                # through tanh
            return delta @ params["Wh"], delta                       # on to h_{t-1}; keep δ_t

        _, deltas = lax.scan(step, jnp.zeros_like(hs[0]), (g_out, hs), reverse=True)
        return weight_grads(deltas, xs, h_prev), jnp.swapaxes(deltas @ params["Wx"], 0, 1)


def init_recurrent(layer, key, in_shape, dtype, gates: int = 1):
    """``{"Wx": (gates·H, d), "Wh": (gates·H, H), "b": (gates·H,)}`` (``lecun``: weights
    N(0, 1/n_in), biases 0) and the output shape, for a recurrent layer with ``units = H`` on
    ``(T, d)``."""
    if len(in_shape) != 2 or in_shape[0] == 0:
        raise ValueError(f"{layer}: expects sequences (T, features) with T ≥ 1 per example, "
                         f"got {in_shape}")
    kx, kh = jax.random.split(key)
    d, H = in_shape[1], layer.units
    lecun = initializers.get("lecun")
    params = {"Wx": lecun(kx, (gates * H, d), dtype), "Wh": lecun(kh, (gates * H, H), dtype),
              "b": lecun(kx, (gates * H,), dtype)}
    return params, ((in_shape[0], H) if layer.return_sequences else (H,))


def check_sequences(layer, params, x) -> None:
    """``x`` must be ``(batch, T ≥ 1, features)`` with the features the layer's ``Wx`` takes."""
    base.check_rank(layer, x, 3, "(batch, time, features)")
    if x.shape[1] == 0:
        raise ValueError(f"{layer}: got sequences of length 0; every sequence needs ≥ 1 step")
    if x.shape[2] != params["Wx"].shape[1]:
        raise ValueError(f"{layer}: input has {x.shape[2]} features per step, the layer "
                         f"expects {params['Wx'].shape[1]}")


def weight_grads(deltas, xs, h_prev) -> dict:
    """BPTT's parameter gradients over all steps at once, as single products over ``T·m`` rows:
    ``Σ_t δ_tᵀ x_t``, ``Σ_t δ_tᵀ h_{t−1}``, ``Σ_t δ_t`` (``deltas``/``xs``/``h_prev`` time-first)."""
    d2 = deltas.reshape(-1, deltas.shape[-1])
    return {"Wx": kernels.sum_over_rows(d2, xs), "Wh": kernels.sum_over_rows(d2, h_prev),
            "b": d2.sum(axis=0)}
