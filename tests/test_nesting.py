"""Models nest: a Sequential is a layer, a Residual wraps any block, and every tool — init,
forward, the hand-derived backward, gradcheck, check_layer, per-example gradients, the parallel
steps, fit and checkpoints — takes the nested model as it takes a flat one."""

import ast
import dataclasses
import inspect
import re
from pathlib import Path
from typing import get_args

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import layers as L
from jaxnn.gradient_check import rel_error
from jaxnn.training import parallel

BLOCK = L.Sequential([L.Dense(6, "relu"), L.Dense(4, "tanh")])          # 4 -> 4
NESTED = L.Model([L.Dense(4, "tanh"),
                  L.Residual(BLOCK),                                     # x + f(x)
                  L.Sequential([L.Residual(L.Dense(4, "gelu")),          # a Sequential inside
                                L.Sequential([L.Dense(5, "sigmoid"),     # a Sequential inside
                                              L.Dense(3, "softmax")])])],
                 (3,), "cross_entropy")
CNN_BLOCKS = L.Model([L.Sequential([L.Conv2D(3, 3, padding="same"), L.Activation("relu")]),
                      L.Residual(L.Sequential([L.Conv2D(3, 3, padding="same"), L.Activation("tanh")])),
                      L.MaxPool2D(2), L.Flatten(), L.Sequential([L.Dense(4), L.Activation("softmax")])],
                     (6, 6, 1), "cross_entropy")
REGRESSION = L.Model([L.Sequential([L.Dense(5, "elu")]), L.Residual(L.Dense(5, "leaky_relu(0.2)")),
                      L.Dense(2)], (3,), "mse")


def _batch(model, m=7, seed=0):
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (m, *model.input_shape), jnp.float64)
    n_out = model.output_shape[-1]
    if model.loss == "cross_entropy":
        return x, jax.random.randint(ky, (m,), 0, n_out)
    return x, jax.random.normal(ky, (m, n_out), jnp.float64)


@pytest.mark.parametrize("model", [NESTED, CNN_BLOCKS, REGRESSION], ids=["mlp", "cnn", "mse"])
def test_nested_models_hand_equals_jax_grad_float64(model):
    params = jaxnn.init(jax.random.key(1), model, dtype=jnp.float64)
    x, y = _batch(model)
    both = jax.jit(lambda p: (jaxnn.value_and_grad(model, p, x, y),
                              jax.value_and_grad(jaxnn.loss, argnums=1)(model, p, x, y)))
    (v, g), (v_ad, g_ad) = both(params)
    assert rel_error(v, v_ad) <= 1e-12
    assert jax.tree.structure(g) == jax.tree.structure(params)
    assert max(jax.tree.leaves(jax.tree.map(rel_error, g, g_ad))) <= 1e-10


def test_gradcheck_names_nested_parameters_by_path():
    rows = jaxnn.gradcheck(NESTED, jaxnn.init(jax.random.key(1), NESTED, dtype=jnp.float64),
                           *_batch(NESTED))
    assert [(r.layer, r.name) for r in rows][:4] == [(1, "W"), (1, "b"), (2, "0/W"), (2, "0/b")]
    assert (3, "1/1/W") in [(r.layer, r.name) for r in rows]
    assert max(r.vs_autodiff for r in rows) < 1e-10
    assert max(r.vs_finite_diff for r in rows if not np.isnan(r.vs_finite_diff)) < 1e-6


@pytest.mark.parametrize(("block", "shape"), [
    (BLOCK, (4,)), (L.Residual(BLOCK), (4,)), (NESTED.layers[2], (4,)),
    (L.Residual(L.Sequential([L.Conv2D(2, 3, padding="same"), L.Activation("relu")])), (5, 5, 2)),
])
def test_check_layer_on_a_whole_block(block, shape):
    rows = jaxnn.check_layer(block, shape)
    assert rows[0].name == "x"
    assert max(r.vs_autodiff for r in rows) < 1e-10
    assert max(r.vs_finite_diff for r in rows if not np.isnan(r.vs_finite_diff)) < 1e-6


