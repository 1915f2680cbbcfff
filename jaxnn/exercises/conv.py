"""Convolutions and pooling, as matrix products."""

from __future__ import annotations

import jax.numpy as jnp

from jaxnn.exercises.base import Exercise, _normal, _normals
from jaxnn.layers.conv import unslice, window_slices


def im2col(x, kh: int, kw: int):
    """The patches of a valid, stride-1 convolution: ``x (m, H, W, C)`` → ``P (m·H_o·W_o, kh·kw·C)``
    with ``H_o = H − kh + 1``; one row per output pixel, ordered like ``k.reshape(kh·kw·C, F)``
    (``Conv2D``'s own gather, `jaxnn.layers.conv.window_slices`)."""
    m, H, W, C = x.shape
    cols = window_slices(x, (kh, kw), (1, 1), (H - kh + 1, W - kw + 1))
    return jnp.concatenate(cols, axis=3).reshape(-1, kh * kw * C)


def col2im(dP, x_shape, kh: int, kw: int):
    """The adjoint of [`im2col`][jaxnn.exercises.conv.im2col]: each patch row's gradient added back onto the
    pixels it was taken from (overlapping patches add up). ``dP (m·H_o·W_o, kh·kw·C)`` → ``(m, H, W, C)``."""
    m, H, W, C = x_shape
    parts = jnp.split(dP.reshape(m, H - kh + 1, W - kw + 1, kh * kw * C), kh * kw, axis=3)
    return unslice(parts, (kh, kw), (1, 1), (H, W))


def _conv(k, x):
    kh, kw, C, F = k.shape
    m, H, W, _ = x.shape
    return (im2col(x, kh, kw) @ k.reshape(-1, F)).reshape(m, H - kh + 1, W - kw + 1, F)


def _maxpool(x):
    m, H, W, C = x.shape
    return x.reshape(m, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))


EXERCISES: dict[str, Exercise] = {
    "maxpool": Exercise(
        "maxpool_backward(x, y, g) -> dx",
        "y = max over non-overlapping 2×2 windows of x (m, H, W, C) → (m, H/2, W/2, C). Given y "
        "and g = ∂C/∂y, return ∂C/∂x.",
        lambda rng, dt: {"x": _normal(rng, (3, 4, 6, 5), dt)},
        _maxpool, ("x",), lambda i, out, g: (i["x"], out, g),
        {"each window's gradient goes to its maximum only, not spread over the window":
         lambda i, out, g: (jnp.repeat(jnp.repeat(g, 2, 1), 2, 2) / 4,),
         "each window's gradient goes to its maximum once, not to every pixel":
         lambda i, out, g: (jnp.repeat(jnp.repeat(g, 2, 1), 2, 2),)}),
    "conv": Exercise(
        "conv_backward(x, k, g) -> (dk, dx)",
        "y = valid, stride-1 correlation of x (m, H, W, C) with k (kh, kw, C, F), no bias: with "
        "P = im2col(x, kh, kw), y = (P K).reshape(m, H_o, W_o, F), K = k.reshape(kh·kw·C, F). "
        "Given g = ∂C/∂y, return ∂C/∂k and ∂C/∂x (exercises.im2col / col2im help).",
        _normals(("k", "x"), ((3, 3, 2, 4), (3, 6, 7, 2))),
        _conv, ("k", "x"), lambda i, out, g: (i["x"], i["k"], g),
        {"∂C/∂K = Pᵀ δ (n_patch × F), reshaped to k's shape; δᵀ P reshaped scrambles it":
         lambda i, out, g: ((g.reshape(-1, g.shape[-1]).T @ im2col(i["x"], 3, 3)).reshape(i["k"].shape),
                            None)}),
}
