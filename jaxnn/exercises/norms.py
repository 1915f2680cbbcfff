"""Normalisation: LayerNorm, BatchNorm (plain and spatial), GroupNorm."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnn.exercises.base import Exercise, _autodiff, _normal


def _layernorm(x, gamma, beta, eps=1e-5, mean_path=True):
    mu = x.mean(-1, keepdims=True)
    mu = mu if mean_path else jax.lax.stop_gradient(mu)     # False: the slip without the mean term
    return (x - mu) / jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * gamma + beta


def _batchnorm(x, gamma, beta, eps=1e-5, axes=(0,), mean_path=True, var_path=True, groups=None,
               interleaved=False):
    """Training-mode normalisation over ``axes`` (BatchNorm: the batch; spatial: batch and pixels);
    with ``groups``: GroupNorm, each example's channels in groups of ``C/groups``. The flags make
    the slips to recognise: a path of μ or σ² held constant, channels grouped ``c % G``."""
    shape = x.shape
    if groups is not None:                       # (m, …, C) → (m, …, G, C/G): stats per example, group
        split = (shape[-1] // groups, groups) if interleaved else (groups, shape[-1] // groups)
        x = x.reshape(*shape[:-1], *split)
        x = jnp.swapaxes(x, -1, -2) if interleaved else x
        axes = (*range(1, x.ndim - 2), x.ndim - 1)
    mu = x.mean(axes, keepdims=True)
    mu = mu if mean_path else jax.lax.stop_gradient(mu)
    var = ((x - mu) ** 2).mean(axes, keepdims=True)
    var = var if var_path else jax.lax.stop_gradient(var)
    x_hat = (x - mu) / jnp.sqrt(var + eps)
    x_hat = jnp.swapaxes(x_hat, -1, -2) if groups is not None and interleaved else x_hat
    return x_hat.reshape(shape) * gamma + beta


def _norm_inputs(shape, scale=0.02):
    """``x`` of ``shape`` with variance ≈ 4e-4 (so ε = 1e-5 matters), γ and β per channel."""
    def inputs(rng, dt):
        kx, kg, kb = rng.spawn(3)
        return {"x": scale * _normal(kx, shape, dt), "gamma": _normal(kg, shape[-1:], dt),
                "beta": _normal(kb, shape[-1:], dt)}

    return inputs


def _norm_slips(**variants):
    """Each hint's wrong ``(dx, dγ, dβ)``: the vjp of ``_batchnorm`` with that slip (dx only)."""
    return {hint: (lambda i, out, g, kw=kw: (_autodiff(_batchnorm, i, ("x", "gamma", "beta"), g, **kw)[0],
                                            None, None))
            for hint, kw in variants.items()}


