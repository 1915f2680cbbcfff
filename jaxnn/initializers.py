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

Each layer's own ``init`` — what :func:`jaxnn.init` uses when no scheme is named — draws:
``Dense`` and ``Conv2D``: ``he``; ``SimpleRNN`` and ``LSTM``: ``lecun`` for ``Wx`` and ``Wh``
(the LSTM's forget-gate bias starts at 1). Naming a scheme applies it to every parameter instead.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def fans(shape) -> tuple[int, int]:
    """``(n_in, n_out)`` of a weight: ``(out, in)`` matrices and ``(..., in, out)`` kernels."""
    if len(shape) == 2:
        return shape[1], shape[0]
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def _normal(scale, bias_normal=False):
    def draw(key, shape, dtype):
        if len(shape) >= 2:
            return scale(*fans(shape)) * jax.random.normal(key, shape, dtype)
        return jax.random.normal(key, shape, dtype) if bias_normal else jnp.zeros(shape, dtype)

    return draw


def _uniform_half(key, shape, dtype):
    return jax.random.uniform(key, shape, dtype, minval=-0.5, maxval=0.5)


def _glorot(key, shape, dtype):
    if len(shape) < 2:
        return jnp.zeros(shape, dtype)
    limit = math.sqrt(6.0 / sum(fans(shape)))
    return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)


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
