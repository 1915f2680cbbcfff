"""The transformer's layers, each backward written out: token (and position) embeddings, layer
normalisation, and causal multi-head self-attention. Sequences are batch-first, ``(m, T, d)``.

Embedding (``y_t = E[token_t] + P_t``): backward adds each position's gradient into the row of
its token (a scatter-add; a token that appears twice gets both), ``∂C/∂P_t = Σ_batch g_t``.

LayerNorm over the last axis (``x̂ = (x − μ) / √(σ² + ε)``, ``y = γ ⊙ x̂ + β``):

- ``∂C/∂γ = Σ g ⊙ x̂``, ``∂C/∂β = Σ g``, and with ``d = g ⊙ γ``:
- ``∂C/∂x = (d − mean(d) − x̂ ⊙ mean(d ⊙ x̂)) / √(σ² + ε)`` (the two means are the gradient
  through μ and through σ²; a constant row has x̂ = 0 and gets ``(d − mean(d)) / √ε``).

SelfAttention, per head (``Q = X W_qᵀ``, ``K``, ``V`` likewise, ``d_h`` = dim / heads):

- forward: ``S = Q Kᵀ / √d_h`` (``−∞`` above the diagonal when causal), ``P = softmax(S)`` per
  row, ``O = P V``, then the heads side by side through ``W_o``;
- backward from ``dO``: ``dV = Pᵀ dO``, ``dP = dO Vᵀ``, ``dS = P ⊙ (dP − rowsum(dP ⊙ P))``
  (``rowsum(dP ⊙ P) = rowsum(dO ⊙ O)``, a ``(T,)`` vector instead of a ``(T, T)`` product),
  ``dQ = dS K / √d_h``, ``dK = dSᵀ Q / √d_h``, then the projections (BP3/BP4 again).

The attention probabilities ``P`` (``(m, heads, T, T)``, the largest array of a transformer) are not
kept: the backward recomputes them from ``Q``, ``K`` and each row's log-sum-exp (one more
``Q Kᵀ``), which is cheaper than storing them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import initializers
from jaxnn.layers.dense import _check_rank


@dataclasses.dataclass(frozen=True)
class Embedding:
    """Integer tokens ``(m, T)`` → vectors ``(m, T, dim)``: ``y_t = E[token_t]`` (``+ P_t`` with
    ``context``: learned positions for sequences up to that length). Params ``{"E": (vocab, dim)}``
    (and ``"P": (context, dim)``), N(0, 0.02²)."""

    vocab: int
    dim: int
    context: int | None = None
    integer_input = True          # not a field: the model feeds it tokens, not floats

    def init(self, key, in_shape, dtype=jnp.float32):
        if len(in_shape) != 1 or (self.context is not None and in_shape[0] > self.context):
            raise ValueError(f"{self}: expects token sequences (T,) with T ≤ context, got {in_shape}")
        ke, kp = jax.random.split(key)
        params = {"E": 0.02 * jax.random.normal(ke, (self.vocab, self.dim), dtype)}
        if self.context is not None:
            params["P"] = 0.02 * jax.random.normal(kp, (self.context, self.dim), dtype)
        return params, (*in_shape, self.dim)

    def forward(self, params, tokens):
        _check_rank(self, tokens, 2, "(batch, T) of integer tokens")
        if not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise ValueError(f"{self}: expects integer tokens, got {tokens.dtype}")
        y = params["E"][tokens]
        if "P" in params:
            y = y + params["P"][: tokens.shape[1]]
        return y, tokens

    def backward(self, params, tokens, g):
        grads = {"E": jnp.zeros_like(params["E"]).at[tokens].add(g)}       # scatter-add
        if "P" in params:
            grads["P"] = jnp.zeros_like(params["P"]).at[: tokens.shape[1]].set(g.sum(axis=0))
        return grads, jnp.zeros(tokens.shape, g.dtype)   # tokens are not differentiable


class LayerNormCache(NamedTuple):
    x_hat: jax.Array      # (…, d)
    rstd: jax.Array       # 1 / √(σ² + ε), (…, 1)


@dataclasses.dataclass(frozen=True)
class LayerNorm:
    """Normalise the last axis to mean 0, variance 1, then scale and shift: ``γ ⊙ x̂ + β``.
    Params ``{"g": (d,), "b": (d,)}`` (γ = 1, β = 0)."""

    eps: float = 1e-5

    def init(self, key, in_shape, dtype=jnp.float32):
        return {"g": jnp.ones(in_shape[-1], dtype), "b": jnp.zeros(in_shape[-1], dtype)}, in_shape

    def forward(self, params, x):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        rstd = jax.lax.rsqrt(var + self.eps)
        x_hat = (x - mu) * rstd
        return params["g"] * x_hat + params["b"], LayerNormCache(x_hat, rstd)

    def backward(self, params, cache, g):
        x_hat, rstd = cache
        lead = tuple(range(g.ndim - 1))
        d = g * params["g"]
        g_x = rstd * (d - d.mean(axis=-1, keepdims=True)
                      - x_hat * (d * x_hat).mean(axis=-1, keepdims=True))
        return {"g": (g * x_hat).sum(axis=lead), "b": g.sum(axis=lead)}, g_x


class AttentionCache(NamedTuple):
    x: jax.Array          # (m, T, d) the input
    q: jax.Array          # (m, h, T, d_h), and k, v alike
    k: jax.Array
    v: jax.Array
    lse: jax.Array        # (m, h, T, 1): log Σ_j exp(S_ij), to recompute P = exp(S − lse)
    o: jax.Array          # (m, T, d): the heads side by side, before W_o


@dataclasses.dataclass(frozen=True)
class SelfAttention:
    """Multi-head scaled dot-product self-attention on ``(m, T, d)``; ``causal``: position ``t``
    attends to positions ``≤ t`` only. Params ``{"Wqkv": (3d, d), "bqkv": (3d,), "Wo": (d, d),
    "bo": (d,)}`` (``W_q``, ``W_k``, ``W_v`` stacked; weights N(0, 1/d), biases 0)."""

    heads: int = 1
    causal: bool = True

    def init(self, key, in_shape, dtype=jnp.float32):
        if len(in_shape) != 2 or in_shape[-1] % self.heads:
            raise ValueError(f"{self}: expects sequences (T, d) with d divisible by {self.heads} "
                             f"heads, got {in_shape}")
        d, lecun = in_shape[-1], initializers.get("lecun")
        kqkv, ko = jax.random.split(key)
        return {"Wqkv": lecun(kqkv, (3 * d, d), dtype), "bqkv": jnp.zeros(3 * d, dtype),
                "Wo": lecun(ko, (d, d), dtype), "bo": jnp.zeros(d, dtype)}, in_shape

    def _split(self, a):                     # (m, T, d) -> (m, h, T, d_h)
        m, T, d = a.shape
        return a.reshape(m, T, self.heads, d // self.heads).transpose(0, 2, 1, 3)

    @staticmethod
    def _merge(a):                           # (m, h, T, d_h) -> (m, T, d)
        m, h, T, dh = a.shape
        return a.transpose(0, 2, 1, 3).reshape(m, T, h * dh)

    def _scores(self, q, k):
        s = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])              # (m, h, T, T)
        if self.causal:
            T = s.shape[-1]
            s = jnp.where(jnp.tril(jnp.ones((T, T), bool)), s, -jnp.inf)
        return s

    def forward(self, params, x):
        _check_rank(self, x, 3, "(batch, T, d)")
        q, k, v = map(self._split, jnp.split(x @ params["Wqkv"].T + params["bqkv"], 3, axis=-1))
        s = self._scores(q, k)
        s_max = s.max(axis=-1, keepdims=True)
        e = jnp.exp(s - s_max)
        total = e.sum(axis=-1, keepdims=True)
        o = self._merge((e / total) @ v)                                 # P V, heads side by side
        return o @ params["Wo"].T + params["bo"], AttentionCache(x, q, k, v, s_max + jnp.log(total), o)

    def probabilities(self, cache):
        """The attention weights ``P`` ``(m, heads, T, T)`` (rows sum to 1), recomputed from the
        cache as the backward pass does."""
        return jnp.exp(self._scores(cache.q, cache.k) - cache.lse)

    def backward(self, params, cache, g):
        x, q, k, v, _, o = cache
        d = x.shape[-1]
        g2 = g.reshape(-1, d)
        grads = {"Wo": g2.T @ o.reshape(-1, d), "bo": g2.sum(axis=0)}    # the output projection
        do = self._split(g @ params["Wo"])                               # ∂C/∂O per head
        p = self.probabilities(cache)                                    # P, recomputed
        dv = p.swapaxes(-1, -2) @ do                                     # dV = Pᵀ dO
        dp = do @ v.swapaxes(-1, -2)                                     # dP = dO Vᵀ
        rowsum = (do * self._split(o)).sum(axis=-1, keepdims=True)       # rowsum(dP ⊙ P)
        ds = p * (dp - rowsum) / math.sqrt(q.shape[-1])                  # softmax, and the 1/√d_h
        dq, dk = ds @ k, ds.swapaxes(-1, -2) @ q                         # dQ = dS K, dK = dSᵀ Q
        dqkv = jnp.concatenate([self._merge(dq), self._merge(dk), self._merge(dv)], axis=-1)
        d2 = dqkv.reshape(-1, 3 * d)
        grads.update(Wqkv=d2.T @ x.reshape(-1, d), bqkv=d2.sum(axis=0))  # BP4, BP3
        return grads, dqkv @ params["Wqkv"]                              # BP2: ∂C/∂x
