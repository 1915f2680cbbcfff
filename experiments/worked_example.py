"""Seed 001's worked backpropagation example, number by number.

Network 2-2-2, inputs (0.85, 0.5), targets (0.01, 0.99), cost E = ½ Σ (y − a)², η = 0.5, the
notebook's weights w1…w8 and biases b1…b4. Prints every forward value, every partial derivative
∂E/∂w_i and ∂E/∂b_i from jaxnn's hand-derived backward, beside jax.grad and beside the chain-rule
terms written out as scalars (the notebook's own formulas), and the updated weights.

The notebook says the hidden layer is *linear* but then uses the sigmoid derivative A(1 − A) for
it. Three readings are computed:

- ``linear``: identity hidden layer, consistently (what the notebook's forward pass runs);
- ``sigmoid``: sigmoid hidden layer, consistently;
- ``notebook``: the notebook's literal code path: linear forward, but ∂A/∂Z = A(1 − A) with the
  linear A. Its output-layer numbers (w5…w8, b3, b4) equal the linear reading; its hidden-layer
  numbers (w1…w4, b1, b2) match neither consistent network, i.e. they are not the gradient of
  any network. jaxnn reproduces the two consistent readings exactly.

Also draws the network under both consistent readings (``plots.network_diagram``): every
forward value, weight and ∂E/∂w on the figure (``worked_example_network_{linear,sigmoid}.png``).

    python experiments/worked_example.py [--out runs/worked_example]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from common import finish, parser

import jaxnn
from jaxnn import data
from jaxnn.training import plots

NAMES_W = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]
NAMES_B = ["b1", "b2", "b3", "b4"]


def flat(params):
    """[{"W","b"}, ...] → ({"w1": .., ..., "w8": ..}, {"b1": .., ..., "b4": ..})."""
    W = np.concatenate([np.asarray(p["W"]).ravel() for p in params])
    b = np.concatenate([np.asarray(p["b"]).ravel() for p in params])
    return dict(zip(NAMES_W, W.tolist())), dict(zip(NAMES_B, b.tolist()))


def chain_rule(ex, hidden_deriv: str, hidden_fn: str):
    """The notebook's scalar formulas, written out independently of jaxnn."""
    (x1, x2), (y1, y2) = ex["x"][0], ex["y"][0]
    (w1, w2), (w3, w4) = ex["params"][0]["W"]
    b1, b2 = ex["params"][0]["b"]
    (w5, w6), (w7, w8) = ex["params"][1]["W"]
    b3, b4 = ex["params"][1]["b"]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    act = sig if hidden_fn == "sigmoid" else (lambda z: z)
    Z1, Z2 = w1 * x1 + w2 * x2 + b1, w3 * x1 + w4 * x2 + b2
    A1, A2 = act(Z1), act(Z2)
    Z3, Z4 = w5 * A1 + w6 * A2 + b3, w7 * A1 + w8 * A2 + b4
    A3, A4 = sig(Z3), sig(Z4)
    dE_dZ3 = -(y1 - A3) * A3 * (1 - A3)
    dE_dZ4 = -(y2 - A4) * A4 * (1 - A4)
    dE_dA1 = dE_dZ3 * w5 + dE_dZ4 * w7
    dE_dA2 = dE_dZ3 * w6 + dE_dZ4 * w8
    dA1_dZ1 = A1 * (1 - A1) if hidden_deriv == "sigmoid" else 1.0
    dA2_dZ2 = A2 * (1 - A2) if hidden_deriv == "sigmoid" else 1.0
    d1, d2 = dE_dA1 * dA1_dZ1, dE_dA2 * dA2_dZ2
    grads = {"w1": d1 * x1, "w2": d1 * x2, "w3": d2 * x1, "w4": d2 * x2,
             "w5": dE_dZ3 * A1, "w6": dE_dZ3 * A2, "w7": dE_dZ4 * A1, "w8": dE_dZ4 * A2,
             "b1": d1, "b2": d2, "b3": dE_dZ3, "b4": dE_dZ4}
    forward = {"Z1": Z1, "Z2": Z2, "A1": A1, "A2": A2, "Z3": Z3, "Z4": Z4, "A3": A3, "A4": A4,
               "E_total": 0.5 * (y1 - A3) ** 2 + 0.5 * (y2 - A4) ** 2}
    return forward, {k: float(v) for k, v in grads.items()}


