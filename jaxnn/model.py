"""Models: a body of layers, the per-example input shape, and a loss — and the functions every model
shares (``init``, ``forward``, ``loss``, ``predict``, the checks).

A *model* is any object with ``layers`` (its body, run as a [`jaxnn.layers.Sequential`][], so a
layer may itself be a Sequential or a Residual block), ``input_shape`` (per example) and ``loss`` (a
name in [`jaxnn.losses`][]): a [`Model`][jaxnn.model.Model] ([`jaxnn.Network`][] builds the classic stack of
Dense layers as one). Parameters are the body's: a list with one entry per
layer (a dict of arrays, ``{}`` for layers without parameters, a list again for a nested
Sequential), so optax, ``jax.tree_util`` and checkpoints take them unchanged. The cost is the mean
of ``C_x`` over every leading axis of the output (batch, and time for many-to-many).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxnn import initializers, losses
from jaxnn.layers import base
from jaxnn.layers.dense import Dense
from jaxnn.layers.sequential import Sequential

Params = list
"""A model's parameters: one entry per layer (a dict of arrays; a list for a nested Sequential)."""


@dataclasses.dataclass(frozen=True)
class Model:
    """A sequence of layers, the per-example input shape, and the loss. Immutable and hashable.

    Args:
        layers: layers following [`jaxnn.layers.base`][] (jaxnn's, your own, nested blocks).
        input_shape: one example's shape, e.g. ``(28, 28, 1)`` or ``(T, features)``.
        loss: a name in [`jaxnn.losses`][] (yours after [`jaxnn.losses.register`][], or the
            registered function itself; the model keeps its name); ``cross_entropy`` needs the
            model to end in softmax (``Dense(k, "softmax")`` or ``Activation("softmax")``),
            ``binary_cross_entropy`` in sigmoid.
    """

    layers: tuple
    input_shape: tuple[int, ...]
    loss: str = "cross_entropy"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "loss", losses.name_of(self.loss))
        cost = losses.get(self.loss)
        if cost.output is not None and self.output != cost.output:
            raise ValueError(f"loss {self.loss!r} needs the last layer to apply {cost.output!r} "
                             f"(Activation({cost.output!r}) or Dense(k, {cost.output!r})), got "
                             f"{self.layers[-1]}")
        _trace(self)   # every layer checked against its input shape, up front

    @property
    def output(self) -> str:
        """Name of the output activation (``identity`` if the last layer exposes none)."""
        return body(self).activation

    @property
    def output_shape(self) -> tuple[int, ...]:
        return output_shape(self)

    # The classic network's view (`jaxnn.Network`), for a stack of Dense layers over vectors.
    @property
    def sizes(self) -> tuple[int, ...]:
        """``(n_0, n_1, …, n_L)``: the input width and each Dense layer's units."""
        if len(self.input_shape) != 1 or not all(isinstance(la, Dense) for la in self.layers):
            raise AttributeError("sizes, hidden and activations describe a stack of Dense layers "
                                 f"over vectors (jaxnn.Network), not {self}")
        return (*self.input_shape, *(layer.units for layer in self.layers))

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation names of layers 1..L of a Dense stack (hidden layers, then the output)."""
        self.sizes      # noqa: B018 (a Dense stack, or AttributeError)
        return tuple(layer.activation for layer in self.layers)

    @property
    def hidden(self) -> tuple[str, ...]:
        """Activation names of the hidden layers 1..L−1 of a Dense stack."""
        return self.activations[:-1]

    @property
    def depth(self) -> int:
        """L, the number of layers."""
        return len(self.layers)

    def to_dict(self) -> dict:
        """A JSON-friendly description (layers by their registered names, see
        [`jaxnn.layers.register`][]); `from_dict` rebuilds the same model."""
        return {"kind": "Model", "input_shape": list(self.input_shape), "loss": self.loss,
                "layers": [base.to_spec(layer) for layer in self.layers]}

    @classmethod
    def from_dict(cls, d: dict) -> Model:
        return cls(tuple(base.from_spec(spec) for spec in d["layers"]), tuple(d["input_shape"]),
                   d["loss"])


@functools.cache
def body(model) -> Sequential:
    """The model's layers as one layer (what ``init``, ``forward`` and the backward pass run)."""
    return Sequential(model.layers)


