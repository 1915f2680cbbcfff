"""Seed 003: learn 3-bit binary → decimal, with ``101`` (= 5) held out; predict the unseen input.

Seed 003 trains ``[3, 4, 1]`` with ReLU hidden *and* output layers, the squared-error cost (``sel``),
η = 0.01, 3000 full-batch iterations, N(0, 1) weights (its bias neurons make the biases N(0, 1)
too). One run says little, so this trains many seeds at once (``jax.vmap`` over the PRNG keys of a
compiled ``lax.fori_loop``) and reports the distribution of the prediction for ``101``.

Then the same for architecture changes: the target is linear (4·b₂ + 2·b₁ + b₀), so (a) a linear
output layer (no ReLU that can die at the output) with He-initialised hidden ReLUs, ``[3, 8, 1]``
ReLU/identity, fits every seed's training set but still extrapolates to 101 only mostly; (b) the
model that matches the target, a single linear layer ``[3, 1]``, is reliable for every seed.

    python experiments/binary_to_decimal.py            # 200 seeds per architecture
    python experiments/binary_to_decimal.py --full     # 1000 seeds
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from common import finish, parser

import jaxnn
from jaxnn import data
from jaxnn.training import plots

ARCHS = {
    "seed 003: [3,4,1] relu/relu, N(0,1)": (jaxnn.Network([3, 4, 1], hidden="relu", output="relu",
                                                          loss="sel"), "normal"),
    "[3,8,1] relu/identity, He": (jaxnn.Network([3, 8, 1], hidden="relu", output="identity",
                                                loss="sel"), "he"),
    "[3,1] identity (linear)": (jaxnn.Network([3, 1], output="identity", loss="sel"), "he"),
}


def train_many(net, scheme, n_seeds, lr=0.01, steps=3000):
    """Train ``n_seeds`` networks in one compiled call; return their predictions for x_held."""
    x, y, x_held, _ = data.binary_to_decimal("101")

    def one(key):
        params = jaxnn.gradient_descent(net, jaxnn.init(key, net, scheme), x, y, lr=lr, steps=steps)
        train_pred = jaxnn.forward(net, params, x)[0][:, 0]
        return jaxnn.forward(net, params, x_held)[0][0, 0], jnp.max(jnp.abs(train_pred - y[:, 0]))

    keys = jax.random.split(jax.random.key(0), n_seeds)
    held, train_err = jax.jit(jax.vmap(one))(keys)
    return np.asarray(held), np.asarray(train_err)


def summarise(held, train_err):
    return {"seeds": len(held), "median_prediction": float(np.median(held)),
            "quartiles": [float(q) for q in np.percentile(held, [25, 75])],
            "fraction_within_0.5_of_5": float(np.mean(np.abs(held - 5) < 0.5)),
            "fraction_fitting_training_set": float(np.mean(train_err < 0.5)),
            "predictions": held.tolist()}


def main(argv=None):
    args = parser(__doc__, "binary_to_decimal").parse_args(argv)
    n = 1000 if args.full else 200
    results = {}
    for name, (net, scheme) in ARCHS.items():
        held, err = train_many(net, scheme, n)
        results[name] = summarise(held, err)
        r = results[name]
        print(f"{name}: prediction for 101 over {n} seeds: median {r['median_prediction']:.2f} "
              f"(IQR {r['quartiles'][0]:.2f}..{r['quartiles'][1]:.2f}); "
              f"{100 * r['fraction_within_0.5_of_5']:.0f}% within 0.5 of 5; "
              f"{100 * r['fraction_fitting_training_set']:.0f}% fit all 7 training patterns")
    return finish(args, "binary_to_decimal", results, _plot)


def _plot(results, path):
    fig, ax = plots.subplots(figsize=(8, 4))
    bins = np.linspace(-0.5, 10, 43)
    for name, r in results.items():
        ax.hist(np.clip(r["predictions"], -0.5, 10), bins=bins, alpha=0.6, label=name)
    ax.axvline(5, color="k", ls="--", label="true value 5")
    ax.set(xlabel="prediction for the unseen input 101", ylabel="seeds",
           title="binary → decimal: prediction for 101 across seeds")
    ax.legend()
    plots.save(fig, path)


if __name__ == "__main__":
    main()
