"""The layer contract, written down once — [`Layer`][jaxnn.layers.base.Layer], the three methods every layer
has, and [`Hooks`][jaxnn.layers.base.Hooks], the optional parts, each with what a layer without it means — and
the registry that lets checkpoints rebuild layers.

Every layer — jaxnn's own, a whole model's body ([`jaxnn.layers.Sequential`][]) and a user's —
is a **frozen dataclass** (a hashable spec, static under ``jit``). Shapes exclude the batch axis;
arrays are batch-first (one example per row). Tools never read a hook directly: they call the
function of the same name below ([`forward`][jaxnn.layers.base.forward],
[`output_activation`][jaxnn.layers.base.output_activation],
[`pre_activation`][jaxnn.layers.base.pre_activation], [`backward_z`][jaxnn.layers.base.backward_z],
[`new_state`][jaxnn.layers.base.new_state], [`children`][jaxnn.layers.base.children],
[`stochastic`][jaxnn.layers.base.stochastic], [`integer_input`][jaxnn.layers.base.integer_input],
[`loop_preference`][jaxnn.layers.base.loop_preference]), which supplies the default.

A class that follows the contract works everywhere a jaxnn layer does — inside ``Sequential``,
``Residual`` and ``Model``, in ``fit``, ``gradcheck``, ``check_layer``, ``custom_vjp``, the parallel
steps and, after [`register`][jaxnn.layers.base.register], in checkpoints.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax


@runtime_checkable
class Layer(Protocol):
    """The three methods of every layer.

    - ``init(key, in_shape, dtype) -> (params, out_shape)``: a pytree of arrays (a dict; ``{}`` if
      none; a list of its layers' params for a container) and the per-example output shape.
    - ``forward(params, x) -> (y, cache)``: the output and whatever ``backward`` needs (a named
      tuple, read only by the layer itself). A `Hooks.stochastic` layer takes
      ``forward(params, x, key=None)``.
    - ``backward(params, cache, g) -> (grads, g_x)``: ``g = ∂C/∂y`` in; ``∂C/∂params`` (shaped like
      ``params``) and ``∂C/∂x`` out, **written out by hand** (no ``jax.grad``/``jax.vjp``). ``g`` is
      the gradient of the *batch-mean* cost (the loss scales the output delta by 1/m once), so
      parameter gradients are plain sums over the batch.
    """

    def init(self, key: jax.Array, in_shape: tuple[int, ...], dtype: Any = ...
             ) -> tuple[Any, tuple[int, ...]]: ...

    def forward(self, params: Any, x: jax.Array) -> tuple[jax.Array, Any]: ...

    def backward(self, params: Any, cache: Any, g: jax.Array) -> tuple[Any, jax.Array]: ...


class Hooks(Protocol):
    """The optional parts of the contract; a layer has any of them, or none.

    **An activation applied last** (so the loss can form the fused output delta, ``a − y`` for
    softmax + cross-entropy, at its pre-activation ``z``): ``activation`` (the name), with
    ``pre_activation(cache) -> z`` and ``backward_z(params, cache, delta) -> (grads, g_x)`` (the
    backward started from ``δ = ∂C/∂z``). Without them the layer's output is its ``z``, with the
    ``identity`` activation.

    **Training and evaluation differ** (``stochastic = True``): ``forward(params, x, key=None)``
    gets a PRNG key in training and ``None`` at evaluation, where it must be deterministic.
    ``Dropout`` draws its mask from the key; ``BatchNorm`` only reads that it is training. Its
    backward reuses what the forward drew (kept in the cache). Default ``False``.

    **State** (``BatchNorm``'s running statistics): kept in the layer's params dict under
    ``"state"``, made by ``init`` beside the parameters; the forward stops gradients into it and
    the backward returns zeros there (as ``jax.grad`` does); ``new_state(params, cache) -> state``
    is the state after a training forward. The training step splits the state off
    ([`jaxnn.model.split_state`][]), lets the optimiser update the rest and puts the new state
    back; evaluation reads it from the params. So checkpoints, populations and the parallel steps
    carry it as params, and no optimiser sees it. Default: no state (``None``).

    **Layers inside** (a container): ``children(cache) -> [(layer, cache), ...]``, so tools can look
    inside (the gradient check finds ReLU kinks that way). Default: none.

    **Integer input** (``integer_input = True``): the layer reads integers (an ``Embedding``'s
    tokens), so a model starting with it does not cast its input to floats, and ``custom_vjp``
    gives the input a ``float0`` cotangent. Default ``False``.

    **A loop preference** (``loop_preference: dict[str, str]``, e.g. ``{"cpu": "python"}``): the
    epoch loop ``fit(loop="auto")`` should use on that backend. Default ``{}``.
    """

    activation: str
    stochastic: ClassVar[bool]
    integer_input: ClassVar[bool]
    loop_preference: dict[str, str]

    def pre_activation(self, cache: Any) -> jax.Array: ...

    def backward_z(self, params: Any, cache: Any, delta: jax.Array) -> tuple[Any, jax.Array]: ...

    def new_state(self, params: Any, cache: Any) -> Any: ...

    def children(self, cache: Any) -> list[tuple[Any, Any]]: ...


# ------------------------------------------------------------ the optional parts, with defaults
def check_rank(layer, x, rank: int, what: str) -> None:
    """``ValueError`` naming ``layer`` unless ``x`` has rank ``rank`` (``what``: the axes, in words)."""
    if x.ndim != rank:
        raise ValueError(f"{layer}: expects input of rank {rank} {what}, got shape {x.shape}")


def stochastic(layer) -> bool:
    """Whether ``layer`` acts differently in training (takes a key): `Hooks.stochastic`."""
    return bool(getattr(layer, "stochastic", False))


def integer_input(layer) -> bool:
    """Whether ``layer`` reads integers (tokens): `Hooks.integer_input`."""
    return bool(getattr(layer, "integer_input", False))


def loop_preference(layer) -> dict[str, str]:
    """The epoch loop ``layer`` prefers on each backend: `Hooks.loop_preference`."""
    return dict(getattr(layer, "loop_preference", {}))


def forward(layer, params, x, key=None):
    """``layer.forward``, with ``key`` for a stochastic layer (``None``: evaluation)."""
    return layer.forward(params, x, key=key) if stochastic(layer) else layer.forward(params, x)


def output_activation(layer) -> str:
    """The activation ``layer`` applies last, if it exposes one; else ``"identity"``."""
    return layer.activation if hasattr(layer, "pre_activation") else "identity"


def pre_activation(layer, cache, y):
    """``z`` of the activation ``layer`` applies last (its output ``y`` if it exposes none)."""
    return layer.pre_activation(cache) if hasattr(layer, "pre_activation") else y


def backward_z(layer, params, cache, delta):
    """``layer``'s backward pass started from ``δ = ∂C/∂z`` (plain ``backward`` if it exposes no
    activation: then ``z`` is its output)."""
    return getattr(layer, "backward_z", layer.backward)(params, cache, delta)


def new_state(layer, params, cache):
    """The state of ``layer`` (and the layers inside) after a training forward that left
    ``cache``, shaped like [`jaxnn.model.split_state`][]'s second part (``None`` where
    there is none)."""
    return layer.new_state(params, cache) if hasattr(layer, "new_state") else None


def children(layer, cache) -> list[tuple[Any, Any]]:
    """The layers inside ``layer`` with their caches (``[]`` for a layer of its own)."""
    return layer.children(cache) if hasattr(layer, "children") else []


# ----------------------------------------------------------------------------------- registry
REGISTRY: dict[str, type] = {}


def register(cls: type, name: str | None = None) -> type:
    """Make layer class ``cls`` known to checkpoints under ``name`` (default: its class name).

    Checkpoints store a layer as its registered name and dataclass fields (layers among them
    stored the same way) and never import or unpickle code, so a user's layer must be registered
    (in the process that loads) to be rebuilt. Usable as a decorator.

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


