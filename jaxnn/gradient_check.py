"""Gradient checking: the hand-derived gradient beside ``jax.grad`` and central finite differences.

The finite-difference check follows seed 001's difference quotient, made central:
``(C(θ + ε e_i) − C(θ − ε e_i)) / 2ε``. Where a perturbation moves a ReLU-type pre-activation
across its kink (``z = 0``), the quotient measures the average of two different slopes and says
nothing about the derivative: such entries are detected exactly (the sign of some ``z`` differs
between ``θ + ε e_i`` and ``θ − ε e_i``), counted, and left out of the finite-difference error.

Relative error of an array ``g`` against a reference ``r``: ``max|g − r| / max(max|r|, tiny)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import activations
from jaxnn.backprop import value_and_grad
from jaxnn.network import Network, Params, forward, loss


class GradcheckRow(NamedTuple):
    """One parameter array's comparison.

    Attributes:
        layer: 1-based layer number ``l``; name: ``"W"`` or ``"b"``.
        vs_autodiff: relative error of the hand-derived gradient against ``jax.grad``.
        vs_finite_diff: relative error against central differences, over the checked entries not
            at a kink (``nan`` if every checked entry was at a kink).
        checked: entries compared with finite differences; at_kink: of those, how many crossed a kink.
    """

    layer: int
    name: str
    vs_autodiff: float
    vs_finite_diff: float
    checked: int
    at_kink: int


def rel_error(g, ref) -> float:
    """``max|g − ref| / max(max|ref|, tiny)`` as a Python float."""
    g, ref = np.asarray(g, np.float64), np.asarray(ref, np.float64)
    if g.size == 0:
        return 0.0
    return float(np.max(np.abs(g - ref)) / max(np.max(np.abs(ref)), np.finfo(np.float64).tiny))


def gradcheck(net: Network, params: Params, x, y, *, eps: float | None = None,
              max_entries: int = 32, key: jax.Array | None = None) -> list[GradcheckRow]:
    """Compare the hand-derived gradient with ``jax.grad`` and with central finite differences.

    Args:
        eps: finite-difference step; default ``1e-6`` for float64 and ``1e-2`` for float32 params.
        max_entries: at most this many entries per parameter array are checked with finite
            differences (a random sample drawn with ``key``; all entries if the array is smaller).
        key: PRNG key for the sample (default ``jax.random.key(0)``).

    Returns:
        One :class:`GradcheckRow` per parameter array, layer by layer (``W`` then ``b``).

    Example:
        >>> for row in gradcheck(net, params, x, y):
        ...     print(row.layer, row.name, row.vs_autodiff, row.vs_finite_diff)
    """
    dtype = jnp.result_type(params[0]["W"])
    if eps is None:
        eps = 1e-6 if dtype == jnp.float64 else 1e-2
    key = jax.random.key(0) if key is None else key
    _, hand = value_and_grad(net, params, x, y)
    auto = jax.grad(loss, argnums=1)(net, params, x, y)

    flat, unravel = ravel_pytree(params)
    flat_hand, _ = ravel_pytree(hand)
    kinked = [i for i, name in enumerate(net.activations) if activations.get(name).kink is not None]

    def probe(theta):
        _, cache = forward(net, unravel(theta), x)
        signs = [cache.zs[i] > activations.get(net.activations[i]).kink for i in kinked]
        return loss(net, unravel(theta), x, y), signs

    def central(idx):
        e = jnp.zeros_like(flat).at[idx].set(eps)
        (c_plus, s_plus), (c_minus, s_minus) = probe(flat + e), probe(flat - e)
        crossed = jnp.any(jnp.array([jnp.any(a != b) for a, b in zip(s_plus, s_minus)] or [False]))
        return (c_plus - c_minus) / (2 * eps), crossed

    # a random sample of entries of every parameter array, all probed in one vectorised call
    picks, offset = [], 0
    for leaf in jax.tree.leaves(hand):
        key, sub = jax.random.split(key)
        picks.append(np.asarray(jax.random.permutation(sub, leaf.size))[:max_entries] + offset)
        offset += leaf.size
    fd, crossed = jax.jit(jax.vmap(central))(jnp.asarray(np.concatenate(picks)))
    fd, ok = np.asarray(fd), ~np.asarray(crossed)

    rows, start = [], 0
    for l, (p_hand, p_auto) in enumerate(zip(hand, auto), start=1):
        for name, pick in zip(("W", "b"), picks[2 * l - 2: 2 * l]):
            part = slice(start, start + len(pick))
            start += len(pick)
            good = ok[part]
            vs_fd = (rel_error(fd[part][good], flat_hand[pick][good]) if good.any()
                     else float("nan"))
            rows.append(GradcheckRow(l, name, rel_error(p_hand[name], p_auto[name]), vs_fd,
                                     len(pick), int((~good).sum())))
    return rows


def format_table(rows: list[GradcheckRow]) -> str:
    """Render gradcheck rows as a fixed-width text table."""
    lines = [f"{'layer':>5} {'param':>5} {'hand vs jax.grad':>17} {'hand vs finite diff':>20} "
             f"{'checked':>7} {'at kink':>7}"]
    for r in rows:
        lines.append(f"{r.layer:>5} {r.name:>5} {r.vs_autodiff:>17.2e} {r.vs_finite_diff:>20.2e} "
                     f"{r.checked:>7} {r.at_kink:>7}")
    return "\n".join(lines)
