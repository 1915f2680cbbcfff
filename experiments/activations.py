"""The activation functions and their derivatives, plotted (seed 001's figure), with each
derivative checked against ``jax.grad`` on the plotted grid.

    python experiments/activations.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from common import finish, parser

from jaxnn import activations
from jaxnn.training import plots

SHOWN = ["sigmoid", "tanh", "relu", "leaky_relu(0.1)", "identity", "softplus", "elu", "gelu"]


def main(argv=None):
    args = parser(__doc__, "activations").parse_args(argv)
    z = jnp.linspace(-4, 4, 401)
    results = {}
    fig, axes = plots.subplots(2, 4, figsize=(14, 6))
    for ax, name in zip(axes.ravel(), SHOWN):
        act = activations.get(name)
        a = act.fn(z)
        d = act.deriv(z, a)
        auto = jax.vmap(jax.grad(act.fn))(z)
        err = float(jnp.max(jnp.abs(d - auto)))
        results[name] = {"max_abs_diff_vs_jax_grad": err}
        ax.plot(z, a, label="σ(z)")
        ax.plot(z, d, "--", label="σ'(z)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        print(f"{name:>16}: max |σ' − jax.grad| on the grid = {err:.1e}")
    sm = activations.get("softmax")
    results["softmax"] = {"sums_to_one": bool(np.allclose(sm.fn(jnp.array([[1.0, 2.0, 3.0]])).sum(),
                                                          1.0))}
    fig.suptitle("activation functions and their derivatives")
    plots.save(fig, args.out / "activations.png", dpi=90)
    return finish(args, "activations", results)


if __name__ == "__main__":
    main()
