"""Solutions to :mod:`jaxnn.exercises` — each a few lines, the equations written out. Try first."""

import jax
import jax.numpy as jnp

from jaxnn.exercises import col2im, im2col


def sigmoid_backward(z, a, g):
    return g * a * (1 - a)                                  # σ'(z) = σ(z)(1 − σ(z)) = a(1 − a)


def quadratic_backward(a, y):
    return (a - y) / a.shape[0]                             # ∂/∂a of (1/m) Σ ½‖a − y‖²


def softmax_cross_entropy_backward(z, y):
    return (jax.nn.softmax(z, axis=-1) - y) / z.shape[0]    # the fused δ^L = a − y, batch mean


def dense_backward(x, W, z, a, g):
    delta = g * a * (1 - a)                                 # BP2's σ'(z): δ = g ⊙ σ'(z)
    return delta.T @ x, delta.sum(axis=0), delta @ W        # BP4 ∂C/∂W = δᵀ x, BP3, and δ W


def maxpool_backward(x, y, g):
    up = lambda t: jnp.repeat(jnp.repeat(t, 2, axis=1), 2, axis=2)   # noqa: E731
    return (x == up(y)).astype(g.dtype) * up(g)             # to each window's maximum only


def conv_backward(x, k, g):
    kh, kw, C, F = k.shape
    P, delta = im2col(x, kh, kw), g.reshape(-1, F)          # one row per output pixel
    dk = (P.T @ delta).reshape(k.shape)                     # ∂C/∂K = Pᵀ δ
    return dk, col2im(delta @ k.reshape(-1, F).T, x.shape, kh, kw)   # ∂C/∂x = col2im(δ Kᵀ)


def layernorm_backward(x, gamma, g, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    rstd = 1 / jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
    xhat, ghat = (x - mu) * rstd, g * gamma
    dx = rstd * (ghat - ghat.mean(-1, keepdims=True) - xhat * (ghat * xhat).mean(-1, keepdims=True))
    return dx, (g * xhat).sum(0), g.sum(0)


def attention_backward(x, Wq, Wk, Wv, g):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    scale = 1 / jnp.sqrt(Wq.shape[1])
    mask = jnp.tril(jnp.ones((x.shape[0], x.shape[0]), bool))
    P = jax.nn.softmax(jnp.where(mask, q @ k.T * scale, -jnp.inf), axis=-1)
    dv, dP = P.T @ g, g @ v.T                               # out = P v
    dS = P * (dP - (dP * P).sum(-1, keepdims=True))         # softmax's backward, per row
    dq, dk = dS @ k * scale, dS.T @ q * scale               # S = q kᵀ / √d_h
    dx = dq @ Wq.T + dk @ Wk.T + dv @ Wv.T
    return dx, x.T @ dq, x.T @ dk, x.T @ dv


def relu_backward(z, a, g):
    return g * (z > 0)                                      # ReLU'(z) = 1 where z > 0, else 0


def tanh_backward(z, a, g):
    return g * (1 - a ** 2)                                 # tanh'(z) = 1 − tanh²(z) = 1 − a²


def hinge_backward(s, y):
    m, rows = s.shape[0], jnp.arange(s.shape[0])
    positive = (s - s[rows, y][:, None] + 1 > 0).at[rows, y].set(False)   # margins counted, j ≠ y
    ds = positive.astype(s.dtype).at[rows, y].set(-positive.sum(1))      # s_y is in each of them
    return ds / m


def dropout_backward(mask, g):
    return g * mask / 0.7                                   # the forward's mask and 1/(1 − p)


def batchnorm_backward(x, gamma, g, eps=1e-5, axes=(0,)):
    mu = x.mean(axes, keepdims=True)
    rstd = 1 / jnp.sqrt(((x - mu) ** 2).mean(axes, keepdims=True) + eps)
    xhat, ghat = (x - mu) * rstd, g * gamma                 # the mean's and the variance's paths:
    dx = rstd * (ghat - ghat.mean(axes, keepdims=True) - xhat * (ghat * xhat).mean(axes, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return dx, (g * xhat).sum(lead), g.sum(lead)


def spatial_batchnorm_backward(x, gamma, g):
    return batchnorm_backward(x, gamma, g, axes=(0, 1, 2))   # one statistic per channel


def groupnorm_backward(x, gamma, g, groups=3):
    m, *pixels, C = x.shape
    split = lambda t: t.reshape(m, *pixels, groups, C // groups)  # noqa: E731 - (…, G, C/G)
    axes = (*range(1, x.ndim - 1), x.ndim)                   # a group's pixels and channels
    xg, gg = split(x), split(g * gamma)
    mu = xg.mean(axes, keepdims=True)
    rstd = 1 / jnp.sqrt(((xg - mu) ** 2).mean(axes, keepdims=True) + 1e-5)
    xhat = (xg - mu) * rstd
    dx = rstd * (gg - gg.mean(axes, keepdims=True) - xhat * (gg * xhat).mean(axes, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return dx.reshape(x.shape), (g * xhat.reshape(x.shape)).sum(lead), g.sum(lead)


SOLUTIONS = {name: globals()[f"{name}_backward"] for name in (
    "sigmoid", "quadratic", "softmax_cross_entropy", "dense", "maxpool", "conv", "layernorm",
    "attention", "relu", "tanh", "hinge", "dropout", "batchnorm", "spatial_batchnorm", "groupnorm")}