def test_check_layer_catches_a_wrong_residual_backward():
    @dataclasses.dataclass(frozen=True)
    class NoSkip(L.Residual):        # forgets the identity's gradient: ∂C/∂x = f.backward(g) only
        def backward(self, params, cache, g):
            return self.layer.backward(params, cache, g)

    rows = jaxnn.check_layer(NoSkip(BLOCK), (4,))
    assert rows[0].vs_autodiff > 0.1 and max(r.vs_autodiff for r in rows[1:]) < 1e-10


def test_forward_runs_any_model_and_caches_are_named():
    out, cache = jaxnn.forward(CNN_BLOCKS, jaxnn.init(jax.random.key(0), CNN_BLOCKS),
                               jnp.ones((2, 6, 6, 1)))
    assert out.shape == (2, 4)
    assert len(cache.layers) == 5 and cache.out is out
    dense = cache.layers[4].layers[0]                     # the last block's Dense
    assert isinstance(dense, L.DenseCache) and dense.z.shape == (2, 4)


def test_one_init_same_numbers_for_the_same_model():
    net = jaxnn.Network([3, 5, 2], hidden="relu", output="softmax", loss="cross_entropy")
    model = L.Model(net.layers, (3,), "cross_entropy")
    key = jax.random.key(3)
    for scheme in (None, "normal", "glorot"):
        jax.tree.map(np.testing.assert_array_equal, jaxnn.init(key, net, scheme),
                     jaxnn.init(key, model, scheme))
    by_layer = L.Sequential(net.layers).init(key, (3,))[0]     # each layer's own init (He)
    jax.tree.map(np.testing.assert_array_equal, jaxnn.init(key, net), by_layer)
    w = np.asarray(jaxnn.init(key, jaxnn.Network([400, 300, 10]))[0]["W"])
    assert np.std(w) == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    p = jaxnn.init(key, NESTED, "normal")                  # a named scheme reaches nested layers
    assert np.std(np.asarray(p[1][0]["W"])) == pytest.approx(1.0, rel=0.5)
    assert np.any(np.asarray(p[2][1][1]["b"]))             # N(0, 1) biases, not zeros


def test_per_example_grads_of_a_nested_model():
    p, (x, y) = jaxnn.init(jax.random.key(1), NESTED, dtype=jnp.float64), _batch(NESTED, 4)
    per = jaxnn.per_example_grads(NESTED, p, x, y)
    _, full = jaxnn.value_and_grad(NESTED, p, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a.mean(0), b, rtol=1e-10, atol=1e-13),
                 per, full)


@pytest.mark.forced_cpu_devices
def test_parallel_steps_on_a_nested_model():
    opt = jaxnn.sgd(0.1)
    p, (x, y) = jaxnn.init(jax.random.key(1), NESTED, dtype=jnp.float64), _batch(NESTED, 8)
    want, _, _ = parallel.train_step(NESTED, opt)(p, opt.init(p), x, y)
    mesh = parallel.data_mesh(4)
    p_rep, s_rep = parallel.replicate((p, opt.init(p)), mesh)
    got, _, _ = parallel.shard_map_step(NESTED, opt, mesh)(p_rep, s_rep, parallel.shard_batch(x, mesh),
                                                          parallel.shard_batch(y, mesh))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13), got, want)


def test_a_nested_model_trains_and_round_trips_a_checkpoint(tmp_path):
    model = L.Model([L.Dense(16, "tanh"), L.Residual(L.Sequential([L.Dense(16, "relu"), L.Dense(16)])),
                     L.Sequential([L.Dense(2), L.Activation("softmax")])], (2,), "cross_entropy")
    x, labels = jaxnn.data.two_moons(200)
    path = tmp_path / "nested.npz"
    params, hist = jaxnn.fit(model, jaxnn.init(jax.random.key(0), model), (x, labels),
                             optimizer=optax.adam(0.02), epochs=30, batch_size=20,
                             key=jax.random.key(1), eval_data=(x, labels), checkpoint=path,
                             progress=False)
    assert hist["eval_accuracy"][-1] >= 0.97
    c = jaxnn.load(path)
    assert c.model == model and c.meta["epoch"] == 30
    assert {k for k in np.load(path).files if k.startswith("params/")} >= {"params/1/0/W", "params/2/0/b"}
    np.testing.assert_array_equal(jaxnn.predict(c.model, c.params, x), jaxnn.predict(model, params, x))


