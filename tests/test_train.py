"""fit, optimisers, checkpoints, resume, divergence."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import data
from jaxnn.training import checkpoint
from jaxnn.training.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits (shipped with the package): small, real, fast."""
    tr, te = data.load("digits", "train"), data.load("digits", "test")
    return (tr.x, tr.y), (te.x, te.y)


NET = jaxnn.Network([64, 32, 10], hidden="relu", output="softmax", loss="cross_entropy")


def _fit(train, epochs=3, key=0, net=NET, **kw):
    kw.setdefault("optimizer", optax.adam(1e-2))
    params = jaxnn.init(jax.random.key(1), net, "he", dtype=jnp.float32)
    return jaxnn.fit(net, params, train, epochs=epochs, batch_size=32, key=jax.random.key(key),
                     progress=False, **kw)


def test_fit_lowers_the_loss_and_reaches_accuracy_on_real_digits(digits):
    train, test = digits
    params, hist = _fit(train, epochs=10, eval_data=test)
    assert hist["epoch"] == list(range(1, 11))
    assert hist["train_loss"][-1] < 0.3 * hist["train_loss"][0]
    assert hist["eval_accuracy"][-1] >= 0.95          # stated: ≥ 95% on held-out 8x8 digits
    assert all(s > 0 for s in hist["seconds"])
    again = jaxnn.evaluate(NET, params, *test)
    assert again["accuracy"] == pytest.approx(hist["eval_accuracy"][-1])


@pytest.mark.parametrize("progress, shown", [(True, True), (None, False), (False, False)])
def test_progress_bar_always_on_a_terminal_only_or_never(digits, capsys, progress, shown):
    """progress=None shows the bar only when stderr is a terminal (here it is captured)."""
    params = jaxnn.init(jax.random.key(1), NET, "he")
    jaxnn.fit(NET, params, digits[0], optimizer=optax.adam(1e-2), epochs=2, batch_size=500,
              key=jax.random.key(0), progress=progress)
    assert ("0/2 [" in capsys.readouterr().err) == shown


def test_nielsen_sgd_and_random_sampling_train(digits):
    train, test = digits
    net = jaxnn.Network([64, 30, 10])   # sigmoid, quadratic: labels become one-hot targets
    params = jaxnn.init(jax.random.key(0), net, "normal", dtype=jnp.float32)
    _, hist = jaxnn.fit(net, params, train, optimizer=jaxnn.sgd(3.0), epochs=8, batch_size=10,
                        key=jax.random.key(0), eval_data=test, progress=False)
    assert hist["eval_accuracy"][-1] >= 0.85
    _, hist = jaxnn.fit(net, params, train, optimizer=jaxnn.sgd(3.0), epochs=8, batch_size=10,
                        key=jax.random.key(0), eval_data=test, sampling="random",
                        steps_per_epoch=100, progress=False)
    assert hist["eval_accuracy"][-1] >= 0.8


def test_gradient_descent_is_the_update_loop_and_vmaps_over_seeds():
    net = jaxnn.Network([3, 4, 1], hidden="relu", output="identity", loss="sel")
    x, y, _, _ = data.binary_to_decimal("101")
    params = jaxnn.init(jax.random.key(0), net, "he", dtype=jnp.float64)
    want = params
    for _ in range(5):                                       # W ← W − η ∂C/∂W, written out
        _, g = jaxnn.value_and_grad(net, want, x, y)
        want = jax.tree.map(lambda w, dw: w - 0.01 * dw, want, g)
    have = jaxnn.gradient_descent(net, params, x, y, lr=0.01, steps=5)
    for a, b in zip(jax.tree.leaves(have), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    train = lambda k: jaxnn.gradient_descent(net, jaxnn.init(k, net, "he"), x, y,  # noqa: E731
                                             lr=0.01, steps=300)
    keys = jax.random.split(jax.random.key(1), 4)
    many = jax.jit(jax.vmap(train))(keys)                    # four seeds in one call
    assert many[0]["W"].shape == (4, 4, 3)
    before = jax.vmap(lambda k: jaxnn.loss(net, jaxnn.init(k, net, "he"), x, y))(keys)
    after = jax.vmap(lambda p: jaxnn.loss(net, p, x, y))(many)
    assert np.all(np.asarray(after) < 0.5 * np.asarray(before))


def test_sgd_is_exactly_the_seed_update():
    params = [{"W": jnp.array([[1.0, 2.0]]), "b": jnp.array([0.5])}]
    grads = [{"W": jnp.array([[0.1, -0.2]]), "b": jnp.array([1.0])}]
    opt = jaxnn.sgd(0.5)
    updates, _ = opt.update(grads, opt.init(params))
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new[0]["W"], [[0.95, 2.1]])
    np.testing.assert_allclose(new[0]["b"], [0.0])
    l2 = jaxnn.nielsen_l2(0.5, lmbda=5.0, n=10)          # (1 − ηλ/n) W − η g, biases untouched
    updates, _ = l2.update(grads, l2.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new[0]["W"], 0.75 * np.array([[1.0, 2.0]]) - 0.5 * np.array([[0.1, -0.2]]))
    np.testing.assert_allclose(new[0]["b"], [0.0])


