"""jaxnn.custom_vjp: every layer and every model as a JAX function whose VJP is the hand backward —
jax.grad through it equals jax.grad through the plain forward (float64, ≤ 1e-10), the jaxpr holds the
custom VJP, and jit, vmap, jax.checkpoint, sharded inputs and shard_map work through it."""

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jaxnn
from jaxnn import layers as L
from jaxnn import models
from jaxnn.gradient_check import rel_error
from jaxnn.training import parallel

# (layer, per-example input shape, training): every layer of jaxnn.layers
LAYERS = {
    "Dense": (L.Dense(5, "tanh"), (4,), False),
    "Dense-no-bias": (L.Dense(3, "gelu", bias=False), (2, 4), False),
    "Activation": (L.Activation("softmax"), (6,), False),
    "Flatten": (L.Flatten(), (3, 2), False),
    "Dropout": (L.Dropout(0.3), (7,), True),
    "Conv2D": (L.Conv2D(3, 3, padding="same"), (5, 6, 2), False),
    "Conv2D-xla": (L.Conv2D(2, (3, 2), stride=2, algorithm="xla"), (7, 6, 1), False),
    "MaxPool2D": (L.MaxPool2D(2), (4, 6, 2), False),
    "AvgPool2D": (L.AvgPool2D(3, 1), (5, 5, 1), False),
    "BatchNorm-train": (L.BatchNorm(), (3, 4), True),
    "BatchNorm-eval": (L.BatchNorm(), (3, 4), False),
    "GroupNorm": (L.GroupNorm(2), (3, 3, 4), False),
    "SimpleRNN": (L.SimpleRNN(4, return_sequences=True), (5, 3), False),
    "LSTM": (L.LSTM(4), (6, 3), False),
    "Embedding": (L.Embedding(9, 4, context=6), (5,), False),
    "LayerNorm": (L.LayerNorm(), (3, 5), False),
    "SelfAttention": (L.SelfAttention(2, causal=True), (6, 4), False),
    "Sequential": (L.Sequential([L.Dense(5, "relu"), L.Dropout(0.2), L.Dense(3, "sigmoid")]), (4,), True),
    "Residual": (L.Residual(L.Sequential([L.LayerNorm(), L.Dense(4, "elu")])), (3, 4), False),
    "Remat": (L.Remat(L.Sequential([L.Dense(6, "tanh"), L.Dropout(0.5), L.Dense(4)])), (4,), True),
}

MODELS = {
    "nielsen": models.nielsen(hidden=4),
    "mlp": models.mlp(6, (5, 4), 3),
    "small_cnn": models.small_cnn((8, 8, 1), 3, padding="same"),
    "small_cnn-batchnorm": models.small_cnn((8, 8, 1), 3, padding="same", norm="batch"),
    "row_rnn": models.row_rnn("rnn", 4, side=5, n_classes=3),
    "row_lstm": models.row_rnn("lstm", 4, side=5, n_classes=3),
    "char_lstm": models.char_lstm(7, 5, dim=4, units=6, dropout=0.2),
    "gpt": models.gpt(7, 6, dim=8, heads=2, depth=1, dropout=0.1, remat=True),
}


def inputs(in_shape, integer, m=3, seed=0):
    rng = np.random.default_rng(seed)
    if integer:
        return jnp.asarray(rng.integers(0, 7, (m, *in_shape)), jnp.int32)
    return jnp.asarray(rng.normal(size=(m, *in_shape)))


def grads_both_ways(f, plain, params, x, key, out_shape):
    """``jax.grad`` of ``Σ c ⊙ y`` for a random ``c``, through the factory and through the plain
    forward, with respect to the params (and a float input), in one compiled program."""
    c = jnp.asarray(np.random.default_rng(1).normal(size=out_shape))
    argnums = (0,) if not jnp.issubdtype(x.dtype, jnp.floating) else (0, 1)

    def grad(g, params, x, key):
        return jax.grad(lambda p, x: jnp.sum(c * g(p, x, key)), argnums)(params, x)

    @jax.jit
    def both(params, x, key):
        return grad(f, params, x, key), grad(plain, params, x, key)

    return both(params, x, key)


