"""The transformer's own layers, each backward written out: token (and position) embeddings and
causal multi-head self-attention (its layer normalisation is [`jaxnn.layers.LayerNorm`][], with
the other norms). Sequences are batch-first, ``(m, T, d)``.

Embedding (``y_t = E[token_t] + P_t``): backward adds each position's gradient into the row of
its token (a scatter-add; a token that appears twice gets both), ``∂C/∂P_t = Σ_batch g_t``.

SelfAttention, per head (``Q = X W_qᵀ``, ``K``, ``V`` likewise, ``d_h`` = dim / heads):

- forward: ``S = Q Kᵀ / √d_h`` (``−∞`` above the diagonal when causal), ``P = softmax(S)`` per
  row, ``O = P V``, then the heads side by side through ``W_o``;
- backward from ``dO``: ``dV = Pᵀ dO``, ``dP = dO Vᵀ``, ``dS = P ⊙ (dP − rowsum(dP ⊙ P))``
  (``rowsum(dP ⊙ P) = rowsum(dO ⊙ O)``, a ``(T,)`` vector instead of a ``(T, T)`` product),
  ``dQ = dS K / √d_h``, ``dK = dSᵀ Q / √d_h``, then the projections (BP3/BP4 again).

The attention probabilities ``P`` (``(m, heads, T, T)``, the largest array of a transformer) are
never kept, nor formed whole: both passes go over blocks of ``block`` queries (flash-style), so
temporaries grow with ``T · block``, not ``T²``. The forward keeps each row's log-sum-exp; the
backward recomputes ``P`` from ``Q``, ``K`` and it, one block at a time, in transposed form
(``Pᵀ = exp(K Qᵀ − lse)``, keys × queries): then ``dV = Pᵀ dO`` and ``dK = dSᵀ Q`` need no
transpose, and XLA cannot merge the recomputation with the forward's ``Q Kᵀ`` (which would keep
the scores alive from the forward to the backward, as ``jax.grad`` does). A causal block of
queries reads only the keys up to its last query (where the blocks run unrolled, see
``SelfAttention._by_blocks``), and the backward takes a chunk of examples at a time
(``SelfAttention._by_examples``). ``Q`` is scaled by ``1/√d_h`` once, before the
products (so ``dK = dSᵀ Q`` carries the scale, and ``dQ`` is scaled once at the end).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import initializers
from jaxnn.layers import base, kernels


@base.register
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
        params = {"E": initializers.draw(jax.random.normal, ke, (self.vocab, self.dim), dtype, 0.02)}
        if self.context is not None:
            params["P"] = initializers.draw(jax.random.normal, kp, (self.context, self.dim), dtype, 0.02)
        return params, (*in_shape, self.dim)

    def forward(self, params, tokens):
        base.check_rank(self, tokens, 2, "(batch, T) of integer tokens")
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


class AttentionCache(NamedTuple):
    x: jax.Array          # (m, T, d) the input
    q: jax.Array          # (m, h, T, d_h) the queries already scaled by 1/√d_h; k, v alike (unscaled)
    k: jax.Array
    v: jax.Array
    lse: jax.Array        # (m, h, T, 1): log Σ_j exp(S_ij), to recompute P = exp(S − lse)
    o: jax.Array          # (m, T, d): the heads side by side, before W_o


UNROLLED = 4
"""At most this many blocks of queries (and chunks of examples) run as straight-line code (see
``SelfAttention``)."""
SCORE_BYTES = 1 << 20
"""The backward takes as many examples at a time as keep a block of scores within this many bytes
(see ``SelfAttention``; as fast as 512 KiB and faster than 2 MiB for the larger GPT of
bench_peers)."""


@base.register
@dataclasses.dataclass(frozen=True)
class SelfAttention:
    """Multi-head scaled dot-product self-attention on ``(m, T, d)``; ``causal``: position ``t``
    attends to positions ``≤ t`` only. Params ``{"Wqkv": (3d, d), "bqkv": (3d,), "Wo": (d, d),
    "bo": (d,)}`` (``W_q``, ``W_k``, ``W_v`` stacked; weights N(0, 1/d), biases 0).

    ``block``: queries per block. Scores are computed ``block`` rows at a time, so the largest
    temporaries are ``(m, heads, block, T)`` instead of ``(m, heads, T, T)``. Up to ``UNROLLED``
    blocks (``T ≤ 256`` by default) a causal block reads only the keys up to its last query (a
    quarter of the products skipped at two blocks); longer contexts run the blocks in a
    ``lax.scan`` that masks instead, trading those products for memory that grows with ``T``.

    The backward goes over the batch in chunks of examples, as many at a time as keep a block of
    scores within ``SCORE_BYTES`` (1 MiB; at most ``UNROLLED`` chunks). The chunks are
    independent, so XLA's CPU runtime runs them side by side on the cores: for the larger GPT of
    ``experiments/bench_peers.py`` the attention's backward takes less time for the same CPU
    time. The forward runs over the whole batch (chunked in a loop, it gained nothing and kept
    more memory under ``Remat``).
    """

    heads: int = 1
    causal: bool = True
    block: int = 64

    def __post_init__(self):
        for name in ("heads", "block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"SelfAttention {name} must be a positive int, got {value!r}")

    def init(self, key, in_shape, dtype=jnp.float32):
        if len(in_shape) != 2 or in_shape[-1] % self.heads:
            raise ValueError(f"{self}: expects sequences (T, d) with d divisible by {self.heads} "
                             f"heads, got {in_shape}")
        d, lecun = in_shape[-1], initializers.get("lecun")
        kqkv, ko = jax.random.split(key)
        return {"Wqkv": lecun(kqkv, (3 * d, d), dtype), "bqkv": initializers.constant(3 * d, dtype),
                "Wo": lecun(ko, (d, d), dtype), "bo": initializers.constant(d, dtype)}, in_shape

    def _split(self, a):                     # (m, T, d) -> (m, h, T, d_h)
        m, T, d = a.shape
        return a.reshape(m, T, self.heads, d // self.heads).transpose(0, 2, 1, 3)

    @staticmethod
    def _merge(a):                           # (m, h, T, d_h) -> (m, T, d)
        m, h, T, dh = a.shape
        return a.transpose(0, 2, 1, 3).reshape(m, T, h * dh)

    def _mask(self, s, rows, transposed=False):
        """``s`` with ``−∞`` where a causal query would look ahead; ``rows``: the query positions
        of the block (``s`` is ``(…, rows, keys)``, or ``(…, keys, rows)`` when ``transposed``)."""
        if not self.causal:
            return s
        keys = jnp.arange(s.shape[-2 if transposed else -1])
        ahead = keys[:, None] > rows[None, :] if transposed else keys[None, :] > rows[:, None]
        return jnp.where(ahead, -jnp.inf, s)

    def _by_blocks(self, body, T, blocked, carry):
        """``body(carry, (start, *block_i), n) -> (carry, out_i)`` over the blocks of ``block``
        queries (``blocked``: arrays ``(m, h, T, ·)``; ``start``: the block's first query position);
        the block reads keys ``:n``. The outputs are joined
        to ``(m, h, T, ·)``. Up to ``UNROLLED`` blocks run as straight-line code, a causal block
        reading only the keys up to its last query; more run one after another in a
        ``lax.scan`` (padded to whole blocks, every block reading all keys, masked), so that only
        one block's temporaries are alive at a time."""
        n = -(-T // self.block)
        if n <= UNROLLED:
            outs = []
            for a in range(0, T, self.block):
                e = min(a + self.block, T)
                carry, out = body(carry, (a, *(b[:, :, a:e] for b in blocked)), e if self.causal else T)
                outs.append(out)
            return carry, jax.tree.map(lambda *o: jnp.concatenate(o, axis=2), *outs)
        pad = n * self.block - T

        def split(a):                        # (m, h, T, ·) -> (n, m, h, block, ·)
            a = jnp.pad(a, ((0, 0), (0, 0), (0, pad), (0, 0)))
            return jnp.moveaxis(a.reshape(*a.shape[:2], n, self.block, a.shape[-1]), 2, 0)

        carry, outs = jax.lax.scan(lambda c, b: body(c, b, T), carry,
                                   (jnp.arange(n) * self.block, *map(split, blocked)))
        joined = jax.tree.map(lambda o: jnp.moveaxis(o, 0, 2).reshape(
            *o.shape[1:3], n * self.block, o.shape[-1])[:, :, :T], outs)
        return carry, joined

    def _by_examples(self, attend, arrays):
        """``attend(*arrays)`` (arrays ``(m, h, T, ·)``) over chunks of examples, the results
        joined back to ``(m, …)``: as few chunks as keep a chunk's block of scores
        ``(m/n, h, block, T)`` within ``SCORE_BYTES`` (``n`` divides ``m``; at most ``UNROLLED``
        chunks, as straight-line code). Chunk ``j`` holds examples ``j, j + n, j + 2n, …``, so a
        batch sharded over devices stays sharded."""
        m, h, T, _ = arrays[0].shape
        most = max(1, SCORE_BYTES // (h * min(self.block, T) * T * arrays[0].dtype.itemsize))
        counts = [n for n in range(1, min(m, UNROLLED) + 1) if m % n == 0]
        n = next((n for n in counts if m // n <= most), counts[-1])
        if n == 1:
            return attend(*arrays)
        split = [a.reshape(m // n, n, *a.shape[1:]) for a in arrays]     # chunk j: split[:, j]
        outs = [attend(*(a[:, j] for a in split)) for j in range(n)]
        return jax.tree.map(lambda *o: jnp.stack(o, 1).reshape(m, *o[0].shape[1:]), *outs)

    def forward(self, params, x):
        base.check_rank(self, x, 3, "(batch, T, d)")
        q, k, v = map(self._split, jnp.split(x @ params["Wqkv"].T + params["bqkv"], 3, axis=-1))
        q = q * (1 / math.sqrt(q.shape[-1]))                             # scale once, on Q

        def block(_, inputs, n):                                         # one block of queries
            start, q_b = inputs
            s = self._mask(q_b @ k[:, :, :n].swapaxes(-1, -2), start + jnp.arange(q_b.shape[2]))
            s_max = s.max(axis=-1, keepdims=True)
            p = jnp.exp(s - s_max)                                       # unnormalised P
            total = p.sum(axis=-1, keepdims=True)
            return None, ((p @ v[:, :, :n]) / total, s_max + jnp.log(total))   # P V, log-sum-exp

        _, (o, lse) = self._by_blocks(block, x.shape[1], (q,), None)
        o = self._merge(o)                                               # heads side by side
        return o @ params["Wo"].T + params["bo"], AttentionCache(x, q, k, v, lse, o)

    def probabilities(self, cache):
        """The attention weights ``P`` ``(m, heads, T, T)`` (rows sum to 1), recomputed from the
        cache as the backward pass does (all rows at once)."""
        s = cache.q @ cache.k.swapaxes(-1, -2)
        return jnp.exp(self._mask(s, jnp.arange(s.shape[-2])) - cache.lse)

    def _attention_backward(self, q, k, v, do, lse, rowsum):
        """``(dQ, dK, dV)`` of a chunk of examples (arrays ``(c, h, T, ·)``; ``dQ`` without its
        ``1/√d_h``), by blocks of queries."""
        def block(carry, inputs, n):         # one block of queries, in transposed form (keys, rows)
            dk, dv = carry
            start, q_b, do_b, lse_b, rowsum_b = inputs
            k_n, v_n = k[:, :, :n], v[:, :, :n]
            p_t = jnp.exp(self._mask(k_n @ q_b.swapaxes(-1, -2), start + jnp.arange(q_b.shape[2]),
                                     transposed=True) - lse_b.swapaxes(-1, -2))   # Pᵀ, recomputed
            dp_t = v_n @ do_b.swapaxes(-1, -2)                           # dPᵀ = V dOᵀ
            ds_t = p_t * (dp_t - rowsum_b.swapaxes(-1, -2))              # through softmax
            dk, dv = dk.at[:, :, :n].add(ds_t @ q_b), dv.at[:, :, :n].add(p_t @ do_b)
            return (dk, dv), ds_t.swapaxes(-1, -2) @ k_n                 # dK = dSᵀ Q, dV = Pᵀ dO;
            #                                                              dQ = dS K

        (dk, dv), dq = self._by_blocks(block, q.shape[2], (q, do, lse, rowsum),
                                       (jnp.zeros_like(k), jnp.zeros_like(v)))
        return dq, dk, dv

    def backward(self, params, cache, g):
        x, q, k, v, lse, o = cache
        d = x.shape[-1]
        g2 = g.reshape(-1, d)
        grads = {"Wo": kernels.sum_over_rows(g2, o), "bo": g2.sum(axis=0)}  # the output projection
        do = self._split(g @ params["Wo"])                               # ∂C/∂O per head
        rowsum = (do * self._split(o)).sum(axis=-1, keepdims=True)       # rowsum(dP ⊙ P)

        dq, dk, dv = self._by_examples(self._attention_backward, (q, k, v, do, lse, rowsum))
        dq = dq * (1 / math.sqrt(q.shape[-1]))                           # the 1/√d_h
        dqkv = jnp.concatenate([self._merge(dq), self._merge(dk), self._merge(dv)], axis=-1)
        d2 = dqkv.reshape(-1, 3 * d)
        grads.update(Wqkv=kernels.sum_over_rows(d2, x), bqkv=d2.sum(axis=0))   # BP4, BP3
        return grads, dqkv @ params["Wqkv"]                              # BP2: ∂C/∂x
