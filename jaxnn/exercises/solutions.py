"""Solutions to [`jaxnn.exercises`][] — each a few lines, the equations written out. Try first."""

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


def _normalise_backward(x, ghat, axes, eps=1e-5):
    """``(x̂, ∂C/∂x)`` of a normalisation over ``axes`` given ``ĝ = g γ``: the compact form of the
    direct path, the mean's and the variance's, ``(ĝ − mean ĝ − x̂·mean(ĝ x̂))/√(σ² + ε)``."""
    mu = x.mean(axes, keepdims=True)
    rstd = 1 / jnp.sqrt(((x - mu) ** 2).mean(axes, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    dx = rstd * (ghat - ghat.mean(axes, keepdims=True) - xhat * (ghat * xhat).mean(axes, keepdims=True))
    return xhat, dx


def layernorm_backward(x, gamma, g, eps=1e-5):
    xhat, dx = _normalise_backward(x, g * gamma, -1, eps)   # μ, σ² per row
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
    xhat, dx = _normalise_backward(x, g * gamma, axes, eps)  # μ, σ² per feature, down the batch
    lead = tuple(range(x.ndim - 1))
    return dx, (g * xhat).sum(lead), g.sum(lead)


def spatial_batchnorm_backward(x, gamma, g):
    return batchnorm_backward(x, gamma, g, axes=(0, 1, 2))   # one statistic per channel


def groupnorm_backward(x, gamma, g, groups=3):
    m, *pixels, C = x.shape
    split = lambda t: t.reshape(m, *pixels, groups, C // groups)  # noqa: E731 - (…, G, C/G)
    axes = (*range(1, x.ndim - 1), x.ndim)                   # a group's pixels and channels
    xhat, dx = _normalise_backward(split(x), split(g * gamma), axes)
    lead = tuple(range(x.ndim - 1))
    return dx.reshape(x.shape), (g * xhat.reshape(x.shape)).sum(lead), g.sum(lead)


def rnn_step_backward(x, h_prev, Wx, Wh, h_next, g):
    delta = g * (1 - h_next ** 2)                            # through tanh: ∂C/∂z
    return delta @ Wx, delta @ Wh, delta.T @ x, delta.T @ h_prev, delta.sum(0)


def rnn_backward(x, h0, Wx, Wh, h, g):
    T = x.shape[1]
    h_prev = jnp.concatenate([h0[:, None], h[:, :-1]], axis=1)  # h_{t−1} for every t
    dx, dWx, dWh, db, dh = jnp.zeros_like(x), 0, 0, 0, jnp.zeros_like(h0)
    for t in reversed(range(T)):                             # dh: what step t+1 sent back
        dx_t, dh, dWx_t, dWh_t, db_t = rnn_step_backward(x[:, t], h_prev[:, t], Wx, Wh, h[:, t], g[:, t] + dh)
        dx, dWx, dWh, db = dx.at[:, t].set(dx_t), dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dh, dWx, dWh, db


def _lstm_gates(x, h_prev, Wx, Wh, b):
    i, f, g, o = jnp.split(x @ Wx.T + h_prev @ Wh.T + b, 4, axis=-1)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def lstm_step_backward(x, h_prev, c_prev, Wx, Wh, b, dh_next, dc_next):
    i, f, g, o = _lstm_gates(x, h_prev, Wx, Wh, b)
    t = jnp.tanh(f * c_prev + i * g)                        # tanh(c_next)
    dc = dc_next + dh_next * o * (1 - t ** 2)               # both ways to c_next
    delta = jnp.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g ** 2), dh_next * t * o * (1 - o)], axis=-1)
    return delta @ Wx, delta @ Wh, dc * f, delta.T @ x, delta.T @ h_prev, delta.sum(0)


def lstm_states(x, h0, Wx, Wh, b):
    """The forward again, keeping every ``h_t`` and ``c_t`` (``hs[0] = h0``, ``cs[0] = 0``)."""
    hs, cs = [h0], [jnp.zeros_like(h0)]
    for t in range(x.shape[1]):
        i, f, gg, o = _lstm_gates(x[:, t], hs[-1], Wx, Wh, b)
        cs.append(f * cs[-1] + i * gg)
        hs.append(o * jnp.tanh(cs[-1]))
    return hs, cs


def lstm_backward(x, h0, Wx, Wh, b, g):
    T, (hs, cs) = x.shape[1], lstm_states(x, h0, Wx, Wh, b)
    dx, dWx, dWh, db = jnp.zeros_like(x), 0, 0, 0
    dh, dc = jnp.zeros_like(h0), jnp.zeros_like(h0)
    for t in reversed(range(T)):
        dx_t, dh, dc, dWx_t, dWh_t, db_t = lstm_step_backward(x[:, t], hs[t], cs[t], Wx, Wh, b,
                                                              g[:, t] + dh, dc)
        dx, dWx, dWh, db = dx.at[:, t].set(dx_t), dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dh, dWx, dWh, db


def embedding_backward(tokens, vocab, g):
    return jnp.zeros((vocab, g.shape[-1]), g.dtype).at[tokens].add(g)   # a scatter-add


def temporal_affine_backward(x, W, g):
    x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])    # one row per (example, step)
    return g @ W, g2.T @ x2, g2.sum(0)


def temporal_softmax_backward(z, y, mask):
    return (jax.nn.softmax(z, -1) - jax.nn.one_hot(y, z.shape[-1], dtype=z.dtype)) \
        * mask[..., None] / z.shape[0]


def makemore_backward(tokens, y, C, W1, gamma, beta, W2, b2):
    m = len(tokens)
    emb = C[tokens]                                                       # the forward, kept
    hprebn = emb.reshape(m, -1) @ W1.T
    mu, rstd = hprebn.mean(0), 1 / jnp.sqrt(hprebn.var(0) + 1e-5)
    xhat = (hprebn - mu) * rstd
    h = jnp.tanh(xhat * gamma + beta)
    logits = h @ W2.T + b2
    dlogits = (jax.nn.softmax(logits, -1) - jax.nn.one_hot(y, logits.shape[-1], dtype=h.dtype)) / m
    dh, dW2, db2 = dlogits @ W2, dlogits.T @ h, dlogits.sum(0)            # a Dense layer's BP2–BP4
    dhbn = dh * (1 - h ** 2)                                              # tanh' at the output
    dgamma, dbeta, d = (dhbn * xhat).sum(0), dhbn.sum(0), dhbn * gamma
    dhprebn = rstd * (d - d.mean(0) - xhat * (d * xhat).mean(0))          # BatchNorm, compact
    demb = (dhprebn @ W1).reshape(emb.shape)
    dW1 = dhprebn.T @ emb.reshape(m, -1)
    dC = jnp.zeros_like(C).at[tokens].add(demb)                           # the embedding's scatter-add
    return dlogits, dh, dhbn, dhprebn, demb, dW2, db2, dgamma, dbeta, dW1, dC


SOLUTIONS = {name: globals()[f"{name}_backward"] for name in (
    "sigmoid", "quadratic", "softmax_cross_entropy", "dense", "maxpool", "conv", "layernorm",
    "attention", "relu", "tanh", "hinge", "dropout", "batchnorm", "spatial_batchnorm", "groupnorm",
    "rnn_step", "rnn", "lstm_step", "lstm", "embedding", "temporal_affine", "temporal_softmax", "makemore")}