EXERCISES: dict[str, Exercise] = {
    "layernorm": Exercise(
        "layernorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "Over the last axis of x (m, n): μ = mean x, σ² = mean (x − μ)², x̂ = (x − μ)/√(σ² + 1e-5), "
        "y = x̂ γ + β. Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β.",
        lambda rng, dt: dict(zip(("x", "gamma", "beta"), (s * _normal(k, shape, dt) for k, shape, s in zip(
            rng.spawn(3), ((5, 7), (7,), (7,)), (0.02, 1, 1))))),    # σ² ≈ 4e-4: ε = 1e-5 matters
        _layernorm, ("x", "gamma", "beta"), lambda i, out, g: (i["x"], i["gamma"], g),
        {"μ and σ depend on x too: dx = (ĝ − mean ĝ − x̂·mean(ĝ x̂))/σ with ĝ = g γ":
         lambda i, out, g: (g * i["gamma"] / jnp.sqrt(i["x"].var(-1, keepdims=True) + 1e-5),
                            None, None),
         "the mean's path: dx = (ĝ − mean ĝ − x̂·mean(ĝ x̂))/σ; the − mean ĝ term is missing":
         lambda i, out, g: (_autodiff(_layernorm, i, ("x", "gamma", "beta"), g, mean_path=False)[0],
                            None, None),
         "ε is part of σ: the backward divides by √(σ² + ε) as the forward does":
         lambda i, out, g: (_autodiff(_layernorm, i, ("x", "gamma", "beta"), g, eps=0.0)[0], None, None)}),
    "batchnorm": Exercise(
        "batchnorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "BatchNorm in training over the batch axis of x (m, n): μ = mean over the m rows, "
        "σ² = mean (x − μ)², x̂ = (x − μ)/√(σ² + 1e-5), y = x̂ γ + β (per feature). Given "
        "g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β — through x̂, σ² and μ (the three terms).",
        _norm_inputs((7, 5)), _batchnorm, ("x", "gamma", "beta"), lambda i, out, g: (i["x"], i["gamma"], g),
        _norm_slips(**{
            "μ and σ² depend on x too: dx = (ĝ − mean ĝ − x̂·mean(ĝ x̂))/σ with ĝ = g γ, means over "
            "the batch": dict(mean_path=False, var_path=False),
            "the mean's path: ∂C/∂μ = −Σ ĝ/σ reaches every x as 1/m of it; the − mean ĝ term is missing":
                dict(mean_path=False),
            "the variance's path: ∂C/∂σ² = Σ ĝ (x − μ)·(−½)(σ² + ε)^(−3/2) reaches x as 2(x − μ)/m; "
            "the − x̂·mean(ĝ x̂) term is missing": dict(var_path=False),
            "BatchNorm's statistics run down the batch (axis 0), one per feature; over a row is "
            "LayerNorm": dict(axes=(1,)),
            "ε is part of σ: the backward divides by √(σ² + ε) as the forward does": dict(eps=0.0)})),
    "spatial_batchnorm": Exercise(
        "spatial_batchnorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "BatchNorm of images x (m, H, W, C) = (3, 5, 2, 7): one μ and σ² per channel, over the batch "
        "and every pixel (axes 0, 1, 2); x̂ = (x − μ)/√(σ² + 1e-5), y = x̂ γ + β with γ, β (C,). "
        "Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β.",
        _norm_inputs((3, 5, 2, 7)), functools.partial(_batchnorm, axes=(0, 1, 2)), ("x", "gamma", "beta"),
        lambda i, out, g: (i["x"], i["gamma"], g),
        _norm_slips(**{
            "spatial BatchNorm's means run over the batch and every pixel (axes 0, 1, 2), m·H·W "
            "values per channel; over the batch alone is one statistic per pixel": dict(axes=(0,)),
            "over the pixels of each example alone (axes 1, 2) is InstanceNorm; the batch axis belongs "
            "to the mean too": dict(axes=(1, 2)),
            "μ and σ² depend on x too: the − mean ĝ and − x̂·mean(ĝ x̂) terms, means over axes 0, 1, 2":
                dict(axes=(0, 1, 2), mean_path=False, var_path=False)})),
    "groupnorm": Exercise(
        "groupnorm_backward(x, gamma, g) -> (dx, dgamma, dbeta)",
        "GroupNorm with G = 3 groups on x (m, H, W, C) = (5, 3, 7, 6): each example's channels split "
        "into groups of C/G consecutive channels (channel c in group c // 2); μ, σ² per example and "
        "group over its pixels and channels; x̂ = (x − μ)/√(σ² + 1e-5), y = x̂ γ + β with γ, β (C,). "
        "Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂γ, ∂C/∂β.",
        _norm_inputs((5, 3, 7, 6)), functools.partial(_batchnorm, groups=3), ("x", "gamma", "beta"),
        lambda i, out, g: (i["x"], i["gamma"], g),
        _norm_slips(**{
            "groups are consecutive channels (c // (C/G), a reshape to (…, G, C/G)); c % G groups "
            "every G-th channel": dict(groups=3, interleaved=True),
            "the means run over each group (C/G channels), not over all C channels of the example":
                dict(groups=1),
            "the means run over a group's channels and pixels together, not one channel at a time":
                dict(groups=6),
            "μ and σ² depend on x too: the − mean ĝ and − x̂·mean(ĝ x̂) terms, means over each group":
                dict(groups=3, mean_path=False, var_path=False)})),
}
