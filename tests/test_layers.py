"""Every layer's hand-derived backward equals autodiff (float64, ≤ 1e-10), models too."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import layers as L
from jaxnn.gradient_check import backward_and_vjp, rel_error


def assert_backward_matches_vjp(layer, in_shape, m=3, seed=0, tol=1e-10, dtype=jnp.float64):
    """layer.backward(g) == jax.vjp(layer.forward)(g) for the params and the input."""
    kp, kx, kg = jax.random.split(jax.random.key(seed), 3)
    params, out_shape = layer.init(kp, in_shape, dtype)
    x = jax.random.normal(kx, (m, *in_shape), dtype)
    y_shape = jax.eval_shape(lambda p, x: layer.forward(p, x)[0], params, x).shape
    assert y_shape == (m, *out_shape)
    g = jax.random.normal(kg, y_shape, dtype)
    hand, want = backward_and_vjp(layer, params, x, g)     # one compiled program
    errors = [rel_error(a, b) for a, b in
              zip(jax.tree.leaves(hand), jax.tree.leaves(want), strict=True)]
    assert max(errors) <= tol, errors
    return hand


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel", [1, 3, (3, 2), 5])
@pytest.mark.parametrize(("size", "channels"), [((7, 9), (1, 2)), ((8, 8), (3, 4)), ((5, 6), (2, 1))])
def test_conv2d_backward_both_algorithms(stride, padding, kernel, size, channels):
    """im2col + matmul and XLA's convolutions: each backward == jax.vjp, and the two agree."""
    hand = [assert_backward_matches_vjp(L.Conv2D(channels[1], kernel, stride, padding, algorithm=a),
                                        (*size, channels[0])) for a in ("matmul", "xla")]
    for a, b in zip(jax.tree.leaves(hand[0]), jax.tree.leaves(hand[1]), strict=True):
        assert rel_error(a, b) <= 1e-12


@pytest.mark.parametrize("layer_cls", [L.MaxPool2D, L.AvgPool2D])
@pytest.mark.parametrize(("pool", "stride", "size"), [
    (2, None, (6, 6)), (2, None, (7, 5)), (3, None, (9, 10)),     # non-overlapping
    (3, 1, (7, 6)), (3, 2, (9, 8)), (2, 1, (5, 5)),                # overlapping
    (2, 3, (8, 7)), (1, 2, (5, 6)),                                # stride > pool: pixels skipped
])
def test_pool_backward(layer_cls, pool, stride, size):
    layer = layer_cls(pool, stride)
    step = stride or pool
    assert layer.init(None, (*size, 3))[1] == ((size[0] - pool) // step + 1,
                                                (size[1] - pool) // step + 1, 3)
    assert_backward_matches_vjp(layer, (*size, 3))


def test_overlapping_maxpool_ties_share_and_windows_add_up():
    layer = L.MaxPool2D(2, stride=1)
    x = jnp.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 3, 3, 1)
    y, cache = layer.forward({}, x)
    _, g_x = layer.backward({}, cache, jnp.ones_like(y))
    auto = jax.grad(lambda x: layer.forward({}, x)[0].sum())(x)
    np.testing.assert_allclose(g_x, auto)
    assert float(g_x.sum()) == pytest.approx(4.0)       # every window passes on its whole gradient


