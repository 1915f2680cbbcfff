"""Shared plumbing for the experiment scripts: arguments, output folder, JSON, data choice."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from jaxnn.cli.arguments import positive


def parser(doc: str, name: str, data: bool = False) -> argparse.ArgumentParser:
    """An argparse parser with ``--out``, ``--full`` and (for MNIST runs) ``--data-dir``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--out", type=Path, default=Path("runs") / name,
                   help="folder for the JSON results and the PNG")
    p.add_argument("--full", action="store_true", help="the seed's full setting (slower)")
    if data:
        p.add_argument("--data-dir", type=Path, default=None,
                       help="folder with the MNIST IDX files (default: tfds, else shipped subset)")
        p.add_argument("--epochs", type=positive(int), default=None,
                       help="override the number of epochs of the quick or --full setting")
    return p


def jsonable(v):
    """``v`` with arrays as lists and non-finite floats as None (JSON has no NaN or infinity)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "tolist"):
        return jsonable(np.asarray(v).tolist())
    if isinstance(v, float) and not math.isfinite(v):   # NaN, ±inf: JSON has no such numbers
        return None
    return v


RESULTS = Path(__file__).parent / "results"
"""Where ``--full`` runs keep their results (``experiments/report.py`` renders the docs from them)."""


def machine() -> str:
    """The processor, its widest vector instructions (they decide CPU matmul speed), cores, OS."""
    cpu, simd = platform.processor() or platform.machine(), ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = re.search(r"^model name\s*:\s*(.+)$", info, re.M).group(1).strip()
        flags = set(re.search(r"^flags\s*:\s*(.+)$", info, re.M).group(1).split())
        simd = next((f" ({name})" for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"))
                     if flag in flags), "")
    except (OSError, AttributeError):
        pass
    return f"{cpu}{simd}, {os.cpu_count()} cores, {platform.system()}"


def provenance() -> dict:
    """How this run was made: the command (``--data-dir`` as DIR, ``--out`` left out), machine,
    date, versions, and the accelerator JAX ran on."""
    import jax

    words, argv = [], iter(sys.argv[1:])
    for word in argv:
        if word in ("--out", "--data-dir"):
            next(argv, None)
            words += ["--data-dir", "DIR"] if word == "--data-dir" else []
        else:
            words.append(word)
    command = " ".join(["python", f"experiments/{Path(sys.argv[0]).name}", *words])
    versions = {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__}
    if "torch" in sys.modules:                       # a benchmark that ran PyTorch beside jaxnn
        versions["PyTorch"] = sys.modules["torch"].__version__
    return {"command": command, "machine": machine(), "date": datetime.date.today().isoformat(),
            "versions": versions,
            "backend": f"{jax.default_backend()} ({jax.devices()[0].device_kind})"}


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def measured_line(results: dict) -> str:
    """Where and how a benchmark's results file was measured, for the line under its table."""
    r = results
    return f"{r['machine']}; {r['backend']}; jax {r['versions']['jax']}; {r['date']}; `{r['command']}`."


def write_json(out: Path, name: str, results: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(jsonable(results), indent=2))
    return path


def keep(name: str, results: dict) -> Path:
    """Keep a measurement as ``experiments/results/name.json`` with ``provenance`` (what
    ``experiments/report.py`` renders the docs from); the benchmarks do this when run as scripts."""
    results = {**provenance(), **results}
    if "--data-dir" in sys.argv[:-1]:      # the local folder's name is nobody else's business
        folder = str(Path(sys.argv[sys.argv.index("--data-dir") + 1]).resolve())
        results = json.loads(json.dumps(jsonable(results)).replace(folder, "DIR"))
    path = write_json(RESULTS, name, results)
    print(f"kept {path} (python experiments/report.py renders the docs from it)")
    return path


def finish(args, name: str, results: dict, plot=None) -> dict:
    """Write ``args.out/name.json`` (and ``args.out/name.png`` via ``plot(results, path)``), say
    so, return the results. A ``--full`` run also keeps them, with ``provenance``, as
    ``experiments/results/name[-source].json`` (the source of the digits, where there are any),
    from which ``experiments/report.py`` renders the README's and the docs' figures."""
    out = args.out
    path = write_json(out, name, results)
    if plot is not None:
        plot(results, out / f"{name}.png")
    print(f"wrote {path} and the PNG(s) in {out}")
    if getattr(args, "full", False):
        keep(name + (f"-{results['source']}" if "source" in results else ""), results)
    return results


def run_summary(history: dict, seconds: float) -> dict:
    """Final and best test accuracy, wall seconds and the per-epoch history of one ``fit``."""
    return {"final_test_accuracy": history["eval_accuracy"][-1],
            "best_test_accuracy": max(history["eval_accuracy"]), "seconds": seconds,
            "history": history}


LOSS_HEADER = f"{'epoch':>5} {'train loss':>11} {'test acc':>9} {'seconds':>8}"


def print_loss_row(epoch) -> None:
    """One epoch under ``LOSS_HEADER`` (``fit(..., callbacks=[print_loss_row])``)."""
    r = epoch.metrics
    print(f"{r['epoch']:>5} {r['train_loss']:>11.4f} {100 * r['eval_accuracy']:>8.2f}% "
          f"{r['seconds']:>8.1f}")


def fit_and_report(name: str, model, train, test, info, png: Path, **options) -> dict:
    """One ``jaxnn.fit`` of ``model`` from its init with key 0 (batch order: key 1) under a
    per-epoch table; prints the final test accuracy, draws the curves to ``png`` and returns
    ``run_summary``. ``options`` go to ``fit`` (optimizer, epochs, batch_size, augment …)."""
    import jax

    import jaxnn
    from jaxnn.training.plots import plot_history

    print(f"\n{name}\n{LOSS_HEADER}")
    with Timer() as t:
        _, hist = jaxnn.fit(model, jaxnn.init(jax.random.key(0), model), train, key=jax.random.key(1),
                            eval_data=test, progress=False, callbacks=[print_loss_row], **options)
    print(f"{name}: test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after "
          f"{len(hist['epoch'])} epochs, {t.seconds:.0f} s [{info.source}]")
    plot_history(hist, png, title=f"{name} ({info.source})")
    return run_summary(hist, t.seconds)


def load_mnist(data_dir, limit_train=None):
    """Train/test digits from the best source; prints which one."""
    from jaxnn import data

    train = data.load("mnist", "train", data_dir=data_dir)
    test = data.load("mnist", "test", data_dir=data_dir)
    if train.note:
        print(f"data: {train.note}")
    print(f"data: {train.description}")
    x, y = train.x, train.y
    if limit_train:
        x, y = x[:limit_train], y[:limit_train]
    return (x, y), (test.x, test.y), train


class Timer:
    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t