def output_shape(model) -> tuple[int, ...]:
    """Per-example output shape: ``(n_L,)``, or ``(T, k)`` for sequence outputs."""
    return _trace(model)[1]


def param_shapes(model, members: int | None = None) -> Params:
    """The parameters as ``init`` makes them, as ``ShapeDtypeStruct``s (nothing allocated);
    ``members``: a population's, each with that leading axis (see [`jaxnn.training.population`][])."""
    if members is None:
        return _trace(model)[0]
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((members, *s.shape), s.dtype), _trace(model)[0])


def is_classifier(model) -> bool:
    """Several outputs, or one output that is a class probability (see
    [`jaxnn.losses.classifies`][])."""
    return losses.classifies(model.loss, output_shape(model)[-1])


@functools.cache
def _trace(model):
    """Parameter shapes and output shape from the body's ``init`` under ``jax.eval_shape``; a layer
    that cannot take its input shape raises ``ValueError`` naming it."""
    out = []

    def shapes():
        params, shape = body(model).init(jax.random.key(0), model.input_shape)
        out.append(shape)                   # a plain tuple: read once eval_shape has traced
        return params

    return jax.eval_shape(shapes), out[0]


def check_params(model, params, members: int | None = None) -> None:
    """Raise ``ValueError`` unless ``params`` has the structure and shapes ``init`` gives (a
    population's of ``members``: with that leading axis)."""
    want = param_shapes(model, members)
    if not isinstance(params, (list, tuple)) or len(params) != len(want):
        got = f"{len(params)}" if isinstance(params, (list, tuple)) else type(params).__name__
        raise ValueError(f"params must be a list of {len(want)} layers (one entry each), got "
                         f"{got}; create them with jaxnn.init(key, model)")
    for i, (w, p) in enumerate(zip(want, params)):
        _check_entry(w, p, f"params[{i}]", f"layer {i + 1}", model.layers[i])


def _check_entry(want, got, path: str, where: str, layer) -> None:
    if isinstance(want, jax.ShapeDtypeStruct):
        if tuple(jnp.shape(got)) != want.shape:
            raise ValueError(f"{path} ({where}) has shape {tuple(jnp.shape(got))}, expected "
                             f"{want.shape} for {layer}")
    elif isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            keys = " and ".join(f"'{k}'" for k in sorted(want)) or "none"
            raise ValueError(f"{path} ({where}, {layer}) must be a dict with keys {keys}")
        for k in want:
            _check_entry(want[k], got[k], f"{path}['{k}']", where, layer)
    else:
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            raise ValueError(f"{path} ({where}, {layer}) must be a list of {len(want)} entries")
        for j, (w, g) in enumerate(zip(want, got)):
            _check_entry(w, g, f"{path}[{j}]", where, layer)


STATE = "state"
"""The params key under which a layer keeps its state (see [`jaxnn.layers.base`][])."""


def split_state(params):
    """``(trainable, state)``: ``params`` without the ``"state"`` entries of layers with state (what
    the optimiser updates), and those entries alone, nested alike (``None`` for a layer without
    state). [`merge_state`][jaxnn.model.merge_state] is the inverse. A model without state:
    ``(params, [None, …])``."""
    if isinstance(params, dict):
        return {k: v for k, v in params.items() if k != STATE}, params.get(STATE)
    if isinstance(params, (list, tuple)):
        pairs = [split_state(p) for p in params]
        return type(params)(t for t, _ in pairs), [s for _, s in pairs]
    return params, None


