"""BatchNorm and GroupNorm: each backward equals jax.vjp in float64, evaluation uses the running
statistics, and BatchNorm's state is carried by training (one and several devices, populations,
the shard_map step), checkpoints/resume and the tools, and never seen by the optimiser."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import layers as L
from jaxnn.gradient_check import backward_and_vjp, check_layer
from jaxnn.model import merge_state, split_state
from jaxnn.training import parallel

SHAPES = [(5,), (4, 6), (4, 5, 3)]          # Dense outputs, sequences, images (per example)
MODEL = L.Model([L.Dense(6), L.BatchNorm(), L.Activation("relu"), L.Dense(3, "softmax")], (4,))


def worst(rows):
    return max(r.vs_autodiff for r in rows), max(r.vs_finite_diff for r in rows)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("layer", [L.BatchNorm(), L.GroupNorm(3), L.GroupNorm(1)], ids=str)
def test_training_backward_equals_vjp_for_every_shape(layer, shape):
    if isinstance(layer, L.GroupNorm) and shape[-1] % layer.groups:
        shape = (*shape[:-1], 6)
    vs_vjp, vs_fd = worst(check_layer(layer, shape, batch=3))
    assert vs_vjp < 1e-10 and vs_fd < 1e-5


@pytest.mark.parametrize("x", [
    jnp.ones((4, 3)),                                                    # constant features
    # a large offset: σ² taken as mean((x − μ)²), not mean(x²) − μ² (which loses 1e-8 here)
    1e4 + jax.random.normal(jax.random.key(0), (4, 3), jnp.float64),
    jax.random.normal(jax.random.key(1), (2, 3), jnp.float64),           # the smallest batch
], ids=["constant", "offset", "m=2"])
def test_batchnorm_backward_at_the_edges(x):
    x = jnp.asarray(x, jnp.float64)
    for layer in (L.BatchNorm(), L.GroupNorm(3)):
        params, _ = layer.init(jax.random.key(0), x.shape[1:], jnp.float64)
        g = jax.random.normal(jax.random.key(2), x.shape, jnp.float64)
        key = jax.random.key(3) if isinstance(layer, L.BatchNorm) else None
        (grads, g_x), (auto_p, auto_x) = backward_and_vjp(layer, params, x, g, key)
        assert jnp.all(jnp.isfinite(g_x))
        np.testing.assert_allclose(g_x, auto_x, rtol=1e-10, atol=1e-12 * float(jnp.abs(auto_x).max()))
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10), grads, auto_p)


def test_one_value_per_feature_is_one_clear_error():
    layer = L.BatchNorm()
    params, _ = layer.init(jax.random.key(0), (3,))
    with pytest.raises(ValueError, match="at least 2 values per feature.*batch of 2 or more"):
        layer.forward(params, jnp.ones((1, 3)), key=jax.random.key(0))
    layer.forward(params, jnp.ones((1, 3)))                      # evaluation: defined
    layer.forward(params, jnp.ones((1, 2, 2, 3)), key=jax.random.key(0))  # spatial: 4 values


def test_evaluation_uses_the_running_statistics_and_training_updates_them():
    layer = L.BatchNorm(momentum=0.8, eps=1e-3)
    params, _ = layer.init(jax.random.key(0), (2,), jnp.float64)
    params["g"], params["b"] = jnp.array([2.0, 0.5]), jnp.array([1.0, -1.0])
    params["state"] = {"mean": jnp.array([1.0, -2.0]), "var": jnp.array([4.0, 0.25])}
    x = np.array([[3.0, 0.0], [1.0, -1.0], [2.0, 4.0]])
    y, cache = layer.forward(params, x)                                   # evaluation
    want = (x - np.array([1.0, -2.0])) / np.sqrt(np.array([4.0, 0.25]) + 1e-3) * [2.0, 0.5] + [1.0, -1.0]
    np.testing.assert_allclose(y, want, rtol=1e-14, atol=1e-15)
    assert layer.new_state(params, cache) is params["state"]             # evaluation changes nothing
    y, cache = layer.forward(params, x, key=jax.random.key(0))            # training
    np.testing.assert_allclose(y.mean(0), [1.0, -1.0], atol=1e-14)        # β: the batch mean
    new = layer.new_state(params, cache)
    np.testing.assert_allclose(new["mean"], 0.8 * np.array([1.0, -2.0]) + 0.2 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(new["var"], 0.8 * np.array([4.0, 0.25]) + 0.2 * x.var(0, ddof=1), rtol=1e-14)
    (grads, g_x), (auto_p, auto_x) = backward_and_vjp(layer, params, x, jnp.ones_like(x), None)
    np.testing.assert_allclose(g_x, auto_x, rtol=1e-14)                   # evaluation's backward
    assert not jnp.any(grads["state"]["mean"]) and not jnp.any(auto_p["state"]["var"])


def test_a_model_with_batchnorm_equals_jax_grad_in_training_and_evaluation():
    bn_cnn = jaxnn.models.small_cnn(norm="batch")
    assert [type(la).__name__ for la in bn_cnn.layers[:3]] == ["Conv2D", "BatchNorm", "Activation"]
    assert sum(isinstance(la, L.BatchNorm) for la in bn_cnn.layers) == 3
    model = L.Model([L.Conv2D(3, 3, padding="same"), L.BatchNorm(), L.Activation("relu"), L.MaxPool2D(2),
                     L.Flatten(), L.Dense(4), L.BatchNorm(), L.Activation("tanh"), L.Dense(3, "softmax")],
                    (6, 6, 1))                          # small_cnn(norm="batch")'s pattern, small
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x, y = jax.random.normal(jax.random.key(1), (5, 6, 6, 1), jnp.float64), jnp.arange(5) % 3
    for key in (None, jax.random.key(2)):
        (v, g), (va, ga) = (jax.jit(f, static_argnums=0)(model, params, x, y, key) for f in (
            jaxnn.value_and_grad, jax.value_and_grad(jaxnn.loss, argnums=1)))
        assert abs(v - va) < 1e-12
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13), g, ga)
    rows = jaxnn.gradcheck(model, params, x, y)                          # the state is no parameter
    assert "state" not in {r.name.split("/")[0] for r in rows} and worst(rows)[0] < 1e-10
    assert {"g", "b"} <= {r.name for r in rows if r.layer == 2} and worst(rows)[1] < 1e-6


@pytest.mark.parametrize("algorithm", ["matmul", "xla"])
def test_layers_without_a_bias_before_batchnorm_equal_jax_grad_and_round_trip(algorithm):
    """``bias=False``: no ``b`` in the params (BatchNorm's β shifts instead), the same backward."""
    model = L.Model([L.Conv2D(3, 3, padding="same", algorithm=algorithm, bias=False), L.BatchNorm(),
                     L.Activation("relu"), L.Flatten(), L.Dense(4, bias=False), L.BatchNorm(),
                     L.Dense(3, "softmax")], (5, 5, 1))
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    assert set(params[0]) == {"k"} and set(params[4]) == {"W"} and set(params[6]) == {"W", "b"}
    x, y = jax.random.normal(jax.random.key(1), (6, 5, 5, 1), jnp.float64), jnp.arange(6) % 3
    key = jax.random.key(2)
    (v, g), (va, ga) = jax.jit(lambda p: (   # one compiled program (eager: one per op)
        jaxnn.value_and_grad(model, p, x, y, key),
        jax.value_and_grad(jaxnn.loss, argnums=1)(model, p, x, y, key)))(params)
    assert abs(v - va) < 1e-12
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13), g, ga)
    assert L.Model.from_dict(model.to_dict()) == model
    old = model.to_dict()                                    # a spec saved before `bias` existed
    del old["layers"][0]["bias"]
    assert L.Model.from_dict(old).layers[0].bias is True


