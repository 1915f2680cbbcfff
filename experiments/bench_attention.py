"""One training step of the GPT (AdamW): the hand-derived backward against ``jax.grad`` of the same
model, interleaved in one run (medians), and the compiled step's temporary memory
(``jax.jit(step).lower(...).compile().memory_analysis()``); ``remat``: the hand backward of the
same GPT built with ``remat=True`` (each block recomputed in the backward, only its input kept).
Sizes: ``small`` (depth 2, dim 64, context 64, batch 32), ``large`` (depth 4, dim 128, context 128,
batch 32), ``long`` (depth 2, dim 64, context 2,048, batch 8: where keeping ``(m, heads, T, T)``
would dominate).

    python experiments/bench_attention.py [--rounds 7] [--sizes small,large,long]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax
from common import keep

import jaxnn
from jaxnn.cli.arguments import positive
from jaxnn.training.epoch import make_step

SIZES = {"small": dict(depth=2, dim=64, context=64, batch=32),
         "large": dict(depth=4, dim=128, context=128, batch=32),
         "long": dict(depth=2, dim=64, context=2048, batch=8)}     # where memory grows with T²
VOCAB = 103


def setup(size: str):
    cfg = SIZES[size]
    shape = dict(dim=cfg["dim"], heads=4, depth=cfg["depth"])
    model = jaxnn.models.gpt(VOCAB, cfg["context"], **shape)
    remat = jaxnn.models.gpt(VOCAB, cfg["context"], **shape, remat=True)     # the same params
    params = jaxnn.init(jax.random.key(0), model)
    opt = optax.adamw(3e-3)
    x = jax.random.randint(jax.random.key(1), (cfg["batch"], cfg["context"]), 0, VOCAB)
    y = jax.random.randint(jax.random.key(2), (cfg["batch"], cfg["context"]), 0, VOCAB)
    steps = {"hand": jax.jit(make_step(model, opt)), "remat": jax.jit(make_step(remat, opt)),
             "autodiff": jax.jit(make_step(model, opt, backward="autodiff"))}
    return steps, (params, opt.init(params), x, y)


def measure(size: str, rounds: int) -> dict:
    steps, args = setup(size)
    memory = {b: step.lower(*args).compile().memory_analysis().temp_size_in_bytes / 2**20
              for b, step in steps.items()}
    times = {b: [] for b in steps}
    for step in steps.values():
        jax.block_until_ready(step(*args))                      # compile and warm up
    for _ in range(rounds):                                     # interleaved: same machine state
        for b, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(5):
                out = step(*args)
            jax.block_until_ready(out)
            times[b].append((time.perf_counter() - t0) / 5 * 1e3)
    ms = {b: statistics.median(v) for b, v in times.items()}
    return {"ms": ms, "memory_mb": memory, "time_ratio": ms["hand"] / ms["autodiff"],
            "memory_ratio": memory["hand"] / memory["autodiff"],
            "remat_time_ratio": ms["remat"] / ms["autodiff"],
            "remat_memory_ratio": memory["remat"] / memory["autodiff"],
            "parameters": sum(a.size for a in jax.tree.leaves(args[0]))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--rounds", type=positive(int), default=7)
    p.add_argument("--sizes", default="small,large,long")
    args = p.parse_args(argv)
    unknown = set(args.sizes.split(",")) - set(SIZES)
    if unknown:
        p.error(f"unknown --sizes {', '.join(sorted(unknown))}; choose from {', '.join(SIZES)}")
    print(f"jax {jax.__version__}, {jax.default_backend()}; median of {args.rounds}")
    print(f"{'size':>6} {'params':>8} {'ms: hand':>9} {'remat':>7} {'jax.grad':>9} "
          f"{'MB: hand':>9} {'remat':>7} {'jax.grad':>9} {'ratios vs jax.grad: hand, remat':>32}")
    results = {}
    for size in args.sizes.split(","):
        r = results[size] = measure(size, args.rounds)
        ms, mb = r["ms"], r["memory_mb"]
        print(f"{size:>6} {r['parameters']:>8,} {ms['hand']:>9.1f} {ms['remat']:>7.1f} "
              f"{ms['autodiff']:>9.1f} {mb['hand']:>9.1f} {mb['remat']:>7.1f} {mb['autodiff']:>9.1f} "
              f"  time {r['time_ratio']:.2f}x, {r['remat_time_ratio']:.2f}x; memory "
              f"{r['memory_ratio']:.2f}x, {r['remat_memory_ratio']:.2f}x")
    return results


if __name__ == "__main__":
    keep("bench_attention", main())
