"""The hand-derived backward pass equals jax.value_and_grad, for every sensible combination."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import make_batch, make_params

import jaxnn
from jaxnn import activations
from jaxnn.gradient_check import rel_error

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu(0.2)", "identity", "softplus",
          "elu", "elu(0.5)", "gelu", "gelu_tanh", "softmax"]
# (output, loss) pairings that make sense: any output with the squared-error costs,
# the cross-entropies only with their own output.
ELEMENTWISE_OUT = [h for h in HIDDEN if h != "leaky_relu(0.2)"]
# quadratic/sel/mse differ only in ∇ₐC's scale: every output with quadratic, the other two with the
# elementwise and the Jacobian (softmax) path.
PAIRINGS = [(o, "quadratic") for o in ELEMENTWISE_OUT]
PAIRINGS += list(itertools.product(["sigmoid", "softmax"], ["sel", "mse"]))
PAIRINGS += [("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy"), ("identity", "hinge")]


# Eager on purpose: the matrix shares shapes, so op-by-op caching beats one compile per case.
hand = jaxnn.value_and_grad
autodiff = jax.value_and_grad(jaxnn.loss, argnums=1)


def assert_same(net, params, x, y, tol):
    v_hand, g_hand = hand(net, params, x, y)
    v_auto, g_auto = autodiff(net, params, x, y)
    assert rel_error(v_hand, v_auto) <= tol
    errors = jax.tree.leaves(jax.tree.map(rel_error, g_hand, g_auto))
    assert max(errors) <= tol, errors
    assert jax.tree.structure(g_hand) == jax.tree.structure(params)
    return max(errors)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(("output", "loss"), PAIRINGS, ids=[f"{o}-{c}" for o, c in PAIRINGS])
def test_every_activation_and_loss_float64(hidden, output, loss):
    net = jaxnn.Network([5, 6, 4, 3], hidden=hidden, output=output, loss=loss)
    x, y = make_batch(net, 7)
    assert_same(net, make_params(net), x, y, tol=1e-10)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("m", [1, 7, 256])
@pytest.mark.parametrize(("hidden", "output", "loss"), [
    ("sigmoid", "sigmoid", "quadratic"),
    ("relu", "softmax", "cross_entropy"),
    ("tanh", "sigmoid", "binary_cross_entropy"),
    ("leaky_relu", "identity", "mse"),
])
def test_every_depth_and_batch_size(depth, m, hidden, output, loss):
    sizes = [6, 9, 5, 8, 3][: depth + 1]
    net = jaxnn.Network(sizes, hidden=hidden, output=output, loss=loss)
    x, y = make_batch(net, m, seed=depth * 100 + m)
    assert_same(net, make_params(net, seed=m), x, y, tol=1e-10)


@pytest.mark.parametrize(("output", "loss"), PAIRINGS[::2])
def test_float32_within_1e_5(output, loss):
    net = jaxnn.Network([8, 16, 6], hidden="tanh", output=output, loss=loss)
    x, y = make_batch(net, 33, dtype=jnp.float32)
    params = make_params(net, dtype=jnp.float32)
    assert assert_same(net, params, x, y, tol=1e-5) <= 1e-5
    _, grads = jaxnn.value_and_grad(net, params, x, y)
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


def test_cross_entropy_labels_equal_one_hot_and_soft_targets_are_exact():
    net = jaxnn.Network([4, 5, 3], hidden="relu", output="softmax", loss="cross_entropy")
    x, labels = make_batch(net, 9, labels=True)
    params = make_params(net)
    v1, g1 = jaxnn.value_and_grad(net, params, x, labels)
    v2, g2 = jaxnn.value_and_grad(net, params, x, jax.nn.one_hot(labels, 3, dtype=jnp.float64))
    np.testing.assert_allclose(v1, v2, rtol=1e-14)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-13), g1, g2)
    # targets that do not sum to 1: the fused delta uses a·Σy − y, still exact
    soft = jax.random.uniform(jax.random.key(3), (9, 3), jnp.float64)
    assert_same(net, params, x, soft, tol=1e-10)


@pytest.mark.parametrize(("output", "loss"), [("softmax", "cross_entropy"), ("identity", "hinge")])
def test_an_ignored_label_leaves_its_example_out(output, loss):
    """Labels ``IGNORE`` (-1): the cost, the hand gradient and jax.grad's are those of the batch
    without those examples; for a sequence, of the time steps that count."""
    net = jaxnn.Network([4, 5, 3], hidden="tanh", output=output, loss=loss)
    x, _ = make_batch(net, 9)
    labels, params = jax.random.randint(jax.random.key(2), (9,), 0, 3), make_params(net)
    ignored = labels.at[jnp.array([1, 4, 5])].set(jaxnn.losses.IGNORE)
    kept = np.asarray(ignored) != jaxnn.losses.IGNORE
    v, g = hand(net, params, x, ignored)
    v_kept, g_kept = hand(net, params, x[kept], labels[kept])
    np.testing.assert_allclose(v, v_kept, rtol=1e-13)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15), g, g_kept)
    assert_same(net, params, x, ignored, tol=1e-10)
    everything = jnp.full_like(labels, jaxnn.losses.IGNORE)          # nothing counts: 0, not NaN
    assert float(hand(net, params, x, everything)[0]) == 0.0
    assert jaxnn.accuracy(net, params, x, ignored) == jaxnn.accuracy(net, params, x[kept], labels[kept])
    seq = jaxnn.layers.Model([jaxnn.layers.Embedding(7, 4), jaxnn.layers.Dense(7, "softmax")], (5,))
    tokens = jax.random.randint(jax.random.key(0), (3, 5), 0, 7)
    padded = tokens.at[0, 3:].set(-1).at[2, 1:].set(-1)                   # sequences of 5, 2 and 1
    p_seq = jaxnn.init(jax.random.key(1), seq, dtype=jnp.float64)
    v = hand(seq, p_seq, tokens, padded)[0]
    assert_same(seq, p_seq, tokens, padded, tol=1e-10)
    logp = jax.nn.log_softmax(jaxnn.model.output(seq, p_seq, tokens)[0])   # from z^L
    keep = padded != -1                                             # the mean over the 8 that count
    want = -jnp.take_along_axis(logp, jnp.where(keep, padded, 0)[..., None], -1)[..., 0][keep].mean()
    np.testing.assert_allclose(v, want, rtol=1e-12)


def test_bfloat16_and_float16_run():
    net = jaxnn.Network([4, 5, 3], hidden="relu", output="softmax", loss="cross_entropy")
    for dtype in (jnp.bfloat16, jnp.float16):
        params = make_params(net, dtype=dtype)
        x, y = make_batch(net, 8, dtype=dtype)
        v, g = jax.jit(jaxnn.value_and_grad, static_argnums=0)(net, params, x, y)
        assert v.dtype == dtype and jnp.isfinite(v)
        assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(g))


@pytest.mark.usefixtures("optimized")
@pytest.mark.parametrize(("hidden", "output", "loss"), [("sigmoid", "sigmoid", "quadratic"),
                                                        ("relu", "softmax", "cross_entropy")])
def test_hand_equals_jax_grad_with_xla_optimizations_on(hidden, output, loss):
    """The suite compiles with XLA's optimizations off (tests/conftest.py); users run them on."""
    net = jaxnn.Network([5, 6, 4, 3], hidden=hidden, output=output, loss=loss)
    x, y = make_batch(net, 7)
    hand_jit = jax.jit(jaxnn.value_and_grad, static_argnums=0)
    auto_jit = jax.jit(autodiff, static_argnums=0)
    (v1, g1), (v2, g2) = hand_jit(net, make_params(net), x, y), auto_jit(net, make_params(net), x, y)
    assert rel_error(v1, v2) <= 1e-12
    assert max(jax.tree.leaves(jax.tree.map(rel_error, g1, g2))) <= 1e-10


