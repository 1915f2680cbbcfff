"""Benchmark: the CNN's training step — hand-derived backward with each convolution algorithm, and
``jax.grad`` baselines — round-robin in one run, medians.

Same model as ``cnn_mnist.py``, synthetic 28x28x1 images, batch 64 (``--batch``), Adam; each variant runs one
epoch of ``n`` examples per round (round-robin, so machine noise hits all alike). Variants:

- ``hand matmul``: ``Conv2D(algorithm="matmul")`` (im2col + matrix products), hand backward;
- ``hand xla``: ``Conv2D(algorithm="xla")`` (``lax`` convolutions), hand backward;
- ``jax.grad lax.conv``: autodiff of the same model with ``lax.conv`` and pooling by reshape;
- ``jax.grad reduce_window``: the same with max-pooling by ``lax.reduce_window`` (Flax's way);
- PyTorch (CPU, or GPU if there is one) when ``torch`` is importable.

Each JAX variant runs its epoch as a compiled ``lax.scan`` (``scan``) and stepped from Python
(``python``); ``--loops`` picks which.

    python experiments/bench_conv.py [--rounds 5] [--n 3200] [--loops scan,python]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import optax
import torch_baseline
from cnn_mnist import MODEL
from common import keep
from jax import lax

from jaxnn import init
from jaxnn import layers as L
from jaxnn.cli.arguments import positive
from jaxnn.training.epoch import make_epoch


@dataclasses.dataclass(frozen=True)
class ReshapeMaxPool(L.MaxPool2D):
    """Max-pooling as a reshape to ``(m, H/p, p, W/p, p, C)`` and a max (only differentiated by
    ``jax.grad`` here): the fastest pooling for autodiff we know on CPU."""

    def forward(self, params, x):
        m, H, W, C = x.shape
        p = self.pool
        y = x[:, : H // p * p, : W // p * p].reshape(m, H // p, p, W // p, p, C).max(axis=(2, 4))
        return y, x


@dataclasses.dataclass(frozen=True)
class ReduceWindowMaxPool(L.MaxPool2D):
    """Max-pooling by ``lax.reduce_window``, as Flax's ``max_pool`` (only differentiated by
    ``jax.grad`` here)."""

    def forward(self, params, x):
        p = self.pool
        y = lax.reduce_window(x, -jnp.inf, lax.max, (1, p, p, 1), (1, p, p, 1), "VALID")
        return y, x


def with_layers(model: L.Model, **swap) -> L.Model:
    """``model`` with Conv2D's algorithm set (``algorithm=``) and/or MaxPool2D replaced (``pool=``)."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, L.Conv2D) and "algorithm" in swap:
            layer = dataclasses.replace(layer, algorithm=swap["algorithm"])
        if isinstance(layer, L.MaxPool2D) and "pool" in swap:
            layer = swap["pool"](layer.pool)
        layers.append(layer)
    return dataclasses.replace(model, layers=tuple(layers))


VARIANTS = {   # name: (model, backward)
    "hand matmul": (with_layers(MODEL, algorithm="matmul"), "hand"),
    "hand xla": (with_layers(MODEL, algorithm="xla"), "hand"),
    "jax.grad lax.conv": (with_layers(MODEL, algorithm="xla", pool=ReshapeMaxPool), "autodiff"),
    "jax.grad reduce_window": (with_layers(MODEL, algorithm="xla", pool=ReduceWindowMaxPool),
                               "autodiff"),
}


def _time_epoch(epoch, params, opt, x, y, r: int) -> float:
    t = time.perf_counter()
    jax.block_until_ready(epoch(params, opt.init(params), jax.random.key(r), x, y))
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=positive(int), default=5)
    p.add_argument("--n", type=positive(int), default=3200)
    p.add_argument("--loops", default="scan,python", help="comma-separated: scan, python")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated subset of: {', '.join(VARIANTS)}")
    p.add_argument("--batch", type=positive(int), default=64, help="mini-batch size")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    args = p.parse_args(argv)
    for flag, given, known in (("--variants", args.variants, VARIANTS), ("--loops", args.loops,
                                                                          ("scan", "python"))):
        if unknown := sorted(set(given.split(",")) - set(known)):
            p.error(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    x = jax.random.uniform(jax.random.key(0), (args.n, 28, 28, 1), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (args.n,), 0, 10)
    opt = optax.adam(1e-3)
    params = init(jax.random.key(0), MODEL)
    runs = {}
    for name in args.variants.split(","):
        model, backward = VARIANTS[name]
        for loop in args.loops.split(","):
            epoch = make_epoch(model, opt, batch_size=args.batch, backward=backward, loop=loop)
            runs[f"{name} ({loop})"] = functools.partial(_time_epoch, epoch, params, opt, x, y)
    for run in runs.values():                                      # compile
        run(0)
    if torch_baseline.available() and not args.no_torch:
        torch_run = torch_baseline.cnn_epoch(x, y, batch_size=args.batch)
        runs[torch_baseline.label()] = lambda r: torch_run()
    else:
        print("(no PyTorch column: torch is not importable)")
    times = {b: [] for b in runs}
    for r in range(args.rounds):
        for b, run in runs.items():
            times[b].append(run(r))
    med = {b: statistics.median(v) for b, v in times.items()}
    steps = args.n // args.batch
    base = min((b for b in med if b.startswith("jax.grad")), key=med.get, default=None)
    print(f"jax {jax.__version__} on {jax.default_backend()}, {steps} steps of batch {args.batch}, median of "
          f"{args.rounds} rounds; ratios vs the fastest jax.grad variant{f' ({base})' if base else ''}")
    print(f"{'variant':<32} {'ms/step':>8} {'images/s':>9} {'vs jax.grad':>12}")
    for b, v in med.items():
        ratio = f"{v / med[base]:>11.2f}x" if base else ""
        print(f"{b:<32} {1000 * v / steps:>8.2f} {args.n / v:>9,.0f} {ratio}")
    return {"n": args.n, "batch": args.batch, "seconds_per_epoch": med}


if __name__ == "__main__":
    keep("bench_conv", main())
