"""The transformer's layers — Embedding, LayerNorm, SelfAttention — each with its backward written
out and equal to jax.vjp in float64; a whole block and a whole GPT equal to jax.grad; character
data; compiled generation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import layers as L
from jaxnn.data import DataError
from jaxnn.data import text as T
from jaxnn.gradient_check import backward_and_vjp, rel_error
from jaxnn.layers import attention


def _vjp_errors(layer, x, seed=0):
    params, _ = layer.init(jax.random.key(seed), x.shape[1:], jnp.float64)
    y, _ = layer.forward(params, x)
    g = jax.random.normal(jax.random.key(seed + 1), y.shape, jnp.float64)
    hand, auto = backward_and_vjp(layer, params, x, g)
    return [rel_error(a, b) for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(auto))]


@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [True, False])
def test_self_attention_backward_equals_vjp(heads, causal):
    for length in (1, 64) if heads != 2 else (7,):
        x = jax.random.normal(jax.random.key(length), (2, length, 8), jnp.float64)
        assert max(_vjp_errors(L.SelfAttention(heads, causal), x)) <= 1e-10, length


@pytest.mark.parametrize(("causal", "length", "block"), [
    (True, 64, 16),    # 4 blocks, unrolled: causal blocks read only the keys they may see
    (False, 7, 3),     # a last block shorter than the others
    (True, 37, 5),     # 8 blocks in a lax.scan, padded to whole blocks
    (False, 37, 5),
])
def test_attention_by_blocks_equals_vjp_and_the_single_block(causal, length, block):
    x = jax.random.normal(jax.random.key(length), (2, length, 8), jnp.float64)
    layer, whole = L.SelfAttention(2, causal, block), L.SelfAttention(2, causal, block=length)
    assert max(_vjp_errors(layer, x)) <= 1e-10
    params, _ = layer.init(jax.random.key(0), x.shape[1:], jnp.float64)
    (y, cache), (y1, cache1) = layer.forward(params, x), whole.forward(params, x)
    np.testing.assert_allclose(y, y1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.probabilities(cache), whole.probabilities(cache1), atol=1e-14)
    with pytest.raises(ValueError, match="block must be a positive int"):
        L.SelfAttention(2, block=0)


@pytest.mark.parametrize(("examples", "most", "block", "chunks"), [
    (6, 3, 64, 2), (6, 2, 3, 3),   # the fewest chunks within the budget (with blocks inside)
    (5, 2, 64, 1),                 # 5 has no divisor up to UNROLLED but 1
    (12, 1, 64, 4),                # at most UNROLLED chunks, over budget
])
def test_attention_backward_by_chunks_of_examples_equals_vjp_and_the_whole_batch(
        monkeypatch, examples, most, block, chunks):
    x = jax.random.normal(jax.random.key(examples), (examples, 7, 8), jnp.float64)
    layer = L.SelfAttention(2, block=block)
    params, _ = layer.init(jax.random.key(0), x.shape[1:], jnp.float64)
    y, cache = layer.forward(params, x)
    g = jax.random.normal(jax.random.key(1), y.shape, jnp.float64)

    def products():
        return jax.jit(lambda c: layer.backward(params, c, g)).lower(cache).as_text().count("dot_general")

    whole, whole_products = layer.backward(params, cache, g), products()
    monkeypatch.setattr(attention, "SCORE_BYTES", most * 2 * min(block, 7) * 7 * 8)   # `most` examples
    assert products() - whole_products == (chunks - 1) * 5 * -(-7 // block)    # 5 products a block
    assert max(_vjp_errors(layer, x)) <= 1e-10
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14),
                 layer.backward(params, cache, g), whole)


@pytest.mark.forced_cpu_devices
def test_attention_chunks_keep_a_sharded_batch_sharded(monkeypatch):
    """The backward's chunk j holds examples j, j + n, …: every device works on its own rows."""
    monkeypatch.setattr(attention, "SCORE_BYTES", 4 * 2 * 7 * 7 * 4)          # 4 examples a chunk
    layer = L.SelfAttention(2)
    params, _ = layer.init(jax.random.key(0), (7, 8))
    mesh = jaxnn.parallel.data_mesh(2)
    x = jaxnn.parallel.shard_batch(np.ones((8, 7, 8), np.float32), mesh)

    def grads(params, x):
        _, cache = layer.forward(params, x)
        return layer.backward(params, cache, x)

    hlo = jax.jit(grads).lower(jaxnn.parallel.replicate(params, mesh), x).compile().as_text()
    assert "all-reduce" in hlo                                # the parameters' gradients, summed
    assert not any(move in hlo for move in ("all-gather", "all-to-all", "collective-permute"))