def test_hand_and_autodiff_training_give_the_same_parameters_float64(digits):
    train, _ = digits
    x, y = train[0][:256].astype(np.float64), train[1][:256]
    net = jaxnn.Network([64, 16, 10], hidden="tanh", output="softmax", loss="cross_entropy")
    p0 = jaxnn.init(jax.random.key(0), net, "glorot", dtype=jnp.float64)
    kw = dict(optimizer=optax.adam(1e-2), epochs=3, batch_size=16, key=jax.random.key(0),
              progress=False)
    hand, _ = jaxnn.fit(net, p0, (x, y), backward="hand", **kw)
    auto, _ = jaxnn.fit(net, p0, (x, y), backward="autodiff", **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), hand, auto)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_every_named_optimizer_trains(digits, name):
    from jaxnn.training import optim

    lr = {"sgd": 0.5, "momentum": 0.05, "nesterov": 0.05}.get(name, 3e-3)
    _, hist = _fit(digits[0], epochs=3, optimizer=optim.get(name, lr))
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_optax_schedules_and_chains_are_accepted(digits):
    opt = optax.chain(optax.clip_by_global_norm(1.0),
                      optax.sgd(optax.exponential_decay(0.5, 10, 0.9)))
    _, hist = _fit(digits[0], epochs=3, optimizer=opt)
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_same_key_gives_bit_identical_parameters(digits):
    a, _ = _fit(digits[0], epochs=2)
    b, _ = _fit(digits[0], epochs=2)
    c, _ = _fit(digits[0], epochs=2, key=5)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(a[0]["W"], c[0]["W"])


def test_divergence_stops_with_a_named_epoch(digits, tmp_path):
    path = tmp_path / "run.npz"
    net = jaxnn.Network([64, 32, 10], hidden="relu", output="identity", loss="quadratic")
    with pytest.raises(jaxnn.TrainingDiverged, match=r"epoch \d+; .*smaller") as info:
        _fit(digits[0], epochs=20, net=net, optimizer=jaxnn.sgd(50.0), checkpoint=path)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(info.value.params))
    if path.exists():   # the last good checkpoint is intact and finite
        saved = jaxnn.load(path)
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(saved.params))


