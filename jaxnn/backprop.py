"""The hand-derived backward pass: the four backpropagation equations in batched matrix form, for
every model (a :func:`jaxnn.Network`, a :class:`jaxnn.layers.Model`, nested blocks included).

No ``jax.grad`` or ``jax.vjp`` here or in any layer's backward: every derivative is written out,
but for a loss of a user's own registered without its gradient (:func:`jaxnn.losses.register`),
whose ``∇ₐC`` is ``jax.vjp`` of that loss alone. The tests prove the result equal to
``jax.value_and_grad(jaxnn.loss, argnums=1)``.

BP1 is the one step at the loss, below; the rest is the model's body's own ``backward``
(:class:`jaxnn.layers.Sequential`: each layer's ``backward`` in reverse), and for the
:class:`jaxnn.layers.Dense` layers of an MLP that backward is BP2–BP4. Batch-first (one example per
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

import jax
import jax.numpy as jnp

from jaxnn import activations, losses
from jaxnn.layers import model as M

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


def value_and_grad(model, params, x, y, key=None) -> tuple[Array, M.Params]:
    """The cost and its gradient with respect to ``params``, by backpropagation.

    Returns the same as ``jax.value_and_grad(jaxnn.loss, argnums=1)(model, params, x, y, key)``.

    Args:
        model: any model (:func:`jaxnn.Network`, :class:`jaxnn.layers.Model`).
        params: as :func:`jaxnn.init` makes them (a Network: ``[{"W": (n_l, n_{l-1}), "b":
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
    """:func:`value_and_grad`'s ``(C, grads)`` and the model's state after this forward (what
    training puts back into the params: ``BatchNorm``'s running statistics; see
    :func:`jaxnn.layers.model.split_state`)."""
    body = M.body(model)
    out, cache = M.forward(model, params, x, key)
    z, t = body.pre_activation(cache), M.targets(model, y, out)
    # 1/m per example (× time step), see there; a loss over the batch gives its own δ^L
    w = 1 if losses.get(model.loss).batch else M.weights(model, y, out)[..., None]
    delta = w * output_delta(model.loss, body.activation, z, out, t)                # BP1
    grads, _ = body.backward_z(params, cache, delta)     # BP2-BP4: every layer, last to first
    return M.cost(model, z, out, y), grads, M.new_state(model, params, cache)
