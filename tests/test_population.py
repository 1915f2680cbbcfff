"""Populations (jaxnn.population): N members in one compiled call equal N separate fits."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import layers
from jaxnn.training import population
from jaxnn.training.checkpoint import CheckpointError

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(0)
X, LABELS = RNG.normal(size=(60, 6)), RNG.integers(0, 3, 60)
XT, LT = RNG.normal(size=(30, 6)), RNG.integers(0, 3, 30)


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _separate(model, params, keys, optimizers, **kw):
    """Each member trained by a plain fit: [(params, history)]."""
    return [jaxnn.fit(model, population.member(params, i), (X, LABELS), optimizer=opt,
                      key=keys[i], eval_data=(XT, LT), progress=False, **kw)
            for i, opt in enumerate(optimizers)]


@pytest.mark.parametrize(("devices", "loop"), [(None, "scan"), (None, "python"), (2, "scan")])
def test_members_equal_separate_fits_with_per_member_learning_rate_and_l2(devices, loop):
    net = jaxnn.Network([6, 5, 3], hidden="sigmoid", output="sigmoid", loss="quadratic")
    keys = jax.random.split(jax.random.key(0), 4)
    params = population.init(keys, net, "nielsen", jnp.float64)
    for i in range(4):   # stacked init = one init per key, bit for bit
        jax.tree.map(np.testing.assert_array_equal, population.member(params, i),
                     jaxnn.init(keys[i], net, "nielsen", jnp.float64))
    hp = population.grid(learning_rate=[0.5, 2.0], lmbda=[0.0, 5.0])
    opt, state = population.optimizer(jaxnn.nielsen_l2, params, n=60, **hp)
    train_keys = jax.random.split(jax.random.key(1), 4)
    kw = dict(epochs=3, batch_size=7, loop=loop)
    got, hist = jaxnn.fit_population(net, params, (X, LABELS), optimizer=opt, opt_state=state,
                                     keys=train_keys, eval_data={"test": (XT, LT)}, devices=devices,
                                     progress=False, **kw)
    want = _separate(net, params, train_keys, [jaxnn.nielsen_l2(lr, lm, 60) for lr, lm in
                                               zip(hp["learning_rate"], hp["lmbda"])], **kw)
    hist = {k: np.asarray(v) for k, v in hist.items()}
    assert hist["test_accuracy"].shape == hist["train_loss"].shape == (3, 4)
    for i, (p, h) in enumerate(want):
        assert _max_diff(p, population.member(got, i)) <= 1e-12
        np.testing.assert_allclose(hist["train_loss"][:, i], h["train_loss"], rtol=1e-12)
        np.testing.assert_allclose(hist["test_accuracy"][:, i], h["eval_accuracy"])
    # the members really differ (a test that cannot fail otherwise)
    assert _max_diff(population.member(got, 0), population.member(got, 3)) > 1e-3


def test_a_population_with_dropout_and_adam_equals_separate_fits():
    model = layers.Model((layers.Dense(8, "relu"), layers.Dropout(0.3), layers.Dense(3, "softmax")),
                         (6,), "cross_entropy")
    keys = jax.random.split(jax.random.key(2), 2)
    params = population.init(keys, model, dtype=jnp.float64)
    opt, state = population.optimizer(optax.adam, params, learning_rate=[1e-2, 3e-2])
    got, hist = jaxnn.fit_population(model, params, (X, LABELS), optimizer=opt, opt_state=state,
                                     epochs=2, batch_size=10, keys=keys, eval_data=(XT, LT), progress=False)
    want = _separate(model, params, keys, [optax.adam(1e-2), optax.adam(3e-2)], epochs=2, batch_size=10)
    for i, (p, _) in enumerate(want):
        assert _max_diff(p, population.member(got, i)) <= 1e-12
    # the ensemble: the mean of the members' probabilities, evaluated without Dropout
    probs = jnp.mean(jnp.stack([jaxnn.forward(model, p, XT)[0] for p, _ in want]), 0)
    assert hist["eval_ensemble_accuracy"][-1] == pytest.approx(float(jnp.mean(jnp.argmax(probs, -1) == LT)))


def test_a_diverging_member_is_named_and_the_others_train_on():
    net = jaxnn.Network([6, 5, 3], hidden="relu", output="softmax", loss="cross_entropy")
    keys = jax.random.split(jax.random.key(3), 3)
    params = population.init(keys, net, "normal", jnp.float64)
    opt, state = population.optimizer(jaxnn.sgd, params, learning_rate=[0.1, 1e200, 0.1])
    with pytest.warns(UserWarning, match=r"members \[1\] diverged in epoch 1"):
        _, hist = jaxnn.fit_population(net, params, (X, LABELS), optimizer=opt, opt_state=state,
                                       epochs=2, batch_size=10, keys=keys, eval_data=(XT, LT),
                                       progress=False)
    loss = np.asarray(hist["train_loss"])
    assert np.isfinite(loss[:, [0, 2]]).all() and np.isnan(loss[-1, 1])
    result = population.summary(hist)
    assert result["diverged"] == 1 and np.isnan(result["members"][1])
    assert np.isfinite(result["ensemble"]) and result["ensemble"] > 0


def test_summary_reports_test_accuracy_at_the_best_validation_epoch():
    hist = {"train_loss": np.zeros((3, 2)),
            "validation_accuracy": np.array([[0.5, 0.9], [0.8, 0.7], [0.6, 0.6]]),
            "test_accuracy": np.array([[0.40, 0.91], [0.79, 0.70], [0.95, 0.61]]),
            "validation_ensemble_accuracy": np.array([0.7, 0.9, 0.8]),
            "test_ensemble_accuracy": np.array([0.6, 0.85, 0.9])}
    chosen = population.summary(hist, "test", select="validation")
    assert chosen["members"] == [0.79, 0.91] and chosen["epochs"] == [2, 1]
    assert chosen["ensemble"] == 0.85 and chosen["best"] == 0.91
    assert chosen["mean"] == pytest.approx(0.85)
    assert chosen["std"] == pytest.approx(np.std([0.79, 0.91], ddof=1))
    assert population.summary(hist, "test")["members"] == [0.95, 0.91]          # the peak
    assert population.summary(hist, "test", at="last")["members"] == [0.95, 0.61]
    with pytest.raises(KeyError, match="no eval set 'eval'.*'test', 'validation'"):
        population.summary(hist)


@pytest.mark.parametrize(("call", "match"), [
    (lambda p, k: population.optimizer(jaxnn.sgd, p, learning_rate=[0.1, 0.2, 0.3]),
     "learning_rate has 3 values for 2 members"),
    (lambda p, k: jaxnn.fit_population(NET, p, (X, LABELS), optimizer=jaxnn.sgd(0.1), epochs=1,
                                       batch_size=10, keys=k[:1]), "keys must be 2 PRNG keys"),
    (lambda p, k: jaxnn.fit_population(NET, p, (X, LABELS), optimizer=jaxnn.sgd(0.1), epochs=1,
                                       batch_size=10, keys=k, devices=3), "2 members cannot be split"),
    (lambda p, k: population.init(k[0], NET), "keys must be a 1-D array of PRNG keys"),
    (lambda p, k: population.size([p[0]["W"], p[0]["b"][:1]]), "same leading member axis"),
])
def test_population_mistakes_are_named(call, match):
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=match):
        call(population.init(keys, NET), keys)


NET = jaxnn.Network([6, 4, 3], hidden="relu", output="softmax", loss="cross_entropy")


def test_a_population_checkpoints_stops_from_a_callback_and_resumes_bit_exact(tmp_path):
    keys = jax.random.split(jax.random.key(4), 3)
    params = population.init(keys, NET, dtype=jnp.float64)
    opt, state = population.optimizer(optax.adam, params, learning_rate=[1e-2, 3e-2, 1e-1])
    kw = dict(optimizer=opt, opt_state=state, epochs=4, batch_size=10, keys=keys,
              eval_data={"test": (XT, LT)}, progress=False)
    full, hist_full = jaxnn.fit_population(NET, params, (X, LABELS), **kw)
    path, seen = tmp_path / "population.npz", []

    def stop_after_two(epoch):
        seen.append(epoch.metrics["epoch"])
        return "stop" if epoch.metrics["epoch"] == 2 else None

    jaxnn.fit_population(NET, params, (X, LABELS), checkpoint=path, callbacks=[stop_after_two], **kw)
    saved = jaxnn.load(path)
    assert seen == [1, 2] and saved.members == 3 and saved.meta["epoch"] == 2
    resumed, hist = jaxnn.fit_population(NET, params, (X, LABELS), checkpoint=path, resume=True, **kw)
    jax.tree.map(np.testing.assert_array_equal, full, resumed)
    np.testing.assert_equal({k: v for k, v in hist.items() if k != "seconds"},
                            {k: v for k, v in hist_full.items() if k != "seconds"})
    assert np.asarray(hist["test_accuracy"]).shape == (4, 3)
    two = population.init(keys[:2], NET, dtype=jnp.float64)
    with pytest.raises(CheckpointError, match=r"\(3 members\), not .*\(2 members\)"):
        jaxnn.fit_population(NET, two, (X, LABELS), optimizer=optax.adam(1e-2), epochs=4,
                             batch_size=10, keys=keys[:2], checkpoint=path, resume=True, progress=False)


def test_training_stops_with_the_last_good_params_when_every_member_has_diverged():
    keys = jax.random.split(jax.random.key(3), 2)
    params = population.init(keys, NET, "normal", jnp.float64)
    with pytest.raises(jaxnn.TrainingDiverged, match="in epoch 1 for every member; .*smaller") as info:
        jaxnn.fit_population(NET, params, (X, LABELS), optimizer=jaxnn.sgd(1e200), epochs=2,
                             batch_size=10, keys=keys, progress=False)
    jax.tree.map(np.testing.assert_array_equal, info.value.params, params)


def test_fit_takes_named_eval_sets_and_refuses_steps_per_epoch_with_shuffling():
    params = jaxnn.init(jax.random.key(0), NET)
    kw = dict(optimizer=jaxnn.sgd(0.1), epochs=2, batch_size=10, key=jax.random.key(1), progress=False)
    trained, hist = jaxnn.fit(NET, params, (X, LABELS), eval_data={
        "validation": (XT[:15], LT[:15]), "test": (XT, LT)}, **kw)
    assert list(hist) == ["epoch", "train_loss", "train_accuracy", "validation_loss",
                          "validation_accuracy", "test_loss", "test_accuracy", "seconds"]
    assert hist["test_accuracy"][-1] == jaxnn.evaluate(NET, trained, XT, LT)["accuracy"]
    with pytest.raises(ValueError, match="steps_per_epoch applies to sampling='random'"):
        jaxnn.fit(NET, params, (X, LABELS), steps_per_epoch=3, **kw)
