"""The Network spec, activations, init schemes and the bad-input messages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import make_batch, make_params

import jaxnn
from jaxnn import activations, initializers
from jaxnn.training import checkpoint


def test_network_is_hashable_and_static_under_jit():
    a = jaxnn.Network(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
    b = jaxnn.Network(sizes=(784, 30, 10))
    assert a == b and hash(a) == hash(b)
    assert jaxnn.layers.Model.from_dict(a.to_dict()) == a
    # what checkpoints stored before there was one model type
    old = {"sizes": [784, 30, 10], "hidden": ["sigmoid"], "output": "sigmoid", "loss": "quadratic"}
    assert checkpoint.from_dict(old) == a
    f = jax.jit(jaxnn.loss, static_argnums=0)
    x, y = make_batch(a, 3)
    assert jnp.isfinite(f(a, make_params(a), x, y))


def test_every_built_in_model_is_one_type_and_a_network_reads_back_its_spec():
    net = jaxnn.Network([3, 4, 5, 2], hidden=["relu", "tanh"], output="softmax", loss="cross_entropy")
    zoo = [net, jaxnn.models.nielsen(), jaxnn.models.mlp(), jaxnn.models.small_cnn(),
           jaxnn.models.row_rnn("rnn"), jaxnn.models.row_rnn("lstm"), jaxnn.models.char_lstm(7, 5),
           jaxnn.models.gpt(7, 5, dim=8, heads=2, depth=1)]
    assert {type(m) for m in zoo} == {jaxnn.layers.Model}
    assert (net.sizes, net.hidden, net.output, net.loss, net.depth) == (
        (3, 4, 5, 2), ("relu", "tanh"), "softmax", "cross_entropy", 3)
    with pytest.raises(AttributeError, match="stack of Dense layers"):
        _ = jaxnn.models.small_cnn().sizes
    with pytest.raises(ValueError, match="cell must be 'rnn' or 'lstm'"):
        jaxnn.models.row_rnn("gru")


def test_per_layer_activation_list():
    net = jaxnn.Network([3, 4, 5, 2], hidden=["relu", "tanh"], output="identity", loss="mse")
    assert net.activations == ("relu", "tanh", "identity")
    x, y = make_batch(net, 4)
    params = make_params(net)
    out, cache = jaxnn.forward(net, params, x)
    c1, c2, c3 = cache.layers                        # each layer's DenseCache(x, z, a)
    z1 = x @ params[0]["W"].T + params[0]["b"]
    np.testing.assert_allclose(c1.z, z1)
    np.testing.assert_allclose(c1.a, np.maximum(z1, 0))
    np.testing.assert_allclose(c2.x, c1.a)
    np.testing.assert_allclose(c2.a, np.tanh(c2.z))
    np.testing.assert_allclose(out, c3.z)


def test_sigmoid_is_finite_and_silent_at_1000():
    sig = activations.get("sigmoid")
    z = jnp.array([-1000.0, 0.0, 1000.0])
    a = sig.fn(z)
    np.testing.assert_array_equal(a, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(sig.deriv(z, a), [0.0, 0.25, 0.0])
    g = jax.grad(lambda z: jnp.sum(sig.fn(z)))(z)
    assert jnp.all(jnp.isfinite(g))


@pytest.mark.parametrize("name", [n for n in activations.NAMES if n != "softmax"])
def test_derivative_matches_autodiff_including_kinks(name):
    act = activations.get(name)
    z = jnp.array([-30.0, -2.5, -1e-3, 0.0, 1e-3, 0.7, 3.0, 30.0])
    auto = jax.vmap(jax.grad(act.fn))(z)
    np.testing.assert_allclose(act.deriv(z, act.fn(z)), auto, rtol=1e-12, atol=1e-15)


def test_documented_kink_values():
    z0 = jnp.zeros(1)
    assert activations.get("relu").deriv(z0, z0)[0] == 0.0
    assert activations.get("leaky_relu").deriv(z0, z0)[0] == 1.0
    assert activations.get("leaky_relu(0.3)").fn(jnp.array([-1.0]))[0] == pytest.approx(-0.3)
    assert activations.get("elu(0.5)").deriv(z0, z0)[0] == 0.5


def test_softmax_is_stable_and_sums_to_one():
    a = activations.get("softmax").fn(jnp.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]]))
    assert jnp.all(jnp.isfinite(a))
    np.testing.assert_allclose(a.sum(-1), 1.0)
    np.testing.assert_allclose(a[0], [0.5, 0.5, 0.0])


@pytest.mark.parametrize("scheme", ["normal", "small", "uniform", "he", "glorot", "lecun", "nielsen"])
def test_init_shapes_determinism_and_scale(scheme):
    net = jaxnn.Network([400, 300, 10])
    p1 = jaxnn.init(jax.random.key(7), net, scheme)
    p2 = jaxnn.init(jax.random.key(7), net, scheme)
    p3 = jaxnn.init(jax.random.key(8), net, scheme)
    assert [(p["W"].shape, p["b"].shape) for p in p1] == [((300, 400), (300,)), ((10, 300), (10,))]
    jax.tree.map(np.testing.assert_array_equal, p1, p2)
    assert not np.array_equal(p1[0]["W"], p3[0]["W"])
    std = float(jnp.std(p1[0]["W"]))
    want = {"normal": 1.0, "small": 0.01, "uniform": 1 / np.sqrt(12), "he": np.sqrt(2 / 400),
            "glorot": np.sqrt(2 / 700), "lecun": np.sqrt(1 / 400), "nielsen": np.sqrt(1 / 400)}[scheme]
    assert std == pytest.approx(want, rel=0.05)
    bias_std = float(jnp.std(p1[0]["b"]))
    want_b = {"normal": 1.0, "nielsen": 1.0, "uniform": 1 / np.sqrt(12)}.get(scheme, 0.0)
    assert bias_std == pytest.approx(want_b, rel=0.2, abs=1e-12)
    if scheme == "uniform":
        assert -0.5 <= float(p1[0]["W"].min()) and float(p1[0]["W"].max()) < 0.5


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_init_draws_the_numbers_of_a_plain_draw_of_each_shape(dtype):
    """initializers.draw cuts a power-of-two-long draw on the host (one compiled program per length
    class): bit for bit the plain jax.random draw, scaled as on the device; under vmap and for a
    key of another PRNG it is the plain draw itself."""
    key = jax.random.key(5)
    for shape in [(7,), (30, 784), (3, 3, 1, 32), (1,), (0, 4)]:
        for sample, kw in [(jax.random.normal, {}), (jax.random.uniform, {"minval": -0.3, "maxval": 0.3})]:
            for scale in (1.0, 0.02, float(np.sqrt(2 / 784))):
                want = sample(key, shape, dtype, **kw)
                want = want if scale == 1.0 else scale * want
                got = initializers.draw(sample, key, shape, dtype, scale, **kw)
                assert got.dtype == want.dtype and got.shape == shape
                np.testing.assert_array_equal(got, want)
    keys = jax.random.split(key, 3)
    stacked = jax.vmap(lambda k: initializers.draw(jax.random.normal, k, (5, 3), dtype, 0.5))(keys)
    for k, row in zip(keys, stacked):
        np.testing.assert_array_equal(row, initializers.draw(jax.random.normal, k, (5, 3), dtype, 0.5))
    rbg = jax.random.key(5, impl="rbg")
    np.testing.assert_array_equal(initializers.draw(jax.random.normal, rbg, (6,), dtype),
                                  jax.random.normal(rbg, (6,), dtype))


NET = jaxnn.Network([4, 5, 3], hidden="relu", output="softmax", loss="cross_entropy")


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: jaxnn.Network([4]), ValueError, "at least two layers"),
    (lambda: jaxnn.Network([4, 0, 3]), ValueError, r"sizes\[1\] must be a positive int"),
    (lambda: jaxnn.Network([4, 2.5, 3]), TypeError, r"sizes\[1\] must be a positive int"),
    (lambda: jaxnn.Network([4, True]), TypeError, "positive int"),
    (lambda: jaxnn.Network("784"), TypeError, "list of layer widths"),
    (lambda: jaxnn.Network([4, 3], output="sigmoidd"), ValueError, "unknown activation 'sigmoidd'"),
    (lambda: jaxnn.Network([4, 3], loss="huber"), ValueError, "unknown loss 'huber'; choose"),
    (lambda: jaxnn.Network([4, 3], output="sigmoid", loss="cross_entropy"), ValueError,
     "needs output='softmax'"),
    (lambda: jaxnn.Network([4, 3], output="softmax", loss="binary_cross_entropy"), ValueError,
     "needs output='sigmoid'"),
    (lambda: jaxnn.Network([4, 5, 6, 3], hidden=["relu"]), ValueError, "one name per hidden"),
    (lambda: jaxnn.init(jax.random.key(0), NET, "xavier"), ValueError, "unknown init scheme"),
])
def test_bad_specs_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


def _params():
    return make_params(NET)


@pytest.mark.parametrize(("call", "match"), [
    (lambda p: jaxnn.forward(NET, p, jnp.ones((2, 5))), r"4 features per example but.*has 5|has 5"),
    (lambda p: jaxnn.forward(NET, p, jnp.ones(4)), "single example use x"),
    (lambda p: jaxnn.forward(NET, p, jnp.ones((0, 4))), "empty batch"),
    (lambda p: jaxnn.loss(NET, p, jnp.ones((2, 4)), jnp.ones((2, 4))), r"y must have shape \(batch, 3\)"),
    (lambda p: jaxnn.loss(NET, p, jnp.ones((2, 4)), jnp.ones((3, 3))), "batch sizes must match"),
    (lambda p: jaxnn.loss(NET, p, jnp.ones((2, 4)), jnp.array([0, 1, 2])), "3 labels but x has 2"),
    (lambda p: jaxnn.value_and_grad(NET, p[:1], jnp.ones((2, 4)), jnp.array([0, 1])),
     "list of 2 layers"),
    (lambda p: jaxnn.value_and_grad(NET, [p[0], {"W": p[1]["W"].T, "b": p[1]["b"]}],
                                    jnp.ones((2, 4)), jnp.array([0, 1])),
     r"params\[1\]\['W'\] \(layer 2\) has shape \(5, 3\), expected \(3, 5\)"),
    (lambda p: jaxnn.forward(NET, [p[0], {"W": p[1]["W"]}], jnp.ones((2, 4))), "keys 'W' and 'b'"),
])
def test_bad_inputs_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call(_params())


def test_checks_happen_at_trace_time_under_jit():
    f = jax.jit(jaxnn.value_and_grad, static_argnums=0)
    with pytest.raises(ValueError, match="features per example"):
        f(NET, _params(), jnp.ones((2, 7)), jnp.array([0, 1]))


def test_integer_inputs_are_cast_to_the_parameter_dtype():
    x = jnp.array([[0, 255, 3, 1]], dtype=jnp.uint8)
    out, _ = jaxnn.forward(NET, _params(), x)
    assert out.dtype == jnp.float64
