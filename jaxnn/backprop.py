"""The hand-derived backward pass: Nielsen's four backpropagation equations in batched matrix form.

No ``jax.grad`` or ``jax.vjp`` here: every derivative is written out. The tests prove the result
equal to ``jax.value_and_grad(jaxnn.loss, argnums=1)``.

In the batch-first layout (one example per row, see :mod:`jaxnn.network`) the equations read:

- BP1  ``δ^L = ∇ₐC ⊙ σ'_L(z^L)``              (fused to ``a^L − y`` for softmax+CE and sigmoid+BCE)
- BP2  ``δ^l = (δ^{l+1} W^{l+1}) ⊙ σ'_l(z^l)``  (SPEC: ``((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)``)
- BP3  ``∂C/∂b^l = Σ_rows δ^l``
- BP4  ``∂C/∂W^l = (δ^l)ᵀ a^{l-1}``             (SPEC: ``δ^l (a^{l-1})ᵀ``)

``δ^l`` here is the error of the *batch-mean* cost, ``(1/m)`` times the per-example deltas, so BP3
and BP4 sum over the batch and the sums are already the averages of SPEC.md.
"""

from __future__ import annotations

import jax

from jaxnn import activations, losses
from jaxnn.network import Network, Params, cost, forward, targets

Array = jax.Array


def output_delta(net: Network, z: Array, a: Array, y: Array) -> Array:
    """BP1 for one example per row: ``δ^L_x = ∇ₐC_x ⊙ σ'(z^L)``, or the fused ``a − y``. ``(m, n_L)``."""
    loss = losses.get(net.loss)
    if loss.fused_delta is not None:  # σ' cancels against ∇ₐC (Network checked the output)
        return loss.fused_delta(z, a, y)
    return activations.get(net.output).backward(z, a, loss.grad_a(a, y))


def value_and_grad(net: Network, params: Params, x, y) -> tuple[Array, Params]:
    """The cost and its gradient with respect to ``params``, by backpropagation (BP1–BP4).

    Returns the same as ``jax.value_and_grad(jaxnn.loss, argnums=1)(net, params, x, y)``.

    Args:
        net: the network spec.
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``.
        x: inputs ``(m, n_0)``.
        y: targets ``(m, n_L)`` (``cross_entropy``: or integer labels ``(m,)``).

    Returns:
        ``(C, grads)``: the scalar batch-mean cost and a pytree shaped like ``params``.

    Example:
        >>> value, grads = value_and_grad(net, params, x, y)
        >>> grads[0]["W"].shape == params[0]["W"].shape
        True
    """
    a_out, (zs, acts) = forward(net, params, x)
    m = a_out.shape[0]
    y = targets(net, y, m, a_out.dtype)
    sigma = [activations.get(name) for name in net.activations]

    delta = output_delta(net, zs[-1], a_out, y) / m                   # BP1 (of the batch mean)
    grads = [None] * net.depth
    for l in reversed(range(net.depth)):                              # params[l] is layer l+1
        grads[l] = {"W": delta.T @ acts[l],                           # BP4: δ^l (a^{l-1})ᵀ
                    "b": delta.sum(axis=0)}                           # BP3: δ^l
        if l > 0:                                                     # BP2: (Wᵀ δ) ⊙ σ'(z)
            delta = sigma[l - 1].backward(zs[l - 1], acts[l], delta @ params[l]["W"])
    return cost(net, zs[-1], a_out, y), grads
