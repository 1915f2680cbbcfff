"""Time to accuracy: seconds of training until the test accuracy first reaches the target, checked
after every epoch (evaluation not timed; the first epoch's compilation is), for the same model
and recipe trained three ways, interleaved seed by seed; medians over seeds.

- ``jaxnn``: ``jaxnn.fit`` with the hand-derived backward (``Conv2D`` by im2col, a scanned epoch);
- ``jax.grad``: ``jaxnn.fit(backward="autodiff")`` of the same model written for autodiff at its
  strongest on CPU (``lax.conv`` and max-pooling by reshape, stepped from Python:
  ``bench_conv.py``'s fastest ``jax.grad`` variant); the LSTM as it is;
- PyTorch (CPU, or its GPU), when ``torch`` is importable.

Models and recipes (``jaxnn.cli.recipes.RECIPES``, Adam with a one-cycle learning rate over all steps):
``cnn`` = ``cnn_mnist.py``'s CNN, batch 32, peak 3e-3, 2 epochs, target 99%; ``lstm`` =
``rnn_mnist.py``'s LSTM(128) over image rows, batch 64, peak 5e-3, 2 epochs, target 98%.

    python experiments/bench_time_to_accuracy.py --data-dir path/to/mnist [--seeds 3] [--models cnn,lstm]
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import jax
import numpy as np
import torch_baseline
from bench_conv import VARIANTS
from common import keep, load_mnist, write_json

import jaxnn
from jaxnn.cli.arguments import positive
from jaxnn.cli.recipes import RECIPES
from jaxnn.training.optim import one_cycle

LSTM = jaxnn.models.row_rnn("lstm")
MODELS = {   # name: (input shape, jaxnn's model, the jax.grad model, target)
    "cnn": ((28, 28, 1), VARIANTS["hand matmul"][0], VARIANTS["jax.grad lax.conv"][0], 0.99),
    "lstm": ((28, 28), LSTM, LSTM, 0.98),
}
IMPLS = ("jaxnn", "jax.grad", "PyTorch")
SETTING = ("full MNIST, 60,000 training images; training seconds until the test accuracy, checked "
           "after each epoch, first reaches the target; evaluation not timed, the first epoch's "
           "compilation is; the implementations interleaved seed by seed; medians over seeds; Adam "
           "with a one-cycle learning rate (warm-up over the first quarter, cosine down) over all "
           "steps; epoch s = the median epoch after the first")


def train_jax(model, backward: str, recipe, train, test, seed: int) -> list[tuple[float, float]]:
    """``[(training seconds of the epoch, test accuracy)]`` of one ``jaxnn.fit`` run."""
    steps = len(train[0]) // recipe.batch_size * recipe.epochs
    epochs = []

    def record(epoch):
        epochs.append((epoch.metrics["seconds"], jaxnn.evaluate(model, epoch.params, *test)["accuracy"]))

    jaxnn.fit(model, jaxnn.init(jax.random.key(seed), model), train,
              optimizer=one_cycle("adam", recipe.peak_lr, steps), epochs=recipe.epochs,
              batch_size=recipe.batch_size, key=jax.random.key(1000 + seed), backward=backward,
              progress=False, callbacks=[record])
    return epochs


def time_to(target: float, epochs: list[tuple[float, float]]) -> float:
    """Training seconds until the accuracy first reaches ``target`` (``inf``: never)."""
    total = 0.0
    for seconds, acc in epochs:
        total += seconds
        if acc >= target:
            return total
    return math.inf


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the MNIST IDX files (default: tfds, else the shipped subset)")
    p.add_argument("--models", default="cnn,lstm", help=f"comma-separated: {', '.join(MODELS)}")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated: {', '.join(IMPLS)}")
    p.add_argument("--seeds", type=positive(int), default=3)
    p.add_argument("--limit", type=positive(int), default=None, help="train on the first N images")
    p.add_argument("--out", type=Path, default=Path("runs/bench_time_to_accuracy"))
    args = p.parse_args(argv)
    if args.seeds < 1 or args.limit is not None and args.limit < 1:
        p.error("--seeds and --limit must be positive")
    models, impls = args.models.split(","), args.impls.split(",")
    for flag, given, known in (("--models", models, MODELS), ("--impls", impls, IMPLS)):
        if unknown := sorted(set(given) - set(known)):
            p.error(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    if "PyTorch" in impls and not torch_baseline.available():
        print("(no PyTorch rows: torch is not importable)")
        impls.remove("PyTorch")
    (x, y), (xt, yt), _ = load_mnist(args.data_dir, args.limit)
    print(f"jax {jax.__version__}, {jax.default_backend()}; {len(x):,} training / {len(xt):,} test "
          f"images; {args.seeds} seeds")
    results = {}
    for name in models:
        shape, hand_model, grad_model, target = MODELS[name]
        recipe = RECIPES[name]
        train, test = (x.reshape(-1, *shape), y), (xt.reshape(-1, *shape), yt)
        runs = {impl: [] for impl in impls}
        for seed in range(args.seeds):                      # interleaved: same machine state
            for impl in impls:
                if impl == "PyTorch":
                    run = torch_baseline.train_to_accuracy(
                        name, train, test, batch_size=recipe.batch_size, peak_lr=recipe.peak_lr,
                        epochs=recipe.epochs, seed=seed)
                else:
                    model, backward = (hand_model, "hand") if impl == "jaxnn" else (grad_model, "autodiff")
                    run = train_jax(model, backward, recipe, train, test, seed)
                runs[impl].append(run)
        results[name] = {impl: summarise(r, target) for impl, r in runs.items()}
        print_table(name, recipe, target, results[name])
    write_json(args.out, "bench_time_to_accuracy", results)
    return results


def summarise(runs: list, target: float) -> dict:
    """Median time to ``target`` over seeds, the final accuracies, and the median epoch seconds
    after the first (compiled) epoch."""
    later = [s for run in runs for s, _ in run[1:]] or [s for run in runs for s, _ in run]
    return {"time_to_target": statistics.median(time_to(target, run) for run in runs),
            "final_accuracy": [run[-1][1] for run in runs], "epoch_seconds": statistics.median(later),
            "epochs": [[s for s, _ in run] for run in runs]}


def print_table(name: str, recipe, target: float, rows: dict) -> None:
    base = rows.get("jax.grad")
    print(f"\n{name}: batch {recipe.batch_size}, one-cycle Adam peak {recipe.peak_lr}, "
          f"{recipe.epochs} epochs; target {100 * target:.0f}%")
    print(f"{'':<10} {'time to target':>15} {'final test acc (seeds)':>28} {'epoch s':>8} "
          f"{'vs jax.grad':>12}")
    for impl, r in rows.items():
        acc = ", ".join(f"{100 * a:.2f}" for a in r["final_accuracy"])
        ratio = f"{r['epoch_seconds'] / base['epoch_seconds']:.2f}x" if base else ""
        t = f"{r['time_to_target']:.1f} s" if np.isfinite(r["time_to_target"]) else "not reached"
        print(f"{impl:<10} {t:>15} {acc:>28} {r['epoch_seconds']:>8.1f} {ratio:>12}", flush=True)


if __name__ == "__main__":
    keep("bench_time_to_accuracy", {"setting": SETTING, **main()})
