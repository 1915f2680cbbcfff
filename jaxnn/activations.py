"""Activation functions σ and their derivatives σ', as small named pairs.

Every activation is an [`Activation`][jaxnn.activations.Activation]: ``fn(z) -> a`` and ``deriv(z, a) ->
σ'(z)`` (elementwise; it may use the already computed ``a`` to save work, e.g. ``σ' = a(1 − a)``).
The backward pass only ever asks for ``backward(z, a, g) = g ⊙ σ'(z)``, which for softmax, the
one activation that is not elementwise, is the Jacobian-vector product ``a ⊙ (g − Σ_k g_k a_k)``.

Names are strings so that a [`jaxnn.Network`][] stays hashable and can be rebuilt from a
checkpoint. Parameterised activations take their parameter in parentheses:
``"leaky_relu(0.2)"``, ``"elu(0.5)"``.

Derivatives at kinks (points where σ is not differentiable) follow ``jax.grad`` so that the
hand-derived backward equals autodiff everywhere:

- ``relu``: σ'(0) = 0 (as ``jax.nn.relu``; ``heaviside(z, 1)`` would give 1; the two only
  differ when a pre-activation is exactly 0).
- ``leaky_relu``: σ'(0) = 1.
- ``elu``: σ'(0) = α.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Activation(NamedTuple):
    """An activation function and its derivative.

    Attributes:
        name: canonical name, e.g. ``"sigmoid"`` or ``"leaky_relu(0.01)"``.
        fn: ``z -> a``, any shape (softmax: over the last axis).
        deriv: ``(z, a) -> σ'(z)`` elementwise, or ``None`` for softmax (not elementwise).
        kink: a point where σ is not differentiable (finite differences are meaningless across it),
            or ``None``.
    """

    name: str
    fn: Callable[[Array], Array]
    deriv: Callable[[Array, Array], Array] | None
    kink: float | None = None

    def backward(self, z: Array, a: Array, g: Array) -> Array:
        """Return ``g ⊙ σ'(z)`` (for softmax: the Jacobian-vector product ``Jᵀ g``).

        Shapes: ``z``, ``a``, ``g``: ``(m, n)``; result ``(m, n)``.
        """
        if self.deriv is None:  # softmax: ∂a_i/∂z_j = a_i (δ_ij − a_j)
            return a * (g - jnp.sum(g * a, axis=-1, keepdims=True))
        return g * self.deriv(z, a)


def _sigmoid(z):
    # jax.nn.sigmoid is lax.logistic: no overflow for |z| = 1000 (gives exactly 0 or 1).
    return jax.nn.sigmoid(z)


def _softmax(z):
    # Stable: subtract the row maximum before exponentiating.
    e = jnp.exp(z - jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True)))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _gelu(z):
    return 0.5 * z * (1.0 + jax.lax.erf(z / math.sqrt(2.0)))


def _gelu_deriv(z, a):
    # d/dz [z Φ(z)] = Φ(z) + z φ(z), with Φ(z) = a/z read off the forward (no second erf)
    cdf = jnp.where(z == 0, 0.5, a / jnp.where(z == 0, 1.0, z))
    return cdf + z * jnp.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _gelu_tanh(z):
    # GPT-2's form: ½ z (1 + tanh(√(2/π) (z + 0.044715 z³))), = jax.nn.gelu(approximate=True)
    return 0.5 * z * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))


def _gelu_tanh_deriv(z, a):
    # ½ (1 + t) + ½ z (1 − t²) u' with t = tanh(u), u' = √(2/π) (1 + 3·0.044715 z²)
    t = jnp.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * math.sqrt(2.0 / math.pi) * (1.0 + 0.134145 * z * z)


def leaky_relu(slope: float = 0.01) -> Activation:
    """Leaky ReLU: ``z`` for ``z ≥ 0``, ``slope·z`` below; σ'(0) = 1."""
    return Activation(
        f"leaky_relu({slope!r})",
        lambda z: jnp.where(z >= 0, z, slope * z),
        lambda z, a: jnp.where(z >= 0, 1.0, slope).astype(z.dtype),
        kink=0.0,
    )


def elu(alpha: float = 1.0) -> Activation:
    """ELU: ``z`` for ``z > 0``, ``α(eᶻ − 1)`` otherwise; σ'(0) = α."""
    # exp of z clipped to ≤ 0: the branch not taken never overflows, so no inf·0 = NaN in gradients.
    neg = lambda z: jnp.where(z > 0, 0.0, z)  # noqa: E731
    return Activation(
        f"elu({alpha!r})",
        lambda z: jnp.where(z > 0, z, alpha * jnp.expm1(neg(z))),
        lambda z, a: jnp.where(z > 0, 1.0, alpha * jnp.exp(neg(z))).astype(z.dtype),
        kink=0.0 if alpha != 1.0 else None,
    )


_FIXED: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("sigmoid", _sigmoid, lambda z, a: a * (1 - a)),
        Activation("tanh", jnp.tanh, lambda z, a: 1 - a * a),
        Activation("relu", jax.nn.relu, lambda z, a: (z > 0).astype(z.dtype), kink=0.0),
        Activation("identity", lambda z: z, lambda z, a: jnp.ones_like(z)),
        Activation("softmax", _softmax, None),
        Activation("softplus", jax.nn.softplus, lambda z, a: jax.nn.sigmoid(z)),
        Activation("gelu", _gelu, _gelu_deriv),              # the exact form, z Φ(z)
        Activation("gelu_tanh", _gelu_tanh, _gelu_tanh_deriv),  # GPT-2's tanh approximation
    ]
}
_PARAMETERISED: dict[str, Callable[[float], Activation]] = {"leaky_relu": leaky_relu, "elu": elu}
_ALIASES = {"linear": "identity"}

NAMES = tuple(_FIXED) + tuple(_PARAMETERISED)
"""Every activation name ``get`` knows (parameterised ones also as ``name(value)``)."""


def get(name: str) -> Activation:
    """Look up an activation by name, e.g. ``get("relu")`` or ``get("leaky_relu(0.2)")``.

    Raises:
        ValueError: for an unknown name or a malformed parameter; the message lists the known names.
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str), got {type(name).__name__}: {name!r}")
    match = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*([^()]*?)\s*\))?\s*", name)
    base = _ALIASES.get(match.group(1), match.group(1)) if match else None
    if match and base in _FIXED and match.group(2) is None:
        return _FIXED[base]
    if match and base in _PARAMETERISED:
        if match.group(2) is None:
            return _PARAMETERISED[base]()
        try:
            return _PARAMETERISED[base](float(match.group(2)))
        except ValueError:
            pass
    raise ValueError(
        f"unknown activation {name!r}; choose one of {', '.join(NAMES)} "
        f"(parameterised ones as e.g. 'leaky_relu(0.2)', 'elu(0.5)')"
    )
