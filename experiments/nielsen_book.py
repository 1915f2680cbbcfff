"""Nielsen's book, reproduced: the MNIST results of "Neural Networks and Deep Learning" (chapters 1,
3 and 6; neuralnetworksanddeeplearning.com), each row trained as one population of seeds.

Every row follows the book's protocol: mini-batch 10; training on the first 50,000 training images,
the last 10,000 held out as validation data; the book's initialisation (ch. 1/3: "large" N(0, 1);
ch. 6: network3.py's N(0, 1/n_out) weights, N(0, 1) biases, a zero softmax layer); L2 as the book
scales it (network2: ``λ/n``, n = 50,000; network3: ``λ/num_training_batches``). Reported: each
seed's peak test accuracy (ch. 1 and ch3-ce/ch3-l2), peak validation accuracy (ch3-100, ch3-100-60:
the book quotes validation there), or test accuracy at the epoch of best validation accuracy
(ch. 6, network3.py's protocol); mean ± std over seeds, the best seed, and for ch6-ensemble the
ensemble of the seeds (mean of their probabilities).

Quick default (for the test suite): 1/30 of the book's epochs on the best digits available.
``--full``: the book's epochs. ``--epochs N`` overrides both.

    python experiments/nielsen_book.py --rows ch1-30,ch3-l2 --seeds 5 --full --data-dir path/to/mnist
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from common import RESULTS, keep, load_mnist, provenance, write_json

import jaxnn
from jaxnn import layers
from jaxnn.cli.arguments import positive
from jaxnn.training import population
from jaxnn.training.plots import save, subplots


class Row(NamedTuple):
    book: float                  # the book's figure, percent
    model: object                # a jaxnn model
    init: str                    # "normal" (Nielsen's large) or "network3"
    lr: float
    epochs: int
    protocol: str                # "peak-test", "peak-validation" or "test-at-best-validation"
    lmbda: float = 0.0           # L2
    expanded: bool = False       # training data expanded by one-pixel shifts
    ensemble: bool = False       # report the ensemble of the seeds


def mlp(hidden: int, loss: str):
    output = "softmax" if loss == "cross_entropy" else "sigmoid"
    return jaxnn.Network([784, hidden, 10], hidden="sigmoid", output=output, loss=loss)


def network3(convs=(), act="sigmoid", dense=(100,), dropout=0.0) -> layers.Model:
    """network3.py's nets: conv-pool layers (5×5 filters, max-pool 2), fully connected layers,
    a softmax layer; dropout on the inputs of the fully connected and softmax layers."""
    drop = [layers.Dropout(dropout)] if dropout else []
    body = [layer for f in convs
            for layer in (layers.Conv2D(f, 5), layers.Activation(act), layers.MaxPool2D(2))]
    body += [layers.Flatten()] if convs else []
    body += [layer for units in dense for layer in (*drop, layers.Dense(units, act))]
    return layers.Model((*body, *drop, layers.Dense(10, "softmax")), (28, 28, 1) if convs else (784,),
                        "cross_entropy")


BCE, QUAD = "binary_cross_entropy", "quadratic"
ROWS = {
    "ch1-30": Row(95.42, mlp(30, QUAD), "normal", 3.0, 30, "peak-test"),
    "ch1-100": Row(96.59, mlp(100, QUAD), "normal", 3.0, 30, "peak-test"),
    "ch3-ce": Row(95.49, mlp(30, BCE), "normal", 0.5, 30, "peak-test"),
    "ch3-l2": Row(96.49, mlp(30, BCE), "normal", 0.5, 30, "peak-test", lmbda=5.0),
    "ch3-100": Row(97.92, mlp(100, BCE), "normal", 0.5, 30, "peak-validation", lmbda=5.0),
    "ch3-100-60": Row(98.04, mlp(100, BCE), "normal", 0.1, 60, "peak-validation", lmbda=5.0),
    "ch6-fc": Row(97.80, network3(), "network3", 0.1, 60, "test-at-best-validation"),
    "ch6-conv1": Row(98.78, network3((20,)), "network3", 0.1, 60, "test-at-best-validation"),
    "ch6-conv2": Row(99.06, network3((20, 40)), "network3", 0.1, 60, "test-at-best-validation"),
    "ch6-relu": Row(99.23, network3((20, 40), "relu"), "network3", 0.03, 60, "test-at-best-validation",
                    lmbda=0.1),
    "ch6-expanded": Row(99.37, network3((20, 40), "relu"), "network3", 0.03, 60,
                        "test-at-best-validation", lmbda=0.1, expanded=True),
    "ch6-dropout": Row(99.60, network3((20, 40), "relu", (1000, 1000), 0.5), "network3", 0.03, 40,
                       "test-at-best-validation", expanded=True),
    "ch6-ensemble": Row(99.67, network3((20, 40), "relu", (1000, 1000), 0.5), "network3", 0.03, 40,
                        "test-at-best-validation", expanded=True, ensemble=True),
}
BATCH = 10


def network3_init(key, model, dtype=jnp.float32):
    """network3.py's initialisation: weights N(0, 1/n_out) with a conv layer's ``n_out`` = filters ×
    kernel area / pool area, biases N(0, 1), the softmax layer all zeros."""
    params = jaxnn.init(key, model, "normal", dtype)           # every weight and bias N(0, 1)
    weighted = [i for i, p in enumerate(params) if p]
    for i in weighted:
        w = "k" if "k" in params[i] else "W"
        n_out = (math.prod(params[i]["k"].shape[:2]) * params[i]["k"].shape[3] // 4 if w == "k"
                 else params[i]["W"].shape[0])
        params[i] = {w: params[i][w] * math.sqrt(1.0 / n_out), "b": params[i]["b"]}
    last = weighted[-1]                                         # the softmax layer
    params[last] = jax.tree.map(jnp.zeros_like, params[last])
    return params


def split(train):
    """Nielsen's split: the last sixth of the training images (10,000 of 60,000) is validation."""
    x, y = train
    n = len(x) - len(x) // 6
    return (x[:n], y[:n]), (x[n:], y[n:])