def reading(ex, hidden: str):
    net = jaxnn.Network([2, 2, 2], hidden=hidden, output="sigmoid", loss="quadratic")
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), ex["params"])
    x, y = jnp.asarray(ex["x"]), jnp.asarray(ex["y"])
    value, hand = jaxnn.value_and_grad(net, params, x, y)
    auto = jax.grad(jaxnn.loss, argnums=1)(net, params, x, y)
    new = jax.tree.map(lambda p, g: p - ex["learning_rate"] * g, params, hand)
    hw, hb = flat(hand)
    aw, ab = flat(auto)
    nw, nb = flat(new)
    return {"loss": float(value), "hand": {**hw, **hb}, "jax_grad": {**aw, **ab},
            "updated": {**nw, **nb}}


def main(argv=None):
    args = parser(__doc__, "worked_example").parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    ex = data.worked_example()
    results = {}
    for name, hidden, deriv in [("linear", "identity", "identity"),
                                ("sigmoid", "sigmoid", "sigmoid"),
                                ("notebook", "identity", "sigmoid")]:
        forward, chain = chain_rule(ex, hidden_deriv=deriv, hidden_fn=hidden)
        res = {"forward": {k: float(v) for k, v in forward.items()}, "chain_rule": chain}
        if name != "notebook":   # the notebook's mixed path is no network jaxnn could build
            res.update(reading(ex, hidden))
        results[name] = res

    for name, res in results.items():
        f = res["forward"]
        print(f"\n== reading: {name} ==")
        print("forward: " + ", ".join(f"{k}={v:.6f}" for k, v in f.items()))
        head = f"{'param':>5} {'chain rule':>13}"
        if "hand" in res:
            head += f" {'jaxnn (BP1-4)':>14} {'jax.grad':>13} {'updated':>10}"
        print(head)
        for k in NAMES_W + NAMES_B:
            line = f"{k:>5} {res['chain_rule'][k]:>13.9f}"
            if "hand" in res:
                line += (f" {res['hand'][k]:>14.9f} {res['jax_grad'][k]:>13.9f}"
                         f" {res['updated'][k]:>10.6f}")
            print(line)
    nb, lin = results["notebook"]["chain_rule"], results["linear"]["chain_rule"]
    same_out = all(abs(nb[k] - lin[k]) < 1e-15 for k in ["w5", "w6", "w7", "w8", "b3", "b4"])
    print(f"\nnotebook path: output layer equals the linear reading: {same_out}; hidden layer "
          f"w1 = {nb['w1']:.6f} vs linear {lin['w1']:.6f} vs sigmoid "
          f"{results['sigmoid']['chain_rule']['w1']:.6f}")
    finish(args, "worked_example", results, _plot)
    params = jax.tree.map(jnp.asarray, ex["params"])
    for name, hidden in (("linear", "identity"), ("sigmoid", "sigmoid")):  # the network, drawn
        net = jaxnn.Network([2, 2, 2], hidden=hidden, output="sigmoid", loss="quadratic")
        plots.save(plots.network_diagram(net, params, ex["x"], ex["y"], show="both"),
                   args.out / f"worked_example_network_{name}.png", dpi=110)
    return results


def _plot(results, path):
    names = NAMES_W + NAMES_B
    fig, ax = plots.subplots(figsize=(10, 4))
    width = 0.27
    for i, (reading_name, res) in enumerate(results.items()):
        ax.bar(np.arange(len(names)) + (i - 1) * width, [res["chain_rule"][k] for k in names],
               width, label=reading_name)
    ax.set_xticks(range(len(names)), names)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(ylabel="∂E/∂param", title="seed 001 worked example: gradients under three readings")
    ax.legend()
    plots.save(fig, path)


if __name__ == "__main__":
    main()