def test_remat_recomputes_its_block_and_gives_the_same_gradients_state_and_tools():
    """Remat keeps only a block's input and recomputes the block in the backward: the same cost,
    gradients and BatchNorm state as the plain model (the same dropout masks from the same key),
    equal to jax.grad; check_layer looks inside; the model round-trips as a spec."""
    def model(wrap):
        return L.Model([L.Dense(8, "tanh"), wrap(L.Sequential([L.Dense(8), L.BatchNorm(),
                        L.Activation("relu"), L.Dropout(0.3)])), L.Dense(3, "softmax")],
                       (4,), "cross_entropy")

    remat, plain = model(L.Remat), model(lambda block: block)
    p, (x, y) = jaxnn.init(jax.random.key(1), plain, dtype=jnp.float64), _batch(plain, 16)
    key = jax.random.key(2)
    got, want, (_, g_ad), state = jax.jit(lambda p: (   # one compiled program (eager: one per op)
        jaxnn.value_and_grad(remat, p, x, y, key), jaxnn.value_and_grad(plain, p, x, y, key),
        jax.value_and_grad(jaxnn.loss, argnums=1)(remat, p, x, y, key),
        [jaxnn.backprop.value_grad_and_state(m, p, x, y, key)[2] for m in (remat, plain)]))(p)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14), got, want)
    # (an absolute floor: the bias before BatchNorm gets a gradient of 0 up to rounding)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14), got[1], g_ad)
    jax.tree.map(np.testing.assert_array_equal, *state)
    assert len(jax.tree.leaves(state[0])) == 2                  # BatchNorm's running mean and var
    rows = jaxnn.check_layer(L.Remat(L.Residual(BLOCK)), (4,))
    assert max(r.vs_autodiff for r in rows) < 1e-10
    assert L.Model.from_dict(remat.to_dict()) == remat


def test_a_callback_that_answers_stop_ends_training_after_that_epoch():
    net = jaxnn.Network([2, 4, 2], hidden="tanh", output="softmax", loss="cross_entropy")
    x, labels = jaxnn.data.two_moons(40)
    seen = []

    def stop_at_2(epoch):
        seen.append((epoch.metrics["epoch"], len(epoch.history["epoch"]), epoch.params is not None))
        return "stop" if epoch.metrics["epoch"] == 2 else None

    _, hist = jaxnn.fit(net, jaxnn.init(jax.random.key(0), net), (x, labels), optimizer=jaxnn.sgd(0.1),
                        epochs=5, batch_size=10, key=jax.random.key(0), callbacks=[stop_at_2],
                        progress=False)
    assert hist["epoch"] == [1, 2] and seen == [(1, 1, True), (2, 2, True)]


@pytest.mark.parametrize(("make", "match"), [
    (lambda: L.Residual(L.Dense(3)).init(jax.random.key(0), (4,)), r"keep the shape.*\(4,\) to \(3,\)"),
    (lambda: L.Model([L.Residual(L.Flatten())], (2, 2), "mse"), "keep the shape"),
    (lambda: L.Sequential([]), "at least one layer"),
    (lambda: L.Sequential([L.Dense(2), "relu"]), "layer 1 .* is not a layer"),
    (lambda: L.Remat("relu"), "Remat wraps a layer .* got 'relu'"),
    (lambda: L.Residual([L.Dense(2)]), r"Residual wraps a layer .* got \[Dense"),
    (lambda: L.Model([L.Sequential([L.Dense(3)])], (2,), "cross_entropy"), r"Activation\('softmax'\)"),
])
def test_bad_blocks_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_training_choices_are_defined_once():
    from jaxnn import cli
    from jaxnn.training import epoch

    actions = {a.dest: a for a in cli.build_parser()._subparsers._group_actions[0].choices["train"]
               ._actions}
    assert tuple(actions["sampling"].choices) == get_args(epoch.Sampling)
    assert tuple(actions["backward"].choices) == get_args(epoch.Backward)
    with pytest.raises(ValueError, match="loop must be one of 'auto', 'scan', 'python'"):
        epoch.make_epoch(NESTED, jaxnn.sgd(0.1), batch_size=2, loop="fast")


