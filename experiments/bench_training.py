"""Benchmark: seconds per epoch of jaxnn's hand-derived backward against the alternatives.

Each variant is timed on the same synthetic MNIST-shaped data (60,000 x 784 float32, 10 learnable
classes) in the same process, round-robin (one epoch of each variant per round, so machine noise
hits them alike), and the median over the rounds is reported with ratios:

- ``hand (scan epoch)``: ``jaxnn.fit``'s compiled epoch (``lax.scan``) with the BP1-BP4 backward.
- ``jax.grad (scan epoch)``: the same epoch with ``jax.value_and_grad(jaxnn.loss)``.
- ``hand (jitted step, Python loop)``: one jitted step per mini-batch, called from Python.
- ``hand (scan epoch, fit devices=1)``: the scan epoch as ``fit(devices=1)`` builds it (batch
  sharding constraint on a one-device mesh), to show it costs nothing.
- ``PyTorch`` (config B, only when ``torch`` is importable): the same MLP, Adam, data on the device.
- ``Nielsen network.py (NumPy)``: the per-example loop of seed 002 (config A only; timed on a slice
  and scaled to 60,000 examples).

Config A = seed 002: [784, 30, 10], sigmoid, quadratic, SGD eta = 3.0, mini-batch 10.
Config B = seed 000: [784, 128, 64, 10], ReLU, softmax + cross-entropy, Adam 1e-3, batch 128.

Also times the full seed-002 run (30 epochs of A, compilation included) through ``jaxnn.fit``.

    python experiments/bench_training.py              # 5 rounds, about 2 minutes on 2 cores
                                                       # (kept in experiments/results/)
    python experiments/bench_training.py --hlo       # only compare the two epochs' compiled HLO
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import time

import jax
import jax.numpy as jnp
import nielsen_network as nielsen
import numpy as np
import optax
import torch_baseline
from common import keep

import jaxnn
from jaxnn.cli.arguments import positive
from jaxnn.training import parallel
from jaxnn.training.epoch import make_epoch

N, D, C = 60_000, 784, 10

CONFIGS = {
    "A": dict(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic",
              scheme="normal", optimizer=lambda: jaxnn.sgd(3.0), batch_size=10),
    "B": dict(sizes=[784, 128, 64, 10], hidden="relu", output="softmax", loss="cross_entropy",
              scheme="he", optimizer=lambda: optax.adam(1e-3), batch_size=128),
}


def synthetic(seed: int = 0):
    """60,000 x 784 inputs in [0, 1) and labels from a fixed random linear map (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.random((N, D), dtype=np.float32)
    labels = np.argmax((x - 0.5) @ rng.standard_normal((D, C)).astype(np.float32), axis=1)
    return x, labels.astype(np.int32)


def _block(tree):
    return jax.tree.map(lambda a: a.block_until_ready(), tree)


def setup(name: str):
    """``(net, optimizer, params)`` of config ``name``, parameters from key 0."""
    cfg = CONFIGS[name]
    net = jaxnn.Network(cfg["sizes"], hidden=cfg["hidden"], output=cfg["output"], loss=cfg["loss"])
    return net, cfg["optimizer"](), jaxnn.init(jax.random.key(0), net, cfg["scheme"])


def variants(name: str, x, labels):
    """``{label: run_one_epoch()}``; each call trains one epoch and returns its seconds."""
    cfg = CONFIGS[name]
    net, opt, params = setup(name)
    bs = cfg["batch_size"]
    y = labels if net.loss == "cross_entropy" else np.eye(C, dtype=np.float32)[labels]
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    out = {}

    def scan_epoch(backward, mesh=None):
        sharding = parallel.batch_sharding(mesh) if mesh is not None else None
        epoch = make_epoch(net, opt, batch_size=bs, backward=backward, batch_sharding=sharding)
        state = {"p": params, "s": opt.init(params), "e": 0}
        xe, ye = parallel.replicate((xd, yd), mesh) if mesh is not None else (xd, yd)

        def run():
            state["e"] += 1
            t = time.perf_counter()
            state["p"], state["s"], loss = _block(
                epoch(state["p"], state["s"], jax.random.key(state["e"]), xe, ye))
            return time.perf_counter() - t

        run()  # compile
        return run

    out["hand (scan epoch)"] = scan_epoch("hand")
    out["jax.grad (scan epoch)"] = scan_epoch("autodiff")

    step = parallel.train_step(net, opt)
    loop_state = {"p": params, "s": opt.init(params)}
    n_batches = N // bs
    # batches sliced up front, so the loop times only the step dispatches
    xb = list(xd[: n_batches * bs].reshape(n_batches, bs, D))
    yb = list(yd[: n_batches * bs].reshape(n_batches, bs, *yd.shape[1:]))

    def python_loop():
        t = time.perf_counter()
        p, s = loop_state["p"], loop_state["s"]
        for i in range(n_batches):
            p, s, _ = step(p, s, xb[i], yb[i])
        loop_state["p"], loop_state["s"] = _block((p, s))
        return time.perf_counter() - t

    _block(step(params, opt.init(params), xb[0], yb[0]))  # compile
    out["hand (jitted step, Python loop)"] = python_loop

    # fit(devices=1): the same scan epoch with the batch sharding constraint of a 1-device mesh
    out["hand (scan epoch, fit devices=1)"] = scan_epoch("hand", parallel.data_mesh(1))

    if name == "B" and torch_baseline.available():
        out[torch_baseline.label()] = torch_baseline.mlp_epoch(x, labels, cfg["sizes"], bs)

    if name == "A":
        np_params = jax.tree.map(np.asarray, params)
        slice_n = 3_000

        def numpy_nielsen():
            t = time.perf_counter()
            p = np_params
            for i in range(0, slice_n, bs):
                p = nielsen.update_mini_batch(p, x[i:i + bs], y[i:i + bs], 3.0)
            return (time.perf_counter() - t) * N / slice_n

        out["Nielsen network.py (NumPy, scaled)"] = numpy_nielsen
    return out


def hlo_ops(compiled_text: str) -> collections.Counter:
    """The optimized HLO's matrix products (shape and dimension numbers), copies, transposes and
    fusions (output shape and operand count), names dropped, as a multiset."""
    ops = collections.Counter()
    for line in compiled_text.splitlines():
        m = re.search(r"= (\S+) (dot|copy|transpose|fusion)\(([^)]*)\)(.*)", line)
        if m:
            shape, op, operands, rest = m.groups()
            dims = " ".join(re.findall(r"(?:lhs|rhs)_contracting_dims=\{[\d,]*\}|kind=\w+", rest))
            ops[f"{op} {shape} ({operands.count('%')} operands) {dims}"] += 1
    return ops


def compare_hlo(name: str) -> None:
    """Print what differs between the optimized HLO of the hand-derived and the jax.grad epoch."""
    cfg = CONFIGS[name]
    net, opt, params = setup(name)
    x = jnp.zeros((10 * cfg["batch_size"], D), jnp.float32)
    y = jnp.zeros(len(x), jnp.int32) if net.loss == "cross_entropy" else jnp.zeros((len(x), C))
    ops = {b: hlo_ops(jax.jit(make_epoch(net, opt, batch_size=cfg["batch_size"], backward=b))
                      .lower(params, opt.init(params), jax.random.key(0), x, y).compile().as_text())
           for b in ("hand", "autodiff")}
    print(f"config {name}: {sum(ops['hand'].values())} ops (hand), {sum(ops['autodiff'].values())} "
          f"(jax.grad); products: {sum(v for k, v in ops['hand'].items() if 'dot' in k)} vs "
          f"{sum(v for k, v in ops['autodiff'].items() if 'dot' in k)}")
    for label, a, b in (("only in hand", "hand", "autodiff"), ("only in jax.grad", "autodiff", "hand")):
        for op, count in sorted((ops[a] - ops[b]).items()):
            print(f"  {label}: {count} x {op}")


def full_seed002_run(x, labels) -> float:
    """Wall seconds of 30 epochs of config A through jaxnn.fit, compilation included."""
    cfg = CONFIGS["A"]
    net = jaxnn.Network(cfg["sizes"])
    params = jaxnn.init(jax.random.key(0), net, "normal")
    t = time.perf_counter()
    jaxnn.fit(net, params, (x, labels), optimizer=jaxnn.sgd(3.0), epochs=30, batch_size=10,
              key=jax.random.key(1), progress=False)
    return time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive(int), default=5, help="timed epochs per variant")
    parser.add_argument("--configs", default="AB", help="which configs, e.g. A or AB")
    parser.add_argument("--skip-full-run", action="store_true")
    parser.add_argument("--hlo", action="store_true",
                        help="only compare the compiled HLO of the hand and jax.grad epochs")
    args = parser.parse_args(argv)
    if args.hlo:
        for name in args.configs:
            compare_hlo(name)
        return None

    x, labels = synthetic()
    print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.local_device_count()} device), "
          f"{args.rounds} rounds, median s/epoch over {N:,} examples")
    results = {}
    for name in args.configs:
        runs = variants(name, x, labels)
        times = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, run in runs.items():
                times[k].append(run())
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["jax.grad (scan epoch)"]
        print(f"\nconfig {name}: {CONFIGS[name]['sizes']}, {CONFIGS[name]['hidden']}, "
              f"{CONFIGS[name]['loss']}, batch {CONFIGS[name]['batch_size']}")
        print(f"  {'variant':<36} {'s/epoch':>8} {'examples/s':>11} {'vs jax.grad':>12}")
        for k, v in med.items():
            print(f"  {k:<36} {v:>8.3f} {N / v:>11,.0f} {v / base:>11.2f}x")
        nielsen_key = "Nielsen network.py (NumPy, scaled)"
        if nielsen_key in med:
            print(f"  hand-derived epoch is {med[nielsen_key] / med['hand (scan epoch)']:.1f}x "
                  "faster than Nielsen's loop")
        results[name] = {"median_s_per_epoch": med, "all": times}
    if not args.skip_full_run:
        wall = full_seed002_run(x, labels)
        print(f"\nfull seed-002 run (30 epochs of A via jaxnn.fit, compile included): {wall:.1f} s")
        results["full_seed002_run_s"] = wall
    return results


if __name__ == "__main__":
    if (results := main()) is not None:                 # --hlo measures nothing
        keep("bench_training", results)
