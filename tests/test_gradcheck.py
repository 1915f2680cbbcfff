"""gradcheck: hand-derived gradients against jax.grad and finite differences. (The bias-neuron
formulation is proven in notebook 03, which the suite runs.)"""

import importlib

import jax.numpy as jnp
import numpy as np
from helpers import make_batch, make_params

import jaxnn
from jaxnn.gradient_check import format_table


def test_gradcheck_agrees_in_float64():
    net = jaxnn.Network([4, 6, 5, 3], hidden="tanh", output="softmax", loss="cross_entropy")
    x, y = make_batch(net, 9)
    rows = jaxnn.gradcheck(net, make_params(net), x, y)
    assert [(r.layer, r.name) for r in rows] == [(1, "W"), (1, "b"), (2, "W"), (2, "b"),
                                                 (3, "W"), (3, "b")]
    assert max(r.vs_autodiff for r in rows) < 1e-12
    assert max(r.vs_finite_diff for r in rows) < 1e-7
    assert all(r.at_kink == 0 for r in rows)
    assert "hand vs jax.grad" in format_table(rows)


def test_gradcheck_flags_the_relu_kink():
    """A hidden pre-activation exactly at 0: the difference quotient straddles the kink."""
    net = jaxnn.Network([2, 2, 1], hidden="relu", output="identity", loss="quadratic")
    params = [{"W": jnp.array([[1.0, -1.0], [0.5, 0.5]]), "b": jnp.zeros(2)},
              {"W": jnp.array([[1.0, 1.0]]), "b": jnp.zeros(1)}]
    x, y = jnp.array([[1.0, 1.0]]), jnp.array([[3.0]])      # z^1_1 = 1 − 1 = 0: on the kink
    rows = jaxnn.gradcheck(net, params, x, y)
    assert rows[0].at_kink > 0
    assert all(np.isfinite(r.vs_autodiff) and r.vs_autodiff < 1e-12 for r in rows)
    # the kinked entries are excluded, the rest still agree
    assert rows[0].vs_finite_diff < 1e-7 or np.isnan(rows[0].vs_finite_diff)


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    net = jaxnn.Network([3, 4, 2], hidden="sigmoid", output="sigmoid", loss="quadratic")
    x, y = make_batch(net, 5)
    params = make_params(net)
    gc = importlib.import_module("jaxnn.gradient_check")

    def broken(net, params, x, y):
        v, g = jaxnn.value_and_grad(net, params, x, y)
        g[0]["W"] = 2 * g[0]["W"]
        return v, g

    monkeypatch.setattr(gc, "value_and_grad", broken)
    rows = gc.gradcheck(net, params, x, y)
    assert rows[0].vs_autodiff > 0.1 and rows[0].vs_finite_diff > 0.1
    assert rows[2].vs_autodiff < 1e-12
