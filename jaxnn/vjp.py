"""A layer or a model as a JAX function whose VJP is the hand-derived backward.

``jax.grad`` of a function that calls ``layer.forward`` differentiates the forward by autodiff: it
never sees the backward written beside it. :func:`custom_vjp` registers that backward with JAX
(``jax.custom_vjp``), so ``jax.grad``, ``jax.value_and_grad``, ``jax.vjp`` and every transform
built on them (``jit``, ``vmap``, ``jax.checkpoint``, sharded inputs, ``shard_map``, Flax and
Equinox models, optax) run the hand backward, whatever loss, regulariser or training loop surrounds
the call::

    f = jaxnn.custom_vjp(layers.SelfAttention(4, causal=True))
    grads = jax.grad(lambda p: my_loss(f(p, x)))(params)        # the attention's own backward

The forward saves the layer's cache (what its backward reads) instead of autodiff's residuals, which
is where the memory goes (``docs/interop.md`` measures it). Arrays are batch-first, as everywhere in
jaxnn: ``x`` is ``(m, *in_shape)``.

Forward mode (``jax.jvp``, ``jax.jacfwd``) is not available through a custom VJP: JAX refuses it
with ``TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function``. Use
``jax.jacrev``, or the plain ``layer.forward`` for forward mode.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.layers import base
from jaxnn.layers import model as M


def custom_vjp(layer, *, training: bool = False) -> Callable:
    """``layer`` (any layer, block, or a whole model) as a function whose VJP is its hand backward.

    Args:
        layer: a layer following :mod:`jaxnn.layers.base` (jaxnn's or your own, a
            ``Sequential``/``Residual``/``Remat`` block), or a model (:class:`jaxnn.layers.Model`,
            anything from :mod:`jaxnn.models`; then ``params`` and ``x`` are checked and integer
            pixels cast, as :func:`jaxnn.forward` does).
        training: ``False``: evaluation (``Dropout`` off, ``BatchNorm`` by its running
            statistics). ``True``: the training forward, which takes a PRNG key and, for a layer
            that keeps state (``BatchNorm``), also returns the new state.

    Returns:
        ``f(params, x) -> y`` (``training=False``), or ``f(params, x, key) -> y`` (``training=True``)
        with ``y = layer.forward(params, x)[0]`` of shape ``(m, *out_shape)``; in training a layer
        with state returns ``(y, state)``, ``state`` shaped as
        :func:`jaxnn.layers.model.split_state`'s second part (it carries no gradient, as in
        ``fit``: put it back with :func:`jaxnn.layers.model.merge_state`). The VJP gives
        ``∂/∂params`` (zeros for the state entries) and ``∂/∂x`` from ``layer.backward``; integer
        inputs (tokens) get ``float0`` cotangents and the key none.

    Examples:
        >>> f = custom_vjp(jaxnn.models.gpt(vocab=65, context=32))
        >>> loss = lambda p: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        ...     jnp.log(f(p, tokens)), labels))
        >>> grads = jax.grad(loss)(params)        # the GPT's hand backward, not autodiff's
    """
    model = layer if _is_model(layer) else None
    body = M.body(model) if model is not None else layer
    if not isinstance(body, base.Layer):
        raise TypeError(f"custom_vjp takes a layer (init, forward and backward, see "
                        f"jaxnn.layers.base) or a model, got {layer!r}")
    stochastic = bool(getattr(body, "stochastic", False))

    def run(params, x, key):
        if model is not None:
            M.check_params(model, params)
            x = M.check_x(model, x)
            if not jnp.issubdtype(x.dtype, jnp.floating) and not body.integer_input:
                x = x.astype(jnp.result_type(*jax.tree.leaves(params)[:1] or [jnp.float32]))
        y, state = _hand_vjp(body, params, x, key if training and stochastic else None)
        return (y, state) if training and jax.tree.leaves(state) else y

    if training:
        def apply(params, x, key):
            if stochastic and key is None:
                raise ValueError(f"{_name(layer)} acts differently in training (Dropout, BatchNorm): "
                                 "pass a PRNG key, or make it with training=False for evaluation")
            return run(params, x, key)
    else:
        def apply(params, x):
            return run(params, x, None)

    apply.__doc__ = f"{_name(layer)} with its hand-derived backward as the VJP (see jaxnn.custom_vjp)."
    return apply


def _hand_vjp(layer, params, x, key):
    """``(y, new_state)`` of ``layer.forward(params, x, key)``, differentiated by ``layer.backward``.

    The custom VJP is made afresh for each call: the cache's leaves that are not arrays (a
    ``Flatten``'s shape, a ``None``) cannot be residuals, so they pass from this call's forward to
    its backward in ``static``, which no other call shares."""
    integer_x = not jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
    static = {}

    def forward(params, x, key):
        y, cache = base.forward(layer, params, x, key)
        return (y, base.new_state(layer, params, cache)), cache

    def f(params, x, key):
        return forward(params, x, key)[0]

    f.__name__ = f"{_name(layer)}_hand_vjp"          # the name the jaxpr shows (custom_vjp_call)
    f = jax.custom_vjp(f)

    def fwd(params, x, key):
        out, cache = forward(params, x, key)
        leaves, static["tree"] = jax.tree.flatten(cache)
        static["kept"] = [leaf if not _is_array(leaf) else None for leaf in leaves]
        static["vma"] = jax.tree.map(_varying, (params, x))
        return out, (params, [leaf for leaf in leaves if _is_array(leaf)])

    def bwd(residuals, cotangents):
        params, arrays = residuals
        arrays = iter(arrays)
        cache = jax.tree.unflatten(static["tree"], [next(arrays) if leaf is None else leaf
                                                    for leaf in static["kept"]])
        g, _ = cotangents                           # the new state carries no gradient
        grads, g_x = layer.backward(params, cache, g)
        # inside shard_map: a gradient that varies over a mesh axis its input does not (replicated
        # params, a per-device batch) is summed over that axis, as autodiff does
        grads, g_x = jax.tree.map(_sum_over_extra_axes, (grads, g_x), static["vma"])
        if integer_x:                               # tokens: JAX's zero cotangent for integers
            g_x = np.zeros(jnp.shape(g_x), jax.dtypes.float0)
        return grads, g_x, None

    bwd.__name__ = f"{_name(layer)}.backward"           # (the jaxpr shows it too)
    f.defvjp(fwd, bwd)
    y, state = f(params, x, key)
    return y, jax.lax.stop_gradient(state)


def _varying(a) -> frozenset:
    """The manual mesh axes (inside ``shard_map``) over which ``a``'s value varies."""
    aval = jax.typeof(a)
    if hasattr(aval, "vma"):
        return aval.vma
    return aval.mat.varying if hasattr(aval, "mat") else frozenset()   # jax 0.10's name


def _sum_over_extra_axes(g, vma):
    """``g`` summed over the manual mesh axes it varies over and its primal input did not."""
    extra = tuple(sorted(_varying(g) - vma))
    return jax.lax.psum(g, extra) if extra else g


def _is_array(leaf) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def _is_model(obj) -> bool:
    return all(hasattr(obj, a) for a in ("layers", "input_shape", "loss"))


def _name(layer) -> str:
    return type(layer).__name__
