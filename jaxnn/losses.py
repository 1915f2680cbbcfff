"""Cost functions C, their gradients ∇ₐC, and the fused output deltas.

Every loss is defined per example (``C_x``) and the network's cost is the mean over the batch,
``C = (1/m) Σ_x C_x`` (Nielsen's convention). ``y`` is a target array ``(m, n_L)``; for
``cross_entropy`` and ``hinge`` integer class labels ``(m,)`` are turned into one-hot targets
first, and a label [`IGNORE`][jaxnn.losses.IGNORE] leaves its example (or time step) out: the cost is then the
mean over the others (padding in a batch of sequences of different lengths).

=========================  ==================================  =====================  ============
name                       ``C_x``                             ``∇ₐ C_x``             output
=========================  ==================================  =====================  ============
``quadratic``              ½ ‖a − y‖²  (Nielsen)                a − y                  any
``sel``                    ‖a − y‖²  (no ½)                     2 (a − y)              any
``mse``                    (1/n_L) ‖a − y‖²  (so C = mean of    2 (a − y) / n_L        any
                           all m·n_L squared errors)
``binary_cross_entropy``   −Σ_j [y ln a + (1 − y) ln(1 − a)]    fused: δ^L = a − y     sigmoid
``cross_entropy``          −Σ_j y_j ln a_j                      fused: δ^L = a Σy − y  softmax
``hinge``                  Σ_j (1 − y_j) max(0, a_j − s + 1)    (1 − y) ⊙ 1[margin>0]  any
                           with s = Σ_i y_i a_i (the multiclass  − y · (their count)
                           SVM loss, cs231n's)
=========================  ==================================  =====================  ============

The two cross-entropies are computed from ``z^L`` (``softplus(z) − y z`` and ``−Σ y log_softmax(z)``),
never as ``log(a)``, so they stay finite when ``a`` saturates to 0 or 1. Their output delta is fused:
σ' cancels against ∇ₐC, giving ``δ^L = a − y`` (for cross-entropy with targets that do not sum to 1
the exact form is ``a Σ_k y_k − y``, which is what is computed). Every other pairing goes through the
general BP1, ``δ^L = ∇ₐC ⊙ σ'(z^L)``.

**Your own loss** ([`register`][jaxnn.losses.register]): a function of the outputs and targets, per example
(``C_x``, averaged like the built-in ones) or over the whole batch (a contrastive loss, an
auxiliary term over the batch), known by name like a layer, so a model names it and a checkpoint
stores that name. Its ``∇ₐC`` is the hand form you give (``grad``), else ``jax.vjp`` of the loss
alone; every layer below keeps its hand-derived backward.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


IGNORE = -1
"""The label that counts nowhere: its position adds nothing to the cost, the gradient or the
accuracy (see [`jaxnn.model.weights`][])."""


class Loss(NamedTuple):
    """A cost function.

    Attributes:
        name: its name.
        per_example: ``(z, a, y) -> C_x``, shapes ``(m, n_L)`` → ``(m,)``.
        grad_a: ``(a, y) -> ∇ₐ C_x``, ``(m, n_L)``; ``None`` where only the fused delta exists.
        output: the output activation the loss requires (``None``: any).
        fused_delta: ``(z, a, y) -> δ^L`` when the output activation is ``output``.
        labels: ``y`` may be integer class labels (one-hot encoded before use).
        binary: a single output is the probability of class 1 (so one output still classifies).
        batch: the loss couples the examples: ``per_example`` gives the whole batch's cost (a
            scalar) and ``grad_a`` its gradient ``∂C/∂a`` (shaped like ``a``).
    """

    name: str
    per_example: Callable[[Array, Array, Array], Array]
    grad_a: Callable[[Array, Array], Array] | None
    output: str | None = None
    fused_delta: Callable[[Array, Array, Array], Array] | None = None
    labels: bool = False
    binary: bool = False
    batch: bool = False


def _sum(v):
    return jnp.sum(v, axis=-1)


def _margins(a, y):
    """``a_j − s + 1`` with ``s = Σ_i y_i a_i``, the correct class's score for one-hot ``y``."""
    return a - _sum(y * a)[..., None] + 1


def _hinge_grad(a, y):
    """Each counted margin (``j`` not the class, above 0) adds 1 at ``j`` and −1 at the class."""
    counted = (1 - y) * (_margins(a, y) > 0)
    return counted - y * _sum(counted)[..., None]


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("quadratic", lambda z, a, y: 0.5 * _sum((a - y) ** 2), lambda a, y: a - y),
        Loss("sel", lambda z, a, y: _sum((a - y) ** 2), lambda a, y: 2 * (a - y)),
        Loss(
            "mse",
            lambda z, a, y: jnp.mean((a - y) ** 2, axis=-1),
            lambda a, y: 2 * (a - y) / a.shape[-1],
        ),
        Loss(
            "binary_cross_entropy",
            # −[y ln σ(z) + (1−y) ln(1−σ(z))] = softplus(z) − y z, stable for any z
            lambda z, a, y: _sum(jax.nn.softplus(z) - y * z),
            None,
            output="sigmoid",
            fused_delta=lambda z, a, y: a - y,
            binary=True,
        ),
        Loss(
            "cross_entropy",
            lambda z, a, y: -_sum(y * jax.nn.log_softmax(z, axis=-1)),
            None,
            output="softmax",
            fused_delta=lambda z, a, y: a * _sum(y)[..., None] - y,
            labels=True,
        ),
        Loss("hinge", lambda z, a, y: _sum((1 - y) * jax.nn.relu(_margins(a, y))), _hinge_grad, labels=True),
    ]
}
NAMES = tuple(LOSSES)
"""The built-in losses (those of [`register`][jaxnn.losses.register] come on top, in `LOSSES`)."""

