"""Is a change faster? The jaxnn training step of the working tree against a git revision's, same
models as ``bench_peers.py``, in alternated processes.

Machines are noisy (on a shared 2-core machine the same program can vary by 10–15% from one
round to the next), so the two sides take turns, each in a fresh process, for ``--rounds`` rounds,
and the table gives the ratio of the medians and of the minimums of all timed chunks. A change
is real when both ratios agree and lie outside the spread of an A/B of a revision against itself.

    python experiments/bench_ab.py REV [--models lstm,gpt-small] [--rounds 6] [--steps 10]

The revision's ``jaxnn/`` is taken with ``git archive`` into a temporary folder; both sides import
``jaxnn`` from an explicit folder (an editable install's import hook is set aside for that).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_peers import MODELS

from jaxnn.arguments import positive

ROOT = Path(__file__).resolve().parents[1]
BOOT = """
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__name__.lower()]
sys.path.insert(0, sys.argv.pop(1))
import jaxnn
assert jaxnn.__file__.startswith(sys.path[0]), jaxnn.__file__
sys.argv[0] = {script!r}
runpy.run_path({script!r}, run_name="__main__")
"""


def checkout(rev: str, into: Path) -> Path:
    """``rev``'s ``jaxnn/`` under ``into`` (``ValueError`` naming the revision if git has none)."""
    proc = subprocess.run(["git", "archive", rev, "jaxnn"], cwd=ROOT, capture_output=True)
    if proc.returncode != 0:
        raise ValueError(f"git has no revision {rev!r} here: {proc.stderr.decode().strip()}")
    with tempfile.TemporaryFile() as f:
        f.write(proc.stdout)
        f.seek(0)
        tarfile.open(fileobj=f).extractall(into, filter="data")
    return into


def step_ms(source: Path, model: str, chunks: int, steps: int) -> list[float]:
    """ms per step of each timed chunk, ``jaxnn`` imported from ``source``."""
    script = str(ROOT / "experiments" / "bench_peers.py")
    proc = subprocess.run([sys.executable, "-c", BOOT.format(script=script), str(source), "--worker",
                           f"step:jaxnn:{model}", "--chunks", str(chunks), "--steps", str(steps)],
                          capture_output=True, text=True, cwd=ROOT / "experiments",
                          env={k: v for k, v in os.environ.items() if k != "JAX_DISABLE_MOST_OPTIMIZATIONS"})
    if proc.returncode != 0:
        raise RuntimeError(f"{model} from {source}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["ms"]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("rev", help="the git revision to compare against (e.g. HEAD~3, a commit)")
    p.add_argument("--models", default="lstm,gpt-small", help=f"comma-separated: {', '.join(MODELS)}")
    p.add_argument("--rounds", type=positive(int), default=6, help="alternated rounds of processes")
    p.add_argument("--chunks", type=positive(int), default=5, help="timed chunks per process")
    p.add_argument("--steps", type=positive(int), default=10, help="steps per chunk")
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if unknown := [m for m in models if m not in MODELS]:
        p.error(f"unknown models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sides = {args.rev: checkout(args.rev, Path(tmp)), "working tree": ROOT}
        except ValueError as e:
            p.error(str(e))
        for model in models:
            ms = {side: [] for side in sides}
            for r in range(args.rounds):
                for side, source in sides.items():
                    ms[side] += step_ms(source, model, args.chunks, args.steps)
                print(f"round {r + 1} {model}: " + ", ".join(
                    f"{side} {statistics.median(v):.2f} ms" for side, v in ms.items()), flush=True)
            base, new = ms.values()
            rows[model] = {"base_ms": statistics.median(base), "new_ms": statistics.median(new),
                           "median_ratio": statistics.median(new) / statistics.median(base),
                           "min_ratio": min(new) / min(base)}
    print(f"\nworking tree ÷ {args.rev}, {args.rounds} alternated rounds:\n")
    print("| model | " + args.rev + " ms | working tree ms | ratio of medians | ratio of minimums |")
    print("|---|---|---|---|---|")
    for model, r in rows.items():
        print(f"| {model} | {r['base_ms']:.2f} | {r['new_ms']:.2f} | {r['median_ratio']:.3f} | "
              f"{r['min_ratio']:.3f} |")
    return rows


if __name__ == "__main__":
    main()