def test_checkpoint_round_trip(tmp_path):
    net = jaxnn.Network([4, 3, 2], hidden="leaky_relu(0.2)", output="softmax", loss="cross_entropy")
    params = jaxnn.init(jax.random.key(0), net, "he")
    opt = optax.adam(1e-3)
    state = opt.init(params)
    key = jax.random.key(42)
    path = jaxnn.save(tmp_path / "c.npz", net, params, state, key=key, meta={"epoch": 3})
    c = jaxnn.load(path)
    assert c.model == net and c.meta == {"epoch": 3}
    jax.tree.map(np.testing.assert_array_equal, c.params, params)
    np.testing.assert_array_equal(jax.random.key_data(c.key), jax.random.key_data(key))
    restored = checkpoint.restore_opt_state(opt, params, c.opt_state)
    jax.tree.map(np.testing.assert_array_equal, restored, state)
    with pytest.raises(CheckpointError, match="does not fit this optimizer"):
        checkpoint.restore_opt_state(optax.sgd(0.1), params, c.opt_state)
    raw = jaxnn.save(tmp_path / "raw.npz", net, params, key=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(jaxnn.load(raw).key, jax.random.PRNGKey(1))


def test_interrupted_and_resumed_training_is_bit_identical(digits, tmp_path):
    path = tmp_path / "run.npz"
    full, hist_full = _fit(digits[0], epochs=4)
    _fit(digits[0], epochs=2, checkpoint=path)                     # "interrupted" after 2
    resumed, hist = _fit(digits[0], epochs=4, checkpoint=path, resume=True)
    jax.tree.map(np.testing.assert_array_equal, full, resumed)
    assert hist["epoch"] == [1, 2, 3, 4]
    assert hist["train_loss"] == hist_full["train_loss"]
    assert jaxnn.load(path).meta["epoch"] == 4


def test_a_crash_between_write_and_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    net = jaxnn.Network([3, 2])
    old = jaxnn.init(jax.random.key(0), net)
    path = jaxnn.save(tmp_path / "c.npz", net, old)

    def crash(src, dst):
        raise OSError("simulated power loss")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        jaxnn.save(path, net, jaxnn.init(jax.random.key(1), net))
    monkeypatch.undo()
    jax.tree.map(np.testing.assert_array_equal, jaxnn.load(path).params, old)
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]     # no temp file left behind


def test_bad_checkpoints_are_named(tmp_path):
    net = jaxnn.Network([3, 2])
    good = jaxnn.save(tmp_path / "good.npz", net, jaxnn.init(jax.random.key(0), net))
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        jaxnn.load(tmp_path / "missing.npz")
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        jaxnn.load(tmp_path / "trunc.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(CheckpointError, match="not a jaxnn checkpoint"):
        jaxnn.load(tmp_path / "foreign.npz")
    with pytest.raises(ValueError, match="expected"):
        jaxnn.save(tmp_path / "bad.npz", net, jaxnn.init(jax.random.key(0), jaxnn.Network([4, 2])))


def test_resume_with_another_network_is_refused(digits, tmp_path):
    path = tmp_path / "run.npz"
    _fit(digits[0], epochs=1, checkpoint=path)
    other = jaxnn.Network([64, 16, 10], hidden="relu", output="softmax", loss="cross_entropy")
    with pytest.raises(CheckpointError, match="was written for"):
        _fit(digits[0], epochs=2, checkpoint=path, resume=True, net=other)


@pytest.mark.parametrize(("kw", "match"), [
    ({"batch_size": 0}, "batch_size must be a positive int"),
    ({"batch_size": 10_000}, "larger than the"),
    ({"sampling": "stratified"}, "sampling must be"),
    ({"backward": "numeric"}, "backward must be one of"),
])
def test_bad_fit_arguments(digits, kw, match):
    params = jaxnn.init(jax.random.key(0), NET)
    args = dict(optimizer=jaxnn.sgd(0.1), epochs=1, batch_size=8, key=jax.random.key(0))
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        jaxnn.fit(NET, params, digits[0], **args)


def test_bad_training_data_is_named(digits):
    x, y = digits[0]
    params = jaxnn.init(jax.random.key(0), NET)
    bad = x.copy()
    bad[3, 5] = np.nan
    with pytest.raises(data.DataError, match="train: x contains 1 NaN"):
        jaxnn.fit(NET, params, (bad, y), optimizer=jaxnn.sgd(0.1), epochs=1, batch_size=8,
                  key=jax.random.key(0))
    with pytest.raises(data.DataError, match="eval data: labels must lie in 0..9"):
        jaxnn.fit(NET, params, (x, y), optimizer=jaxnn.sgd(0.1), epochs=1, batch_size=8,
                  key=jax.random.key(0), eval_data=(x[:5], np.array([0, 1, 2, 3, 12])))


def test_ignored_labels_are_left_out_of_training_evaluation_and_populations(digits):
    """Labels ``IGNORE`` (-1) pass the data checks for cross-entropy only, and count nowhere:
    evaluating with them equals evaluating without those examples, for a fit and a population."""
    (x, y), (xt, yt) = digits
    y_ign, yt_ign = y.copy(), yt.copy()
    y_ign[::3], yt_ign[::4] = jaxnn.losses.IGNORE, jaxnn.losses.IGNORE
    params, hist = _fit((x, y_ign), eval_data={"test": (xt, yt_ign)})
    assert hist["test_accuracy"][-1] > 0.85 and np.isfinite(hist["train_loss"]).all()
    kept = yt_ign != jaxnn.losses.IGNORE
    got, want = jaxnn.evaluate(NET, params, xt, yt_ign), jaxnn.evaluate(NET, params, xt[kept], yt[kept])
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-5) and got["accuracy"] == want["accuracy"]
    assert hist["test_accuracy"][-1] == pytest.approx(want["accuracy"])
    members = jax.tree.map(lambda a: jnp.stack([a, a]), params)
    _, pop = jaxnn.fit_population(NET, members, (x, y_ign), optimizer=optax.sgd(0.0), epochs=1,
                                  batch_size=32, keys=jax.random.split(jax.random.key(0), 2),
                                  eval_data={"test": (xt, yt_ign)}, progress=False)
    np.testing.assert_allclose(pop["test_accuracy"][-1], want["accuracy"], rtol=1e-6)
    with pytest.raises(data.DataError, match=r"labels must lie in 0..9 \(or -1: left out\), found -2..9"):
        jaxnn.evaluate(NET, params, xt, np.where(kept, yt, -2))
    mse = jaxnn.Network([64, 10], output="sigmoid", loss="mse")
    with pytest.raises(data.DataError, match=r"labels must lie in 0..9, found -1..9"):
        jaxnn.evaluate(mse, jaxnn.init(jax.random.key(0), mse), xt, yt_ign)


