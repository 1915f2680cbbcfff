"""Cost functions C, their gradients ∇ₐC, and the fused output deltas.

Every loss is defined per example (``C_x``) and the network's cost is the mean over the batch,
``C = (1/m) Σ_x C_x`` (Nielsen's convention). ``y`` is a target array ``(m, n_L)``; for
``cross_entropy`` and ``hinge`` integer class labels ``(m,)`` are turned into one-hot targets
first, and a label :data:`IGNORE` leaves its example (or time step) out: the cost is then the mean
over the others (padding in a batch of sequences of different lengths).

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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


IGNORE = -1
"""The label that counts nowhere: its position adds nothing to the cost, the gradient or the
accuracy (see :func:`jaxnn.layers.model.weights`)."""


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
    """

    name: str
    per_example: Callable[[Array, Array, Array], Array]
    grad_a: Callable[[Array, Array], Array] | None
    output: str | None = None
    fused_delta: Callable[[Array, Array, Array], Array] | None = None
    labels: bool = False
    binary: bool = False


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


def get(name: str) -> Loss:
    """Look up a loss by name; raises ``ValueError`` naming the known losses."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(NAMES)}")
    return LOSSES[name]
