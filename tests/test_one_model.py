"""One model system: a Network is a stack of Dense layers, and every tool takes every model —
an MLP, a CNN, an RNN, and a layer a user writes against the contract in jaxnn.layers.base."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import layers as L
from jaxnn.training import parallel

CNN = L.Model([L.Conv2D(3, 3, padding="same"), L.Activation("relu"), L.MaxPool2D(2), L.Flatten(),
               L.Dense(5, "softmax")], (6, 6, 1), "cross_entropy")
RNN = L.Model([L.SimpleRNN(4), L.Dense(3, "softmax")], (5, 2), "cross_entropy")
MODELS = {"cnn": CNN, "rnn": RNN}


def batch(model, m=8, seed=0):
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (m, *model.input_shape), jnp.float64)
    return x, jax.random.randint(ky, (m,), 0, model.output_shape[-1])


def params_of(model, seed=1):
    return jaxnn.init(jax.random.key(seed), model, dtype=jnp.float64)


@dataclasses.dataclass(frozen=True)
class Square:
    """A user's layer: y = x², written only against the contract."""

    def init(self, key, in_shape, dtype=jnp.float32):
        return {}, in_shape

    def forward(self, params, x):
        return x * x, x

    def backward(self, params, x, g):
        return {}, 2 * x * g


@dataclasses.dataclass(frozen=True)
class Scale:
    """A user's layer with a parameter: y = s ⊙ x + t, and a switch for a wrong derivation."""

    wrong: bool = False

    def init(self, key, in_shape, dtype=jnp.float32):
        return {"s": jax.random.normal(key, in_shape, dtype), "t": jnp.zeros(in_shape, dtype)}, in_shape

    def forward(self, params, x):
        return params["s"] * x + params["t"], x

    def backward(self, params, x, g):
        ds = (g * x).sum(axis=0) * (2.0 if self.wrong else 1.0)
        return {"s": ds, "t": g.sum(axis=0)}, g * params["s"]


def test_a_network_is_a_stack_of_dense_layers_with_the_same_params_as_a_model():
    net = jaxnn.Network([4, 6, 3], hidden="tanh", output="softmax", loss="cross_entropy")
    model = L.Model([L.Dense(6, "tanh"), L.Dense(3, "softmax")], (4,), "cross_entropy")
    assert net.layers == model.layers and hash(net) == hash(jaxnn.Network([4, 6, 3], "tanh",
                                                                        "softmax", "cross_entropy"))
    p = jaxnn.init(jax.random.key(0), net, dtype=jnp.float64)
    x, y = jax.random.normal(jax.random.key(1), (5, 4), jnp.float64), jnp.arange(5) % 3
    v_net, g_net = jaxnn.value_and_grad(net, p, x, y)
    v_mod, g_mod = jaxnn.value_and_grad(model, p, x, y)
    assert v_net == v_mod
    jax.tree.map(np.testing.assert_array_equal, g_net, g_mod)


@pytest.mark.parametrize("kind", MODELS)
def test_gradcheck_on_every_model(kind):
    model = MODELS[kind]
    rows = jaxnn.gradcheck(model, params_of(model), *batch(model))
    assert {r.name for r in rows} >= ({"k", "b", "W"} if kind == "cnn" else {"Wx", "Wh", "b", "W"})
    assert max(r.vs_autodiff for r in rows) < 1e-10
    assert max(r.vs_finite_diff for r in rows if not np.isnan(r.vs_finite_diff)) < 1e-6


@pytest.mark.parametrize("kind", MODELS)
def test_per_example_grads_on_every_model(kind):
    model = MODELS[kind]
    p, (x, y) = params_of(model), batch(model, m=4)
    per = jaxnn.per_example_grads(model, p, x, y)
    _, full = jax.jit(jaxnn.value_and_grad, static_argnums=0)(model, p, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a.mean(0), b, rtol=1e-10, atol=1e-13),
                 per, full)
    assert parallel.grad_norms(per).shape == (4,)
    assert parallel.per_example_losses(model, p, x, y).shape == (4,)


@pytest.mark.forced_cpu_devices
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("n_devices", [1, 2, 4])
def test_parallel_steps_on_every_model(kind, n_devices):
    model, opt = MODELS[kind], jaxnn.sgd(0.1)
    p, (x, y) = params_of(model), batch(model)
    want, _, _ = parallel.train_step(model, opt)(p, opt.init(p), x, y)
    mesh = parallel.data_mesh(n_devices)
    xs, ys = parallel.shard_batch(x, mesh), parallel.shard_batch(y, mesh)
    p_rep, s_rep = parallel.replicate((p, opt.init(p)), mesh)
    for step in (parallel.train_step(model, opt), parallel.shard_map_step(model, opt, mesh)):
        got, _, _ = step(p_rep, s_rep, xs, ys)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13), got, want)
    kw = dict(optimizer=opt, epochs=1, batch_size=8, key=jax.random.key(0), progress=False)
    one, _ = jaxnn.fit(model, p, (x, y), **kw)
    many, _ = jaxnn.fit(model, p, (x, y), devices=n_devices, **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), many, one)


