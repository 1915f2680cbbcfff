"""The layer contract, written down once, and the registry that lets checkpoints rebuild layers.

Every layer — jaxnn's own and a user's — is a **frozen dataclass** (a hashable spec, static under
``jit``) with three methods. Shapes exclude the batch axis; arrays are batch-first.

- ``init(key, in_shape, dtype) -> (params, out_shape)``: a dict of arrays (``{}`` if none) and the
  per-example output shape.
- ``forward(params, x) -> (y, cache)``: the output and whatever ``backward`` needs.
- ``backward(params, cache, g) -> (grads, g_x)``: ``g = ∂C/∂y`` in; ``∂C/∂params`` (a dict shaped
  like ``params``) and ``∂C/∂x`` out, **written out by hand** (no ``jax.grad``/``jax.vjp``).
  ``g`` is the gradient of the *batch-mean* cost (the model scales the output delta by 1/m once),
  so parameter gradients are plain sums over the batch.

A layer that applies an activation last may also expose it, so the model can form BP1's fused
output delta (``a − y`` for softmax + cross-entropy) at its pre-activation ``z``:

- ``activation: str`` (the activation's name), ``pre_activation(cache) -> z``, and
  ``backward_z(params, cache, delta) -> (grads, g_x)``: the backward pass started from
  ``δ = ∂C/∂z`` instead of ``∂C/∂y``.

and may declare ``loop_preference: dict[str, str]``, e.g. ``{"cpu": "python"}``: the epoch loop
``fit(loop="auto")`` should use on that backend (see :func:`jaxnn.train.make_epoch`).

A user's class that follows the contract works in :class:`jaxnn.layers.Model`, ``fit``,
``gradcheck``, ``check_layer``, the parallel steps and — after :func:`register` — checkpoints.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax


@runtime_checkable
class Layer(Protocol):
    """See the module docstring: ``init``, ``forward``, ``backward`` on a frozen dataclass."""

    def init(self, key: jax.Array, in_shape: tuple[int, ...], dtype: Any = ...
             ) -> tuple[dict[str, jax.Array], tuple[int, ...]]: ...

    def forward(self, params: dict[str, jax.Array], x: jax.Array) -> tuple[jax.Array, Any]: ...

    def backward(self, params: dict[str, jax.Array], cache: Any, g: jax.Array
                 ) -> tuple[dict[str, jax.Array], jax.Array]: ...


REGISTRY: dict[str, type] = {}


def register(cls: type, name: str | None = None) -> type:
    """Make layer class ``cls`` known to checkpoints under ``name`` (default: its class name).

    Checkpoints store a layer as its registered name and dataclass fields and never import or
    unpickle code, so a user's layer must be registered (in the process that loads) to be rebuilt.
    Usable as a decorator.

    Raises:
        TypeError: ``cls`` is not a frozen dataclass with ``init``/``forward``/``backward``.
        ValueError: another class is registered under that name.
    """
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
            and all(callable(getattr(cls, m, None)) for m in ("init", "forward", "backward"))):
        raise TypeError(f"{cls!r} is not a layer: it must be a frozen dataclass with init, forward "
                        "and backward methods (see jaxnn.layers.base)")
    name = name or cls.__name__
    if REGISTRY.get(name, cls) is not cls:
        raise ValueError(f"another layer class is already registered as {name!r}: {REGISTRY[name]!r}")
    REGISTRY[name] = cls
    return cls


def to_spec(layer) -> dict:
    """``{"type": name, **fields}`` for a registered layer (JSON-friendly)."""
    name = next((n for n, c in REGISTRY.items() if c is type(layer)), None)
    if name is None:
        raise ValueError(f"layer {layer} is not registered; call jaxnn.layers.register("
                         f"{type(layer).__name__}) to save models that use it")
    return {"type": name, **dataclasses.asdict(layer)}


def from_spec(spec: dict):
    """Inverse of :func:`to_spec`; lists become tuples (dataclass fields are hashable)."""
    spec = dict(spec)
    name = spec.pop("type")
    if name not in REGISTRY:
        raise ValueError(f"layer type {name!r} is not registered; call jaxnn.layers.register"
                         f"({name}) before loading")
    return REGISTRY[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
