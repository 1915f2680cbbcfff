"""Initialisation schemes, by name. Deterministic: the same key gives the same parameters.

A weight is a parameter with two or more axes: a matrix ``W^l`` of shape ``(n_l, n_{l-1})``
(``n_in = n_{l-1}``, ``n_out = n_l``) or a convolution kernel ``(kh, kw, C_in, C_out)`` (``n_in =
kh·kw·C_in``, ``n_out = kh·kw·C_out``); every vector is a bias.

==========  =================================  ===========================  ======================
scheme      W                                  b                            known as
==========  =================================  ===========================  ======================
normal      N(0, 1)                            N(0, 1)                      Nielsen's network.py ("large")
small       0.01 · N(0, 1)                     0
uniform     U[−0.5, 0.5)                       U[−0.5, 0.5)
he          N(0, 2/n_in)                       0                            He et al. (ReLU)
glorot      U[±√(6/(n_in + n_out))]            0                            Glorot & Bengio
lecun       N(0, 1/n_in)                       0                            LeCun
nielsen     N(0, 1/n_in)                       N(0, 1)                      Nielsen's network2.py
==========  =================================  ===========================  ======================

Each layer's own ``init`` — what [`jaxnn.init`][] uses when no scheme is named — draws:
``Dense`` and ``Conv2D``: ``he``; ``SimpleRNN`` and ``LSTM``: ``lecun`` for ``Wx`` and ``Wh``
(the LSTM's forget-gate bias starts at 1). Naming a scheme applies it to every parameter instead.
"""

from __future__ import annotations

import math

import jax
import numpy as np


def draw(sample, key, shape, dtype, scale: float = 1.0, **kwargs) -> jax.Array:
    """``scale · sample(key, shape, dtype, **kwargs)`` for a ``jax.random`` draw such as
    ``jax.random.normal``: the same numbers, compiled once per length class, not once per shape.

    A model's first ``init`` is compile-bound: each new shape compiles a random-number program.
    Threefry (partitionable, jax's default) numbers each value by its flat index, so a draw of a
    longer flat length starts with the values of ``shape``'s draw. On the CPU, outside a trace,
    the draw is made for the length rounded up to a power of two, then cut, reshaped and scaled on
    the host (the same float rounding as on the device) and put back with ``jax.device_put``.
    Elsewhere: the plain draw.
    """
    n = math.prod(shape)
    plain = (isinstance(key, jax.core.Tracer) or n == 0 or jax.default_backend() != "cpu"
             or not jax.config.jax_threefry_partitionable
             or np.dtype(dtype) not in (np.float32, np.float64)
             or str(jax.random.key_impl(key)) != "threefry2x32")
    if plain:
        values = sample(key, shape, dtype, **kwargs)
        return values if scale == 1.0 else scale * values
    flat = np.asarray(sample(key, (1 << (n - 1).bit_length(),), dtype, **kwargs))
    values = flat[:n].reshape(shape)
    return jax.device_put(values if scale == 1.0 else values * np.asarray(scale, values.dtype))


def constant(shape, dtype, value: float = 0.0) -> jax.Array:
    """``jnp.full(shape, value, dtype)``, made in NumPy and put on the device with
    ``jax.device_put``, which compiles nothing (``jnp.full``, and ``jnp.asarray`` of a NumPy
    array, compile a program for each new shape)."""
    return jax.device_put(np.full(shape, value, dtype))


def fans(shape) -> tuple[int, int]:
    """``(n_in, n_out)`` of a weight: ``(out, in)`` matrices and ``(..., in, out)`` kernels."""
    if len(shape) == 2:
        return shape[1], shape[0]
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def _normal(scale, bias_normal=False):
    def normal(key, shape, dtype):
        if len(shape) >= 2:
            return draw(jax.random.normal, key, shape, dtype, scale(*fans(shape)))
        return draw(jax.random.normal, key, shape, dtype) if bias_normal else constant(shape, dtype)

    return normal


def _uniform_half(key, shape, dtype):
    return draw(jax.random.uniform, key, shape, dtype, minval=-0.5, maxval=0.5)


def _glorot(key, shape, dtype):
    if len(shape) < 2:
        return constant(shape, dtype)
    limit = math.sqrt(6.0 / sum(fans(shape)))
    return draw(jax.random.uniform, key, shape, dtype, minval=-limit, maxval=limit)


SCHEMES = {
    "normal": _normal(lambda n_in, n_out: 1.0, bias_normal=True),
    "small": _normal(lambda n_in, n_out: 0.01),
    "uniform": _uniform_half,
    "he": _normal(lambda n_in, n_out: math.sqrt(2.0 / n_in)),
    "glorot": _glorot,
    "lecun": _normal(lambda n_in, n_out: math.sqrt(1.0 / n_in)),
    "nielsen": _normal(lambda n_in, n_out: math.sqrt(1.0 / n_in), bias_normal=True),
}
"""``name -> draw(key, shape, dtype)``: a weight or a bias, by its number of axes."""
NAMES = tuple(SCHEMES)


def get(name: str):
    """The ``draw(key, shape, dtype)`` of scheme ``name``; ``ValueError`` naming the schemes."""
    if name not in SCHEMES:
        raise ValueError(f"unknown init scheme {name!r}; choose one of {', '.join(NAMES)}")
    return SCHEMES[name]


def draw_layer(scheme: str, kw, kb, shapes: dict, dtype) -> dict:
    """One layer's params ``{name: array}`` for ``shapes`` ``{name: shape}`` under ``scheme``:
    weights from key ``kw`` (split further if the layer has several), biases from ``kb``."""
    weights = [n for n, s in shapes.items() if len(s) >= 2]
    w_keys = dict(zip(weights, jax.random.split(kw, len(weights)) if len(weights) > 1 else [kw]))
    return {n: get(scheme)(w_keys.get(n, kb), tuple(s), dtype) for n, s in shapes.items()}
