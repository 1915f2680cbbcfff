"""A whole network, step by step (makemore part 4): every intermediate gradient graded."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.exercises.base import Exercise, _autodiff, _integers, _normal
from jaxnn.exercises.norms import _batchnorm

MAKEMORE = ("e_logits", "e_h", "e_hbn", "e_hpre", "e_emb", "W2", "b2", "gamma", "beta", "W1", "C")


def _makemore(C, W1, gamma, beta, W2, b2, tokens, y, e_emb, e_hpre, e_hbn, e_h, e_logits,
              norm_paths=True):
    """makemore part 4's network, with a zero ``e_*`` added to each intermediate so that its
    gradient is ∂C/∂(that intermediate): Embedding → Dense → BatchNorm → tanh → Dense → CE."""
    emb = C[tokens] + e_emb                                             # (m, T, D)
    hpre = emb.reshape(len(tokens), -1) @ W1.T + e_hpre                  # (m, H): β is the bias
    hbn = _batchnorm(hpre, gamma, beta, mean_path=norm_paths, var_path=norm_paths) + e_hbn
    h = jnp.tanh(hbn) + e_h
    logits = h @ W2.T + b2 + e_logits                                    # (m, V)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits, -1), y[:, None], -1))


def _makemore_inputs(rng, dt):
    m, T, V, D, H = 11, 3, 7, 2, 5            # batch, context, vocabulary, embedding, hidden
    k = rng.spawn(8)
    i = {"C": _normal(k[0], (V, D), dt), "W1": 0.5 * _normal(k[1], (H, T * D), dt),
         "gamma": 1 + 0.1 * _normal(k[2], (H,), dt), "beta": 0.1 * _normal(k[3], (H,), dt),
         "W2": 0.5 * _normal(k[4], (V, H), dt), "b2": _normal(k[5], (V,), dt),
         "tokens": _integers(k[6], V, (m, T)), "y": _integers(k[7], V, (m,))}
    shapes = {"e_emb": (m, T, D), "e_hpre": (m, H), "e_hbn": (m, H), "e_h": (m, H), "e_logits": (m, V)}
    return {**i, **{n: np.zeros(s, dt) for n, s in shapes.items()}}


def _makemore_grads(i, g, **slip):
    return _autodiff(_makemore, i, MAKEMORE, g, **slip)


def _only(n: int, value):
    """A wrong makemore answer: ``value`` at result ``n``, nothing elsewhere."""
    return tuple(value if k == n else None for k in range(len(MAKEMORE)))


def _makemore_hbn(i):
    hpre = i["C"][i["tokens"]].reshape(len(i["tokens"]), -1) @ i["W1"].T
    return _batchnorm(hpre, i["gamma"], i["beta"])


EXERCISES: dict[str, Exercise] = {
    "makemore": Exercise(
        "makemore_backward(tokens, y, C, W1, gamma, beta, W2, b2) -> (dlogits, dh, dhbn, dhprebn, "
        "demb, dW2, db2, dgamma, dbeta, dW1, dC)",
        "makemore part 4's network, backward step by step. tokens (m, T) = (11, 3) of a vocabulary "
        "of 7, labels y (11,). emb = C[tokens] (11, 3, 2); hprebn = emb.reshape(11, 6) W1ᵀ "
        "(W1 (5, 6); no bias: BatchNorm's β is one); hbn = BatchNorm(hprebn) in training over the "
        "batch (ε = 1e-5) · gamma + beta; "
        "h = tanh(hbn); logits = h W2ᵀ + b2 (W2 (7, 5)); C = mean cross-entropy of softmax(logits) "
        "and y. Return the gradient of C with respect to each intermediate and parameter, in that "
        "order; None for the ones not written yet.",
        _makemore_inputs, _makemore, MAKEMORE,
        lambda i, out, g: tuple(i[n] for n in ("tokens", "y", "C", "W1", "gamma", "beta", "W2", "b2")),
        {"BatchNorm's μ and σ² depend on hprebn too: the three terms (or the compact form), means "
         "over the batch": lambda i, out, g: _only(3, _makemore_grads(i, g, norm_paths=False)[3]),
         "tanh' = 1 − h², at the output h, not at its input hbn":
         lambda i, out, g: _only(2, _makemore_grads(i, g)[1] * (1 - _makemore_hbn(i) ** 2)),
         "a token that appears several times collects every occurrence's gradient: "
         "dC.at[tokens].add, not .set": lambda i, out, g: _only(10, jnp.zeros_like(i["C"]).at[
             i["tokens"]].set(_makemore_grads(i, g)[4]))}),
}