def assert_equal_and_custom(layer, training, plain, params, x, key, out_shape, name):
    """The factory's ``y`` (the state a training BatchNorm returns beside it dropped) against
    ``plain(p, x, key)``: equal gradients, and the custom VJP in the jaxpr."""
    made = jaxnn.custom_vjp(layer, training=training)

    def f(p, x, key):
        out = made(p, x, key) if training else made(p, x)
        return out[0] if isinstance(out, tuple) else out

    hand, auto = grads_both_ways(f, plain, params, x, key, out_shape)
    errors = [rel_error(a, b) for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True)]
    assert errors and max(errors) <= 1e-10, errors
    jaxpr = str(jax.make_jaxpr(lambda p: f(p, x, key))(params))
    assert "custom_vjp_call" in jaxpr and f"name={name}_hand_vjp" in jaxpr


@pytest.mark.parametrize("case", LAYERS)
def test_every_layer_through_custom_vjp_equals_jax_grad_of_its_forward(case):
    layer, in_shape, training = LAYERS[case]
    params, out_shape = layer.init(jax.random.key(0), in_shape, jnp.float64)
    if "state" in params:                                 # running statistics that matter
        params["state"] = {"mean": jnp.full(in_shape[-1], 0.3), "var": jnp.full(in_shape[-1], 2.0)}
    x = inputs(in_shape, getattr(layer, "integer_input", False))
    key = jax.random.key(7) if training else None

    def plain(p, x, key):
        return jaxnn.layers.base.forward(layer, p, x, key)[0]

    assert_equal_and_custom(layer, training, plain, params, x, key, (3, *out_shape), type(layer).__name__)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("training", [False, True])
def test_every_model_through_custom_vjp_equals_jax_grad_of_its_forward(name, training):
    model = MODELS[name]
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x = inputs(model.input_shape, getattr(model.layers[0], "integer_input", False), m=2)
    key = jax.random.key(3) if training else None

    def plain(p, x, key):
        return jaxnn.forward(model, p, x, key)[0]

    assert_equal_and_custom(model, training, plain, params, x, key, (2, *model.output_shape), "Sequential")


def test_batchnorm_in_training_returns_the_new_state_and_refuses_no_key():
    model = MODELS["small_cnn-batchnorm"]
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x, key = inputs(model.input_shape, False, m=4), jax.random.key(2)
    y, state = jaxnn.custom_vjp(model, training=True)(params, x, key)
    _, cache = jaxnn.forward(model, params, x, key)
    want = jaxnn.model.new_state(model, params, cache)
    jax.tree.map(np.testing.assert_array_equal, state, want)
    merged = jaxnn.model.merge_state(jaxnn.model.split_state(params)[0], state)
    assert jax.tree.structure(merged) == jax.tree.structure(params)
    # evaluation: the running statistics, deterministic, no state returned
    out = jaxnn.custom_vjp(model)(params, x)
    np.testing.assert_array_equal(out, jaxnn.forward(model, params, x)[0])
    with pytest.raises(ValueError, match="pass a PRNG key, or make it with training=False"):
        jaxnn.custom_vjp(model, training=True)(params, x, None)


@dataclasses.dataclass(frozen=True)
class Doubled:
    """A user's layer whose backward is deliberately twice the truth."""

    def init(self, key, in_shape, dtype=jnp.float32):
        return {"w": jnp.ones(in_shape[-1], dtype)}, in_shape

    def forward(self, params, x):
        return params["w"] * x, x

    def backward(self, params, x, g):
        return {"w": 2 * jnp.sum(g * x, axis=0)}, 2 * g * params["w"]


def test_jax_grad_really_runs_the_hand_backward_a_users_layer_included():
    layer, x = Doubled(), jnp.arange(6.0).reshape(2, 3)
    params, _ = layer.init(None, (3,))
    f = jaxnn.custom_vjp(layer)
    hand = jax.grad(lambda p: jnp.sum(f(p, x)))(params)["w"]
    auto = jax.grad(lambda p: jnp.sum(layer.forward(p, x)[0]))(params)["w"]
    np.testing.assert_allclose(hand, 2 * auto)
    with pytest.raises(TypeError, match="custom_vjp takes a layer"):
        jaxnn.custom_vjp(lambda p, x: x)


def _gpt_case():
    model = models.gpt(7, 6, dim=8, heads=2, depth=1)
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    return model, params, inputs(model.input_shape, True, m=4)


