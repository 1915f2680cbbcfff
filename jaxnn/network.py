"""A feedforward network as an immutable spec plus pure functions over a parameter pytree.

Notation (SPEC.md): layers ``l = 0..L``, ``n_l`` neurons in layer ``l``, ``a^0 = x``,
``z^l = W^l a^{l-1} + b^l``, ``a^l = σ_l(z^l)``, ``W^l`` of shape ``(n_l, n_{l-1})``.

Where the code departs from the notation:

- **Batch-first arrays.** A batch of ``m`` examples is ``x: (m, n_0)``, one example per row (the
  seeds put examples in columns). The forward pass therefore reads ``z = a @ W.T + b`` and BP4 reads
  ``∂C/∂W = δᵀ @ a_prev`` (which gives ``(n_l, n_{l-1})``, the layout of ``W``, directly; it is also
  the fastest layout measured for the weight gradient, see PERF_NOTES.md).
- **Python indices start at 0.** ``params[0]`` holds ``W^1, b^1``; ``params[l-1]`` holds layer ``l``.

Shapes are validated in Python when a function is traced, so the checks cost nothing inside
``jax.jit``; every error message names the problem and the value expected.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import activations, losses

Array = jax.Array
Params = list[dict[str, Array]]


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

        cost = losses.get(self.loss)
        if cost.output is not None and self.output != cost.output:
            raise ValueError(
                f"loss {self.loss!r} needs output={cost.output!r}, got output={self.output!r}; "
                f"use output={cost.output!r} or a loss such as 'quadratic' or 'mse'"
            )

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


class Cache(NamedTuple):
    """What the forward pass keeps for the backward pass.

    Attributes:
        zs: ``[z^1, ..., z^L]``, each ``(m, n_l)``.
        activations: ``[a^0 = x, a^1, ..., a^L]``, each ``(m, n_l)``.
    """

    zs: list[Array]
    activations: list[Array]


def check_params(net: Network, params: Params) -> None:
    """Raise ``ValueError`` unless ``params`` fits ``net``: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}]``."""
    if not isinstance(params, (list, tuple)) or len(params) != net.depth:
        got = f"{len(params)} layers" if isinstance(params, (list, tuple)) else type(params).__name__
        raise ValueError(
            f"params must be a list of {net.depth} layers for sizes {list(net.sizes)}, got {got}; "
            "create them with jaxnn.init(key, net)"
        )
    for l, (p, n_in, n_out) in enumerate(zip(params, net.sizes[:-1], net.sizes[1:]), start=1):
        if not isinstance(p, dict) or set(p) != {"W", "b"}:
            raise ValueError(f"params[{l - 1}] (layer {l}) must be a dict with keys 'W' and 'b'")
        for name, want in (("W", (n_out, n_in)), ("b", (n_out,))):
            got = tuple(jnp.shape(p[name]))
            if got != want:
                raise ValueError(
                    f"params[{l - 1}]['{name}'] (layer {l}) has shape {got}, expected {want} "
                    f"for sizes {list(net.sizes)}"
                )


def _check_x(net: Network, x) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2:
        hint = " (for a single example use x[None, :])" if x.ndim == 1 else ""
        raise ValueError(f"x must have shape (batch, {net.sizes[0]}), got {x.shape}{hint}")
    if x.shape[1] != net.sizes[0]:
        raise ValueError(
            f"x has {x.shape[1]} features per example but the network's input layer has "
            f"{net.sizes[0]} (x shape {x.shape}, expected (batch, {net.sizes[0]}))"
        )
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (0 examples); pass at least one example")
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
            or x.dtype == jnp.bool_):
        raise TypeError(f"x must hold numbers, got dtype {x.dtype}")
    return x


def targets(net: Network, y, m: int, dtype) -> Array:
    """Validate ``y`` and return it as a float target array ``(m, n_L)``.

    ``cross_entropy`` also takes integer class labels ``(m,)`` with values in ``[0, n_L)``, which
    become one-hot rows.
    """
    y = jnp.asarray(y)
    n_out = net.sizes[-1]
    if net.loss == "cross_entropy" and y.ndim == 1 and jnp.issubdtype(y.dtype, jnp.integer):
        if y.shape[0] != m:
            raise ValueError(f"y has {y.shape[0]} labels but x has {m} examples; they must match")
        return jax.nn.one_hot(y, n_out, dtype=dtype)
    if y.ndim != 2 or y.shape[1] != n_out:
        labels = " or integer labels (batch,)" if net.loss == "cross_entropy" else ""
        raise ValueError(f"y must have shape (batch, {n_out}){labels}, got {y.shape}")
    if y.shape[0] != m:
        raise ValueError(f"y has {y.shape[0]} examples but x has {m}; batch sizes must match")
    return y.astype(dtype)


def forward(net: Network, params: Params, x) -> tuple[Array, Cache]:
    """Run the network: ``z^l = a^{l-1} W^lᵀ + b^l``, ``a^l = σ_l(z^l)`` for ``l = 1..L``.

    Args:
        x: inputs ``(m, n_0)``, one example per row.

    Returns:
        ``(a^L, cache)``: the outputs ``(m, n_L)`` and the :class:`Cache` of ``zs`` and activations.

    Example:
        >>> out, cache = forward(net, params, x)   # out: (m, n_L)
    """
    check_params(net, params)
    x = _check_x(net, x)
    dtype = jnp.result_type(params[0]["W"])
    a = x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(dtype)
    zs, acts = [], [a]
    for p, name in zip(params, net.activations, strict=True):
        z = a @ p["W"].T + p["b"]
        a = activations.get(name).fn(z)
        zs.append(z)
        acts.append(a)
    return a, Cache(zs, acts)


def cost(net: Network, z_out: Array, a_out: Array, y) -> Array:
    """The batch-mean cost ``C = (1/m) Σ_x C_x`` from the output layer's ``z^L`` and ``a^L``."""
    y = targets(net, y, a_out.shape[0], a_out.dtype)
    return jnp.mean(losses.get(net.loss).per_example(z_out, a_out, y))


def loss(net: Network, params: Params, x, y) -> Array:
    """The cost of ``params`` on a batch: a scalar, the mean of ``C_x`` over the ``m`` examples.

    Args:
        x: ``(m, n_0)``; y: ``(m, n_L)`` targets (``cross_entropy``: or int labels ``(m,)``).
    """
    a_out, cache = forward(net, params, x)
    return cost(net, cache.zs[-1], a_out, y)


def to_classes(a_out: Array) -> Array:
    """Outputs ``(m, n_L)`` → classes ``(m,)``: ``argmax``, or ``a > 0.5`` for a single output."""
    if a_out.shape[-1] == 1:
        return (a_out[..., 0] > 0.5).astype(jnp.int32)
    return jnp.argmax(a_out, axis=-1)


def predict(net: Network, params: Params, x) -> Array:
    """Class predictions ``(m,)`` (see :func:`to_classes`)."""
    return to_classes(forward(net, params, x)[0])


def accuracy(net: Network, params: Params, x, labels) -> Array:
    """Fraction of examples whose :func:`predict` equals ``labels`` ``(m,)`` (or one-hot ``(m, n_L)``)."""
    labels = jnp.asarray(labels)
    if labels.ndim == 2:
        labels = jnp.argmax(labels, axis=-1)
    return jnp.mean(predict(net, params, x) == labels)
