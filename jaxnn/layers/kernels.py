"""Speed tricks of the layers' backwards on the CPU: the same products, arranged as XLA's CPU backend
runs them fastest (each measured in ``docs/speed.md``). Nothing here changes a number."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sum_over_rows(d, x):
    """``dᵀ x`` over every leading axis: ``d (…, n_out)``, ``x (…, n_in)`` → ``(n_out, n_in)``, the
    weight gradient ``Σ δ aᵀ`` of a layer applied to each row. On the CPU, in float32 over many rows
    (a sequence model's ``T·m``), the smaller operand is transposed into memory first (the barrier
    keeps XLA from folding it back): its fast GEMM (YNNPACK) then takes the product, which its
    transposed-operand dot does more slowly (measured in ``docs/speed.md``)."""
    d, x = d.reshape(-1, d.shape[-1]), x.reshape(-1, x.shape[-1])
    if jax.default_backend() != "cpu" or d.dtype != jnp.float32 or len(d) < 1024:
        return d.T @ x
    if d.shape[1] <= x.shape[1]:
        return jax.lax.optimization_barrier(d.T) @ x
    return jax.lax.optimization_barrier(jax.lax.optimization_barrier(x.T) @ d).T