def test_split_and_merge_state_and_init_schemes_leave_the_state_alone():
    params = jaxnn.init(jax.random.key(0), MODEL, "normal")
    trainable, state = split_state(params)
    assert [set(p) for p in trainable] == [{"W", "b"}, {"g", "b"}, set(), {"W", "b"}]
    assert state[0] is None and set(state[1]) == {"mean", "var"}
    np.testing.assert_array_equal(state[1]["var"], 1.0)                   # a scheme draws no state
    assert jax.tree.structure(merge_state(trainable, state)) == jax.tree.structure(params)
    net = jaxnn.Network([3, 2])
    p = jaxnn.init(jax.random.key(0), net)
    assert split_state(p)[0] == p and merge_state(*split_state(p)) == p


def data(n=64, seed=0):
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(jnp.int32) + (x[:, 2] > 1)


def test_fit_updates_the_running_statistics_and_no_optimizer_sees_them():
    x, y = data()
    params = jaxnn.init(jax.random.key(0), MODEL)
    opt = optax.adamw(1e-2, weight_decay=0.5)
    trained, hist = jaxnn.fit(MODEL, params, (x, y), optimizer=opt, epochs=3, batch_size=16,
                              key=jax.random.key(1), eval_data=(x, y), progress=False)
    assert hist["train_loss"][-1] < hist["train_loss"][0] and hist["eval_accuracy"][-1] > 0.7
    before, after = params[1]["state"], trained[1]["state"]
    assert not np.allclose(before["mean"], after["mean"]) and not np.allclose(before["var"], after["var"])
    # the running statistics are those of the data seen (weight decay never shrank them)
    z = np.asarray(x @ trained[0]["W"].T + trained[0]["b"])
    np.testing.assert_allclose(after["var"], z.var(0), rtol=0.5)
    assert len(jax.tree.leaves(opt.init(split_state(params)[0]))) < len(jax.tree.leaves(opt.init(params)))
    with pytest.raises(ValueError, match="opt_state does not fit.*split_state"):
        jaxnn.fit(MODEL, params, (x, y), optimizer=opt, opt_state=opt.init(params), epochs=1,
                  batch_size=16, key=jax.random.key(1), progress=False)


