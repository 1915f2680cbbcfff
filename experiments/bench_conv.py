"""Benchmark: the CNN's training step with the hand-derived conv/pool backward vs ``jax.grad``.

Same model as ``cnn_mnist.py``, synthetic 28x28x1 images, batch 64; each variant runs one epoch of
``n`` examples per round (round-robin, so machine noise hits all alike), median over the rounds.
When ``torch`` is importable, the same CNN in PyTorch (GPU if there is one) is a further column.

    python experiments/bench_conv.py [--rounds 5] [--n 3200]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import optax
import torch_baseline
from cnn_mnist import MODEL

from jaxnn import layers as L
from jaxnn.train import default_loop, make_epoch


def _time_epoch(epoch, params, opt, x, y, r: int) -> float:
    t = time.perf_counter()
    jax.block_until_ready(epoch(params, opt.init(params), jax.random.key(r), x, y))
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n", type=int, default=3200)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    args = p.parse_args(argv)
    x = jax.random.uniform(jax.random.key(0), (args.n, 28, 28, 1), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (args.n,), 0, 10)
    opt = optax.adam(1e-3)
    params = L.init(jax.random.key(0), MODEL)
    loop = default_loop(MODEL)
    epochs = {b: make_epoch(MODEL, opt, batch_size=64, backward=b, loop=loop)
              for b in ("hand", "autodiff")}
    runs = {b: functools.partial(_time_epoch, ep, params, opt, x, y) for b, ep in epochs.items()}
    for run in runs.values():                                      # compile
        run(0)
    if torch_baseline.available() and not args.no_torch:
        torch_run = torch_baseline.cnn_epoch(x, y, batch_size=64)
        runs[torch_baseline.label()] = lambda r: torch_run()
    times = {b: [] for b in runs}
    for r in range(args.rounds):
        for b, run in runs.items():
            times[b].append(run(r))
    med = {b: statistics.median(v) for b, v in times.items()}
    steps = args.n // 64
    print(f"jax {jax.__version__} on {jax.default_backend()}, loop={loop}, {steps} steps of batch 64, "
          f"median of {args.rounds}")
    print(f"{'variant':<22} {'ms/step':>8} {'images/s':>9} {'vs jax.grad':>12}")
    for b, v in med.items():
        print(f"{b:<22} {1000 * v / steps:>8.2f} {args.n / v:>9,.0f} {v / med['autodiff']:>11.2f}x")
    return med


if __name__ == "__main__":
    main()