def merge_state(trainable, state):
    """The params of ``trainable`` with ``state`` ([`split_state`][jaxnn.model.split_state]'s two parts) put
    back."""
    if state is None:
        return trainable
    if isinstance(trainable, dict):
        return {**trainable, STATE: state}
    return type(trainable)(merge_state(t, s) for t, s in zip(trainable, state))


def new_state(model, params, cache):
    """The model's state after a training forward that left ``cache``
    ([`split_state`][jaxnn.model.split_state]'s second part)."""
    return base.new_state(body(model), params, cache)


def named_params(params) -> list[tuple[str, jax.Array]]:
    """Each parameter array with its path: ``"0/W"`` (layer 0's ``W``), ``"2/1/b"`` (the ``b`` of
    the second layer inside layer 2, a nested block), in ``jax.tree`` order."""
    def name(k):
        return str(k.key if hasattr(k, "key") else k.idx)

    return [("/".join(map(name, path)), leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]]


def init(key: jax.Array, model, scheme: str | None = None,
         dtype: jax.typing.DTypeLike = jnp.float32) -> Params:
    """Draw parameters for ``model``: one entry per layer (a Network: ``[{"W": (n_l, n_{l-1}),
    "b": (n_l,)} for l = 1..L]``).

    Args:
        key: a JAX PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``).
        scheme: ``None`` — each layer's own ``init`` (``Dense``/``Conv2D``: He; see
            [`jaxnn.initializers`][]) — or a scheme applied to every parameter: ``normal``
            (Nielsen's N(0, 1)), ``small``, ``uniform``, ``he``, ``glorot``, ``lecun``, ``nielsen``
            (network2.py's default: N(0, 1/n_in) weights, N(0, 1) biases).
        dtype: floating dtype of the parameters (``jnp.float64`` needs ``jax_enable_x64``).

    Examples:
        >>> params = init(jax.random.key(0), Network([784, 30, 10]), "normal")
        >>> [p["W"].shape for p in params]
        [(30, 784), (10, 30)]
    """
    if scheme is not None:
        initializers.get(scheme)            # unknown names fail here, naming the schemes
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"init dtype must be a floating type such as float32, got {dtype}")
    if scheme is None:
        return body(model).init(key, model.input_shape, dtype)[0]
    def is_layer(t):                        # one layer's {name: ShapeDtypeStruct} ({} included)
        return isinstance(t, dict) and all(isinstance(v, jax.ShapeDtypeStruct) for v in t.values())

    shapes, state = split_state(param_shapes(model))        # a scheme draws parameters, not state
    keys = iter(jax.random.split(key, 2 * sum(map(bool, jax.tree.leaves(shapes, is_leaf=is_layer)))))
    drawn = jax.tree.map(lambda d: initializers.draw_layer(scheme, next(keys), next(keys), {
        k: v.shape for k, v in d.items()}, dtype) if d else {}, shapes, is_leaf=is_layer)
    if not jax.tree.leaves(state):
        return drawn
    return merge_state(drawn, split_state(body(model).init(key, model.input_shape, dtype)[0])[1])


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


def forward(model, params: Params, x: jax.Array, key: jax.Array | None = None):
    """Run the model: ``(output, cache)``, the output ``(m, *output_shape)`` and the body's
    [`jaxnn.layers.SequentialCache`][] (``cache.layers[l]`` is layer ``l``'s cache; for a
    ``Dense`` layer a ``DenseCache(x, z, a)``: ``a^{l-1}``, ``z^l``, ``a^l``).

    Args:
        x: ``(m, *input_shape)``; integers (pixels) are cast to the parameters' dtype, unless the
            first layer takes integers (an ``Embedding``'s tokens).
        key: a PRNG key for the layers that act differently in training (``Dropout``,
            ``BatchNorm``: the batch's statistics); ``None``: evaluation, deterministic.
    """
    return body(model).forward(params, as_input(model, params, x), key)