def test_maxpool_ties_share_the_gradient_equally():
    layer = L.MaxPool2D(2)
    x = jnp.array([[1.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 2, 1)          # three tied maxima
    y, cache = layer.forward({}, x)
    _, g_x = layer.backward({}, cache, jnp.ones_like(y) * 3.0)
    np.testing.assert_allclose(g_x[0, :, :, 0], [[1.0, 1.0], [0.0, 1.0]])
    auto = jax.grad(lambda x: layer.forward({}, x)[0].sum() * 3.0)(x)
    np.testing.assert_allclose(g_x, auto)


@pytest.mark.parametrize("T", [1, 2, 5, 17, 50])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_rnn_backward_through_time(T, return_sequences):
    assert_backward_matches_vjp(L.SimpleRNN(6, return_sequences), (T, 4), m=2, seed=T)


@pytest.mark.parametrize("T", [1, 2, 7, 50])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_backward_through_time(T, return_sequences):
    assert_backward_matches_vjp(L.LSTM(5, return_sequences), (T, 3), m=2, seed=T)


@pytest.mark.parametrize(("layer", "in_shape", "m"), [
    (L.Dense(5), (33, 7), 64),                     # δ narrower than the input: δ transposed
    (L.Dense(7), (33, 5), 64),                     # the input narrower: x transposed, then back
    (L.LSTM(6, return_sequences=True), (40, 3), 32),
    (L.SelfAttention(heads=2), (64, 8), 16)])
def test_weight_gradients_over_many_rows_in_float32(layer, in_shape, m):
    """≥ 1,024 rows in float32 take sum_over_rows' CPU path (a transposed copy, then the GEMM):
    the same gradients as jax.vjp up to float32 rounding."""
    assert_backward_matches_vjp(layer, in_shape, m=m, seed=1, tol=1e-4, dtype=jnp.float32)


def test_lstm_forget_gate_starts_open():
    params, _ = L.LSTM(4).init(jax.random.key(0), (3, 2))
    np.testing.assert_array_equal(params["b"], [0] * 4 + [1] * 4 + [0] * 8)


@pytest.mark.parametrize("layer", [L.Dense(5), L.Dense(5, "tanh", bias=False), L.Activation("tanh"),
                                   L.Activation("softmax"), L.Flatten()])
def test_dense_activation_flatten_backward(layer):
    assert_backward_matches_vjp(layer, (4, 3) if isinstance(layer, L.Flatten) else (7,))


MODELS = {
    "cnn": (L.Model([L.Conv2D(4, 3, padding="same"), L.Activation("relu"), L.MaxPool2D(2),
                     L.Conv2D(6, 3, stride=2), L.Activation("tanh"), L.AvgPool2D(1), L.Flatten(),
                     L.Dense(10), L.Activation("softmax")], (12, 12, 1)), (12, 12, 1)),
    "rnn many-to-one": (L.Model([L.SimpleRNN(8), L.Dense(3), L.Activation("softmax")], (9, 4)),
                        (9, 4)),
    "rnn many-to-many": (L.Model([L.SimpleRNN(8, True), L.Dense(2), L.Activation("sigmoid")],
                                 (6, 3), loss="binary_cross_entropy"), (6, 3)),
    "mlp mse": (L.Model([L.Dense(8), L.Activation("gelu"), L.Dense(3)], (5,), loss="mse"), (5,)),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_value_and_grad_equals_jax_grad(name):
    model, in_shape = MODELS[name]
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    kx, ky = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (5, *in_shape), jnp.float64)
    out, _ = jaxnn.forward(model, params, x)
    if model.loss == "cross_entropy":
        y = jax.random.randint(ky, out.shape[:-1], 0, out.shape[-1])
    else:
        y = jax.random.uniform(ky, out.shape, jnp.float64).round()
    both = jax.jit(lambda p, x, y: (jaxnn.value_and_grad(model, p, x, y),
                                    jax.value_and_grad(jaxnn.loss, argnums=1)(model, p, x, y)))
    (v, g), (v2, g2) = both(params, x, y)                 # one compiled program (eager: one per op)
    assert rel_error(v, v2) <= 1e-12
    errors = [rel_error(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g2), strict=True)]
    assert max(errors) <= 1e-10


def test_model_gradcheck_with_finite_differences():
    model, in_shape = MODELS["cnn"]
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (2, *in_shape), jnp.float64)
    y = jnp.array([1, 7])
    _, g = jax.jit(jaxnn.value_and_grad, static_argnums=0)(model, params, x, y)
    loss = jax.jit(jaxnn.loss, static_argnums=0)
    eps = 1e-6
    for i in (0, 3, 7):                          # one entry of each parameterised layer
        leaf = "k" if i < 7 else "W"
        idx = (0,) * params[i][leaf].ndim
        bump = lambda s, i=i, leaf=leaf, idx=idx: [  # noqa: E731
            {k: (v.at[idx].add(s) if k == leaf and j == i else v) for k, v in p.items()}
            for j, p in enumerate(params)]
        fd = (loss(model, bump(eps), x, y) - loss(model, bump(-eps), x, y)) / (2 * eps)
        assert float(fd) == pytest.approx(float(g[i][leaf][idx]), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: L.Model([L.Conv2D(2, 5), L.Flatten(), L.Dense(2)], (3, 3, 1), "mse"),
     r"layer 0 \(Conv2D.*kernel \(5, 5\) is larger than the padded input \(3, 3\)"),
    (lambda: L.Model([L.Conv2D(2, 3)], (28, 28), "mse"), "add a channel axis"),
    (lambda: L.Model([L.SimpleRNN(3)], (0, 4), "mse"), "T ≥ 1"),
    (lambda: L.Model([L.Dense(3)], (4,), "cross_entropy"), r"Activation\('softmax'\)"),
    (lambda: L.Model([L.MaxPool2D(4)], (3, 3, 1), "mse"), "at least 4 wide"),
    (lambda: L.Conv2D(2, 3, padding="full"), "padding must be"),
    (lambda: L.Dense(0), "positive int"),
])
def test_bad_models_name_the_layer_and_shapes(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_at_trace_time():
    model, in_shape = MODELS["cnn"]
    params = jaxnn.init(jax.random.key(0), model)
    with pytest.raises(ValueError, match=r"x has shape \(2, 12, 12, 3\), expected \(batch, 12, 12, 1\)"):
        jaxnn.forward(model, params, jnp.ones((2, 12, 12, 3)))
    with pytest.raises(ValueError, match="input has 3 channels, the kernel expects 1"):
        L.Conv2D(4, 3).forward(params[0], jnp.ones((2, 12, 12, 3)))
    rnn = L.SimpleRNN(3)
    p, _ = rnn.init(jax.random.key(0), (4, 2))
    with pytest.raises(ValueError, match="length 0"):
        rnn.forward(p, jnp.ones((2, 0, 2)))
    with pytest.raises(ValueError, match="rank 3"):
        rnn.forward(p, jnp.ones((2, 2)))


def _digits_cnn():
    return L.Model([L.Conv2D(8, 3, padding="same"), L.Activation("relu"), L.MaxPool2D(2),
                    L.Flatten(), L.Dense(32), L.Activation("relu"), L.Dense(10),
                    L.Activation("softmax")], (8, 8, 1))


def test_fit_trains_a_cnn_with_the_same_api(tmp_path):
    import optax

    from jaxnn import data

    tr, te = data.load("digits", "train"), data.load("digits", "test")   # flat (n, 64): reshaped
    model = _digits_cnn()
    params = jaxnn.init(jax.random.key(0), model)
    path = tmp_path / "cnn.npz"
    params, hist = jaxnn.fit(model, params, (tr.x, tr.y), optimizer=optax.adam(3e-3), epochs=5,
                             batch_size=32, key=jax.random.key(1), eval_data=(te.x, te.y),
                             checkpoint=path, progress=False)
    assert hist["eval_accuracy"][-1] >= 0.93
    c = jaxnn.load(path)                                  # the model is rebuilt from the file
    assert c.model == model
    assert jaxnn.evaluate(c.model, c.params, te.x, te.y)["accuracy"] == hist["eval_accuracy"][-1]


def _fit_digits_cnn_f64(n, **variant):
    """Two epochs of the digits CNN in float64 on the first ``n`` images; ``variant`` picks
    ``backward=`` or ``loop=``."""
    import optax

    from jaxnn import data

    tr = data.load("digits", "train")
    model = _digits_cnn()
    p0 = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    return jaxnn.fit(model, p0, (tr.x[:n].astype(np.float64), tr.y[:n]),
                     optimizer=optax.adam(1e-2), epochs=2, batch_size=16, key=jax.random.key(0),
                     progress=False, **variant)


def test_cnn_hand_and_autodiff_training_agree_float64():
    hand, _ = _fit_digits_cnn_f64(128, backward="hand")
    auto, _ = _fit_digits_cnn_f64(128, backward="autodiff")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), hand, auto)