def run_row(name: str, row: Row, data, seeds: int, epochs: int, progress: bool | None) -> dict:
    (train, validation), test = data
    if row.expanded:
        train = jaxnn.augment.one_pixel_shifts(*train)
    keys = jax.random.split(jax.random.key(0), seeds)
    if row.init == "network3":
        params = jax.vmap(lambda k: network3_init(k, row.model))(keys)
    else:
        params = population.init(keys, row.model, row.init)
    # network2: W ← (1 − ηλ/n) W with n the training set; network3: λ/num_training_batches
    n = len(train[0]) // BATCH if row.init == "network3" else len(train[0])
    optimizer = jaxnn.nielsen_l2(row.lr, row.lmbda, n) if row.lmbda else jaxnn.sgd(row.lr)
    t0 = time.perf_counter()
    _, hist = jaxnn.fit_population(row.model, params, train, optimizer=optimizer, epochs=epochs,
                                   batch_size=BATCH, keys=jax.random.split(jax.random.key(1), seeds),
                                   eval_data={"validation": validation, "test": test}, progress=progress)
    seconds = time.perf_counter() - t0
    report, select = {"peak-test": ("test", None), "peak-validation": ("validation", None),
                      "test-at-best-validation": ("test", "validation")}[row.protocol]
    s = population.summary(hist, report, select)
    result = {"row": name, "book": row.book, "mean": 100 * s["mean"], "std": 100 * s["std"],
              "best": 100 * s["best"], "seeds": seeds, "seconds": seconds, "epochs": epochs,
              "protocol": row.protocol, "diverged": s["diverged"], "train": len(data[0][0][0]),
              "members": [100 * m for m in s["members"]],
              "curve": (100 * np.nanmean(hist[f"{report}_accuracy"], 1)).tolist()}
    if row.ensemble:
        result["ensemble"] = 100 * s["ensemble"]
    return result