GRADIENTS = {"hand": jaxnn.backprop.value_grad_and_state, "autodiff": jaxnn.backprop.autodiff}


def test_attention_memory_grows_with_t_not_t_squared(optimized):
    """A long context: the hand step's temporaries stay far below jax.grad's, which keeps P."""
    model = jaxnn.models.gpt(vocab=11, context=512, dim=16, heads=2, depth=1)
    params = jaxnn.init(jax.random.key(0), model)
    x = jnp.zeros((2, 512), jnp.int32)
    memory = {b: jax.jit(GRADIENTS[b], static_argnums=0).lower(model, params, x, x)
              .compile().memory_analysis().temp_size_in_bytes for b in ("hand", "autodiff")}
    assert memory["hand"] <= 0.25 * memory["autodiff"], memory


def test_remat_keeps_less_than_half_of_jax_grads_memory_at_a_short_context(optimized):
    """At a short context the kept activations dominate, not ``P`` (the plain hand step keeps
    nearly as much as ``jax.grad`` there): recomputing each branch in the backward
    (``remat=True``) keeps only the blocks' inputs."""
    def temp(model, backward):
        params = jaxnn.init(jax.random.key(0), model)
        x = jnp.zeros((8, 64), jnp.int32)
        return jax.jit(GRADIENTS[backward], static_argnums=0).lower(
            model, params, x, x).compile().memory_analysis().temp_size_in_bytes

    shape = dict(vocab=11, context=64, dim=32, heads=2, depth=2)
    memory = {"remat": temp(jaxnn.models.gpt(**shape, remat=True), "hand"),
              "autodiff": temp(jaxnn.models.gpt(**shape), "autodiff")}
    assert memory["remat"] <= 0.5 * memory["autodiff"], memory


def test_causal_attention_does_not_look_ahead():
    layer = L.SelfAttention(2)
    params, _ = layer.init(jax.random.key(0), (6, 4))
    x = jax.random.normal(jax.random.key(1), (1, 6, 4))
    y, _ = layer.forward(params, x)
    y2, _ = layer.forward(params, x.at[0, 4:].set(9.0))      # change the future
    np.testing.assert_allclose(y[0, :4], y2[0, :4], rtol=1e-6)
    assert not np.allclose(y[0, 4:], y2[0, 4:])