@pytest.mark.parametrize(("package", "allowed"), [
    ("layers", ("jaxnn.layers", "jaxnn.activations", "jaxnn.losses", "jaxnn.initializers")),
    ("data", ("jaxnn.data", "jaxnn.activations", "jaxnn.losses")),      # data sits below the layers
])
def test_imports_only_go_down_from_the_layers(package, allowed):
    """No module in jaxnn/layers imports the backward sweep, the trainer or anything above them;
    no module in jaxnn/data imports a layer, a model or the trainer."""
    for path in (Path(jaxnn.__file__).parent / package).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "jaxnn":
                modules = [f"jaxnn.{a.name}" for a in node.names]     # from jaxnn import losses
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert not module.startswith("jaxnn") or module.startswith(allowed), (path.name, module)


def _units_imported(path: Path) -> set[str]:
    """The package's modules (``train``) and sub-packages (``layers/``) that ``path`` imports, at
    the top or inside a function; ``jaxnn`` for the package itself."""
    package, found = Path(jaxnn.__file__).parent, set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "jaxnn":
            modules = [f"jaxnn.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        for parts in (m.split(".") for m in modules if m.split(".")[0] == "jaxnn"):
            found.add("jaxnn" if len(parts) == 1 else parts[1] + "/" if (package / parts[1]).is_dir()
                      else parts[1])
    return found


def test_the_layout_table_lists_the_modules_in_import_order():
    """Every module of the package is in one row of the docs' "How the code is laid out", and
    imports only what that row and the rows above it hold."""
    readme = (Path(jaxnn.__file__).parents[1] / "docs" / "layers.md").read_text()
    section = readme.split("## How the code is laid out")[1].split("**The layer contract**")[0]
    rows = [re.findall(r"`([\w/]+)`", line.split("|")[1]) for line in section.splitlines()
            if line.startswith("| `")]
    row_of = {name: i for i, names in enumerate(rows) for name in names}
    package = Path(jaxnn.__file__).parent
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        unit = rel.parts[0] + "/" if len(rel.parts) > 1 else "jaxnn" if rel.stem == "__init__" else rel.stem
        assert unit in row_of, f"{unit} is missing from the layout table of docs/layers.md"
        for imported in _units_imported(path) - {unit}:
            assert row_of[imported] <= row_of[unit], f"{rel} imports {imported}, listed below it"


def test_dropout_backward_reuses_the_forward_mask_and_evaluation_is_deterministic():
    rows = jaxnn.check_layer(L.Dropout(0.4), (6,), batch=50)          # in training, one fixed key
    assert max(r.vs_autodiff for r in rows) < 1e-12 and rows[0].vs_finite_diff < 1e-8
    layer, x = L.Dropout(0.4), jnp.ones((200, 50))
    y, mask = layer.forward({}, x, key=jax.random.key(0))
    assert set(np.unique(np.asarray(y))) == {0.0, 1 / 0.6} and abs(float(y.mean()) - 1) < 0.05
    np.testing.assert_array_equal(layer.backward({}, mask, 2 * x)[1], 2 * y)
    np.testing.assert_array_equal(layer.forward({}, x)[0], x)           # evaluation: identity
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        L.Dropout(1.0)


def test_a_model_with_dropout_equals_jax_grad_with_the_same_key_and_trains():
    model = L.Model([L.Dense(16, "tanh"), L.Dropout(0.3), L.Residual(L.Sequential([L.Dense(16, "relu"),
                     L.Dropout(0.2)])), L.Dense(2, "softmax")], (2,), "cross_entropy")
    p = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    x, labels = jaxnn.data.two_moons(64)
    x = jnp.asarray(x, jnp.float64)
    key = jax.random.key(5)
    (v, g), (v_ad, g_ad) = jax.jit(lambda p: (   # one compiled program (eager: one per op)
        jaxnn.value_and_grad(model, p, x, labels, key),
        jax.value_and_grad(jaxnn.loss, argnums=1)(model, p, x, labels, key)))(p)
    assert rel_error(v, v_ad) <= 1e-12 and max(jax.tree.leaves(jax.tree.map(rel_error, g, g_ad))) <= 1e-10
    assert float(v) != float(jaxnn.loss(model, p, x, labels))          # training ≠ evaluation
    params, hist = jaxnn.fit(model, jaxnn.init(jax.random.key(0), model), (x, labels),
                             optimizer=optax.adam(0.02), epochs=20, batch_size=16,
                             key=jax.random.key(1), eval_data=(x, labels), progress=False)
    assert hist["train_loss"][-1] < 0.6 * hist["train_loss"][0] and hist["eval_accuracy"][-1] > 0.9
    assert jaxnn.evaluate(model, params, x, labels) == jaxnn.evaluate(model, params, x, labels)
    step = parallel.train_step(model, jaxnn.sgd(0.1))
    with pytest.raises(ValueError, match="Dropout\\): pass a key"):
        step(params, jaxnn.sgd(0.1).init(params), x, labels)


def test_old_module_paths_still_import_and_warn_with_the_new_one():
    import importlib
    import sys

    for old, new in jaxnn.MOVED.items():
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=f"{old} is now {new}"):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)
    assert L.Model is jaxnn.Model is jaxnn.model.Model                 # where layer users found it
    assert jaxnn.parallel is jaxnn.training.parallel and jaxnn.optim.sgd is jaxnn.sgd


