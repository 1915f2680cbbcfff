"""The classic feedforward network's constructor: ``Network(sizes, hidden, output, loss)``.

:func:`Network` returns a :class:`jaxnn.layers.Model` whose layers are :class:`jaxnn.layers.Dense`
(each ``a^l = σ_l(W^l a^{l-1} + b^l)``): the one model type, so ``init``, ``forward``, ``loss``, the
hand-derived backward pass, checkpoints and every tool treat it as any other model. Its ``sizes``,
``hidden``, ``output``, ``activations`` and ``loss`` are read back from the model.

Notation: layers ``l = 0..L``, ``n_l`` neurons in layer ``l``, ``a^0 = x``,
``z^l = W^l a^{l-1} + b^l``, ``a^l = σ_l(z^l)``, ``W^l`` of shape ``(n_l, n_{l-1})``.

Where the code departs from the notation:

- **Batch-first arrays.** A batch of ``m`` examples is ``x: (m, n_0)``, one example per row (the
  notation puts examples in columns). The forward pass therefore reads ``z = a @ W.T + b`` and BP4 reads
  ``∂C/∂W = δᵀ @ a_prev`` (which gives ``(n_l, n_{l-1})``, the layout of ``W``, directly; it is also
  the fastest layout measured for the weight gradient).
- **Python indices start at 0.** ``params[0]`` holds ``W^1, b^1``; ``params[l-1]`` holds layer ``l``.

Shapes are validated in Python when a function is traced, so the checks cost nothing inside
``jax.jit``; every error message names the problem and the value expected.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from jaxnn import activations, losses
from jaxnn.layers.dense import Dense
from jaxnn.layers.model import Model


def Network(sizes: Sequence[int], hidden: str | Sequence[str] = "sigmoid",  # noqa: N802 (a constructor)
            output: str = "sigmoid", loss: str = "quadratic") -> Model:
    """A feedforward network of Dense layers: the :class:`jaxnn.layers.Model` with layers
    ``Dense(n_l, σ_l)`` for ``l = 1..L`` over inputs ``(n_0,)``.

    Args:
        sizes: neurons per layer ``[n_0, n_1, ..., n_L]`` (at least two positive ints).
        hidden: activation of the hidden layers 1..L−1: one name for all, or a list with one name
            per hidden layer (see :mod:`jaxnn.activations`).
        output: activation of the output layer L.
        loss: cost function (a name in :mod:`jaxnn.losses`, or your registered function);
            ``cross_entropy`` needs a ``softmax`` output, ``binary_cross_entropy`` a ``sigmoid``
            output.

    Examples:
        >>> net = Network(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
        >>> net.sizes, net.activations
        ((784, 30, 10), ('sigmoid', 'sigmoid'))
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a list of layer widths like [784, 30, 10], got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two layers (input and output), got {list(sizes)}; "
                         "e.g. [2, 1] for a single-layer network")
    for i, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
            raise TypeError(f"sizes[{i}] must be a positive int, got {n!r}")
        if operator.index(n) <= 0:
            raise ValueError(f"sizes[{i}] must be a positive int, got {n}")
    sizes = tuple(operator.index(n) for n in sizes)
    n_hidden = len(sizes) - 2
    hidden = (hidden,) * n_hidden if isinstance(hidden, str) else tuple(hidden)
    if len(hidden) != n_hidden:
        raise ValueError(f"hidden lists {len(hidden)} activations but sizes {list(sizes)} has "
                         f"{n_hidden} hidden layers; give one name per hidden layer or a single name")
    names = [activations.get(h).name for h in (*hidden, output)]
    loss = losses.name_of(loss)
    needs = losses.get(loss).output
    if needs is not None and names[-1] != needs:
        raise ValueError(f"loss {loss!r} needs output={needs!r}, got output={names[-1]!r}; "
                         f"use output={needs!r} or a loss such as 'quadratic' or 'mse'")
    return Model(tuple(Dense(n, a) for n, a in zip(sizes[1:], names, strict=True)), sizes[:1], loss)
