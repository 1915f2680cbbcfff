"""The classic feedforward network's constructor: ``Network(sizes, hidden, output, loss)``.

A :class:`Network` is a model whose layers are :class:`jaxnn.layers.Dense` (each ``a^l =
σ_l(W^l a^{l-1} + b^l)``): ``init``, ``forward``, ``loss``, the hand-derived backward pass and
every tool treat it as any other model. Only its spec (sizes and activation names, which is what
its checkpoints store) is its own.

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

import dataclasses
import operator
from collections.abc import Sequence

from jaxnn import activations, losses
from jaxnn.layers.dense import Dense


@dataclasses.dataclass(frozen=True)
class Network:
    """The structure of a feedforward network: immutable, hashable, usable as a static jit argument.

    Args:
        sizes: neurons per layer ``[n_0, n_1, ..., n_L]`` (at least two positive ints).
        hidden: activation of the hidden layers 1..L−1: one name for all, or a list with one name
            per hidden layer (see :mod:`jaxnn.activations`).
        output: activation of the output layer L.
        loss: cost function (see :mod:`jaxnn.losses`); ``cross_entropy`` needs a ``softmax``
            output, ``binary_cross_entropy`` a ``sigmoid`` output.

    Example:
        >>> net = Network(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
        >>> net.activations
        ('sigmoid', 'sigmoid')
    """

    sizes: tuple[int, ...]
    hidden: str | tuple[str, ...] = "sigmoid"
    output: str = "sigmoid"
    loss: str = "quadratic"

    def __post_init__(self):
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a list of layer widths like [784, 30, 10], got {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(
                f"sizes needs at least two layers (input and output), got {list(sizes)}; "
                "e.g. [2, 1] for a single-layer network"
            )
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
                raise TypeError(f"sizes[{i}] must be a positive int, got {n!r}")
            if operator.index(n) <= 0:
                raise ValueError(f"sizes[{i}] must be a positive int, got {n}")
        object.__setattr__(self, "sizes", tuple(operator.index(n) for n in sizes))

        n_hidden = len(self.sizes) - 2
        hidden = (self.hidden,) * n_hidden if isinstance(self.hidden, str) else tuple(self.hidden)
        if len(hidden) != n_hidden:
            raise ValueError(
                f"hidden lists {len(hidden)} activations but sizes {list(self.sizes)} has "
                f"{n_hidden} hidden layers; give one name per hidden layer or a single name"
            )
        hidden = tuple(activations.get(h).name for h in hidden)
        object.__setattr__(self, "hidden", hidden)
        object.__setattr__(self, "output", activations.get(self.output).name)

        needs = losses.get(self.loss).output
        if needs is not None and self.output != needs:
            raise ValueError(
                f"loss {self.loss!r} needs output={needs!r}, got output={self.output!r}; "
                f"use output={needs!r} or a loss such as 'quadratic' or 'mse'"
            )
        object.__setattr__(self, "_layers", tuple(
            Dense(n, a) for n, a in zip(self.sizes[1:], self.activations, strict=True)))

    @property
    def layers(self) -> tuple[Dense, ...]:
        """Layers 1..L as :class:`jaxnn.layers.Dense` with their activations."""
        return self._layers

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.sizes[0],)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.sizes[-1],)

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation names of layers 1..L (hidden layers, then the output layer)."""
        return self.hidden + (self.output,)

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.sizes) - 1

    def to_dict(self) -> dict:
        """A JSON-friendly description; ``Network(**d)`` rebuilds the same network."""
        return {"sizes": list(self.sizes), "hidden": list(self.hidden), "output": self.output,
                "loss": self.loss}