def as_input(model, params, x) -> jax.Array:
    """``x`` checked ([`check_x`][jaxnn.model.check_x]) and ``params`` too
    ([`check_params`][jaxnn.model.check_params]); integers (pixels) cast to the parameters' dtype, unless the
    first layer takes integers (tokens)."""
    check_params(model, params)
    x = check_x(model, x)
    if not jnp.issubdtype(x.dtype, jnp.floating) and not body(model).integer_input:
        x = x.astype(jnp.result_type(*jax.tree.leaves(params)[:1] or [jnp.float32]))
    return x


def output(model, params, x, key=None):
    """``(z^L, a^L)`` for a batch: the output and the pre-activation of its last activation."""
    out, cache = forward(model, params, x, key)
    return body(model).pre_activation(cache), out


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


def counted(model, y, out):
    """Which positions count in the cost, ``out.shape[:-1]`` (bool): every one but one whose integer
    label is [`jaxnn.losses.IGNORE`][] (for a loss that takes labels)."""
    y, lead = jnp.asarray(y), out.shape[:-1]
    if losses.get(model.loss).labels and jnp.issubdtype(y.dtype, jnp.integer) and y.shape == lead:
        return y != losses.IGNORE
    return jnp.ones(lead, bool)


def weights(model, y, out):
    """Each position's weight in the cost, ``out.shape[:-1]``: ``1/n`` for each of the ``n``
    positions that count ([`counted`][jaxnn.model.counted]), 0 for the others, so that ``Σ w C_x`` is their
    mean."""
    mask = counted(model, y, out).astype(out.dtype)
    return mask / jnp.maximum(jnp.sum(mask), 1)


def cost(model, z, a, y):
    """The cost: the mean of ``C_x`` over all leading axes (the positions that count, see
    [`weights`][jaxnn.model.weights]), from the output's ``z^L`` and ``a^L`` (a loss over the batch: its
    value)."""
    return weighted_cost(model, z, a, targets(model, y, a), weights(model, y, a))


def weighted_cost(model, z, a, t, w):
    """[`cost`][jaxnn.model.cost] from the batch's targets ``t`` ([`targets`][jaxnn.model.targets]) and
    weights ``w`` ([`weights`][jaxnn.model.weights]), for a caller that has them already (the backward
    pass)."""
    loss = losses.get(model.loss)
    per_example = loss.per_example(z, a, t)
    return per_example if loss.batch else jnp.sum(w * per_example)


def loss(model, params: Params, x: jax.Array, y: jax.Array, key: jax.Array | None = None):
    """The scalar cost of ``params`` on a batch (differentiable with ``jax.grad``).

    Args:
        x: ``(m, *input_shape)``; y: targets ``(m, *output_shape)`` (cross-entropy: or integer
            labels ``(m,)``, ``(m, T)`` for sequences).
        key: for ``Dropout`` in training (see [`forward`][jaxnn.model.forward]).
    """
    return cost(model, *output(model, params, x, key), y)


def to_classes(a_out):
    """Outputs ``(..., n_L)`` → classes ``(...)``: ``argmax``, or ``a > 0.5`` for a single output."""
    if a_out.shape[-1] == 1:
        return (a_out[..., 0] > 0.5).astype(jnp.int32)
    return jnp.argmax(a_out, axis=-1)


def predict(model, params, x):
    """Class predictions ``(m,)`` (see [`to_classes`][jaxnn.model.to_classes])."""
    return to_classes(forward(model, params, x)[0])


def accuracy(model, params, x, labels):
    """Fraction of examples ``x (m, *input_shape)`` whose [`predict`][jaxnn.model.predict] equals ``labels``
    ``(m,)`` (or one-hot rows ``(m, n_L)``); labels [`jaxnn.losses.IGNORE`][] left out."""
    labels = jnp.asarray(labels)
    out = forward(model, params, x)[0]
    if labels.ndim == out.ndim:
        labels = jnp.argmax(labels, axis=-1)
    # an IGNORE label (-1) never equals a predicted class: only the denominator leaves it out
    return jnp.sum(to_classes(out) == labels) / jnp.maximum(jnp.sum(labels != losses.IGNORE), 1)
