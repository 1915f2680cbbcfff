"""Compose layers into a model: ``Model([Conv2D(8), Activation("relu"), MaxPool2D(), Flatten(),
Dense(10), Activation("softmax")], input_shape=(28, 28, 1), loss="cross_entropy")``.

The model's backward is the layers' backward methods called in reverse, after the output delta
(BP1, fused for softmax + cross-entropy and sigmoid + binary cross-entropy) has been formed from
the last activation's ``z`` and ``a``. Parameters are a list with one dict per layer (``{}`` for
layers without parameters), so optax and :func:`jaxnn.fit` take them unchanged. The cost is the
mean of ``C_x`` over every leading axis of the output (batch, and time for many-to-many).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxnn import activations, losses
from jaxnn.layers.dense import Activation
from jaxnn.network import to_classes


@dataclasses.dataclass(frozen=True)
class Model:
    """A sequence of layers, the per-example input shape, and the loss. Immutable and hashable."""

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
            raise ValueError(f"loss {self.loss!r} needs the last layer to be "
                             f"Activation({cost.output!r}), got {self.layers[-1]}")
        _, out_shape = _trace(self)   # shapes and kernel sizes checked up front
        object.__setattr__(self, "_output_shape", out_shape)

    @property
    def output(self) -> str:
        """Name of the output activation (``identity`` if the model does not end in one)."""
        last = self.layers[-1]
        return last.name if isinstance(last, Activation) else "identity"

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self._output_shape


def _trace(model: Model):
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


def check_params(model: Model, params) -> None:
    """Raise ``ValueError`` unless ``params`` has one dict per layer with the shapes ``init`` gives."""
    _check_count(model, params)
    for i, (want, p) in enumerate(zip(_trace(model)[0], params)):
        if not isinstance(p, dict) or set(p) != set(want):
            raise ValueError(f"params[{i}] ({model.layers[i]}) must be a dict with keys {sorted(want)}")
        for k, w in want.items():
            if tuple(jnp.shape(p[k])) != w.shape:
                raise ValueError(f"params[{i}]['{k}'] ({model.layers[i]}) has shape "
                                 f"{tuple(jnp.shape(p[k]))}, expected {w.shape}")


def init(key, model: Model, dtype=jnp.float32) -> list[dict]:
    """One params dict per layer (``{}`` for layers without parameters)."""
    params, shape = [], model.input_shape
    for layer, k in zip(model.layers, jax.random.split(key, len(model.layers))):
        p, shape = layer.init(k, shape, dtype)
        params.append(p)
    return params


def _check_count(model, params):
    if not isinstance(params, (list, tuple)) or len(params) != len(model.layers):
        raise ValueError(f"params must be a list of {len(model.layers)} dicts, one per layer; "
                         "create them with jaxnn.layers.init(key, model)")


def _check(model, params, x):
    _check_count(model, params)
    x = jnp.asarray(x)
    if x.shape[1:] != model.input_shape:
        raise ValueError(f"x has shape {x.shape}, expected (batch, {', '.join(map(str, model.input_shape))})")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (0 examples)")
    return x


def forward(model: Model, params, x):
    """``(output, caches)``: the last layer's output and each layer's cache."""
    a = _check(model, params, x)
    caches = []
    for layer, p in zip(model.layers, params):
        a, cache = layer.forward(p, a)
        caches.append(cache)
    return a, caches


def _output_z(model, out, caches):
    return caches[-1][0] if isinstance(model.layers[-1], Activation) else out


def _targets(model, y, out):
    y = jnp.asarray(y)
    if model.loss == "cross_entropy" and jnp.issubdtype(y.dtype, jnp.integer) and y.shape == out.shape[:-1]:
        return jax.nn.one_hot(y, out.shape[-1], dtype=out.dtype)
    if y.shape != out.shape:
        raise ValueError(f"y has shape {y.shape}, expected {out.shape}"
                         + (f" or integer labels {out.shape[:-1]}" if model.loss == "cross_entropy" else ""))
    return y.astype(out.dtype)


def cost(model: Model, z, a, y):
    """Mean of ``C_x`` over all leading axes."""
    return jnp.mean(losses.get(model.loss).per_example(z, a, _targets(model, y, a)))


def loss(model: Model, params, x, y):
    """The scalar cost of ``params`` on a batch (differentiable with ``jax.grad``)."""
    out, caches = forward(model, params, x)
    return cost(model, _output_z(model, out, caches), out, y)


def value_and_grad(model: Model, params, x, y):
    """Cost and gradients by running each layer's hand-derived ``backward`` in reverse."""
    out, caches = forward(model, params, x)
    z = _output_z(model, out, caches)
    y = _targets(model, y, out)
    m = math.prod(out.shape[:-1])
    cost_fn = losses.get(model.loss)
    if cost_fn.fused_delta is not None:                                     # BP1, fused
        delta = cost_fn.fused_delta(z, out, y)
    else:                                                                   # BP1: ∇ₐC ⊙ σ'(z)
        delta = activations.get(model.output).backward(z, out, cost_fn.grad_a(out, y))
    delta = delta / m
    grads = [{} for _ in model.layers]
    n = len(model.layers) - (1 if isinstance(model.layers[-1], Activation) else 0)
    for i in reversed(range(n)):                                            # BP2-BP4, layer by layer
        grads[i], delta = model.layers[i].backward(params[i], caches[i], delta)
    return jnp.mean(cost_fn.per_example(z, out, y)), grads


def predict(model: Model, params, x):
    """Class predictions (see :func:`jaxnn.network.to_classes`)."""
    return to_classes(forward(model, params, x)[0])


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