def test_jit_equals_eager():
    net = jaxnn.Network([5, 7, 4], hidden="sigmoid", output="sigmoid", loss="quadratic")
    x, y = make_batch(net, 11)
    params = make_params(net)
    eager = jaxnn.value_and_grad(net, params, x, y)
    jitted = jax.jit(jaxnn.value_and_grad, static_argnums=0)(net, params, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-17),
                 eager, jitted)


def test_vmap_over_a_stack_of_batches():
    net = jaxnn.Network([3, 4, 2], hidden="tanh", output="softmax", loss="cross_entropy")
    params = make_params(net)
    x, y = make_batch(net, 12)
    xs, ys = x.reshape(3, 4, 3), y.reshape(3, 4, 2)
    values, grads = jax.vmap(jaxnn.value_and_grad, in_axes=(None, None, 0, 0))(net, params, xs, ys)
    for i in range(3):
        v, g = jaxnn.value_and_grad(net, params, xs[i], ys[i])
        np.testing.assert_allclose(values[i], v, rtol=1e-14)
        jax.tree.map(lambda a, b, i=i: np.testing.assert_allclose(a[i], b, rtol=1e-12), grads, g)


def test_breaking_one_equation_is_caught(monkeypatch):
    """Drop σ' from BP2 (a classic bug): the comparison with jax.grad must fail."""
    net = jaxnn.Network([4, 6, 3], hidden="sigmoid", output="sigmoid", loss="quadratic")
    x, y = make_batch(net, 5)
    params = make_params(net)
    monkeypatch.setattr(activations.Activation, "backward", lambda self, z, a, g: g)
    with pytest.raises(AssertionError):
        assert_same(net, params, x, y, tol=1e-10)


def test_gradients_are_finite_for_saturated_outputs():
    """Cross-entropies are computed from z, so |z| = 1000 gives finite loss and gradients."""
    for output, loss in [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")]:
        net = jaxnn.Network([2, 2], output=output, loss=loss)
        params = [{"W": jnp.array([[1000.0, 0.0], [-1000.0, 0.0]]), "b": jnp.zeros(2)}]
        x = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
        y = jnp.array([[0.0, 1.0], [1.0, 0.0]])
        v, g = jaxnn.value_and_grad(net, params, x, y)
        assert jnp.isfinite(v) and v > 100
        assert all(jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(g))
        assert_same(net, params, x, y, tol=1e-10)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_gelu_derivative_from_its_output_at_zero_tiny_and_extreme_inputs(dtype):
    """GELU's backward reads Φ(z) = a/z off the forward: exact at z = 0, right for tiny and
    saturated z (where a underflows), as jax.grad of the erf form."""
    z = jnp.array([0.0, 1e-30, -1e-30, 1e-6, -3.0, 0.5, 4.0, -12.0, -40.0, 40.0], dtype)
    gelu = activations.get("gelu")
    want = jax.vmap(jax.grad(lambda t: jax.nn.gelu(t, approximate=False)))(z)
    got = gelu.backward(z, gelu.fn(z), jnp.ones_like(z))
    assert got[0] == 0.5
    np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == jnp.float64 else 1e-6, atol=1e-30)
