"""Normalisation by batch, by group and by layer: [`BatchNorm`][jaxnn.layers.norm.BatchNorm] (the layer with
**state**), [`GroupNorm`][jaxnn.layers.norm.GroupNorm] and [`LayerNorm`][jaxnn.layers.norm.LayerNorm] (the
transformer's). Each normalises the last (feature/channel) axis' values to mean 0, variance 1 over a set of
values ``S``, then scale and
shift: ``x̂ = (x − μ)/√(σ² + ε)``, ``y = γ ⊙ x̂ + β``.

- BatchNorm: ``S`` = every value of a feature in the batch — over ``(m,)`` for Dense outputs
  ``(m, n)``, ``(m, T)`` for sequences ``(m, T, n)``, ``(m, H, W)`` spatially for images
  ``(m, H, W, C)``: one statistic per feature, ``N = |S|`` values each.
- GroupNorm(G): ``S`` = one example's values of one group of ``C/G`` channels (all positions):
  per example and group; no batch coupling, no state.
- LayerNorm: ``S`` = one position's features (the last axis); a constant row has ``x̂ = 0`` and gets
  ``(d − mean(d)) / √ε``.

The backward, for ``d = g ⊙ γ`` (``g = ∂C/∂y``) and means over ``S``. The *three-term form*
follows the graph ``x → (μ, σ²) → x̂``:

- ``∂C/∂x̂ = d``; ``∂C/∂σ² = Σ_S d ⊙ (x − μ) · (−½)(σ² + ε)^(−3/2)``;
  ``∂C/∂μ = −Σ_S d / √(σ² + ε)`` (the ``σ²`` path adds ``∂C/∂σ² · mean(−2(x − μ)) = 0``);
- ``∂C/∂x = d/√(σ² + ε) + ∂C/∂σ² · 2(x − μ)/N + ∂C/∂μ / N`` — the direct path, the variance's
  and the mean's.

Writing ``x − μ = x̂ √(σ² + ε)`` in the second term and collecting gives the *compact form* used
below: ``∂C/∂x = (d − mean(d) − x̂ ⊙ mean(d ⊙ x̂)) / √(σ² + ε)``. With ``∂C/∂γ = Σ g ⊙ x̂`` and
``∂C/∂β = Σ g`` (summed over every axis but the features).

**State.** In training (a key given, as for ``Dropout``) BatchNorm normalises by the batch's own
``μ``, ``σ²`` and keeps them in its cache; [`BatchNorm.new_state`][jaxnn.layers.norm.BatchNorm.new_state]
folds them into the running statistics, ``r ← momentum · r + (1 − momentum) · batch`` (the variance unbiased,
``N/(N − 1)``, as PyTorch keeps it). At evaluation (no key) it normalises by the running statistics, a fixed
affine map whose backward is ``∂C/∂x = d/√(σ²_run + ε)``. The state lives in the layer's params under
``"state"`` and receives no gradient (zeros: the forward stops gradients into it), and the training
step replaces it instead of letting the optimiser touch it (see [`jaxnn.layers.base`][]).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import initializers
from jaxnn.layers import base


class NormCache(NamedTuple):
    x_hat: jax.Array      # the normalised input, x's shape
    rstd: jax.Array       # 1/√(σ² + ε), broadcastable to x
    mean: jax.Array       # the batch's μ (BatchNorm in training; else None), (n,)
    var: jax.Array        # the batch's biased σ², (n,)


def normalised_backward(d, x_hat, rstd, axes):
    """The compact form: ``(d − mean(d) − x̂ ⊙ mean(d ⊙ x̂)) ⊙ rstd``, means over ``axes`` (the
    values one μ and σ² are taken over): BatchNorm's, GroupNorm's and LayerNorm's ``∂C/∂x``."""
    return rstd * (d - d.mean(axes, keepdims=True) - x_hat * (d * x_hat).mean(axes, keepdims=True))


