"""Models: a stack of layers with a loss, and the functions every model shares.

``Model([Conv2D(8), Activation("relu"), MaxPool2D(), Flatten(), Dense(10, "softmax")],
input_shape=(28, 28, 1), loss="cross_entropy")``. A :class:`jaxnn.Network` is a model too (a stack
of :class:`Dense` layers), so everything here — ``forward``, ``cost``, ``loss``, ``predict``, the
checks — and the hand-derived backward sweep (:func:`jaxnn.value_and_grad`) is written once for both.

A *model* is any object with ``layers`` (see :mod:`jaxnn.layers.base` for the layer contract),
``input_shape`` (per example) and ``loss`` (a name in :mod:`jaxnn.losses`). Parameters are a list
with one dict per layer (``{}`` for layers without parameters), so optax, ``jax.tree_util`` and
checkpoints take them unchanged. The cost is the mean of ``C_x`` over every leading axis of the
output (batch, and time for many-to-many).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxnn import losses
from jaxnn.layers import base
from jaxnn.layers.dense import Activation

Params = list[dict[str, jax.Array]]
"""A model's parameters: one dict of arrays per layer (``{}`` for layers without parameters)."""


@dataclasses.dataclass(frozen=True)
class Model:
    """A sequence of layers, the per-example input shape, and the loss. Immutable and hashable.

    Args:
        layers: layers following :mod:`jaxnn.layers.base` (jaxnn's or your own).
        input_shape: one example's shape, e.g. ``(28, 28, 1)`` or ``(T, features)``.
        loss: a name in :mod:`jaxnn.losses`; ``cross_entropy`` needs the model to end in softmax
            (``Dense(k, "softmax")`` or ``Activation("softmax")``), ``binary_cross_entropy`` in
            sigmoid.
    """

    layers: tuple
    input_shape: tuple[int, ...]
    loss: str = "cross_entropy"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        if not self.layers:
            raise ValueError("Model needs at least one layer")
        cost = losses.get(self.loss)
        if cost.output is not None and self.output != cost.output:
            raise ValueError(f"loss {self.loss!r} needs the last layer to apply "
                             f"{cost.output!r} (Activation({cost.output!r}) or Dense(k, "
                             f"{cost.output!r})), got {self.layers[-1]}")
        _trace(self)   # shapes and kernel sizes checked up front

    @property
    def output(self) -> str:
        """Name of the output activation (``identity`` if the last layer exposes none)."""
        return output_activation(self)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return output_shape(self)

    def to_dict(self) -> dict:
        """A JSON-friendly description (layers by their registered names, see
        :func:`jaxnn.layers.register`); :meth:`from_dict` rebuilds the same model."""
        return {"kind": "Model", "input_shape": list(self.input_shape), "loss": self.loss,
                "layers": [base.to_spec(layer) for layer in self.layers]}

    @classmethod
    def from_dict(cls, d: dict) -> Model:
        return cls(tuple(base.from_spec(spec) for spec in d["layers"]), tuple(d["input_shape"]),
                   d["loss"])


def output_activation(model) -> str:
    """The activation the model's last layer applies last (``"identity"`` if it exposes none)."""
    last = model.layers[-1]
    return last.activation if hasattr(last, "pre_activation") else "identity"


def output_shape(model) -> tuple[int, ...]:
    """Per-example output shape: ``(n_L,)``, or ``(T, k)`` for sequence outputs."""
    return _trace(model)[1]


def param_shapes(model) -> list[dict]:
    """Each layer's ``{name: ShapeDtypeStruct}`` as its ``init`` makes them (nothing allocated)."""
    return _trace(model)[0]


def is_classifier(model) -> bool:
    """Several outputs, or one output that is a class probability (binary cross-entropy)."""
    return output_shape(model)[-1] > 1 or losses.get(model.loss).binary


@functools.cache
def _trace(model):
    """Each layer's parameter shapes (``ShapeDtypeStruct``s, nothing allocated) and the model's
    output shape; a layer that cannot take its input shape raises ``ValueError`` naming it."""
    shapes, shape = [], model.input_shape
    for i, layer in enumerate(model.layers):
        out_shapes = []

        def layer_init(layer=layer, shape=shape, out_shapes=out_shapes):
            params, out_shape = layer.init(jax.random.key(0), shape)
            out_shapes.append(out_shape)   # a plain tuple: read once eval_shape has traced
            return params

        try:
            shapes.append(jax.eval_shape(layer_init))
        except ValueError as e:
            raise ValueError(f"layer {i} ({layer}) cannot take input shape {shape}: {e}") from None
        shape = out_shapes[0]
    return shapes, shape


def check_params(model, params) -> None:
    """Raise ``ValueError`` unless ``params`` has one dict per layer with the shapes ``init`` gives."""
    if not isinstance(params, (list, tuple)) or len(params) != len(model.layers):
        got = f"{len(params)}" if isinstance(params, (list, tuple)) else type(params).__name__
        raise ValueError(f"params must be a list of {len(model.layers)} layers (one dict each), got "
                         f"{got}; create them with jaxnn.init(key, model)")
    for i, (want, p) in enumerate(zip(param_shapes(model), params)):
        layer = f"layer {i + 1}, {model.layers[i]}"
        if not isinstance(p, dict) or set(p) != set(want):
            keys = " and ".join(f"'{k}'" for k in sorted(want)) or "none"
            raise ValueError(f"params[{i}] ({layer}) must be a dict with keys {keys}")
        for k, w in want.items():
            if tuple(jnp.shape(p[k])) != w.shape:
                raise ValueError(f"params[{i}]['{k}'] (layer {i + 1}) has shape "
                                 f"{tuple(jnp.shape(p[k]))}, expected {w.shape} for {model.layers[i]}")


