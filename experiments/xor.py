"""XOR (seed 001's reason for hidden layers): the smallest network that solves it, and its
decision boundary.

A single layer ``[2, 1]`` cannot separate XOR (shown: it never gets all four points right). With
one hidden layer of two sigmoid neurons, ``[2, 2, 1]`` (sigmoid output, binary cross-entropy,
full-batch gradient descent) it can; some initialisations get stuck in a local minimum, so this
tries seeds in order and reports how many of them solve it.

    python experiments/xor.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from common import finish, parser

import jaxnn
from jaxnn import data
from jaxnn.training import plots


def train(net, key, steps=2000, lr=2.0):
    x, y = data.xor()
    params = jaxnn.init(key, net, "uniform" if net.depth > 1 else "normal")
    params = [{"W": 4 * p["W"], "b": p["b"]} for p in params]   # U[-2, 2): breaks symmetry well
    params = jaxnn.gradient_descent(net, params, x, y, lr=lr, steps=steps)
    return params, jnp.mean(jaxnn.predict(net, params, x) == y[:, 0])


def main(argv=None):
    args = parser(__doc__, "xor").parse_args(argv)
    n_seeds = 100 if args.full else 20
    keys = jax.random.split(jax.random.key(0), n_seeds)
    results = {}
    for name, sizes in (("[2,1]", [2, 1]), ("[2,2,1]", [2, 2, 1])):
        net = jaxnn.Network(sizes, hidden="sigmoid", output="sigmoid", loss="binary_cross_entropy")
        params, acc = jax.jit(jax.vmap(lambda k, net=net: train(net, k)))(keys)
        acc = np.asarray(acc)
        results[name] = {"seeds": n_seeds, "solved": int(np.sum(acc == 1.0)),
                         "best_accuracy": float(acc.max())}
        print(f"{name}: {results[name]['solved']}/{n_seeds} seeds reach 100% on the four points "
              f"(best accuracy {100 * acc.max():.0f}%)")
        if name == "[2,2,1]":
            first = int(np.argmax(acc == 1.0))
            best = jax.tree.map(lambda a, first=first: a[first], params)
            x, _ = data.xor()
            out, _ = jaxnn.forward(net, best, x)
            results[name]["outputs"] = np.asarray(out[:, 0]).tolist()
            results[name]["accuracy"] = float(acc[first])
            print(f"seed {first}: outputs for 00, 01, 10, 11 = "
                  + ", ".join(f"{v:.3f}" for v in results[name]["outputs"]))
            _plot(net, best, args.out / "xor.png")
    return finish(args, "xor", results)


def _plot(net, params, path):
    g = np.linspace(-0.5, 1.5, 200)
    gx, gy = np.meshgrid(g, g)
    out, _ = jaxnn.forward(net, params, np.c_[gx.ravel(), gy.ravel()])
    x, y = data.xor()
    fig, ax = plots.subplots(figsize=(5, 5))
    cs = ax.contourf(gx, gy, np.asarray(out).reshape(gx.shape), levels=20, cmap="coolwarm", alpha=0.8)
    ax.contour(gx, gy, np.asarray(out).reshape(gx.shape), levels=[0.5], colors="k")
    ax.scatter(x[:, 0], x[:, 1], c=y[:, 0], cmap="coolwarm", edgecolors="k", s=200)
    fig.colorbar(cs, ax=ax, label="network output")
    ax.set(title="XOR with [2, 2, 1]: decision boundary (output = 0.5)", xlabel="x1", ylabel="x2")
    plots.save(fig, path)


if __name__ == "__main__":
    main()