def test_every_built_in_layer_is_registered_where_it_is_defined():
    """No list to keep in step: each class carries its own @register, so the registry holds every
    layer class that jaxnn.layers exports."""
    from jaxnn.layers import base

    exported = {name for name in L.__all__ if name != "Model" and dataclasses.is_dataclass(getattr(L, name))}
    assert exported == {n for n, c in base.REGISTRY.items() if c.__module__.startswith("jaxnn.")}
    for name in exported:
        source = Path(inspect.getsourcefile(getattr(L, name))).read_text()
        assert f"@base.register\n@dataclasses.dataclass(frozen=True)\nclass {name}" in source


def test_the_contract_names_every_hook_that_tools_read():
    """Every optional hook the package reads is in the Hooks protocol (and its docstring)."""
    from jaxnn.layers import base

    hooks = set(base.Hooks.__annotations__) | {n for n in vars(base.Hooks) if not n.startswith("_")}
    assert hooks == {"activation", "stochastic", "integer_input", "loop_preference", "pre_activation",
                     "backward_z", "new_state", "children"}
    read = set()
    for path in Path(jaxnn.__file__).parent.rglob("*.py"):
        read |= set(re.findall(r"(?:hasattr|getattr)\((?:layer|self\.layer|body|(?:model\.)?layers\[0\]),"
                               r" \"(\w+)\"", path.read_text()))
    assert {"stochastic", "pre_activation"} <= read <= hooks, read


def test_the_exercises_come_by_topic_in_the_course_order():
    from jaxnn import exercises
    from jaxnn.exercises import conv, makemore, mlp, norms, sequences

    topics = [mlp, conv, norms, sequences, makemore]
    names = [n for t in topics for n in t.EXERCISES]
    assert sorted(names) == sorted(exercises.COURSE) and len(set(names)) == len(names) == 23
    assert tuple(exercises.EXERCISES) == exercises.COURSE == exercises.NAMES
