"""The hand-derived backward pass: Nielsen's four backpropagation equations in batched matrix form,
for every model (a :class:`jaxnn.Network` or a :class:`jaxnn.layers.Model`).

No ``jax.grad`` or ``jax.vjp`` here or in any layer's backward: every derivative is written out.
The tests prove the result equal to ``jax.value_and_grad(jaxnn.loss, argnums=1)``.

The sweep is BP1 at the output, then each layer's own ``backward`` in reverse. For the MLP's
:class:`jaxnn.layers.Dense` layers that backward is BP2–BP4; in the batch-first layout (one
example per row) the equations read:

- BP1  ``δ^L = ∇ₐC ⊙ σ'_L(z^L)``              (fused to ``a^L − y`` for softmax+CE and sigmoid+BCE)
- BP2  ``δ^l = (δ^{l+1} W^{l+1}) ⊙ σ'_l(z^l)``  (course: ``((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)``)
- BP3  ``∂C/∂b^l = Σ_rows δ^l``
- BP4  ``∂C/∂W^l = (δ^l)ᵀ a^{l-1}``             (course: ``δ^l (a^{l-1})ᵀ``)

``δ^l`` here is the error of the *batch-mean* cost, ``(1/m)`` times the per-example deltas, so BP3
and BP4 sum over the batch and the sums are already the averages of the course's formulas.
"""

from __future__ import annotations

import math

import jax

from jaxnn import activations, losses
from jaxnn.layers import model as M

Array = jax.Array


def output_delta(loss: str, output: str, z: Array, a: Array, y: Array) -> Array:
    """BP1 for one example per row: ``δ^L_x = ∇ₐC_x ⊙ σ'(z^L)``, or the fused ``a − y``."""
    cost = losses.get(loss)
    if cost.fused_delta is not None:  # σ' cancels against ∇ₐC (the model checked the output)
        return cost.fused_delta(z, a, y)
    return activations.get(output).backward(z, a, cost.grad_a(a, y))


def value_and_grad(model, params, x, y) -> tuple[Array, list[dict]]:
    """The cost and its gradient with respect to ``params``, by backpropagation.

    Returns the same as ``jax.value_and_grad(jaxnn.loss, argnums=1)(model, params, x, y)``.

    Args:
        model: a :class:`jaxnn.Network` or :class:`jaxnn.layers.Model`.
        params: one dict per layer (a Network: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``).
        x: inputs ``(m, *input_shape)``.
        y: targets ``(m, *output_shape)`` (cross-entropy: or integer labels).

    Returns:
        ``(C, grads)``: the scalar batch-mean cost and a pytree shaped like ``params``.

    Example:
        >>> value, grads = value_and_grad(net, params, x, y)
        >>> grads[0]["W"].shape == params[0]["W"].shape
        True
    """
    out, caches = M.forward(model, params, x)
    z, y = M.output_z(model, out, caches), M.targets(model, y, out)
    m = math.prod(out.shape[:-1])                                    # examples (× time steps)
    delta = output_delta(model.loss, M.output_activation(model), z, out, y) / m   # BP1
    *hidden, last = model.layers
    grads = [None] * len(model.layers)
    backward_z = getattr(last, "backward_z", last.backward)   # δ^L is ∂C/∂z^L: skip its σ'
    grads[-1], g = backward_z(params[-1], caches[-1], delta)
    for i in reversed(range(len(hidden))):                    # BP2-BP4, layer by layer
        grads[i], g = hidden[i].backward(params[i], caches[i], g)
    return M.cost(model, z, out, y), grads
