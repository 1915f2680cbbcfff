"""The hand-derived backward pass, its autodiff counterpart, and the hand backward registered with
JAX.

- [`value_and_grad`][jaxnn.backprop.value_and_grad] (and
  [`value_grad_and_state`][jaxnn.backprop.value_grad_and_state]): the four backpropagation equations in
  batched matrix form, for every model (a [`jaxnn.Network`][], a [`jaxnn.model.Model`][], nested blocks
  included).
- [`autodiff`][jaxnn.backprop.autodiff]: the same cost differentiated by ``jax.value_and_grad``, what the hand
  backward is proven equal to and timed against.
- [`custom_vjp`][jaxnn.backprop.custom_vjp]: any layer or model as a JAX function whose VJP is its hand
  backward, so ``jax.grad`` of one's own code runs it.

No ``jax.grad`` or ``jax.vjp`` here or in any layer's backward: every derivative is written out,
but for a loss of a user's own registered without its gradient ([`jaxnn.losses.register`][]),
whose ``∇ₐC`` is ``jax.vjp`` of that loss alone. The tests prove the result equal to
``jax.value_and_grad(jaxnn.loss, argnums=1)``.

BP1 is the one step at the loss, below; the rest is the model's body's own ``backward``
([`jaxnn.layers.Sequential`][]: each layer's ``backward`` in reverse), and for the
[`jaxnn.layers.Dense`][] layers of an MLP that backward is BP2–BP4. Batch-first (one example per
row), with ``δ^l = ∂C/∂z^l``:

- BP1  ``δ^L = ∇ₐC ⊙ σ'_L(z^L)``              (fused to ``a^L − y`` for softmax+CE and sigmoid+BCE)
- BP2  ``δ^l = (δ^{l+1} W^{l+1}) ⊙ σ'_l(z^l)``  (column form: ``((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)``)
- BP3  ``∂C/∂b^l = Σ_rows δ^l``
- BP4  ``∂C/∂W^l = (δ^l)ᵀ a^{l-1}``             (column form: ``δ^l (a^{l-1})ᵀ``)

``δ^l`` here is the error of the *batch-mean* cost, ``(1/m)`` times the per-example deltas, so BP3
and BP4 sum over the batch and the sums are already the averages of the per-example formulas
(``1/n`` over the ``n`` positions that count when some labels are ``losses.IGNORE``, 0 for those).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import activations, losses
from jaxnn import model as M
from jaxnn.layers import base

Array = jax.Array


def output_delta(loss: str, output: str, z: Array, a: Array, y: Array) -> Array:
    """BP1 for one example per row: ``δ^L_x = ∇ₐC_x ⊙ σ'(z^L)``, or the fused ``a − y`` (a loss
    over the batch: ``δ^L`` of the batch's cost)."""
    cost = losses.get(loss)
    if cost.fused_delta is not None:  # σ' cancels against ∇ₐC (the model checked the output)
        return cost.fused_delta(z, a, y)
    if cost.grad_a is not None:
        grad_a = cost.grad_a(a, y)
    else:                             # a user's loss without its hand form: the loss alone by vjp
        value, vjp = jax.vjp(lambda a: cost.per_example(z, a, y), a)
        grad_a, = vjp(jnp.ones_like(value))     # ∂(Σ_x C_x)/∂a: row x holds ∇ₐC_x
    return activations.get(output).backward(z, a, grad_a)


def value_and_grad(model: M.Model, params: M.Params, x: Array, y: Array,
                   key: Array | None = None) -> tuple[Array, M.Params]:
    """The cost and its gradient with respect to ``params``, by backpropagation.

    Returns the same as ``jax.value_and_grad(jaxnn.loss, argnums=1)(model, params, x, y, key)``.

    Args:
        model: any model ([`jaxnn.Network`][], [`jaxnn.Model`][]).
        params: as [`jaxnn.init`][] makes them (a Network: ``[{"W": (n_l, n_{l-1}), "b":
            (n_l,)}, ...]``).
        x: inputs ``(m, *input_shape)``.
        y: targets ``(m, *output_shape)`` (cross-entropy: or integer labels).
        key: a PRNG key when training a model with ``Dropout`` or ``BatchNorm`` (``None``:
            evaluation).

    Returns:
        ``(C, grads)``: the scalar batch-mean cost and a pytree shaped like ``params``.

    Examples:
        >>> value, grads = value_and_grad(net, params, x, y)
        >>> grads[0]["W"].shape == params[0]["W"].shape
        True
    """
    return value_grad_and_state(model, params, x, y, key)[:2]


def value_grad_and_state(model, params, x, y, key=None):
    """[`value_and_grad`][jaxnn.backprop.value_and_grad]'s ``(C, grads)`` and the model's state after this
    forward (what training puts back into the params: ``BatchNorm``'s running statistics; see
    [`jaxnn.model.split_state`][])."""
    body = M.body(model)
    out, cache = M.forward(model, params, x, key)
    z, t = body.pre_activation(cache), M.targets(model, y, out)
    w = M.weights(model, y, out)                         # 1/m per example (× time step); see there
    # BP1; a loss over the batch gives its own δ^L
    delta = output_delta(model.loss, body.activation, z, out, t)
    delta = delta if losses.get(model.loss).batch else w[..., None] * delta
    grads, _ = body.backward_z(params, cache, delta)     # BP2-BP4: every layer, last to first
    return M.weighted_cost(model, z, out, t, w), grads, M.new_state(model, params, cache)


def autodiff(model, params, x, y, key=None, *, reduce: Callable = lambda v: v):
    """``jax.value_and_grad`` of the cost (after ``reduce``, e.g. a ``pmean`` across devices), and
    the state the forward left (``reduce``d too):
    [`value_grad_and_state`][jaxnn.backprop.value_grad_and_state]'s counterpart."""
    def cost(p):
        out, cache = M.forward(model, p, x, key)
        return reduce(M.cost(model, M.body(model).pre_activation(cache), out, y)), cache

    (value, cache), grads = jax.value_and_grad(cost, has_aux=True)(params)
    return value, grads, reduce(M.new_state(model, params, cache))


# --------------------------------------------------------------- the hand backward inside JAX
def custom_vjp(layer: base.Layer | M.Model, *, training: bool = False) -> Callable:
    """``layer`` (any layer, block, or a whole model) as a function whose VJP is its hand backward.

    Args:
        layer: a layer following [`jaxnn.layers.base`][] (jaxnn's or your own, a
            ``Sequential``/``Residual``/``Remat`` block), or a model
            ([`jaxnn.Model`][], anything from [`jaxnn.models`][]; then ``params`` and
            ``x`` are checked and integer pixels cast, as [`jaxnn.forward`][] does).
        training: ``False``: evaluation (``Dropout`` off, ``BatchNorm`` by its running
            statistics). ``True``: the training forward, which takes a PRNG key and, for a layer
            that keeps state (``BatchNorm``), also returns the new state.

    Returns:
        ``f(params, x) -> y`` (``training=False``), or ``f(params, x, key) -> y`` (``training=True``)
        with ``y = layer.forward(params, x)[0]`` of shape ``(m, *out_shape)``; in training a layer
        with state returns ``(y, state)``, ``state`` shaped as
        [`jaxnn.model.split_state`][]'s second part (it carries no gradient, as in
        ``fit``: put it back with [`jaxnn.model.merge_state`][]). The VJP gives
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
    stochastic = base.stochastic(body)

    def run(params, x, key):
        if model is not None:
            x = M.as_input(model, params, x)
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