def init(key, model, dtype=jnp.float32) -> list[dict]:
    """One params dict per layer, from each layer's own ``init`` (``{}`` for layers without
    parameters). :func:`jaxnn.init` also takes the named schemes."""
    params, shape = [], model.input_shape
    for layer, k in zip(model.layers, jax.random.split(key, len(model.layers))):
        p, shape = layer.init(k, shape, dtype)
        params.append(p)
    return params


def check_x(model, x) -> jax.Array:
    """``x`` as an array ``(batch, *input_shape)`` of numbers, or ``ValueError``/``TypeError``."""
    x = jnp.asarray(x)
    want = tuple(model.input_shape)
    expected = f"(batch, {', '.join(map(str, want))})"
    if x.shape[1:] != want:
        if x.shape == want:
            raise ValueError(f"x has shape {x.shape}, expected {expected} (for a single example "
                             "use x[None])")
        if x.ndim == 2 and len(want) == 1:
            raise ValueError(f"x has {x.shape[1]} features per example but the model's input layer "
                             f"has {want[0]} (x shape {x.shape}, expected {expected})")
        raise ValueError(f"x has shape {x.shape}, expected {expected}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (0 examples); pass at least one example")
    if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
        raise TypeError(f"x must hold numbers, got dtype {x.dtype}")
    return x


def forward(model, params, x):
    """``(output, caches)``: the last layer's output ``(m, *output_shape)`` and each layer's cache."""
    check_params(model, params)
    a = check_x(model, x)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(*jax.tree.leaves(params)[:1] or [jnp.float32]))
    caches = []
    for layer, p in zip(model.layers, params):
        a, cache = layer.forward(p, a)
        caches.append(cache)
    return a, caches


def output_z(model, out, caches):
    """The pre-activation ``z^L`` of the output (``out`` itself if the last layer exposes none)."""
    last = model.layers[-1]
    return last.pre_activation(caches[-1]) if hasattr(last, "pre_activation") else out


def output(model, params, x):
    """``(z^L, a^L)`` for a batch."""
    out, caches = forward(model, params, x)
    return output_z(model, out, caches), out


def targets(model, y, out):
    """``y`` as float targets shaped like ``out``; integer labels ``out.shape[:-1]`` are one-hot
    encoded for losses that take labels (cross-entropy)."""
    y = jnp.asarray(y)
    takes_labels = losses.get(model.loss).labels
    m = out.shape[0]
    if takes_labels and jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == out.ndim - 1:
        if y.shape[:1] != (m,):
            raise ValueError(f"y has {y.shape[0]} labels but x has {m} examples; they must match")
        if y.shape == out.shape[:-1]:
            return jax.nn.one_hot(y, out.shape[-1], dtype=out.dtype)
    if y.shape != out.shape:
        want = ", ".join(["batch", *map(str, out.shape[1:])])
        if y.ndim == out.ndim and y.shape[1:] == out.shape[1:]:
            raise ValueError(f"y has {y.shape[0]} examples but x has {m}; batch sizes must match")
        labels = f" or integer labels ({', '.join(['batch', *map(str, out.shape[1:-1])])})" \
            if takes_labels else ""
        raise ValueError(f"y must have shape ({want}){labels}, got {y.shape}")
    return y.astype(out.dtype)


def cost(model, z, a, y):
    """The cost: mean of ``C_x`` over all leading axes, from the output's ``z^L`` and ``a^L``."""
    return jnp.mean(losses.get(model.loss).per_example(z, a, targets(model, y, a)))


def loss(model, params, x, y):
    """The scalar cost of ``params`` on a batch (differentiable with ``jax.grad``).

    Args:
        x: ``(m, *input_shape)``; y: targets ``(m, *output_shape)`` (cross-entropy: or integer
            labels ``(m,)``, ``(m, T)`` for sequences).
    """
    return cost(model, *output(model, params, x), y)


def to_classes(a_out):
    """Outputs ``(..., n_L)`` → classes ``(...)``: ``argmax``, or ``a > 0.5`` for a single output."""
    if a_out.shape[-1] == 1:
        return (a_out[..., 0] > 0.5).astype(jnp.int32)
    return jnp.argmax(a_out, axis=-1)


def predict(model, params, x):
    """Class predictions ``(m,)`` (see :func:`to_classes`)."""
    return to_classes(forward(model, params, x)[0])


def accuracy(model, params, x, labels):
    """Fraction of examples whose :func:`predict` equals ``labels`` (or one-hot rows)."""
    labels = jnp.asarray(labels)
    out = forward(model, params, x)[0]
    if labels.ndim == out.ndim:
        labels = jnp.argmax(labels, axis=-1)
    return jnp.mean(to_classes(out) == labels)


def small_cnn(input_shape=(28, 28, 1), n_classes: int = 10, padding: str = "valid") -> Model:
    """Conv2D(32, 3×3) → ReLU → MaxPool 2 → Conv2D(64, 3×3) → ReLU → MaxPool 2 → Flatten →
    Dense(128) → ReLU → Dense(n_classes) → softmax, with cross-entropy (``padding="same"`` keeps
    small images such as 8×8 digits large enough for both pooling layers)."""
    from jaxnn.layers.conv import Conv2D, MaxPool2D
    from jaxnn.layers.dense import Dense, Flatten

    return Model((Conv2D(32, 3, padding=padding), Activation("relu"), MaxPool2D(2),
                  Conv2D(64, 3, padding=padding), Activation("relu"), MaxPool2D(2), Flatten(),
                  Dense(128), Activation("relu"), Dense(n_classes), Activation("softmax")),
                 tuple(input_shape), "cross_entropy")