@pytest.mark.parametrize("scheme", ["normal", "small", "uniform", "he", "glorot", "lecun"])
def test_init_schemes_on_every_parameterised_layer(scheme):
    p = jaxnn.init(jax.random.key(0), CNN, scheme, dtype=jnp.float64)
    assert [set(d) for d in p] == [{"k", "b"}, set(), set(), set(), {"W", "b"}]
    jaxnn.model.check_params(CNN, p)
    k = np.asarray(p[0]["k"])                                   # (3, 3, 1, 3): fan_in 9
    if scheme == "he":
        assert 0.2 < k.std() < 0.8                              # sqrt(2/9) = 0.47
    r = jaxnn.init(jax.random.key(0), RNN, scheme)
    assert set(r[0]) == {"Wx", "Wh", "b"} and not np.allclose(r[0]["Wx"][:, :1], r[0]["Wh"][:, :1])
    net = jaxnn.Network([3, 4, 2])                              # the MLP draws are unchanged
    assert np.allclose(jaxnn.init(jax.random.key(5), net, scheme)[0]["W"].shape, (4, 3))


def test_nielsen_l2_decays_weights_and_kernels_never_biases():
    p = params_of(CNN)
    zero = jax.tree.map(jnp.zeros_like, p)
    opt = jaxnn.nielsen_l2(1.0, lmbda=10.0, n=100)
    updates, _ = opt.update(zero, opt.init(p), p)
    np.testing.assert_allclose(updates[0]["k"], -0.1 * p[0]["k"])
    np.testing.assert_allclose(updates[4]["W"], -0.1 * p[4]["W"])
    assert not np.any(updates[0]["b"]) and not np.any(updates[4]["b"])


def test_check_layer_passes_correct_layers_and_catches_a_wrong_derivation():
    for layer, shape in ((Square(), (4,)), (Scale(), (3, 2)), (L.Dense(3, "relu"), (5,)),
                         (L.Conv2D(2, (3, 2), stride=2), (7, 6, 2)), (L.SimpleRNN(3), (4, 2))):
        rows = jaxnn.check_layer(layer, shape)
        assert rows[0].name == "x" and rows[0].layer == 0
        assert max(r.vs_autodiff for r in rows) < 1e-10, (layer, rows)
        assert max(r.vs_finite_diff for r in rows if not np.isnan(r.vs_finite_diff)) < 1e-6
    rows = {r.name: r for r in jaxnn.check_layer(Scale(wrong=True), (3,))}
    assert rows["s"].vs_autodiff > 0.5 and rows["s"].vs_finite_diff > 0.5
    assert rows["t"].vs_autodiff < 1e-12
    table = jaxnn.gradient_check.format_table(list(rows.values()))
    assert "hand vs jax.grad" in table and " s " in table


def test_a_user_layer_trains_in_a_model_and_round_trips_a_checkpoint(tmp_path):
    model = L.Model([L.Dense(8, "tanh"), Scale(), Square(), L.Dense(2, "softmax")], (2,),
                    "cross_entropy")
    x, labels = jaxnn.data.two_moons(64)
    p = jaxnn.init(jax.random.key(0), model)
    p2, hist = jaxnn.fit(model, p, (x, labels), optimizer=optax.adam(0.05), epochs=30,
                         batch_size=16, key=jax.random.key(1), progress=False)
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    with pytest.raises(ValueError, match="not registered; call jaxnn.layers.register"):
        jaxnn.save(tmp_path / "c.npz", model, p2)
    with pytest.raises(ValueError, match="not registered"):        # before any training
        jaxnn.fit(model, p, (x, labels), optimizer=optax.adam(0.05), epochs=1, batch_size=16,
                  key=jax.random.key(1), checkpoint=tmp_path / "fit.npz", progress=False)
    assert not (tmp_path / "fit.npz").exists()
    L.register(Scale)
    L.register(Square)
    jaxnn.save(tmp_path / "c.npz", model, p2)
    c = jaxnn.load(tmp_path / "c.npz")
    assert c.model == model
    np.testing.assert_array_equal(jaxnn.predict(model, p2, x), jaxnn.predict(c.model, c.params, x))
    with pytest.raises(TypeError, match="frozen dataclass"):
        L.register(dict)


@pytest.mark.parametrize(("arch", "cell"), [("rnn", "SimpleRNN"), ("lstm", "LSTM")])
def test_cli_trains_evaluates_and_predicts_recurrent_nets(tmp_path, capsys, arch, cell):
    from jaxnn import cli

    out = tmp_path / arch
    assert cli.main(["train", "--arch", arch, "--dataset", "digits", "--epochs", "2", "--quiet",
                     "--no-plot", "--out", str(out)]) == 0
    assert f"{cell}(128) over 8 rows" in capsys.readouterr().out
    assert cli.main(["eval", str(out / "checkpoint.npz"), "--dataset", "digits"]) == 0
    np.save(tmp_path / "d.npy", jaxnn.data.load("digits", "test").x[:2])
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "d.npy")]) == 0
    assert capsys.readouterr().out.count("d.npy[") == 2