@base.register
@dataclasses.dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over the last axis (one statistic per feature, over every other axis):
    Dense outputs ``(m, n)``, sequences ``(m, T, n)``, images ``(m, H, W, C)`` (spatial).

    Params ``{"g": (n,), "b": (n,), "state": {"mean": (n,), "var": (n,)}}`` (γ = 1, β = 0; running
    mean 0, variance 1). Training (a key) uses the batch's statistics and needs at least two values
    per feature; evaluation (no key) uses the running ones. See the module docstring.
    """

    momentum: float = 0.9
    eps: float = 1e-5
    stochastic = True             # not a field: acts differently in training (takes a key)

    def __post_init__(self):
        if not 0 <= self.momentum < 1 or not self.eps > 0:
            raise ValueError(f"BatchNorm needs 0 ≤ momentum < 1 and eps > 0, got {self}")

    def init(self, key, in_shape, dtype=jnp.float32):
        n = in_shape[-1]
        def c(value):
            return initializers.constant(n, dtype, value)

        return {"g": c(1), "b": c(0), "state": {"mean": c(0), "var": c(1)}}, in_shape

    def forward(self, params, x, key=None):
        axes = tuple(range(x.ndim - 1))
        if key is None:                                   # evaluation: the running statistics
            state = jax.lax.stop_gradient(params["state"])
            mean, var, batch = state["mean"], state["var"], (None, None)
        else:
            if math.prod(x.shape[:-1]) < 2:
                raise ValueError(f"{self}: training needs at least 2 values per feature to take a "
                                 f"variance, got input shape {x.shape}; use a batch of 2 or more "
                                 "examples (or evaluate: no key)")
            mean = x.mean(axes)
            var = ((x - mean) ** 2).mean(axes)
            batch = (mean, var)
        rstd = jax.lax.rsqrt(var + self.eps)
        x_hat = (x - mean) * rstd
        return params["g"] * x_hat + params["b"], NormCache(x_hat, rstd, *batch)

    def backward(self, params, cache, g):
        axes = tuple(range(g.ndim - 1))
        d = g * params["g"]
        g_x = d * cache.rstd if cache.mean is None else normalised_backward(d, cache.x_hat, cache.rstd, axes)
        grads = {"g": (g * cache.x_hat).sum(axes), "b": g.sum(axes),
                 "state": jax.tree.map(jnp.zeros_like, params["state"])}   # no gradient: replaced
        return grads, g_x

    def new_state(self, params, cache):
        """The running statistics after a training forward (unchanged after an evaluation one)."""
        if cache.mean is None:
            return params["state"]
        n = cache.x_hat.size // cache.x_hat.shape[-1]
        r, mo = params["state"], self.momentum
        return {"mean": mo * r["mean"] + (1 - mo) * cache.mean,
                "var": mo * r["var"] + (1 - mo) * cache.var * (n / (n - 1))}


@base.register
@dataclasses.dataclass(frozen=True)
class GroupNorm:
    """Group normalisation: each example's channels (last axis, ``C``) in ``groups`` groups of
    ``C/groups``, each group normalised over its channels and every position (``(m, C)``,
    ``(m, T, C)``, ``(m, H, W, C)``). ``groups=1`` is LayerNorm over all of an example;
    ``groups=C`` is InstanceNorm. Params ``{"g": (C,), "b": (C,)}`` (γ = 1, β = 0). No state."""

    groups: int
    eps: float = 1e-5

    def __post_init__(self):
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups <= 0:
            raise ValueError(f"GroupNorm groups must be a positive int, got {self.groups!r}")

    def init(self, key, in_shape, dtype=jnp.float32):
        if in_shape[-1] % self.groups:
            raise ValueError(f"{self}: {in_shape[-1]} channels do not split into {self.groups} "
                             "equal groups; use a number of groups that divides the channels")
        n = in_shape[-1]
        return {"g": initializers.constant(n, dtype, 1), "b": initializers.constant(n, dtype)}, in_shape

    def _axes(self, x):
        """``x`` as ``(m, …, G, C/G)`` and the axes of one group's values (all but m and G)."""
        xg = x.reshape(*x.shape[:-1], self.groups, x.shape[-1] // self.groups)
        return xg, (*range(1, xg.ndim - 2), xg.ndim - 1)

    def forward(self, params, x):
        xg, axes = self._axes(x)
        mean = xg.mean(axes, keepdims=True)
        rstd = jax.lax.rsqrt(((xg - mean) ** 2).mean(axes, keepdims=True) + self.eps)
        x_hat = ((xg - mean) * rstd).reshape(x.shape)
        return params["g"] * x_hat + params["b"], NormCache(x_hat, rstd, None, None)

    def backward(self, params, cache, g):
        lead = tuple(range(g.ndim - 1))
        dg, axes = self._axes(g * params["g"])
        g_x = normalised_backward(dg, self._axes(cache.x_hat)[0], cache.rstd, axes).reshape(g.shape)
        return {"g": (g * cache.x_hat).sum(lead), "b": g.sum(lead)}, g_x


class LayerNormCache(NamedTuple):
    x_hat: jax.Array      # (…, d)
    rstd: jax.Array       # 1 / √(σ² + ε), (…, 1)


@base.register
@dataclasses.dataclass(frozen=True)
class LayerNorm:
    """Normalise the last axis to mean 0, variance 1, then scale and shift: ``γ ⊙ x̂ + β``.
    Params ``{"g": (d,), "b": (d,)}`` (γ = 1, β = 0)."""

    eps: float = 1e-5

    def init(self, key, in_shape, dtype=jnp.float32):
        n = in_shape[-1]
        return {"g": initializers.constant(n, dtype, 1), "b": initializers.constant(n, dtype)}, in_shape

    def forward(self, params, x):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        rstd = jax.lax.rsqrt(var + self.eps)
        x_hat = (x - mu) * rstd
        return params["g"] * x_hat + params["b"], LayerNormCache(x_hat, rstd)

    def backward(self, params, cache, g):
        x_hat, rstd = cache
        lead = tuple(range(g.ndim - 1))
        g_x = normalised_backward(g * params["g"], x_hat, rstd, -1)      # means over the last axis
        return {"g": (g * x_hat).sum(axis=lead), "b": g.sum(axis=lead)}, g_x