def print_row(r: dict) -> None:
    ens = f"{r['ensemble']:.2f}%" if "ensemble" in r else "—"
    full = r["epochs"] == ROWS[r["row"]].epochs and r["train"] == 50_000    # the book's protocol
    outside = abs(r["mean"] - r["book"]) > 2 * max(r["std"], 0.05)
    flag = "  (outside book ± 2 std)" if full and outside else ""
    print(f"{r['row']:<13} {r['book']:>6.2f}% {r['mean']:>7.2f} ± {r['std']:.2f}% ({r['seeds']}) "
          f"{r['best']:>7.2f}% {ens:>8} {r['epochs']:>6} {r['seconds']:>8.0f}{flag}", flush=True)


def plot(results: list[dict], path: Path) -> None:
    fig, ax = subplots(figsize=(7, 4.5))
    for r in results:
        ax.plot(range(1, len(r["curve"]) + 1), r["curve"], label=f"{r['row']} (book {r['book']:.2f}%)")
    ax.set(xlabel="epoch", ylabel="accuracy, mean over seeds (%)",
           title="Nielsen's book, reproduced (reported set per row)")
    ax.legend(fontsize=8)
    save(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--rows", default="ch1-30,ch3-ce",
                   help=f"comma-separated rows: {', '.join(ROWS)} (or 'all')")
    p.add_argument("--seeds", type=positive(int), default=2, help="networks per row (one population)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the MNIST IDX files (default: tfds, else the shipped subset)")
    p.add_argument("--out", type=Path, default=Path("runs/nielsen_book/nielsen_book.json"),
                   help="JSON results (a list, one object per row); the plot goes beside it")
    p.add_argument("--full", action="store_true", help="the book's epochs")
    p.add_argument("--epochs", type=positive(int), default=None, help="the epochs of every row")
    args = p.parse_args(argv)
    names = list(ROWS) if args.rows == "all" else [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in names if r not in ROWS]
    if unknown or not names:
        p.error(f"unknown row(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(ROWS)}")
    if args.seeds < 1 or args.epochs is not None and args.epochs < 1:
        p.error("--seeds and --epochs must be positive")
    train, test, info = load_mnist(args.data_dir)
    data = (split(train), test)
    print(f"train {len(data[0][0][0]):,} / validation {len(data[0][1][0]):,} / test {len(test[0]):,}; "
          f"{jax.default_backend()}")
    print(f"{'row':<13} {'book':>7} {'jaxnn mean ± std (seeds)':>24} {'best':>8} {'ensemble':>8} "
          f"{'epochs':>6} {'seconds':>8}")
    results = []
    for name in names:
        row = ROWS[name]
        epochs = args.epochs or (row.epochs if args.full else max(1, row.epochs // 30))
        results.append(run_row(name, row, data, args.seeds, epochs, None))
        print_row(results[-1])
        write_json(args.out.parent, args.out.stem, [dict(r, data=info.description) for r in results])
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return results


def keep_rows(rows: list[dict]) -> None:
    """A ``--full`` run's rows into ``experiments/results/nielsen_book.json``: a row run again
    replaces its entry there (with its own date and command), the others stay as they were."""
    path = RESULTS / "nielsen_book.json"
    kept = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    run = provenance()
    old = {r["row"]: r for r in kept["rows"]}
    for r in rows:
        old[r["row"]] = {"row": r["row"], "config": old.get(r["row"], {}).get("config", r["protocol"]),
                         "book": f"{r['book']:.2f}%", **{k: r[k] for k in ("mean", "std", "seeds", "best")},
                         "seconds": round(r["seconds"]), "date": run["date"], "command": run["command"]}
    keep("nielsen_book", {**{k: v for k, v in kept.items() if k in ("protocol", "notes", "transcribed")},
                          "rows": [old[n] for n in sorted(set(old) & set(ROWS), key=list(ROWS).index)]
                                  + [r for n, r in old.items() if n not in ROWS]})


if __name__ == "__main__":
    results = main()
    if "--full" in sys.argv:
        keep_rows(results)
