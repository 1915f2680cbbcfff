"""Gradient checking: the hand-derived gradient beside ``jax.grad`` and central finite differences.

The finite-difference check is the difference quotient, made central:
``(C(θ + ε e_i) − C(θ − ε e_i)) / 2ε``. Where a perturbation moves a ReLU-type pre-activation
across its kink (``z = 0``), the quotient measures the average of two different slopes and says
nothing about the derivative: such entries are detected exactly (the sign of some ``z`` differs
between ``θ + ε e_i`` and ``θ − ε e_i``), counted, and left out of the finite-difference error.

Relative error of an array ``g`` against a reference ``r``: ``max|g − r| / max(max|r|, tiny)``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import activations
from jaxnn import model as M
from jaxnn.backprop import value_and_grad
from jaxnn.layers import base


def kink_signs(layer, cache) -> list[jax.Array]:
    """For every ReLU-type activation inside ``layer`` (one with a kink), ``z > kink``: what tells a
    finite difference that crossed a kink (see the module docstring)."""
    if inside := base.children(layer, cache):
        return [s for child, c in inside for s in kink_signs(child, c)]
    kink = activations.get(base.output_activation(layer)).kink
    return [] if kink is None else [layer.pre_activation(cache) > kink]


class GradcheckRow(NamedTuple):
    """One parameter array's comparison.

    Attributes:
        layer: 1-based layer number ``l`` (``0`` for the input ``x`` in
            [`check_layer`][jaxnn.gradient_check.check_layer]).
        name: the parameter's name (``"W"``, ``"b"``, ``"k"`` …, or ``"x"``); inside a nested block
            its path, e.g. ``"0/W"`` for the ``W`` of the block's first layer.
        vs_autodiff: relative error of the hand-derived gradient against ``jax.grad``/``jax.vjp``.
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


def _finite_differences(f, flat, leaves, eps, max_entries, key):
    """Central differences of ``f(theta) -> (value, kink_signs)`` at a random sample of at most
    ``max_entries`` entries of each leaf (all probed in one vectorised call).

    Returns ``(picks, fd, ok)``: the flat indices per leaf, the quotients, and which were not at a
    kink."""
    def central(idx):
        e = jnp.zeros_like(flat).at[idx].set(eps)
        (c_plus, s_plus), (c_minus, s_minus) = f(flat + e), f(flat - e)
        crossed = jnp.any(jnp.array([jnp.any(a != b) for a, b in zip(s_plus, s_minus)] or [False]))
        return (c_plus - c_minus) / (2 * eps), crossed

    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))   # NumPy: no compile per leaf
    picks, offset = [], 0
    for leaf in leaves:
        picks.append(rng.permutation(leaf.size)[:max_entries] + offset)
        offset += leaf.size
    fd, crossed = jax.jit(jax.vmap(central))(jnp.asarray(np.concatenate(picks)))
    return picks, np.asarray(fd), ~np.asarray(crossed)


def _compare(theta, hand, auto, probe, label, eps, max_entries, key) -> list[GradcheckRow]:
    """One row per array of ``hand``: against ``auto`` and against central differences of
    ``probe(theta) -> (value, kink_signs)`` at ``theta`` (trees shaped alike); ``label(path)`` gives
    the row's ``(layer, name)``."""
    flat, unravel = ravel_pytree(theta)
    eps = eps if eps is not None else (1e-6 if flat.dtype == jnp.float64 else 1e-2)
    named = [(*label(path), h, a) for (path, h), (_, a) in zip(M.named_params(hand), M.named_params(auto))]
    picks, fd, ok = _finite_differences(lambda t: probe(unravel(t)), flat, [n[2] for n in named],
                                        eps, max_entries, key)
    rows, start, hand_flat = [], 0, np.asarray(ravel_pytree(hand)[0])   # NumPy: no compiles
    for (layer, name, h, a), pick in zip(named, picks):
        part = slice(start, start + len(pick))
        start += len(pick)
        good = ok[part]
        vs_fd = rel_error(fd[part][good], hand_flat[pick][good]) if good.any() else float("nan")
        rows.append(GradcheckRow(layer, name, rel_error(h, a), vs_fd, len(pick), int((~good).sum())))
    return rows


def gradcheck(model, params: M.Params, x: jax.Array, y: jax.Array, *, eps: float | None = None,
              max_entries: int = 32, key: jax.Array | None = None) -> list[GradcheckRow]:
    """Compare the hand-derived gradient with ``jax.grad`` and with central finite differences.

    Works for every model: a [`jaxnn.Network`][] or a [`jaxnn.Model`][] (CNN, RNN,
    nested blocks).

    Args:
        x: a batch ``(m, *input_shape)``.
        y: its targets ``(m, *output_shape)`` or labels, as [`jaxnn.loss`][] takes them.
        eps: finite-difference step; default ``1e-6`` for float64 and ``1e-2`` for float32 params.
        max_entries: at most this many entries per parameter array are checked with finite
            differences (a random sample drawn with ``key``; all entries if the array is smaller).
        key: PRNG key for the sample (default ``jax.random.key(0)``).

    Returns:
        One `GradcheckRow` per parameter array, layer by layer (in ``jax.tree`` order: a
        Network's ``W`` then ``b``).

    Examples:
        >>> for row in gradcheck(net, params, x, y):
        ...     print(row.layer, row.name, row.vs_autodiff, row.vs_finite_diff)
    """
    key = jax.random.key(0) if key is None else key
    _, hand = jax.jit(value_and_grad, static_argnums=0)(model, params, x, y)
    auto = jax.jit(jax.grad(M.loss, argnums=1), static_argnums=0)(model, params, x, y)
    body = M.body(model)
    (params, state), hand, auto = M.split_state(params), M.split_state(hand)[0], M.split_state(auto)[0]

    def probe(p):                                     # the state (BatchNorm's) is not a parameter
        out, cache = M.forward(model, M.merge_state(p, state), x)
        return M.cost(model, body.pre_activation(cache), out, y), kink_signs(body, cache)

    def label(path):                                  # "0/W" -> layer 1, "W"
        first, _, rest = path.partition("/")
        return int(first) + 1, rest

    return _compare(params, hand, auto, probe, label, eps, max_entries, key)