def test_value_and_grad_vjp_vmap_checkpoint_and_integer_inputs():
    model, params, tokens = _gpt_case()
    f = jaxnn.custom_vjp(model)
    labels = (tokens + 1) % 7

    def loss(p, x, y):        # a user's own loss on the probabilities
        return -jnp.mean(jnp.log(jnp.take_along_axis(f(p, x), y[..., None], axis=-1)))

    value, grads = jax.jit(jax.value_and_grad(loss))(params, tokens, labels)
    want_value, want = jaxnn.value_and_grad(model, params, tokens, labels)
    assert abs(float(value - want_value)) < 1e-12
    assert max(rel_error(a, b) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want))) < 1e-10
    # jax.checkpoint around the user's function, jax.vjp, and float0 for the tokens
    again = jax.grad(jax.checkpoint(loss))(params, tokens, labels)
    assert max(rel_error(a, b) for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(want))) < 1e-10
    out, vjp = jax.vjp(f, params, tokens)
    g_params, g_tokens = vjp(jnp.ones_like(out))
    assert g_tokens.dtype == jax.dtypes.float0 and g_tokens.shape == tokens.shape
    # vmap over examples: per-example gradients, as jaxnn.per_example_grads
    per = jax.vmap(jax.grad(lambda p, x, y: loss(p, x[None], y[None])), (None, 0, 0))(params, tokens, labels)
    ref = jaxnn.per_example_grads(model, params, tokens, labels)
    assert max(rel_error(a, b) for a, b in zip(jax.tree.leaves(per), jax.tree.leaves(ref))) < 1e-10


def test_forward_mode_fails_with_one_sentence_saying_why():
    model, params, tokens = _gpt_case()
    f = jaxnn.custom_vjp(model)
    with pytest.raises(TypeError, match=r"can't apply forward-mode autodiff \(jvp\) to a custom_vjp"):
        jax.jvp(lambda p: f(p, tokens), (params,), (params,))


@pytest.mark.forced_cpu_devices
def test_sharded_inputs_and_shard_map_through_custom_vjp():
    model = MODELS["mlp"]
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x, y = inputs(model.input_shape, False, m=8), jnp.arange(8) % 3
    f = jaxnn.custom_vjp(model)
    mesh = parallel.data_mesh(4)

    def loss(p, x, y):                    # a user's sum of per-example costs
        return -jnp.sum(jnp.log(jnp.take_along_axis(f(p, x), y[:, None], axis=-1)))

    want = jax.grad(loss)(params, x, y)
    xs, ys = (jax.device_put(a, NamedSharding(mesh, P("data"))) for a in (x, y))
    sharded = jax.jit(jax.grad(loss))(parallel.replicate(params, mesh), xs, ys)
    mapped = jax.jit(jax.grad(lambda p, x, y: jax.shard_map(
        lambda p, x, y: jax.lax.psum(loss(p, x, y), "data"), mesh=mesh,
        in_specs=(P(), P("data"), P("data")), out_specs=P())(p, x, y)))(params, x, y)
    for got in (sharded, mapped):
        assert max(rel_error(a, b) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want))) < 1e-10


def test_self_attention_keeps_the_hand_backwards_memory_not_autodiffs():
    """The issue's case, T = 1,024: jax.grad through the factory keeps what layer.backward keeps."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import bench_vjp

    mib = bench_vjp.attention_memory()
    autodiff, factory, direct = mib.values()
    assert factory <= 0.3 * autodiff and factory <= 1.2 * direct, mib


# ------------------------------------------------------------------------- per_example_grads
def test_per_example_grads_take_a_key_and_refuse_what_is_not_defined():
    model = MODELS["char_lstm"]                                  # has Dropout
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x = inputs(model.input_shape, True, m=3)
    y = (x + 1) % 7
    with pytest.raises(ValueError, match="pass key= .* or training=False"):
        jaxnn.per_example_grads(model, params, x, y)
    key = jax.random.key(4)
    per = jaxnn.per_example_grads(model, params, x, y, key)
    for i, k in enumerate(jax.random.split(key, 3)):
        one = jaxnn.value_and_grad(model, params, x[i:i + 1], y[i:i + 1], k)[1]
        assert max(rel_error(a[i], b) for a, b in zip(jax.tree.leaves(per), jax.tree.leaves(one))) < 1e-12
    off = jaxnn.per_example_grads(model, params, x, y, training=False)
    assert max(rel_error(a.mean(0), b) for a, b in zip(
        jax.tree.leaves(off), jax.tree.leaves(jaxnn.value_and_grad(model, params, x, y)[1]))) < 1e-10
    bn = MODELS["small_cnn-batchnorm"]
    p_bn = jaxnn.init(jax.random.key(0), bn, dtype=jnp.float64)
    with pytest.raises(ValueError, match="BatchNorm in training .* training=False"):
        jaxnn.per_example_grads(bn, p_bn, inputs(bn.input_shape, False), jnp.zeros(3, int), key)