def test_make_steps_runs_k_steps_of_make_step_in_one_call(digits):
    """For a loop of one's own: stacked batches (and keys, here for Dropout) give the same
    parameters and costs as stepping from Python."""
    model = jaxnn.layers.Model([jaxnn.layers.Dense(16, "relu"), jaxnn.layers.Dropout(0.2),
                                jaxnn.layers.Dense(10, "softmax")], (64,))
    x, y = digits[0]
    xs, ys = jnp.asarray(x[:96], jnp.float64).reshape(3, 32, 64), jnp.asarray(y[:96]).reshape(3, 32)
    keys, opt = jax.random.split(jax.random.key(0), 3), optax.adam(1e-2)
    params = jaxnn.init(jax.random.key(1), model, dtype=jnp.float64)
    got = jaxnn.epoch.make_steps(model, opt)(params, opt.init(params), xs, ys, keys)
    step, want, costs = jax.jit(jaxnn.epoch.make_step(model, opt)), (params, opt.init(params)), []
    for i in range(3):
        *want, cost = step(*want, xs[i], ys[i], keys[i])
        costs.append(cost)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14), got,
                 (*want, jnp.stack(costs)))



def _text_model():
    return jaxnn.models.gpt(vocab=5, context=8, dim=8, heads=2, depth=1)


def test_a_token_stream_trains_through_fit_and_make_stream_steps_is_its_epoch():
    """sampling="windows": random windows of one token stream; the loop of one's own
    (make_stream_steps) runs exactly fit's epoch."""
    model, opt = _text_model(), optax.adam(1e-2)
    tokens = np.tile(np.arange(5, dtype=np.int32), 60)                   # 0 1 2 3 4 0 1 ...
    params = jaxnn.init(jax.random.key(0), model)
    key = jax.random.key(3)
    trained, history = jaxnn.fit(model, params, tokens, optimizer=opt, epochs=1, batch_size=4,
                                 key=key, sampling="windows", steps_per_epoch=30, progress=False)
    run = jaxnn.epoch.make_stream_steps(model, opt, batch_size=4, steps=30)
    by_hand, _, cost = run(params, opt.init(params), jax.random.fold_in(key, 1), jnp.asarray(tokens))
    jax.tree.map(np.testing.assert_array_equal, trained, by_hand)
    assert float(cost) == pytest.approx(history["train_loss"][0])
    x, y = data.text.windows(tokens, 8)
    _, history = jaxnn.fit(model, trained, tokens, optimizer=opt, epochs=3, batch_size=4, key=key,
                           sampling="windows", eval_data=(x, y), progress=False)
    assert history["eval_accuracy"][-1] > 0.9                     # the next token is predictable


