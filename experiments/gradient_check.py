"""Hand-derived gradients vs ``jax.grad`` vs central finite differences, for several networks
(float64), and seed 001's point that a difference quotient fails at ReLU's kink.
Quick default: the MNIST-shaped networks with 64 inputs; ``--full``: with 784.

    python experiments/gradient_check.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from common import finish, parser

import jaxnn
from jaxnn import activations
from jaxnn.gradient_check import format_table
from jaxnn.training import plots

NETWORKS = {
    "Nielsen [784,30,10] sigmoid/quadratic": dict(sizes=[784, 30, 10]),
    "[784,128,64,10] relu/softmax+CE": dict(sizes=[784, 128, 64, 10], hidden="relu",
                                           output="softmax", loss="cross_entropy"),
    "[10,16,16,16,1] tanh/sigmoid+BCE": dict(sizes=[10, 16, 16, 16, 1], hidden="tanh",
                                            output="sigmoid", loss="binary_cross_entropy"),
    "[5,8,3] gelu/softmax+quadratic": dict(sizes=[5, 8, 3], hidden="gelu", output="softmax",
                                          loss="quadratic"),
}


def kink_demo(h: float = 1e-4):
    """Seed 001's ``derivative(f, x, h)`` difference quotient for ReLU at and near 0."""
    relu = activations.get("relu").fn
    rows = []
    for z in (-0.5, -h / 2, 0.0, h / 2, 0.5):
        forward = float((relu(z + h) - relu(z)) / h)
        central = float((relu(z + h) - relu(z - h)) / (2 * h))
        exact = float(activations.get("relu").deriv(jnp.array(z), relu(jnp.array(z))))
        rows.append({"z": z, "forward_quotient": forward, "central_quotient": central,
                     "derivative_used": exact})
    return rows


def main(argv=None):
    args = parser(__doc__, "gradient_check").parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    results = {"networks": {}}
    for name, spec in NETWORKS.items():
        if not args.full and spec["sizes"][0] == 784:   # quick: same shapes, 64 inputs
            spec = {**spec, "sizes": [64, *spec["sizes"][1:]]}
            name = name.replace("784", "64")
        net = jaxnn.Network(**spec)
        params = jaxnn.init(jax.random.key(0), net, "glorot", dtype=jnp.float64)
        kx, ky = jax.random.split(jax.random.key(1))
        x = jax.random.uniform(kx, (32, net.sizes[0]), jnp.float64)
        y = (jax.random.randint(ky, (32,), 0, net.sizes[-1]) if net.loss == "cross_entropy"
             else jax.random.uniform(ky, (32, net.sizes[-1]), jnp.float64).round())
        rows = jaxnn.gradcheck(net, params, x, y, max_entries=24)
        print(f"\n{name}\n{format_table(rows)}")
        results["networks"][name] = [r._asdict() for r in rows]
    worst_auto = max(r["vs_autodiff"] for rs in results["networks"].values() for r in rs)
    worst_fd = max(r["vs_finite_diff"] for rs in results["networks"].values() for r in rs)
    print(f"\nworst relative error: hand vs jax.grad {worst_auto:.1e}, hand vs finite "
          f"differences {worst_fd:.1e}")
    results.update(worst_vs_autodiff=worst_auto, worst_vs_finite_diff=worst_fd)

    demo = kink_demo()
    print("\nReLU at its kink: difference quotients (h = 1e-4) vs the derivative jaxnn uses")
    print(f"{'z':>9} {'forward':>8} {'central':>8} {'used':>6}")
    for r in demo:
        print(f"{r['z']:>9.1e} {r['forward_quotient']:>8.3f} {r['central_quotient']:>8.3f} "
              f"{r['derivative_used']:>6.1f}")
    print("-> within h of 0 the quotient measures a mix of the two slopes (0.5 at z = 0): "
          "meaningless there, which is why gradcheck skips entries whose step crosses a kink.")
    results["relu_kink"] = demo

    net = jaxnn.Network([2, 2, 1], hidden="relu", output="identity", loss="quadratic")
    params = [{"W": jnp.array([[1.0, -1.0], [0.5, 0.5]]), "b": jnp.zeros(2)},
              {"W": jnp.array([[1.0, 1.0]]), "b": jnp.zeros(1)}]
    rows = jaxnn.gradcheck(net, params, jnp.array([[1.0, 1.0]]), jnp.array([[3.0]]))
    print(f"\na hidden pre-activation exactly at 0:\n{format_table(rows)}")
    results["kink_case"] = [r._asdict() for r in rows]
    return finish(args, "gradient_check", results, _plot)


def _plot(results, path):
    fig, ax = plots.subplots(figsize=(9, 4))
    labels, auto, fd = [], [], []
    for name, rows in results["networks"].items():
        for r in rows:
            labels.append(f"{name.split()[0]} {r['name']}{r['layer']}")
            auto.append(max(r["vs_autodiff"], 1e-18))
            fd.append(max(r["vs_finite_diff"], 1e-18))
    idx = np.arange(len(labels))
    ax.bar(idx - 0.2, auto, 0.4, label="hand vs jax.grad")
    ax.bar(idx + 0.2, fd, 0.4, label="hand vs finite differences")
    ax.set_yscale("log")
    ax.set_xticks(idx, labels, rotation=90, fontsize=7)
    ax.set(ylabel="relative error", title="gradient check (float64)")
    ax.legend()
    plots.save(fig, path)


if __name__ == "__main__":
    main()