def test_mismatched_model_params_are_named():


    model = _digits_cnn()
    params = jaxnn.init(jax.random.key(0), model)
    params[4] = {"W": params[4]["W"].T, "b": params[4]["b"]}
    with pytest.raises(ValueError, match=r"params\[4\]\['W'\] \(layer 5\) has shape .* for Dense\(units=32"):
        jaxnn.save("/tmp/never-written.npz", model, params)


def test_python_loop_and_scan_epochs_give_the_same_parameters():

    from jaxnn.training.epoch import default_loop

    assert default_loop(_digits_cnn()) == "scan"                  # im2col: no convolution left
    xla = L.Model((L.Conv2D(2, 3, algorithm="xla"), L.Flatten(), L.Dense(3, "softmax")), (5, 5, 1))
    assert default_loop(xla) == ("python" if jax.default_backend() == "cpu" else "scan")  # jax#12868
    assert default_loop(jaxnn.Network([2, 1])) == "scan"
    a, ha = _fit_digits_cnn_f64(96, loop="scan")
    b, hb = _fit_digits_cnn_f64(96, loop="python")
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14), a, b)
    np.testing.assert_allclose(ha["train_loss"], hb["train_loss"], rtol=1e-12)


def test_conv_takes_inputs_of_another_dtype():
    layer = L.Conv2D(2, 3)
    params, _ = layer.init(jax.random.key(0), (5, 5, 1), jnp.float32)
    for x in (jnp.ones((1, 5, 5, 1), jnp.float64), jnp.ones((1, 5, 5, 1), jnp.uint8)):
        y, _ = layer.forward(params, x)
        assert y.dtype == jnp.float32


def test_fit_trains_a_many_to_many_rnn_on_a_delayed_echo():
    """Each step outputs the input bit from two steps earlier: needs memory, labels (n, T)."""
    import optax



    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (1200, 10))
    y = np.concatenate([np.zeros((1200, 2), int), bits[:, :-2]], axis=1)
    x = bits[..., None].astype(np.float32)
    model = L.Model([L.SimpleRNN(16, return_sequences=True), L.Dense(2), L.Activation("softmax")],
                    (10, 1))
    params = jaxnn.init(jax.random.key(0), model)
    _, hist = jaxnn.fit(model, params, (x[:1000], y[:1000]), optimizer=optax.adam(1e-2),
                        epochs=15, batch_size=50, key=jax.random.key(1),
                        eval_data=(x[1000:], y[1000:]), progress=False)
    assert hist["eval_accuracy"][-1] >= 0.97               # per time step, on held-out sequences
    with pytest.raises(ValueError, match=r"labels have shape \(5, 9\), expected \(n, 10\)"):
        jaxnn.evaluate(model, params, x[:5], y[:5, :9])