@pytest.mark.parametrize(("train", "kw", "match"), [
    ((np.zeros((4, 8), np.int32), np.zeros((4, 8), np.int32)), {}, "one token stream; pass the tokens"),
    (np.zeros(100), {}, "1-D array of integer tokens"),
    (np.zeros(8, np.int32), {}, "hold no window of 9"),
    (np.full(100, 7, np.int32), {}, r"tokens must lie in 0\.\.4"),
    (np.zeros(100, np.int32), {"eval_train": True}, "a token stream has none"),
])
def test_a_token_stream_that_cannot_train_is_named(train, kw, match):
    model = _text_model()
    with pytest.raises(ValueError, match=match):
        jaxnn.fit(model, jaxnn.init(jax.random.key(0), model), train, optimizer=optax.adam(1e-2),
                  epochs=1, batch_size=4, key=jax.random.key(0), sampling="windows", progress=False, **kw)
    with pytest.raises(ValueError, match="for a language model that reads tokens"):
        jaxnn.fit(NET, jaxnn.init(jax.random.key(0), NET), np.zeros(100, np.int32),
                  optimizer=optax.adam(1e-2), epochs=1, batch_size=4, key=jax.random.key(0),
                  sampling="windows", progress=False)


def test_an_epoch_in_chunks_trains_as_in_one_piece_and_reports_inside_it(digits):
    """fit(every=N): the same batches and updates as the whole epoch; a report every N steps."""
    whole, _ = _fit(digits[0], epochs=2)
    seen = []
    chunked, history = _fit(digits[0], epochs=2, every=10, callbacks=[lambda e: seen.append(e.metrics)])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), whole, chunked)
    steps = len(digits[0][0]) // 32
    inside = [m for m in seen if "step" in m]
    assert [m["step"] for m in inside if m["epoch"] == 1] == list(range(10, steps, 10))
    assert all(m["steps"] == steps and np.isfinite(m["train_loss"]) for m in inside)
    assert [m["epoch"] for m in seen if "step" not in m] == [1, 2] == history["epoch"]


def test_a_run_stopped_inside_an_epoch_resumes_there_and_ends_as_an_uninterrupted_one(digits, tmp_path):
    path = tmp_path / "c.npz"
    whole, whole_history = _fit(digits[0], epochs=2, every=7, checkpoint=path)

    def stop_at_epoch_2_step_14(epoch):
        return "stop" if (epoch.metrics["epoch"], epoch.metrics.get("step")) == (2, 14) else None

    _fit(digits[0], epochs=2, every=7, checkpoint=path, resume=False,
         callbacks=[stop_at_epoch_2_step_14])
    meta = jaxnn.load(path).meta
    assert (meta["epoch"], meta["step"]) == (1, 14)
    resumed, history = _fit(digits[0], epochs=2, every=7, checkpoint=path, resume=True)
    jax.tree.map(np.testing.assert_array_equal, whole, resumed)
    assert history["train_loss"][1] == pytest.approx(whole_history["train_loss"][1], rel=1e-9)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        _fit(digits[0], epochs=1, every=0)


def test_a_checkpoint_reads_with_numpy_alone_as_the_docs_say(tmp_path, digits):
    """docs/training.md, "The checkpoint file": every entry where it says."""
    import json

    path = tmp_path / "c.npz"
    params, _ = _fit(digits[0], epochs=1, checkpoint=path)
    with np.load(path) as f:
        assert str(f["__jaxnn__"]) == "jaxnn-checkpoint-1"
        network, meta = json.loads(str(f["network"])), json.loads(str(f["meta"]))
        assert network["kind"] == "Model" and network["layers"][0]["type"] == "Dense"
        assert meta["epoch"] == 1 and meta["history"]["epoch"] == [1]
        np.testing.assert_array_equal(f["params/0/W"], params[0]["W"])
        assert int(f["opt_state/count"]) == len(jax.tree.leaves(optax.adam(1e-2).init(params)))
        assert str(f["key/impl"]) == "threefry2x32" and "members" not in f