def _is_layer(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def to_spec(layer) -> dict:
    """``{"type": name, **fields}`` for a registered layer (JSON-friendly); fields holding layers
    (a ``Sequential``'s list, a ``Residual``'s block) are specs themselves."""
    name = next((n for n, c in REGISTRY.items() if c is type(layer)), None)
    if name is None:
        raise ValueError(f"layer {layer} is not registered; call jaxnn.layers.register("
                         f"{type(layer).__name__}) to save models that use it")

    def field(v):
        if _is_layer(v):
            return to_spec(v)
        if isinstance(v, (tuple, list)):
            return [field(u) for u in v]
        return v

    return {"type": name, **{f.name: field(getattr(layer, f.name))
                             for f in dataclasses.fields(layer)}}


def from_spec(spec: dict):
    """Inverse of [`to_spec`][jaxnn.layers.base.to_spec]; lists become tuples (dataclass fields are
    hashable)."""
    spec = dict(spec)
    name = spec.pop("type")
    if name not in REGISTRY:
        raise ValueError(f"layer type {name!r} is not registered; call jaxnn.layers.register"
                         f"({name}) before loading")

    def field(v):
        if isinstance(v, dict) and "type" in v:
            return from_spec(v)
        if isinstance(v, list):
            return tuple(field(u) for u in v)
        return v

    return REGISTRY[name](**{k: field(v) for k, v in spec.items()})
