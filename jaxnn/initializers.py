"""Initialisation schemes, by name. Deterministic: the same key gives the same parameters.

Each scheme draws ``W^l`` of shape ``(n_l, n_{l-1})`` and ``b^l`` of shape ``(n_l,)``; ``n_in`` is
``n_{l-1}`` and ``n_out`` is ``n_l``. In other layers every parameter with two or more axes is a
weight (a convolution kernel ``(kh, kw, C_in, C_out)``: ``n_in = kh·kw·C_in``, ``n_out =
kh·kw·C_out``; a matrix ``(out, in)`` as above) and every vector a bias.

==========  =================================  ===========================  ====================
scheme      W                                  b                            from
==========  =================================  ===========================  ====================
normal      N(0, 1)                            N(0, 1)                      Nielsen (seed 002)
small       0.01 · N(0, 1)                     0                            seed 000
uniform     U[−0.5, 0.5)                       U[−0.5, 0.5)                 seeds 001/003
he          N(0, 2/n_in)                       0                            seed 000 (ReLU)
glorot      U[±√(6/(n_in + n_out))]            0                            Glorot & Bengio
lecun       N(0, 1/n_in)                       0                            LeCun
==========  =================================  ===========================  ====================
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxnn.layers import model as M
from jaxnn.layers.model import Params


def _normal(scale_w: Callable[[int, int], float], bias: str):
    def draw(kw, kb, shape, fans, dtype):
        if kw is not None:
            return scale_w(*fans) * jax.random.normal(kw, shape, dtype)
        return jax.random.normal(kb, shape, dtype) if bias == "normal" else jnp.zeros(shape, dtype)

    return draw


def _uniform_half(kw, kb, shape, fans, dtype):
    return jax.random.uniform(kw if kw is not None else kb, shape, dtype, minval=-0.5, maxval=0.5)


def _glorot(kw, kb, shape, fans, dtype):
    if kw is None:
        return jnp.zeros(shape, dtype)
    limit = math.sqrt(6.0 / (fans[0] + fans[1]))
    return jax.random.uniform(kw, shape, dtype, minval=-limit, maxval=limit)


def fans(shape) -> tuple[int, int]:
    """``(n_in, n_out)`` of a weight: ``(out, in)`` matrices and ``(..., in, out)`` kernels."""
    if len(shape) == 2:
        return shape[1], shape[0]
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


SCHEMES = {
    "normal": _normal(lambda n_in, n_out: 1.0, bias="normal"),
    "small": _normal(lambda n_in, n_out: 0.01, bias="zero"),
    "uniform": _uniform_half,
    "he": _normal(lambda n_in, n_out: math.sqrt(2.0 / n_in), bias="zero"),
    "glorot": _glorot,
    "lecun": _normal(lambda n_in, n_out: math.sqrt(1.0 / n_in), bias="zero"),
}
NAMES = tuple(SCHEMES)


def init(key: jax.Array, model, scheme: str | None = None, dtype=jnp.float32) -> Params:
    """Draw parameters for ``model``: one dict per layer (a Network: ``[{"W": (n_l, n_{l-1}),
    "b": (n_l,)} for l = 1..L]``).

    Args:
        key: a JAX PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``).
        model: a :class:`jaxnn.Network` or :class:`jaxnn.layers.Model`.
        scheme: one of ``normal, small, uniform, he, glorot, lecun`` (table above), applied to every
            parameterised layer; ``None``: ``"normal"`` for a Network (Nielsen), each layer's own
            ``init`` for a Model.
        dtype: floating dtype of the parameters (``jnp.float64`` needs ``jax_enable_x64``).

    Example:
        >>> params = init(jax.random.key(0), Network([784, 30, 10]), "normal")
        >>> [p["W"].shape for p in params]
        [(30, 784), (10, 30)]
    """
    if scheme is None:
        if not hasattr(model, "sizes"):
            return M.init(key, model, dtype)
        scheme = "normal"
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of {', '.join(NAMES)}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"init dtype must be a floating type such as float32, got {dtype}")
    shapes = M.param_shapes(model)
    keys = iter(jax.random.split(key, 2 * sum(1 for s in shapes if s)))
    params = []
    for layer_shapes in shapes:
        if not layer_shapes:
            params.append({})
            continue
        kw, kb = next(keys), next(keys)      # a Network: the same draws as jaxnn 0.1
        weights = [n for n in layer_shapes if len(layer_shapes[n].shape) >= 2]
        w_keys = dict(zip(weights, jax.random.split(kw, len(weights)) if len(weights) > 1 else [kw]))
        p = {}
        for name, spec in layer_shapes.items():
            shape = tuple(spec.shape)
            p[name] = (SCHEMES[scheme](w_keys[name], None, shape, fans(shape), dtype)
                       if name in w_keys else SCHEMES[scheme](None, kb, shape, None, dtype))
        params.append(p)
    return params