def test_layer_norm_backward_equals_vjp_also_for_constant_rows():
    x = jax.random.normal(jax.random.key(0), (3, 5, 6), jnp.float64)
    x = x.at[0, 2].set(4.0).at[1].set(-1.0)                   # a constant row, a constant sequence
    assert max(_vjp_errors(L.LayerNorm(), x)) <= 1e-10
    params, _ = L.LayerNorm().init(jax.random.key(0), (5, 6), jnp.float64)
    y, _ = L.LayerNorm().forward(params, x)
    assert np.all(np.isfinite(y)) and np.allclose(y[0, 2], 0.0)
    np.testing.assert_allclose(y[2].mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y[2].var(-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("context", [None, 9])
def test_embedding_scatter_adds_repeated_tokens(context):
    tokens = jnp.array([[1, 1, 1, 0, 4], [4, 1, 2, 2, 2]])
    layer = L.Embedding(6, 3, context)
    rows = jaxnn.check_layer(layer, (5,), x=tokens)
    assert [r.name for r in rows] == (["E"] if context is None else ["E", "P"])
    assert max(r.vs_autodiff for r in rows) < 1e-12 and max(r.vs_finite_diff for r in rows) < 1e-6
    params, _ = layer.init(jax.random.key(0), (5,), jnp.float64)
    g = jnp.ones((2, 5, 3), jnp.float64)
    grads, _ = layer.backward(params, tokens, g)
    np.testing.assert_array_equal(grads["E"][:, 0], [1, 4, 3, 0, 2, 0])   # how often each appears


def test_check_layer_on_a_whole_transformer_block():
    block = L.Sequential([L.Residual(L.Sequential([L.LayerNorm(), L.SelfAttention(2)])),
                          L.Residual(L.Sequential([L.LayerNorm(), L.Dense(16, "gelu"), L.Dense(8)]))])
    rows = jaxnn.check_layer(block, (5, 8))
    assert max(r.vs_autodiff for r in rows) < 1e-10
    assert max(r.vs_finite_diff for r in rows) < 1e-6


@pytest.mark.parametrize(("dropout", "remat"), [(0.0, False), (0.1, False), (0.1, True)])
def test_the_whole_gpt_equals_jax_grad_float64(dropout, remat):
    """With ``remat``, each branch's backward recomputes its forward (the same dropout masks)."""
    model = jaxnn.models.gpt(vocab=13, context=10, dim=16, heads=4, depth=2, dropout=dropout,
                             remat=remat)
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x = jax.random.randint(jax.random.key(1), (3, 10), 0, 13)
    y = jax.random.randint(jax.random.key(2), (3, 10), 0, 13)
    key = jax.random.key(3) if dropout else None                      # training: the same masks
    both = jax.jit(lambda p: (jaxnn.value_and_grad(model, p, x, y, key),
                              jax.value_and_grad(jaxnn.loss, argnums=1)(model, p, x, y, key)))
    (v, g), (v_ad, g_ad) = both(params)
    assert rel_error(v, v_ad) <= 1e-12 and np.isfinite(float(v))
    assert max(jax.tree.leaves(jax.tree.map(rel_error, g, g_ad))) <= 1e-10


def test_text_vocabulary_split_and_windows():
    text, desc = T.load_text()
    assert len(text) > 400_000 and "pydoc_data" in desc
    vocab = T.Vocab.of("hello world")
    assert vocab.chars == " dehlorw" and vocab.decode(vocab.encode("low")) == "low"
    with pytest.raises(DataError, match="not in the vocabulary: 'z'"):
        vocab.encode("lazy"[2])
    tokens = np.arange(100, dtype=np.int32)
    train, val = T.split(tokens, 8)
    assert len(train) == 90 and val[0] == 90
    with pytest.raises(DataError, match="too short for context 64"):
        T.split(tokens, 64)
    x, y = jax.jit(T.random_windows, static_argnums=(2, 3))(jax.random.key(0), jnp.asarray(tokens), 5, 8)
    assert x.shape == y.shape == (5, 8)
    np.testing.assert_array_equal(y, x + 1)                     # the next token
    np.testing.assert_array_equal(x[:, 1:] - x[:, :-1], 1)      # contiguous windows


@pytest.mark.parametrize(("content", "match"), [(b"", "is empty"), (b"caf\xe9", "not UTF-8")])
def test_bad_text_files_are_named(tmp_path, content, match):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        T.load_text(path)
    with pytest.raises(DataError, match="does not exist"):
        T.load_text(tmp_path / "missing.txt")


def test_a_tiny_gpt_learns_and_generates_compiled(tmp_path):
    text = "abcdefgh" * 200
    vocab = T.Vocab.of(text)
    tokens = jnp.asarray(vocab.encode(text))
    model = jaxnn.models.gpt(len(vocab.chars), context=8, dim=16, heads=2, depth=1)
    params = jaxnn.init(jax.random.key(0), model)
    opt = optax.adam(1e-2)
    run = jaxnn.epoch.make_stream_steps(model, opt, batch_size=16, steps=30)
    params, state, first = run(params, opt.init(params), jax.random.key(1), tokens)
    params, state, last = run(params, state, jax.random.key(2), tokens)
    assert float(last) < 0.2 < float(first)
    out = jaxnn.generate(model, params, vocab.encode("abc"), 20, temperature=0.5, key=jax.random.key(3))
    assert vocab.decode(out) == "defghabcdefghabcdefg"          # a window slides past the context
    again = jaxnn.generate(model, params, vocab.encode("abc"), 20, temperature=0.5, key=jax.random.key(3))
    np.testing.assert_array_equal(out, again)
    jaxnn.save(tmp_path / "gpt.npz", model, params)
    c = jaxnn.load(tmp_path / "gpt.npz")
    assert c.model == model
    np.testing.assert_array_equal(jaxnn.generate(c.model, c.params, vocab.encode("abc"), 20,
                                                 temperature=0.5, key=jax.random.key(3)), out)
    with pytest.raises(ValueError, match="prompt is empty"):
        jaxnn.generate(model, params, [], 5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="temperature must be positive"):
        jaxnn.generate(model, params, [1], 5, temperature=0.0, key=jax.random.key(0))


@pytest.mark.parametrize(("make", "match"), [
    (lambda: L.Model([L.SelfAttention(3)], (4, 8), "mse"), "divisible by 3 heads"),
    (lambda: L.Model([L.Embedding(5, 4, context=3), L.Dense(5, "softmax")], (4,)), "T ≤ context"),
])
def test_bad_transformer_shapes_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()