_REGISTERED: dict[str, Callable] = {}      # a registered loss's name -> the user's function


def register(fn: Callable | None = None, *, name: str | None = None, grad: Callable | None = None,
             batch: bool = False, labels: bool = False, output: str | None = None,
             binary: bool = False):
    """Make your own loss known by ``name`` (default: the function's name), so that
    ``Model(..., loss=name)`` (or ``loss=fn``) trains with it under the hand-derived backward, and a
    checkpoint of that model loads in any process that registered it too. Usable as a decorator
    (``@register`` or ``@register(grad=...)``); returns ``fn`` unchanged.

    Args:
        fn: ``fn(a, y)``: ``a`` the model's outputs ``(m, …, n_L)`` (``a^L``, after the last
            activation: end the model in ``Dense(k)`` to get logits), ``y`` the targets shaped like
            ``a`` (float; integer labels one-hot encoded when ``labels``, an ``IGNORE`` label a
            row of zeros). Per example (``batch=False``): ``C_x`` for every position, ``a.shape[:-1]``,
            which the model averages as it does the built-in losses. Over the batch
            (``batch=True``): the batch's cost, a scalar.
        grad: ``grad(a, y) -> ∂C_x/∂a`` per example (or the batch cost's ``∂C/∂a``), shaped like
            ``a``, written by hand; ``None``: ``jax.vjp`` of ``fn`` alone.
        labels: the loss takes integer class labels (one-hot encoded for ``fn``; ``IGNORE`` leaves
            a position out).
        output: the output activation the loss needs (``"softmax"``, ...), checked when a model is
            built; ``None``: any.
        binary: one output is the probability of class 1 (accuracy treats it as a classifier).

    Raises:
        ValueError: a built-in name, or another function registered under that name (a function of
            the same module and name replaces its earlier self: a notebook cell run again).

    Examples:
        >>> @jaxnn.losses.register(labels=True)
        ... def smoothed_ce(a, y):                     # a: logits (the model ends in Dense(k))
        ...     return optax.softmax_cross_entropy(a, 0.9 * y + 0.1 / a.shape[-1])
        >>> model = Model([..., Dense(10)], (28, 28, 1), loss="smoothed_ce")
    """
    if fn is None:
        return functools.partial(register, name=name, grad=grad, batch=batch, labels=labels,
                                 output=output, binary=binary)
    if not callable(fn) or (grad is not None and not callable(grad)):
        raise TypeError(f"register takes a loss function fn(a, y) (and grad(a, y)), got {fn!r}")
    name = name or fn.__name__
    if name in NAMES:
        raise ValueError(f"{name!r} is a built-in loss; register yours under another name")
    known = _REGISTERED.get(name, fn)
    if known is not fn and (known.__module__, known.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ValueError(f"another loss is already registered as {name!r}: {known!r}")
    _REGISTERED[name] = fn
    LOSSES[name] = Loss(name, lambda z, a, y: fn(a, y), grad, output, labels=labels, binary=binary,
                        batch=batch)
    return fn


def name_of(loss) -> str:
    """The registered name of ``loss``: a name, a function given to [`register`][jaxnn.losses.register], or a
    [`Loss`][jaxnn.losses.Loss]; ``ValueError`` naming the fix for any other."""
    if isinstance(loss, Loss):
        loss = loss.name
    if callable(loss):
        found = [n for n, f in _REGISTERED.items() if f is loss]
        if not found:
            raise ValueError(f"loss {loss!r} is a function that is not registered: register it "
                             f"first, jaxnn.losses.register({getattr(loss, '__name__', 'fn')}), "
                             "then pass it or its name")
        loss = found[0]
    return get(loss).name


def classifies(name: str, n_outputs: int) -> bool:
    """Whether a model with this loss and ``n_outputs`` outputs classifies: several outputs, or one
    that is the probability of class 1 (a ``binary`` loss)."""
    return n_outputs > 1 or get(name).binary


def get(name: str) -> Loss:
    """Look up a loss by name; raises ``ValueError`` naming the known losses and the fix."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}, or register your "
                         "own with jaxnn.losses.register(fn, name=...) (in every process that builds "
                         "or loads the model)")
    return LOSSES[name]
