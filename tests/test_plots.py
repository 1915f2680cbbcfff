"""plots: the network diagram carries the numbers the hand-derived backward computed; the curves
show the history they were given."""

import jax
import jax.numpy as jnp
import pytest

import jaxnn
from jaxnn import data
from jaxnn.training import plots


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


@pytest.fixture
def worked():
    ex = data.worked_example()
    net = jaxnn.Network([2, 2, 2], hidden="identity", output="sigmoid", loss="quadratic")
    return net, jax.tree.map(jnp.asarray, ex["params"]), ex["x"], ex["y"]


def test_the_worked_example_drawn_with_its_gradients(worked):
    net, params, x, y = worked
    _, grads = jaxnn.value_and_grad(net, params, x, y)
    texts = "\n".join(_texts(plots.network_diagram(net, params, x, y, show="both")))
    assert "∂C/∂w5 = 0.15596" in texts                     # seed 001, linear reading
    assert "w5 = 0.05" in texts and "w8 = 0.95" in texts
    for l, names in ((0, ["w1", "w2", "w3", "w4"]), (1, ["w5", "w6", "w7", "w8"])):
        for name, g in zip(names, grads[l]["W"].ravel()):
            assert f"∂C/∂{name} = {float(g):.5g}" in texts
        for j, g in enumerate(grads[l]["b"]):
            assert f"∂C/∂b{l + 1},{j + 1} = {float(g):.5g}" in texts
    out_layer = jaxnn.forward(net, params, jnp.asarray(x))[1].layers[1]
    assert f"z={float(out_layer.z[0, 1]):.5g}\na={float(out_layer.a[0, 1]):.5g}" in texts


def test_values_only_gradients_only_and_no_input(worked):
    net, params, x, y = worked
    values = "\n".join(_texts(plots.network_diagram(net, params, x)))
    assert "w1 = 0.75" in values and "∂C" not in values and "x1\n0.85" in values
    grads = "\n".join(_texts(plots.network_diagram(net, params, x, y, show="gradients")))
    assert "∂C/∂w1" in grads and "w1 = 0.75" not in grads
    bare = _texts(plots.network_diagram(net, params))
    assert "x1" in bare and not any("z=" in t for t in bare)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(show="gradients"), "needs the input x and the target y"),
    (dict(show="weights"), "show must be"),
    (dict(x=[[0.1, 0.2], [0.3, 0.4]]), "one example"),
])
def test_bad_requests_say_what_to_do(worked, kwargs, match):
    net, params, _, _ = worked
    with pytest.raises(ValueError, match=match):
        plots.network_diagram(net, params, **kwargs)


def test_too_wide_networks_are_refused():
    net = jaxnn.Network([784, 30, 10])
    with pytest.raises(ValueError, match="at most 12 neurons"):
        plots.network_diagram(net, jaxnn.init(jax.random.key(0), net))


def test_history_curves_saved_and_live_draw_the_same_panels(tmp_path, monkeypatch, capsys):
    records = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": float("nan"),
                "eval_loss": 1.2 / e, "eval_accuracy": 0.5 + 0.1 * e, "seconds": 0.1}
               for e in (1, 2, 3)]
    history = {k: [r[k] for r in records] for k in records[0]}
    path = plots.plot_history(history, tmp_path / "curves.png", title="t")
    assert path.stat().st_size > 0
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    callback = plots.live_curves("data: the shipped digits")
    for e in (1, 2, 3):
        callback(jaxnn.Epoch(records[e - 1], {k: v[:e] for k, v in history.items()}, None, None))
    assert len(shown) == 3
    assert capsys.readouterr().out.count("data: the shipped digits") == 3   # above every redraw
    loss, acc = shown[-1].axes                               # the last redraw holds all epochs
    assert [list(l.get_ydata()) for l in loss.lines] == [history["train_loss"], history["eval_loss"]]
    assert list(acc.lines[0].get_ydata()) == [100 * v for v in history["eval_accuracy"]]