def test_the_running_statistics_survive_a_checkpoint_and_resume_bit_exact(tmp_path):
    x, y = data()
    params = jaxnn.init(jax.random.key(0), MODEL)
    kw = dict(optimizer=optax.adam(1e-2), batch_size=16, key=jax.random.key(1), progress=False)
    straight, _ = jaxnn.fit(MODEL, params, (x, y), epochs=4, **kw)
    jaxnn.fit(MODEL, params, (x, y), epochs=2, checkpoint=tmp_path / "c.npz", **kw)
    saved = jaxnn.load(tmp_path / "c.npz")
    assert set(saved.params[1]["state"]) == {"mean", "var"}
    resumed, _ = jaxnn.fit(MODEL, params, (x, y), epochs=4, checkpoint=tmp_path / "c.npz", resume=True, **kw)
    jax.tree.map(np.testing.assert_array_equal, resumed, straight)


@pytest.mark.forced_cpu_devices
def test_a_batchnorm_model_trained_on_one_and_on_four_devices_agrees():
    """fit(devices=4) normalises by the global batch (XLA's mean over the shards): the same model.
    (SGD: the Dense bias before a BatchNorm gets a zero gradient, and Adam would turn its rounding
    noise into steps of the learning rate's size.)"""
    x, y = data()
    params = jaxnn.init(jax.random.key(0), MODEL, dtype=jnp.float64)
    kw = dict(optimizer=jaxnn.sgd(0.5), epochs=2, batch_size=16, key=jax.random.key(1), progress=False)
    one, _ = jaxnn.fit(MODEL, params, (x.astype(jnp.float64), y), **kw)
    four, _ = jaxnn.fit(MODEL, params, (x.astype(jnp.float64), y), devices=4, **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), four, one)
    assert not np.allclose(one[1]["state"]["mean"], 0)


@pytest.mark.forced_cpu_devices
def test_the_shard_map_step_averages_the_running_statistics_across_devices():
    x, y = data(16)
    x, params = x.astype(jnp.float64), jaxnn.init(jax.random.key(0), MODEL, dtype=jnp.float64)
    opt, mesh = jaxnn.sgd(0.1), parallel.data_mesh(4)
    step = parallel.shard_map_step(MODEL, opt, mesh)
    new, _, _ = step(*parallel.replicate((params, opt.init(split_state(params)[0])), mesh),
                     parallel.shard_batch(x, mesh), parallel.shard_batch(y, mesh), jax.random.key(0))
    z = np.asarray(x @ params[0]["W"].T + params[0]["b"]).reshape(4, 4, -1)   # each device's shard
    want = 0.1 * z.mean(1).mean(0)                      # momentum 0.9 from a mean of 0
    np.testing.assert_allclose(new[1]["state"]["mean"], want, rtol=1e-12)


def test_a_population_member_equals_its_own_fit():
    x, y = data()
    keys = jax.random.split(jax.random.key(0), 2)
    params = jaxnn.population.init(keys, MODEL, dtype=jnp.float64)
    kw = dict(optimizer=jaxnn.sgd(0.5), epochs=2, batch_size=16, progress=False)
    pop, _ = jaxnn.fit_population(MODEL, params, (x, y), keys=keys, **kw)
    alone, _ = jaxnn.fit(MODEL, jaxnn.population.member(params, 1), (x, y), key=keys[1], **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12),
                 jaxnn.population.member(pop, 1), alone)


def test_per_example_grads_of_a_batchnorm_model_use_the_running_statistics():
    """One example has no batch statistics: per-example gradients are evaluation-mode ones (asked
    for: training=False), and their mean is the batch gradient in evaluation mode (no key)."""
    x, y = data(6)
    params = jaxnn.init(jax.random.key(0), MODEL, dtype=jnp.float64)
    params[1]["state"] = {"mean": jnp.full(6, 0.3), "var": jnp.full(6, 2.0)}
    x = x.astype(jnp.float64)
    per = jaxnn.per_example_grads(MODEL, params, x, y, training=False)
    _, full = jaxnn.value_and_grad(MODEL, params, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a.mean(0), b, rtol=1e-10, atol=1e-14), per, full)
