"""Many networks at once: N Nielsen [784, 30, 10] networks (sigmoid, quadratic, SGD η = 3.0,
mini-batch 10) trained for one epoch as one population call (``jaxnn.fit_population``'s compiled
epoch, members vmapped inside every step) against N sequential epochs of one network (``jaxnn.fit``'s
compiled epoch, called N times). Both compiled and warmed up first; interleaved rounds, medians.

    python experiments/bench_population.py [--sizes 1,4,16,64] [--n 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np
from common import keep

import jaxnn
from jaxnn.cli.arguments import positive
from jaxnn.training import population
from jaxnn.training.epoch import make_epoch

NET = jaxnn.Network([784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
BATCH = 10


def measure(n_members: int, x, y, rounds: int) -> dict:
    keys = jax.random.split(jax.random.key(0), n_members)
    params = population.init(keys, NET, "normal")
    opt = jaxnn.sgd(3.0)
    single = make_epoch(NET, opt, batch_size=BATCH)
    pop = make_epoch(NET, opt, batch_size=BATCH, members=True)
    state = jax.vmap(opt.init)(params)
    members = [population.member(params, i) for i in range(n_members)]

    def run_single():
        return [single(p, opt.init(p), keys[i], x, y) for i, p in enumerate(members)]

    def run_population():
        return pop(params, state, keys, x, y)

    runs = {"sequential": run_single, "population": run_population}
    for run in runs.values():
        jax.block_until_ready(run())                           # compile and warm up
    times = {name: [] for name in runs}
    for _ in range(rounds):                                    # interleaved: same machine state
        for name, run in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(run())
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(v) for name, v in times.items()}
    return {"seconds": med, "members_epochs_per_s": {k: n_members / v for k, v in med.items()},
            "speedup": med["sequential"] / med["population"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--sizes", default="1,4,16,64", help="population sizes N")
    p.add_argument("--n", type=positive(int), default=5000, help="examples per epoch (random pixels)")
    p.add_argument("--rounds", type=positive(int), default=3)
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if min(sizes) < 1 or args.rounds < 1 or args.n < BATCH:
        p.error(f"--sizes and --rounds must be positive and --n at least the batch ({BATCH})")
    rng = np.random.default_rng(0)
    x, y = jax.device_put((rng.random((args.n, 784), np.float32),
                           np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.n)]))
    print(f"jax {jax.__version__}, {jax.default_backend()} ({jax.device_count()} device); "
          f"{args.n:,} examples, batch {BATCH}, median of {args.rounds}")
    print(f"{'N':>4} {'sequential s':>13} {'population s':>13} {'seq. members·epochs/s':>22} "
          f"{'pop. members·epochs/s':>22} {'speed-up':>9}")
    results = {}
    for n in sizes:
        r = results[n] = measure(n, x, y, args.rounds)
        s, rate = r["seconds"], r["members_epochs_per_s"]
        print(f"{n:>4} {s['sequential']:>13.3f} {s['population']:>13.3f} {rate['sequential']:>22.1f} "
              f"{rate['population']:>22.1f} {r['speedup']:>8.2f}x", flush=True)
    return results


if __name__ == "__main__":
    keep("bench_population", main())
