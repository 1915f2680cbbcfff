"""Losses of one's own (jaxnn.losses.register): per example or over the batch, with a hand gradient
or none, trained under every layer's hand backward — equal to autodiff in float64, trained with fit
and with a loop of one's own over jaxnn.custom_vjp, saved by name and loaded in a fresh process."""

import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import data, losses, models
from jaxnn import layers as L
from jaxnn.gradient_check import rel_error
from jaxnn.training.checkpoint import CheckpointError

# the users' losses, as a user writes them in a module of their own (registered on import)
FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from own_losses import focal  # noqa: E402

OWN = ("smoothed_ce", "focal", "soft_f1")


def logits_cnn(loss):
    """The zoo's small CNN for 8×8 digits, its softmax dropped: it ends in logits for ``loss``."""
    cnn = models.small_cnn((8, 8, 1), padding="same")
    return L.Model(cnn.layers[:-1], cnn.input_shape, loss)


@pytest.mark.parametrize("loss", OWN)
@pytest.mark.parametrize("body", ["mlp", "cnn", "rnn"])
def test_own_losses_hand_backward_equals_jax_grad_float64(loss, body):
    model = {"mlp": L.Model([L.Dense(6, "tanh"), L.Dense(5, "relu"), L.Dense(4)], (3,), loss),
             "cnn": logits_cnn(loss),
             "rnn": L.Model([L.LSTM(5, return_sequences=True), L.Dense(4)], (6, 3), loss)}[body]
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(8, *model.input_shape)))
    y = jnp.asarray(rng.integers(0, model.output_shape[-1], (8, *model.output_shape[:-1])))
    if body == "rnn" and loss != "soft_f1":
        y = y.at[0, :2].set(losses.IGNORE)                   # padding: left out of the mean
    value, grads = jaxnn.value_and_grad(model, params, x, y)
    want_value, want = jax.value_and_grad(jaxnn.loss, argnums=1)(model, params, x, y)
    assert abs(float(value - want_value)) <= 1e-12 * abs(float(want_value))
    errors = [rel_error(a, b) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want), strict=True)]
    assert max(errors) <= 1e-10, errors


@pytest.fixture(scope="module")
def digits():
    tr, te = data.load("digits", "train"), data.load("digits", "test")
    return ((tr.x.reshape(-1, 8, 8, 1), tr.y), (te.x.reshape(-1, 8, 8, 1), te.y))


@pytest.mark.parametrize("loss", OWN)
def test_own_losses_train_the_small_cnn_with_fit(loss, digits):
    model = logits_cnn(loss)
    params = jaxnn.init(jax.random.key(0), model)
    _, history = jaxnn.fit(model, params, digits[0], eval_data=digits[1], optimizer=optax.adam(3e-3),
                           epochs=3, batch_size=32, key=jax.random.key(1), progress=False)
    assert history["train_loss"][-1] < 0.6 * history["train_loss"][0]
    assert history["eval_accuracy"][-1] > 0.9, history


def test_an_own_loss_trains_in_a_loop_of_ones_own_over_custom_vjp(digits):
    """The CLI-free way: the model's outputs from jaxnn.custom_vjp, the loss and optax the user's."""
    model = logits_cnn("focal")
    f, opt = jaxnn.custom_vjp(model), optax.adam(3e-3)
    (x, y), (x_test, y_test) = (tuple(map(jnp.asarray, part)) for part in digits)

    @jax.jit
    def step(params, opt_state, xb, yb):
        cost, grads = jax.value_and_grad(lambda p: jnp.mean(focal(f(p, xb), jax.nn.one_hot(yb, 10))))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, cost

    params = jaxnn.init(jax.random.key(0), model)
    opt_state = opt.init(params)
    for epoch in range(3):
        order = np.random.default_rng(epoch).permutation(len(x))
        for i in range(0, len(x) - 31, 32):
            params, opt_state, cost = step(params, opt_state, x[order[i:i + 32]], y[order[i:i + 32]])
    assert float(jaxnn.accuracy(model, params, x_test, y_test)) > 0.9


