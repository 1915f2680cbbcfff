"""Is a change faster? The jaxnn training step of the working tree against a git revision's, same
models as ``bench_peers.py``, in alternated processes.

Machines are noisy (on a shared 2-core machine the same program can vary by 10–15% from one
round to the next), so the two sides take turns, each in a fresh process, for ``--rounds`` rounds,
and the table gives the ratio of the medians and of the minimums of all timed chunks. A change
is real when both ratios agree and lie outside the spread of an A/B of a revision against itself.

    python experiments/bench_ab.py REV [--models lstm,gpt-small] [--rounds 6] [--steps 10]

The revision's ``jaxnn/`` is taken with ``git archive`` into a temporary folder; both sides run
``bench_peers.py``'s measuring process with ``jaxnn`` from an explicit folder.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import tarfile
import tempfile
from pathlib import Path

from bench_peers import MODELS, run_worker

from jaxnn.cli.arguments import positive

ROOT = Path(__file__).resolve().parents[1]


def checkout(rev: str, into: Path) -> Path:
    """``rev``'s ``jaxnn/`` under ``into`` (``ValueError`` naming the revision if git has none)."""
    proc = subprocess.run(["git", "archive", rev, "jaxnn"], cwd=ROOT, capture_output=True)
    if proc.returncode != 0:
        raise ValueError(f"git has no revision {rev!r} here: {proc.stderr.decode().strip()}")
    tarfile.open(fileobj=io.BytesIO(proc.stdout)).extractall(into, filter="data")
    return into


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
                    out = run_worker([f"step:jaxnn:{model}", "--chunks", str(args.chunks),
                                      "--steps", str(args.steps)], jaxnn_from=source)
                    if "error" in out:          # e.g. a revision without this model: one line
                        p.exit(1, f"bench_ab.py: {model} with the jaxnn of {side} failed: {out['error']}\n")
                    ms[side] += out["ms"]
                print(f"round {r + 1} {model}: " + ", ".join(
                    f"{side} {statistics.median(v):.2f} ms" for side, v in ms.items()), flush=True)
            (base, new), (base_ms, new_ms) = ms.values(), map(statistics.median, ms.values())
            rows[model] = {"base_ms": base_ms, "new_ms": new_ms, "median_ratio": new_ms / base_ms,
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
