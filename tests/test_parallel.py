"""vmap (per-example gradients) and data parallelism across 1, 2, 4, 8 forced CPU devices."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import make_batch, make_params

import jaxnn
from jaxnn import data
from jaxnn.training import parallel

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
import nielsen_network as nielsen  # noqa: E402  (the NumPy reference of experiments/)

NET = jaxnn.Network([6, 10, 4], hidden="tanh", output="softmax", loss="cross_entropy")


@pytest.mark.forced_cpu_devices
def test_forced_devices_are_there():
    assert jax.local_device_count() == 8, "tests/conftest.py forces 8 host devices"


def test_per_example_grads_equal_a_python_loop_and_average_to_the_batch_gradient():
    x, y = make_batch(NET, 9, labels=True)
    params = make_params(NET)
    per = jaxnn.per_example_grads(NET, params, x, y)
    assert per[0]["W"].shape == (9, 10, 6) and per[1]["b"].shape == (9, 4)
    for i in range(9):
        _, g = jaxnn.value_and_grad(NET, params, x[i:i + 1], y[i:i + 1])
        jax.tree.map(lambda a, b, i=i: np.testing.assert_allclose(a[i], b, rtol=1e-13), per, g)
    _, batch = jaxnn.value_and_grad(NET, params, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a.mean(0), b, rtol=1e-12, atol=1e-16),
                 per, batch)
    losses = parallel.per_example_losses(NET, params, x, y)
    np.testing.assert_allclose(losses.mean(), jaxnn.loss(NET, params, x, y), rtol=1e-14)
    norms = parallel.grad_norms(per)
    want = [np.sqrt(sum(float(jnp.sum(leaf[i] ** 2)) for leaf in jax.tree.leaves(per)))
            for i in range(9)]
    np.testing.assert_allclose(norms, want, rtol=1e-12)


def test_per_example_slices_equal_nielsens_backprop():
    net = jaxnn.Network([5, 7, 3])            # sigmoid + quadratic, as network.py
    x, y = make_batch(net, 4)
    params = make_params(net, scheme="normal")
    per = jaxnn.per_example_grads(net, params, x, y)
    np_params = jax.tree.map(np.asarray, params)
    for i in range(4):
        ref = nielsen.backprop(np_params, np.asarray(x[i]), np.asarray(y[i]))
        jax.tree.map(lambda a, b, i=i: np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-15),
                     per, ref)


def _single_step(optimizer, params, x, y):
    step = parallel.train_step(NET, optimizer)
    return step(params, optimizer.init(params), x, y)


@pytest.mark.forced_cpu_devices
@pytest.mark.parametrize("n_devices", [1, 2, 4, 8])
def test_data_parallel_step_equals_single_device(n_devices):
    x, y = make_batch(NET, 16, labels=True, seed=n_devices)
    params = make_params(NET)
    opt = optax.adam(1e-2)
    want_params, _, want_loss = _single_step(opt, params, x, y)

    mesh = parallel.data_mesh(n_devices)
    p_rep, s_rep = parallel.replicate((params, opt.init(params)), mesh)
    xs, ys = parallel.shard_batch(x, mesh), parallel.shard_batch(y, mesh)
    assert len(xs.sharding.device_set) == n_devices
    got_params, _, got_loss = parallel.train_step(NET, opt)(p_rep, s_rep, xs, ys)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-13)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14),
                 got_params, want_params)

    for backward in ("hand", "autodiff"):   # the explicit shard_map variant: value, not just shape
        step = parallel.shard_map_step(NET, opt, mesh, backward=backward)
        got_params, _, got_loss = step(params, opt.init(params), x, y)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-13)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14),
                     got_params, want_params)


@pytest.mark.forced_cpu_devices
def test_shard_map_gradient_is_not_multiplied_by_the_device_count():
    """One SGD step moves the parameters by exactly η·(mean gradient), on 8 devices."""
    x, y = make_batch(NET, 16, labels=True)
    params = make_params(NET)
    _, grads = jaxnn.value_and_grad(NET, params, x, y)
    step = parallel.shard_map_step(NET, jaxnn.sgd(1.0), parallel.data_mesh(8))
    new, _, _ = step(params, optax.EmptyState(), x, y)
    jax.tree.map(lambda p, n, g: np.testing.assert_allclose(p - n, g, rtol=1e-11, atol=1e-15),
                 params, new, grads)


@pytest.mark.forced_cpu_devices
@pytest.mark.parametrize("n_devices", [2, 4, 8])
def test_fit_on_several_devices_matches_one_device(n_devices):
    tr = data.load("digits", "train")
    x, y = tr.x[:320].astype(np.float64), tr.y[:320]
    net = jaxnn.Network([64, 16, 10], hidden="relu", output="softmax", loss="cross_entropy")
    p0 = jaxnn.init(jax.random.key(0), net, "he", dtype=jnp.float64)
    kw = dict(optimizer=optax.adam(1e-2), epochs=3, batch_size=32, key=jax.random.key(1),
              progress=False)
    one, h1 = jaxnn.fit(net, p0, (x, y), **kw)
    many, hn = jaxnn.fit(net, p0, (x, y), devices=n_devices, **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), one, many)
    np.testing.assert_allclose(h1["train_loss"], hn["train_loss"], rtol=1e-10)


@pytest.mark.forced_cpu_devices
def test_uneven_batches_get_a_clear_error():
    mesh = parallel.data_mesh(4)
    x, y = make_batch(NET, 10, labels=True)
    with pytest.raises(ValueError, match="10 examples cannot be split evenly across 4 devices"):
        parallel.shard_batch(x, mesh)
    with pytest.raises(ValueError, match="10 examples cannot be split evenly across 4 devices"):
        parallel.shard_map_step(NET, jaxnn.sgd(0.1), mesh)(make_params(NET), optax.EmptyState(), x, y)
    tr = data.load("digits", "train")
    with pytest.raises(ValueError, match="batch_size 30 is not divisible by the 4 devices"):
        jaxnn.fit(jaxnn.Network([64, 10], output="softmax", loss="cross_entropy"),
                  jaxnn.init(jax.random.key(0), jaxnn.Network([64, 10])), (tr.x, tr.y),
                  optimizer=jaxnn.sgd(0.1), epochs=1, batch_size=30, key=jax.random.key(0),
                  devices=4)
    with pytest.raises(ValueError, match="asked for 9 devices but 8 are available"):
        parallel.data_mesh(9)


@pytest.mark.forced_cpu_devices
def test_process_local_batching_on_one_host():
    assert parallel.process_slice(64) == slice(0, 64)              # one process: everything
    assert parallel.process_slice(64, process_index=2, process_count=4) == slice(32, 48)
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        parallel.process_slice(64, process_count=3)
    mesh = parallel.data_mesh(8)
    rows = np.arange(32.0).reshape(16, 2)
    g = parallel.global_batch(rows[parallel.process_slice(16)], mesh)
    assert g.shape == (16, 2) and len(g.sharding.device_set) == 8
    np.testing.assert_array_equal(g, rows)


def _run_multihost(extra, env_devices=None, process_id=None, port=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "XLA_FLAGS": os.environ["JAXNN_TEST_XLA_FLAGS"]}
    env["JAX_PLATFORMS"] = "cpu"             # gloo CPU collectives, also on a GPU machine
    if env_devices:
        env["XLA_FLAGS"] += f" --xla_force_host_platform_device_count={env_devices}"
    script = Path(__file__).parents[1] / "experiments" / "multihost_train.py"
    cmd = [sys.executable, str(script), "--epochs", "1", *extra]
    if process_id is not None:
        cmd += ["--distributed", "--coordinator", f"localhost:{port}", "--num-processes", "2",
                "--process-id", str(process_id)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_two_processes_train_like_one_process_with_two_devices():
    """A real multi-process run (JAX distributed runtime on localhost, CPU collectives over gloo):
    two processes with one device each reproduce one process with two devices."""
    import re
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    procs = [_run_multihost([], process_id=i, port=port) for i in range(2)]
    reference = _run_multihost([], env_devices=2)                 # meanwhile, one process
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    single = reference.communicate(timeout=300)[0]
    multi_line = re.search(r"epoch 1: loss ([\d.]+).*\(2 process\(es\), 2 devices", outs[0])
    single_line = re.search(r"epoch 1: loss ([\d.]+).*\(1 process\(es\), 2 devices", single)
    assert multi_line and single_line, (outs, single)
    assert float(multi_line.group(1)) == pytest.approx(float(single_line.group(1)), rel=1e-5)


def _sharded_fit(model, train, devices, shard, epochs=2, **kw):
    """SGD with momentum: Adam would magnify rounding noise in gradients that are exactly zero (the
    attention's key bias) into differences of its step size."""
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    return jaxnn.fit(model, params, train, optimizer=optax.sgd(0.1, momentum=0.9), epochs=epochs,
                     batch_size=8, key=jax.random.key(1), devices=devices, shard_params=shard,
                     progress=False, **kw)


@pytest.mark.forced_cpu_devices
def test_sharded_parameters_train_as_replicated_ones_and_as_one_device(tmp_path):
    """shard_params=True (FSDP-style): the same parameters as replicated on 4 devices and as 1
    device (float64, ≤ 1e-10), for the MLP and the GPT; each W lies split over the devices."""
    rng = np.random.default_rng(0)
    mlp = jaxnn.models.mlp(12, (16, 8), 4)
    gpt = jaxnn.models.gpt(vocab=5, context=8, dim=8, heads=2, depth=1)
    cases = [(mlp, (rng.normal(size=(64, 12)), rng.integers(0, 4, 64)), {}),
             (gpt, np.tile(np.arange(5, dtype=np.int32), 40), {"sampling": "windows"})]
    for model, train, kw in cases:
        one, _ = _sharded_fit(model, train, None, False, **kw)
        replicated, _ = _sharded_fit(model, train, 4, False, **kw)
        sharded, _ = _sharded_fit(model, train, 4, True, **kw)
        for other in (replicated, sharded):
            assert max(jaxnn.gradient_check.rel_error(a, b) for a, b in zip(
                jax.tree.leaves(other), jax.tree.leaves(one))) <= 1e-10
    assert sharded[-1]["W"].sharding.spec == jax.sharding.PartitionSpec(None, "data")   # (5, 8): 8 splits
    w = _sharded_fit(mlp, cases[0][1], 4, True)[0][0]["W"]                             # (16, 12)
    assert tuple(w.sharding.spec) == ("data", None)


@pytest.mark.forced_cpu_devices
def test_sharded_parameters_keep_a_quarter_of_the_memory_and_checkpoints_move_between_device_counts(
        tmp_path):
    model, opt = jaxnn.models.mlp(784, (256, 128), 10), optax.adam(1e-3)
    mesh = parallel.data_mesh(4)
    params = jaxnn.init(jax.random.key(0), model)
    x, y = np.zeros((4, 784), np.float32), np.zeros(4, np.int32)

    def argument_bytes(shard):
        state = parallel.place_state((params, opt.init(params)), mesh, shard)
        step = jaxnn.epoch.make_step(model, opt, batch_sharding=parallel.batch_sharding(mesh),
                                     state_sharding=jax.tree.map(lambda a: a.sharding, state))
        xb, yb = parallel.shard_batch(x, mesh), parallel.shard_batch(y, mesh)
        return jax.jit(step).lower(*state, xb, yb).compile().memory_analysis().argument_size_in_bytes

    ratio = argument_bytes(True) / argument_bytes(False)
    assert 0.2 <= ratio <= 0.3, ratio                    # ≈ 1/4 per device (the batch is tiny)
    # a sharded run's checkpoint resumes on one device, and a one-device run's on four, sharded
    rng = np.random.default_rng(0)
    train = (rng.normal(size=(64, 12)), rng.integers(0, 4, 64))
    small = jaxnn.models.mlp(12, (16, 8), 4)
    whole, _ = _sharded_fit(small, train, None, False, epochs=3)
    _sharded_fit(small, train, 4, True, epochs=2, checkpoint=tmp_path / "a.npz")
    on_one, _ = _sharded_fit(small, train, None, False, epochs=3, checkpoint=tmp_path / "a.npz", resume=True)
    _sharded_fit(small, train, None, False, epochs=2, checkpoint=tmp_path / "b.npz")
    on_four, _ = _sharded_fit(small, train, 4, True, epochs=3, checkpoint=tmp_path / "b.npz", resume=True)
    for got in (on_one, on_four):
        assert max(jaxnn.gradient_check.rel_error(a, b) for a, b in zip(
            jax.tree.leaves(got), jax.tree.leaves(whole))) <= 1e-10


@pytest.mark.forced_cpu_devices
def test_a_users_own_sharding_is_kept():
    mesh = parallel.data_mesh(4)
    model = jaxnn.models.mlp(12, (16, 8), 4)
    params = jaxnn.init(jax.random.key(0), model, dtype=jnp.float64)
    mine = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data", None))
    params[0]["W"] = jax.device_put(params[0]["W"], mine)               # (16, 12): rows split
    rng = np.random.default_rng(0)
    trained, _ = jaxnn.fit(model, params, (rng.normal(size=(64, 12)), rng.integers(0, 4, 64)),
                           optimizer=optax.adam(1e-2), epochs=1, batch_size=8, key=jax.random.key(1),
                           devices=4, progress=False)
    assert trained[0]["W"].sharding.spec == mine.spec
    assert trained[1]["W"].sharding.is_fully_replicated


@pytest.mark.forced_cpu_devices
def test_jaxnn_train_shards_the_parameters_when_asked(tmp_path, capsys):
    from jaxnn import cli

    flags = ["train", "--dataset", "digits", "--layers", "16", "--epochs", "1", "--quiet", "--no-plot",
             "--optimizer", "sgd", "--lr", "0.1"]
    assert cli.main([*flags, "--devices", "4", "--out", str(tmp_path / "r")]) == 0
    assert cli.main([*flags, "--devices", "4", "--shard-params", "--out", str(tmp_path / "s")]) == 0
    a, b = (jaxnn.load(tmp_path / name).params for name in "rs")
    errors = [jaxnn.gradient_check.rel_error(u, v) for u, v in zip(jax.tree.leaves(b), jax.tree.leaves(a))]
    assert max(errors) < 1e-5
    assert cli.main([*flags, "--shard-params", "--out", str(tmp_path / "t")]) == 2
    assert "pass devices (--devices N) too" in capsys.readouterr().err
