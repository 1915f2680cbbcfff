"""Optimisers: plain gradient descent as an optax transformation, and named presets.

Any ``optax.GradientTransformation`` works with [`jaxnn.fit`][]: the hand-derived gradients are an
ordinary pytree shaped like the parameters.
"""

from __future__ import annotations

import math
import numbers

import jax
import numpy
import optax


def sgd(learning_rate: float) -> optax.GradientTransformation:
    """Gradient descent exactly as the equations read: ``W ← W − η ∂C/∂W``, ``b ← b − η ∂C/∂b``.

    ``∂C/∂W`` is the mean over the mini-batch (that is what [`jaxnn.value_and_grad`][] returns).

    Examples:
        >>> opt = sgd(3.0)                       # Nielsen's η = 3.0
        >>> updates, state = opt.update(grads, opt.init(params))
        >>> params = optax.apply_updates(params, updates)
    """

    learning_rate = check_learning_rate(learning_rate)

    def init(params):
        del params
        return optax.EmptyState()

    def update(grads, state, params=None):
        del params
        return jax.tree.map(lambda g: -learning_rate * g, grads), state

    return optax.GradientTransformation(init, update)


def check_learning_rate(learning_rate) -> float:
    """``learning_rate`` as a float, if it is a positive finite number; else ``ValueError``.

    A traced scalar (a per-member rate of ``optax.inject_hyperparams`` in a population) passes
    unchecked: its value is not known while tracing."""
    if isinstance(learning_rate, jax.core.Tracer) and jax.numpy.ndim(learning_rate) == 0:
        return learning_rate
    if isinstance(learning_rate, jax.Array | numpy.ndarray) and learning_rate.ndim == 0:
        learning_rate = learning_rate.item()
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) \
            or not math.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"the learning rate must be a positive finite number, got {learning_rate!r}")
    return float(learning_rate)


def _weights_only(params):
    """True for weights and kernels (two or more axes), False for biases (vectors)."""
    return jax.tree.map(lambda p: jax.numpy.ndim(p) >= 2, params)


def nielsen_l2(learning_rate: float, lmbda: float, n: int) -> optax.GradientTransformation:
    """Nielsen's L2-regularised rule ``W ← (1 − ηλ/n) W − η ∂C/∂W`` (biases not decayed). Any
    model: every weight matrix and kernel is decayed, no bias.

    Built from optax: weight decay ``λ/n`` on the weights, then [`sgd`][jaxnn.training.optim.sgd].
    ``n`` is the size of the whole training set, as in Nielsen's ``network2.py``.
    """
    return optax.chain(optax.add_decayed_weights(lmbda / n, mask=_weights_only), sgd(learning_rate))


OPTIMIZERS = {
    "sgd": sgd,
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "nesterov": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    "rmsprop": optax.rmsprop,
    "adam": optax.adam,
    "adamw": optax.adamw,
}


def get(name: str, learning_rate: float) -> optax.GradientTransformation:
    """An optimiser by name (``sgd, momentum, nesterov, rmsprop, adam, adamw``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](check_learning_rate(learning_rate))


def one_cycle(name: str, peak_lr: float, total_steps: int) -> optax.GradientTransformation:
    """Optimiser ``name`` with a one-cycle learning rate (optax's ``cosine_onecycle_schedule``):
    warm-up over the first quarter of ``total_steps`` from ``peak_lr/25`` to ``peak_lr``, then
    cosine annealing to ``peak_lr/250,000`` at the last step. (``"sgd"`` is ``optax.sgd`` here:
    the same update, with a schedule.)"""
    get(name, peak_lr)                                    # the name and the rate checked
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    schedule = optax.schedules.cosine_onecycle_schedule(int(total_steps), float(peak_lr), pct_start=0.25)
    return (optax.sgd if name == "sgd" else OPTIMIZERS[name])(schedule)
