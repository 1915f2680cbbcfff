"""Sampling text from a trained language model (a [`jaxnn.models.gpt`][], or any model that maps
token windows ``(m, T)`` to next-token probabilities ``(m, T, vocab)``), compiled: one program for
all the steps, no Python loop per token."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnn import model as M


def generate(model, params, prompt_tokens, steps: int, *, temperature: float = 1.0,
             key: jax.Array) -> jax.Array:
    """``steps`` new tokens ``(steps,)``, each drawn from the model's distribution for the next
    token given the last ``T = input_shape[0]`` tokens so far (the prompt's last ``T`` to start).

    ``temperature`` scales the logits (``z / temperature``): below 1 sharper, above 1 flatter.

    Raises:
        ValueError: an empty prompt, or a temperature that is not positive.
    """
    prompt = jnp.asarray(prompt_tokens, jnp.int32).ravel()
    if prompt.size == 0:
        raise ValueError("the prompt is empty; give at least one token")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    return _generate(model, params, prompt[-model.input_shape[0]:], steps, temperature, key)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _generate(model, params, prompt, steps, temperature, key):
    T = model.input_shape[0]
    window = jnp.zeros(T, jnp.int32).at[: prompt.size].set(prompt)   # left-aligned, then sliding

    def step(carry, k):
        window, n = carry                                            # n tokens in the window
        _, cache = M.forward(model, params, window[None])
        logits = M.body(model).pre_activation(cache)[0, n - 1] / temperature
        token = jax.random.categorical(k, logits).astype(jnp.int32)
        full = jnp.roll(window, -1).at[-1].set(token)               # causal: later slots unused
        window = jnp.where(n < T, window.at[jnp.minimum(n, T - 1)].set(token), full)
        return (window, jnp.minimum(n + 1, T)), token

    return jax.lax.scan(step, (window, jnp.int32(prompt.size)), jax.random.split(key, steps))[1]