@functools.partial(jax.jit, static_argnums=0)
def backward_and_vjp(layer, params, x, g, key=None):
    """``(layer.backward(g), jax.vjp(layer.forward)(g))``, each ``(∂C/∂params, ∂C/∂x)``, as one
    compiled program per layer and shapes (``layer`` is a frozen dataclass: static under jit);
    ``key`` for a stochastic layer (the same draws in both)."""
    _, cache = base.forward(layer, params, x, key)
    _, vjp = jax.vjp(lambda p, xx: base.forward(layer, p, xx, key)[0], params, x)
    return layer.backward(params, cache, g), vjp(g)


def check_layer(layer, input_shape, *, dtype=jnp.float64, key: jax.Array | None = None,
                batch: int = 3, eps: float | None = None, max_entries: int = 32,
                x=None) -> list[GradcheckRow]:
    """Check a layer's hand-written ``backward`` — the tool for someone who just derived one. A
    whole block (a [`jaxnn.layers.Sequential`][], a [`jaxnn.layers.Residual`][]) is a layer too.

    Runs ``layer`` on a random batch ``(batch, *input_shape)`` (or on ``x``, e.g. integer tokens
    for an ``Embedding``; a stochastic layer such as ``Dropout`` in training, with one fixed
    key), draws a random output gradient ``g``, and compares ``layer.backward``
    (the input gradient and every parameter's) with ``jax.vjp`` of ``layer.forward`` and with
    central finite differences of ``Σ g ⊙ forward``. Use float64 (``jax_enable_x64``) for tight
    errors: ≲ 1e-10 against ``jax.vjp`` is exact.

    Returns:
        Rows like [`gradcheck`][jaxnn.gradient_check.gradcheck]'s: ``x`` (layer 0) first (not for integer
        inputs, which have no gradient), then each parameter (layer 1); ``print(format_table(rows))`` shows
        them.
    """
    key = jax.random.key(0) if key is None else key
    k_init, k_x, k_g, k_fd = jax.random.split(key, 4)
    params, out_shape = layer.init(k_init, tuple(input_shape), dtype)
    x = jax.random.normal(k_x, (batch, *input_shape), dtype) if x is None else jnp.asarray(x)
    k_layer = jax.random.fold_in(k_fd, 1) if base.stochastic(layer) else None
    y_shape = jax.eval_shape(lambda p, xx: base.forward(layer, p, xx, k_layer)[0], params, x).shape
    g = jax.random.normal(k_g, y_shape, dtype)
    (grads, g_x), (auto_p, auto_x) = backward_and_vjp(layer, params, x, g, k_layer)
    (trainable, state), grads, auto_p = (M.split_state(t) for t in (params, grads, auto_p))
    theta, hand, auto = {"params": trainable}, {"params": grads[0]}, {"params": auto_p[0]}
    tokens = not jnp.issubdtype(x.dtype, jnp.floating)         # integers: no gradient to check
    if not tokens:
        theta["x"], hand["x"], auto["x"] = x, g_x, auto_x

    def probe(t):                                     # the state (BatchNorm's) is not a parameter
        y_t, cache_t = base.forward(layer, M.merge_state(t["params"], state), x if tokens else t["x"],
                                    k_layer)
        return jnp.sum(y_t * g), kink_signs(layer, cache_t)

    def label(path):                                  # "x" -> layer 0; "params/0/W" -> layer 1, "0/W"
        return (0, "x") if path == "x" else (1, path.partition("/")[2])

    rows = _compare(theta, hand, auto, probe, label, eps, max_entries, k_fd)
    return rows if tokens else [rows[-1], *rows[:-1]]      # "params" sort before "x": x first


def format_table(rows: list[GradcheckRow]) -> str:
    """Render gradcheck rows as a fixed-width text table."""
    w = max([5, *(len(r.name) for r in rows)])
    lines = [f"{'layer':>5} {'param':>{w}} {'hand vs jax.grad':>17} {'hand vs finite diff':>20} "
             f"{'checked':>7} {'at kink':>7}"]
    for r in rows:
        lines.append(f"{r.layer:>5} {r.name:>{w}} {r.vs_autodiff:>17.2e} {r.vs_finite_diff:>20.2e} "
                     f"{r.checked:>7} {r.at_kink:>7}")
    return "\n".join(lines)