def test_an_own_loss_is_saved_by_name_and_loads_in_a_fresh_process_once_registered(tmp_path):
    model = logits_cnn("smoothed_ce")
    params = jaxnn.init(jax.random.key(0), model)
    jaxnn.save(tmp_path / "ckpt.npz", model, params)
    x = np.random.default_rng(0).random((3, 8, 8, 1), np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import sys, numpy as np, jaxnn
        from jaxnn.training.checkpoint import CheckpointError
        try:
            jaxnn.load({str(tmp_path / "ckpt.npz")!r})
        except CheckpointError as e:
            print("refused:", e)
        sys.path.insert(0, {str(FIXTURES)!r})
        import own_losses                                       # registers them
        c = jaxnn.load({str(tmp_path / "ckpt.npz")!r})
        print("loss:", c.model.loss)
        out = jaxnn.forward(c.model, c.params, np.load({str(tmp_path / "x.npy")!r}))[0]
        np.save({str(tmp_path / "out.npy")!r}, out)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "unknown loss 'smoothed_ce'" in out.stdout
    assert "jaxnn.losses.register" in out.stdout and "loss: smoothed_ce" in out.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), jaxnn.forward(model, params, x)[0], rtol=1e-6)


def test_registering_and_naming_losses_fails_with_the_fix():
    def unregistered(a, y):
        return jnp.sum((a - y) ** 2, -1)

    with pytest.raises(ValueError, match=r"not registered: register it first, jaxnn.losses.register\("):
        L.Model([L.Dense(2)], (3,), unregistered)
    with pytest.raises(ValueError, match="'mse' is a built-in loss"):
        losses.register(unregistered, name="mse")
    with pytest.raises(TypeError, match="register takes a loss function"):
        losses.register("smoothed_ce")
    # the registered function itself names the loss; the model keeps the name
    assert L.Model([L.Dense(2)], (3,), focal).loss == "focal"
    with pytest.raises(ValueError, match="another loss is already registered as 'focal'"):
        losses.register(unregistered, name="focal")
    # the same function defined again (a notebook cell run twice) replaces its earlier self
    namespace = {}
    for _ in range(2):
        exec("import jaxnn\n@jaxnn.losses.register\ndef twice(a, y):\n    return (a - y).sum(-1)", namespace)
    assert losses.get("twice").per_example(None, jnp.ones((1, 2)), jnp.zeros((1, 2))).shape == (1,)
    # a loss that needs an output activation is checked when the model is built
    losses.register(lambda a, y: -jnp.sum(y * jnp.log(a), -1), name="needs_softmax", output="softmax",
                    labels=True)
    with pytest.raises(ValueError, match="needs the last layer to apply 'softmax'"):
        L.Model([L.Dense(2)], (3,), "needs_softmax")


def test_per_example_grads_refuse_a_loss_over_the_batch():
    model = L.Model([L.Dense(3)], (2,), "soft_f1")
    params = jaxnn.init(jax.random.key(0), model)
    with pytest.raises(ValueError, match="loss over the batch"):
        jaxnn.per_example_grads(model, params, jnp.ones((4, 2)), jnp.zeros(4, int))


def test_a_checkpoint_whose_loss_is_unknown_is_refused_in_one_line(tmp_path):
    model = L.Model([L.Dense(3)], (2,), "focal")
    jaxnn.save(tmp_path / "c.npz", model, jaxnn.init(jax.random.key(0), model))
    saved = losses.LOSSES.pop("focal"), losses._REGISTERED.pop("focal")
    try:
        with pytest.raises(CheckpointError, match="cannot be loaded: unknown loss 'focal'.*register"):
            jaxnn.load(tmp_path / "c.npz")
    finally:
        losses.LOSSES["focal"], losses._REGISTERED["focal"] = saved
