"""What reusing each step's temporary memory is worth on a CPU: jaxnn's training step of each
model as it runs by default and after ``jaxnn.training.memory.keep_step_memory``, each way in its own
process, processes alternated; with the page faults and the kernel's time per step, which show
where the difference goes (the models of ``bench_peers.py``).

    python experiments/bench_memory.py [--models gpt-large,gpt-small,lstm,mlp-B] [--rounds 3]

Writes ``--out`` (default ``experiments/results/bench_memory.json``), from which
``experiments/report.py`` renders the table of the docs' speed page.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

from bench_peers import MODELS, run_worker, step_summary
from common import jsonable, machine, table

from jaxnn.cli.arguments import positive

WAYS = {"default": [], "kept": ["--keep-memory"]}
RESULTS = Path(__file__).parent / "results" / "bench_memory.json"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--models", default="gpt-large,gpt-small,lstm,mlp-B",
                   help=f"comma-separated: {', '.join(MODELS)}")
    p.add_argument("--rounds", type=positive(int), default=3, help="alternated rounds of processes")
    p.add_argument("--chunks", type=positive(int), default=5, help="timed chunks per process (median)")
    p.add_argument("--steps", type=positive(int), default=10, help="steps per chunk")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    models = args.models.split(",")
    if unknown := sorted(set(models) - set(MODELS)):
        p.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    command = " ".join(sys.argv[1:] if argv is None else argv)
    results = {"command": f"python experiments/bench_memory.py {command}",
               "machine": machine(), "date": datetime.date.today().isoformat(), "versions": {},
               "models": {}}
    for name in models:
        runs = {way: [] for way in WAYS}
        for r in range(args.rounds):                      # alternate processes: same machine state
            for way, flags in WAYS.items():
                out = run_worker([f"step:jaxnn:{name}", "--chunks", str(args.chunks), "--steps",
                                  str(args.steps), *flags])
                if "error" in out:
                    raise SystemExit(f"bench_memory: {name} ({way}): {out['error']}")
                runs[way].append(out)
                print(f"round {r + 1} {name:>9} {way:>7}: {statistics.median(out['ms']):8.2f} ms, "
                      f"{out['page_faults']:8.0f} page faults per step", flush=True)
        results["models"][name] = {way: step_summary(outs, results["versions"]) for way, outs in runs.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(results), indent=1))
    print(render(results))
    print(f"wrote {args.out}; python experiments/report.py puts it in the docs")
    return results


def render(results: dict) -> str:
    """The docs' table (markdown) from a results dict."""
    rows = [[name, f"{d['ms']:.2f}", f"{k['ms']:.2f}", f"**{k['ms'] / d['ms']:.2f}×**",
             f"{d['page_faults']:,.0f} → {k['page_faults']:,.0f}",
             f"{d['kernel_ms']:.1f} → {k['kernel_ms']:.1f}"]
            for name, r in results["models"].items() for d, k in [(r["default"], r["kept"])]]
    return "\n".join([
        f"jaxnn's training step, ms (best of the rounds' medians), by default and after "
        f"`jaxnn.memory.keep_step_memory()`; page faults and kernel (system) ms per step, medians. "
        f"{results['machine']}; {', '.join(results['versions'].values())}; {results['date']}; "
        f"`{results['command'].strip()}`.",
        "", table(["model", "default", "kept", "kept ÷ default", "page faults", "kernel ms"], rows)])


if __name__ == "__main__":
    main()
