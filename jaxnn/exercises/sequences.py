"""Sequences: an RNN and an LSTM (one step and through time), embeddings, a Dense layer at
every step, a masked softmax over time, and one attention head."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.exercises.base import Exercise, _autodiff, _integers, _normal, _normals


def _rnn(x, h0, Wx, Wh, b, carry=True):
    """Every state ``h_t = tanh(x_t W_xᵀ + h_{t−1} W_hᵀ + b)``, ``(m, T, H)``; ``carry=False``: the
    slip of not carrying the gradient back into ``h_{t−1}``."""
    def step(h, x_t):
        h = jnp.tanh(x_t @ Wx.T + (h if carry else jax.lax.stop_gradient(h)) @ Wh.T + b)
        return h, h

    return jnp.swapaxes(jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))[1], 0, 1)


def _lstm_step(x, h, c, Wx, Wh, b, through_tanh=True, forget=True):
    """One LSTM step, ``[h_next, c_next]`` side by side ``(m, 2H)``; the flags make the slips (the
    gradient of ``h_next`` not reaching the cell, the cell's gradient not scaled by ``f``)."""
    i, f, g, o = jnp.split(x @ Wx.T + h @ Wh.T + b, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c_next = f * c + i * g if forget else c + jax.lax.stop_gradient(f * c - c) + i * g
    t = jnp.tanh(c_next)
    return jnp.concatenate([o * (t if through_tanh else jax.lax.stop_gradient(t)), c_next], -1)


def _lstm(x, h0, Wx, Wh, b, carry_c=True):
    """Every hidden state of an LSTM from ``h0`` and ``c0 = 0``, ``(m, T, H)``."""
    H = h0.shape[-1]

    def step(hc, x_t):
        h, c = hc
        out = _lstm_step(x_t, h, c if carry_c else jax.lax.stop_gradient(c), Wx, Wh, b)
        return (out[:, :H], out[:, H:]), out[:, :H]

    return jnp.swapaxes(jax.lax.scan(step, (h0, jnp.zeros_like(h0)), jnp.swapaxes(x, 0, 1))[1], 0, 1)


def _temporal_softmax(z, y, mask):
    """``−(1/m) Σ_{x,t} mask_xt ln softmax(z_xt)[y_xt]`` (cs231n's temporal softmax loss)."""
    logp = jnp.take_along_axis(jax.nn.log_softmax(z, -1), y[..., None], -1)[..., 0]
    return -jnp.sum(mask * logp) / z.shape[0]


def _rnn_step_grads(i, delta):
    """The rnn_step results from a (possibly wrong) ``δ = ∂C/∂z``."""
    return delta @ i["Wx"], delta @ i["Wh"], delta.T @ i["x"], delta.T @ i["h"], delta.sum(0)


def _attention(x, Wq, Wk, Wv, scale_backward=True, causal=True, row_sum=True):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    s0, c = q @ k.T, 1 / jnp.sqrt(Wq.shape[1])
    # scale_backward=False: the same forward, a gradient as if S = q kᵀ (the slip to recognise)
    s = s0 * c if scale_backward else s0 + jax.lax.stop_gradient(s0 * c - s0)
    if causal:
        s = jnp.where(jnp.tril(jnp.ones(s.shape, bool)), s, -jnp.inf)
    if not row_sum:   # the softmax's normaliser held constant: dS = P ⊙ dP, the slip to recognise
        e = jnp.exp(s - jax.lax.stop_gradient(s.max(-1, keepdims=True)))
        return e / jax.lax.stop_gradient(e.sum(-1, keepdims=True)) @ v
    return jax.nn.softmax(s, axis=-1) @ v


EXERCISES: dict[str, Exercise] = {
    "rnn_step": Exercise(
        "rnn_step_backward(x, h_prev, Wx, Wh, h_next, g) -> (dx, dh_prev, dWx, dWh, db)",
        "One step of a tanh RNN: h_next = tanh(x Wxᵀ + h_prev Whᵀ + b) with x (m, d) = (3, 5), "
        "h_prev (3, 7), Wx (7, 5), Wh (7, 7), b (7,). Given g = ∂C/∂h_next, return ∂C/∂x, "
        "∂C/∂h_prev, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        _normals(("x", "h", "Wx", "Wh", "b"), ((3, 5), (3, 7), (7, 5), (7, 7), (7,)), 0.5),
        lambda x, h, Wx, Wh, b: jnp.tanh(x @ Wx.T + h @ Wh.T + b), ("x", "h", "Wx", "Wh", "b"),
        lambda i, out, g: (i["x"], i["h"], i["Wx"], i["Wh"], out, g),
        {"tanh' at the step's input z: 1 − h_next², with h_next = tanh(z), not 1 − z²":
         lambda i, out, g: _rnn_step_grads(i, g * (1 - jnp.arctanh(out) ** 2)),
         "δ = g ⊙ (1 − h_next²): the gradient goes through tanh first":
         lambda i, out, g: _rnn_step_grads(i, g)}),
    "rnn": Exercise(
        "rnn_backward(x, h0, Wx, Wh, h, g) -> (dx, dh0, dWx, dWh, db)",
        "A tanh RNN over a sequence: h_t = tanh(x_t Wxᵀ + h_{t−1} Whᵀ + b) for t = 1..T from h0, "
        "x (m, T, d) = (3, 5, 2), h0 (3, 7), Wx (7, 2), Wh (7, 7), b (7,); h (3, 5, 7) holds every "
        "h_t. Given g = ∂C/∂h (the loss reads every step), return ∂C/∂x, ∂C/∂h0, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        _normals(("x", "h0", "Wx", "Wh", "b"), ((3, 5, 2), (3, 7), (7, 2), (7, 7), (7,)), 0.5),
        _rnn, ("x", "h0", "Wx", "Wh", "b"), lambda i, out, g: (i["x"], i["h0"], i["Wx"], i["Wh"], out, g),
        {"h_{t−1} feeds h_t: carry dh back through time, adding δ_t Wh to step t−1's g":
         lambda i, out, g: _autodiff(_rnn, i, ("x", "h0", "Wx", "Wh", "b"), g, carry=False)}),
    "lstm_step": Exercise(
        "lstm_step_backward(x, h_prev, c_prev, Wx, Wh, b, dh_next, dc_next) -> (dx, dh_prev, dc_prev, "
        "dWx, dWh, db)",
        "One LSTM step: z = x Wxᵀ + h_prev Whᵀ + b split into four (i, f, g, o) of H = 7 each; i, f, "
        "o = σ(·), g = tanh(·); c_next = f c_prev + i g, h_next = o tanh(c_next). x (3, 5), h_prev "
        "and c_prev (3, 7), Wx (28, 5), Wh (28, 7), b (28,). Given dh_next and dc_next (the gradient "
        "from later steps), return ∂C/∂x, ∂C/∂h_prev, ∂C/∂c_prev, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        _normals(("x", "h", "c", "Wx", "Wh", "b"), ((3, 5), (3, 7), (3, 7), (28, 5), (28, 7), (28,)), 0.5),
        _lstm_step, ("x", "h", "c", "Wx", "Wh", "b"),
        lambda i, out, g: (i["x"], i["h"], i["c"], i["Wx"], i["Wh"], i["b"], g[:, :7], g[:, 7:]),
        {"c_next also reaches the loss through h_next = o tanh(c_next): dc = dc_next + dh_next o "
         "(1 − tanh² c_next)": lambda i, out, g: _autodiff(_lstm_step, i, ("x", "h", "c", "Wx", "Wh", "b"), g,
                                                           through_tanh=False),
         "c_prev reaches c_next through the forget gate: dc_prev = dc ⊙ f": lambda i, out, g: _autodiff(
             _lstm_step, i, ("x", "h", "c", "Wx", "Wh", "b"), g, forget=False)}),
    "lstm": Exercise(
        "lstm_backward(x, h0, Wx, Wh, b, g) -> (dx, dh0, dWx, dWh, db)",
        "An LSTM over a sequence (the step of lstm_step) from h0 and c0 = 0: x (m, T, d) = (3, 5, 2), "
        "h0 (3, 7), Wx (28, 2), Wh (28, 7), b (28,); the output is every h_t, (3, 5, 7). Given "
        "g = ∂C/∂h, return ∂C/∂x, ∂C/∂h0, ∂C/∂Wx, ∂C/∂Wh, ∂C/∂b.",
        _normals(("x", "h0", "Wx", "Wh", "b"), ((3, 5, 2), (3, 7), (28, 2), (28, 7), (28,)), 0.5),
        _lstm, ("x", "h0", "Wx", "Wh", "b"), lambda i, out, g: (i["x"], i["h0"], i["Wx"], i["Wh"], i["b"], g),
        {"carry dc back through time too: c_t's gradient reaches c_{t−1} as dc ⊙ f":
         lambda i, out, g: _autodiff(_lstm, i, ("x", "h0", "Wx", "Wh", "b"), g, carry_c=False)}),
    "embedding": Exercise(
        "embedding_backward(tokens, vocab, g) -> dE",
        "A word embedding: out = E[tokens] for tokens (m, T) = (3, 5) of a vocabulary of 4, E (4, 6), "
        "out (3, 5, 6). Given g = ∂C/∂out, return ∂C/∂E (4, 6). Tokens repeat.",
        lambda rng, dt: {"tokens": _integers(rng, 4, (3, 5)), "E": _normal(rng, (4, 6), dt)},
        lambda tokens, E: E[tokens], ("E",), lambda i, out, g: (i["tokens"], 4, g),
        {"a token that appears several times collects every occurrence's gradient: a scatter-add "
         "(dE.at[tokens].add(g)), not .set":
         lambda i, out, g: (jnp.zeros_like(i["E"]).at[i["tokens"]].set(g),)}),
    "temporal_affine": Exercise(
        "temporal_affine_backward(x, W, g) -> (dx, dW, db)",
        "A Dense layer at every time step: y = x Wᵀ + b for x (m, T, d) = (3, 5, 2), W (7, 2), b (7,), "
        "y (3, 5, 7). Given g = ∂C/∂y, return ∂C/∂x, ∂C/∂W, ∂C/∂b (summed over batch and time).",
        _normals(("x", "W", "b"), ((3, 5, 2), (7, 2), (7,))),
        lambda x, W, b: x @ W.T + b, ("x", "W", "b"), lambda i, out, g: (i["x"], i["W"], g), {}),
    "temporal_softmax": Exercise(
        "temporal_softmax_backward(z, y, mask) -> dz",
        "Softmax + cross-entropy at every step of a sequence, some steps masked out: "
        "C = −(1/m) Σ_x Σ_t mask_xt ln softmax(z_xt)[y_xt] with scores z (m, T, V) = (3, 5, 7), "
        "labels y (3, 5), mask (3, 5) of 0s and 1s. Return ∂C/∂z.",
        lambda rng, dt: {"z": _normal(rng, (3, 5, 7), dt), "y": _integers(rng, 7, (3, 5)),
                         "mask": (rng.random((3, 5)) < 0.6).astype(dt)},
        _temporal_softmax, ("z",), lambda i, out, g: (i["z"], i["y"], i["mask"]),
        {"a masked step (mask 0) adds nothing to C, so its gradient is 0: multiply by the mask":
         lambda i, out, g: _autodiff(_temporal_softmax, {**i, "mask": jnp.ones_like(i["mask"])}, ("z",), g),
         "C divides by m (the batch), not by m·T: every step of every sequence counts fully":
         lambda i, out, g: (_autodiff(_temporal_softmax, i, ("z",), g)[0] / 5,),
         "softmax runs over the vocabulary (axis −1) at each step, not over time":
         lambda i, out, g: ((jax.nn.softmax(i["z"], axis=1) - jax.nn.one_hot(i["y"], 7))
                            * i["mask"][..., None] / 3,)}),
    "attention": Exercise(
        "attention_backward(x, Wq, Wk, Wv, g) -> (dx, dWq, dWk, dWv)",
        "One causal head over a sequence x (T, d): q, k, v = x Wq, x Wk, x Wv (W: (d, d_h)); "
        "S = q kᵀ/√d_h with S_ij = −∞ for j > i; P = softmax(S) per row; out = P v. Given "
        "g = ∂C/∂out (T, d_h), return ∂C/∂x, ∂C/∂Wq, ∂C/∂Wk, ∂C/∂Wv.",
        _normals(("x", "Wq", "Wk", "Wv"), ((5, 4), (4, 3), (4, 3), (4, 3)), 0.5),
        _attention, ("x", "Wq", "Wk", "Wv"), lambda i, out, g: (i["x"], i["Wq"], i["Wk"], i["Wv"], g),
        {"the scores are scaled by 1/√d_h: their gradient is too":
         lambda i, out, g: _autodiff(_attention, i, ("x", "Wq", "Wk", "Wv"), g, scale_backward=False),
         "the causal mask: position i attends to j ≤ i only":
         lambda i, out, g: _autodiff(_attention, i, ("x", "Wq", "Wk", "Wv"), g, causal=False),
         "softmax's backward has a row-sum term: dS = P ⊙ (dP − Σ_j dP ⊙ P), not P ⊙ dP":
         lambda i, out, g: _autodiff(_attention, i, ("x", "Wq", "Wk", "Wv"), g, row_sum=False)}),
}
