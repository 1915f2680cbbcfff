"""Initialisation schemes, by name. Deterministic: the same key gives the same parameters.

Each scheme draws ``W^l`` of shape ``(n_l, n_{l-1})`` and ``b^l`` of shape ``(n_l,)``; ``n_in`` is
``n_{l-1}`` and ``n_out`` is ``n_l``.

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

Params = list[dict[str, jax.Array]]


def _normal(scale_w: Callable[[int, int], float], bias: str):
    def draw(kw, kb, n_out, n_in, dtype):
        W = scale_w(n_in, n_out) * jax.random.normal(kw, (n_out, n_in), dtype)
        b = jax.random.normal(kb, (n_out,), dtype) if bias == "normal" else jnp.zeros(n_out, dtype)
        return W, b

    return draw


def _uniform_half(kw, kb, n_out, n_in, dtype):
    U = lambda k, shape: jax.random.uniform(k, shape, dtype, minval=-0.5, maxval=0.5)  # noqa: E731
    return U(kw, (n_out, n_in)), U(kb, (n_out,))


def _glorot(kw, kb, n_out, n_in, dtype):
    limit = math.sqrt(6.0 / (n_in + n_out))
    W = jax.random.uniform(kw, (n_out, n_in), dtype, minval=-limit, maxval=limit)
    return W, jnp.zeros(n_out, dtype)


SCHEMES = {
    "normal": _normal(lambda n_in, n_out: 1.0, bias="normal"),
    "small": _normal(lambda n_in, n_out: 0.01, bias="zero"),
    "uniform": _uniform_half,
    "he": _normal(lambda n_in, n_out: math.sqrt(2.0 / n_in), bias="zero"),
    "glorot": _glorot,
    "lecun": _normal(lambda n_in, n_out: math.sqrt(1.0 / n_in), bias="zero"),
}
NAMES = tuple(SCHEMES)


def init(key: jax.Array, net, scheme: str = "normal", dtype=jnp.float32) -> Params:
    """Draw parameters for ``net``: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)} for l = 1..L]``.

    Args:
        key: a JAX PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``).
        net: the :class:`jaxnn.Network`.
        scheme: one of ``normal, small, uniform, he, glorot, lecun`` (table above).
        dtype: floating dtype of the parameters (``jnp.float64`` needs ``jax_enable_x64``).

    Example:
        >>> params = init(jax.random.key(0), Network([784, 30, 10]), "normal")
        >>> [p["W"].shape for p in params]
        [(30, 784), (10, 30)]
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of {', '.join(NAMES)}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"init dtype must be a floating type such as float32, got {dtype}")
    keys = jax.random.split(key, 2 * (len(net.sizes) - 1))
    params = []
    for l, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:], strict=True)):
        W, b = SCHEMES[scheme](keys[2 * l], keys[2 * l + 1], n_out, n_in, dtype)
        params.append({"W": W, "b": b})
    return params
