"""Long short-term memory with backpropagation through time written out.

Batch-first sequences ``x: (m, T, d)``; ``H = units``. Per step, with the four gates stacked in one
product (order ``i, f, g, o``; ``W_x: (4H, d)``, ``W_h: (4H, H)``, ``b: (4H,)``):

- ``z_t = x_t W_xᵀ + h_{t−1} W_hᵀ + b``
- ``i = σ(z_i)``, ``f = σ(z_f)``, ``g = tanh(z_g)``, ``o = σ(z_o)``
- ``c_t = f ⊙ c_{t−1} + i ⊙ g``,  ``h_t = o ⊙ tanh(c_t)``;  ``h_0 = c_0 = 0``

Backward, a reverse ``lax.scan`` carrying ``∂C/∂h_t`` and ``∂C/∂c_t`` (``dh`` includes the
gradient arriving from the output at step ``t``):

- ``do = dh ⊙ tanh(c_t)``,  ``dc = dc_{t+1} + dh ⊙ o ⊙ (1 − tanh²(c_t))``
- ``di = dc ⊙ g``,  ``dg = dc ⊙ i``,  ``df = dc ⊙ c_{t−1}``,  and ``dc ⊙ f`` flows on to ``c_{t−1}``
- ``δ_t = [di ⊙ i(1−i), df ⊙ f(1−f), dg ⊙ (1−g²), do ⊙ o(1−o)]``  (``∂C/∂z_t``, ``(m, 4H)``)
- ``δ_t W_h`` flows on to ``h_{t−1}``;  ``∂C/∂x_t = δ_t W_x``

then over all steps at once: ``∂C/∂W_x = Σ_t δ_tᵀ x_t``, ``∂C/∂W_h = Σ_t δ_tᵀ h_{t−1}``,
``∂C/∂b = Σ_t δ_t``. The forget gate's bias starts at 1 (remember by default).

Only ``h_{t−1} W_hᵀ`` has to wait for the previous step: ``x_t W_xᵀ + b`` for all ``T`` steps is
one product before the recurrence, and ``∂C/∂x`` and the weight gradients one product each after
it. The four gates are one ``tanh`` over ``(m, 4H)``: ``σ(z) = ½ tanh(z/2) + ½``, so with
``u = tanh(s ⊙ z)`` (``s = ½`` on the sigmoid gates, 1 on ``g``) the gates are ``s ⊙ u + (1 − s)``
and their derivative ``s² ⊙ (1 − u²)`` (``σ(1 − σ)`` and ``1 − g²``); the cache keeps ``u``.

In the backward, only ``dh`` and ``dc`` wait for the step after: ``δ_t`` is linear in them,
``δ_t = A_t ⊙ [dc, dc, dc, dc] + B_t ⊙ [dh, dh, dh, dh]`` with ``A_t = [g, c_{t−1}, i, 0] ⊙ z'``
and ``B_t = [0, 0, 0, tanh(c_t)] ⊙ z'`` (``z' = s² ⊙ (1 − u²)``), so ``A``, ``B``, ``o ⊙ (1 −
tanh²(c_t))`` and ``f`` are computed for all ``T`` steps before the reverse scan, and a step is one
product and one small elementwise kernel (otherwise XLA's CPU backend runs each step's slices,
concatenation and ``tanh`` as a dozen small kernels that together take longer than the product).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from jaxnn.layers import base
from jaxnn.layers.rnn import check_sequences, init_recurrent, weight_grads


@base.register
@dataclasses.dataclass(frozen=True)
class LSTM:
    """LSTM layer. Params ``{"Wx": (4H, d), "Wh": (4H, H), "b": (4H,)}``, gates ``i, f, g, o``.
    Output: the last state ``(m, H)``, or every state ``(m, T, H)`` with ``return_sequences``."""

    units: int
    return_sequences: bool = False

    def __post_init__(self):
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units <= 0:
            raise ValueError(f"LSTM units must be a positive int, got {self.units!r}")

    def init(self, key, in_shape, dtype=jnp.float32):
        params, out_shape = init_recurrent(self, key, in_shape, dtype, gates=4)
        H = self.units
        params["b"] = params["b"].at[H:2 * H].set(1.0)                 # forget gate bias 1
        return params, out_shape

    def _gate_scale(self, dtype):
        """``s`` (``(4H,)``): ½ on the sigmoid gates ``i, f, o``, 1 on ``g`` (see the module)."""
        H = self.units
        return jnp.concatenate([jnp.full(2 * H, 0.5, dtype), jnp.ones(H, dtype), jnp.full(H, 0.5, dtype)])

    def forward(self, params, x):
        check_sequences(self, params, x)
        s = self._gate_scale(x.dtype)
        zx = jnp.swapaxes(x, 0, 1) @ params["Wx"].T + params["b"]    # x_t W_xᵀ + b, all t: (T, m, 4H)

        def step(carry, zx_t):
            h, c = carry
            u = jnp.tanh(s * (zx_t + h @ params["Wh"].T))             # the four gates, one tanh
            i, f, g, o = jnp.split(s * u + (1 - s), 4, axis=1)
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c), (h, c, u)

        zero = jnp.zeros_like(zx[0, :, :self.units])                 # sharded like x
        _, (hs, cs, us) = lax.scan(step, (zero, zero), zx)           # (T, m, ·)
        out = jnp.swapaxes(hs, 0, 1) if self.return_sequences else hs[-1]
        return out, (x, hs, cs, us)

    def backward(self, params, cache, g):
        x, hs, cs, us = cache
        s = self._gate_scale(x.dtype)
        h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]])  # h_{t-1}, with h_0 = 0
        c_prev = jnp.concatenate([jnp.zeros_like(cs[:1]), cs[:-1]])  # c_{t-1}, with c_0 = 0
        # all that does not wait for ∂C/∂h_t, for every step at once (T, m, ·): see the module
        i, f, gg, o = jnp.split(s * us + (1 - s), 4, axis=-1)
        tc = jnp.tanh(cs)
        dz = s * s * (1 - us * us)                                   # σ'(z), tanh'(z) per gate
        zero = jnp.zeros_like(tc)
        A = jnp.concatenate([gg, c_prev, i, zero], axis=-1) * dz     # δ_t's factors of dc
        B = jnp.concatenate([zero, zero, zero, tc], axis=-1) * dz    # … and of dh
        K = o * (1 - tc * tc)                                        # ∂h_t/∂c_t
        # ∂C/∂h_t from the outputs: at every step, or (many-to-one) only the last, the first carry
        g_out, dh_T = (jnp.swapaxes(g, 0, 1), zero[0]) if self.return_sequences else (None, g)

        def step(carry, inputs):                                     # backward through time
            dh, dc_next = carry                                      # δ_{t+1} W_h, ∂C/∂c_{t+1}
            g_t, A_t, B_t, K_t, f_t = inputs
            dh = dh if g_t is None else dh + g_t
            dc = dc_next + dh * K_t
            delta = A_t * jnp.tile(dc, 4) + B_t * jnp.tile(dh, 4)   # ∂C/∂z_t (m, 4H)
            return (delta @ params["Wh"], dc * f_t), delta

        _, deltas = lax.scan(step, (dh_T, jnp.zeros_like(dh_T)), (g_out, A, B, K, f), reverse=True)
        return (weight_grads(deltas, jnp.swapaxes(x, 0, 1), h_prev),   # Σ_t δ_tᵀ x_t, … in one go
                jnp.swapaxes(deltas @ params["Wx"], 0, 1))           # ∂C/∂x_t = δ_t W_x
