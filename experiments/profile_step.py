"""Where one training step's time goes, op by op: jaxnn (hand-derived backward) or ``jax.grad``
through ``jax.profiler`` (a Perfetto trace of the compiled step, each XLA kernel with its HLO), or
PyTorch through ``torch.profiler`` — for any model of ``bench_peers.py``.

XLA runs independent kernels of a step concurrently on the cores, so the per-kernel times of the
jax rows can add up to more than the step; "share" is of that sum. The HLO of the step is written
beside the trace (``--out``), so each kernel's fused computation can be read there.

    python experiments/profile_step.py gpt-small [--impl jaxnn|jax.grad|torch] [--top 25]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
from pathlib import Path

from bench_peers import IMPLS, MODELS, jax_step, torch_step

from jaxnn.cli.arguments import positive

SKIP = ("$", "Pjit", "Slinky", "Common", "Handle", "ThunkExecutor", "end:", "Allocate", "Parse")


def profile_jax(name: str, backward: str, steps: int, out: Path) -> list[tuple[str, float, int, str]]:
    """``[(kernel, ms per step, calls per step, its HLO line)]`` of the compiled step, slowest first."""
    import jax

    step, args = jax_step(name, backward)
    for _ in range(3):
        jax.block_until_ready(step(*args))
    with jax.profiler.trace(str(out), create_perfetto_trace=True):
        for _ in range(steps):
            result = step(*args)
        jax.block_until_ready(result)
    hlo = step.lower(*args).compile().as_text()
    (out / "step.hlo.txt").write_text(hlo)
    lines = dict(m.groups() for m in re.finditer(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.*)$", hlo, re.M))
    newest = max(out.rglob("*.trace.json.gz"), key=lambda f: f.stat().st_mtime)    # this run's
    trace = json.loads(gzip.open(newest).read())
    total, calls = collections.Counter(), collections.Counter()
    for e in trace["traceEvents"] if isinstance(trace, dict) else trace:
        if e.get("ph") == "X" and not e["name"].startswith(SKIP):
            total[e["name"]] += e.get("dur", 0)
            calls[e["name"]] += 1
    return [(k, us / steps / 1e3, calls[k] // steps, lines.get(k, "")) for k, us in total.most_common()]


def profile_torch(name: str, steps: int, top: int) -> str:
    """``torch.profiler``'s table of the step's operators (self CPU time, slowest first)."""
    from torch.profiler import ProfilerActivity, profile

    step, _ = torch_step(name)
    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("model", choices=MODELS)
    p.add_argument("--impl", default="jaxnn",
                   choices=[i for i in IMPLS if i not in ("torch.compile", "jaxnn-scanned")])
    p.add_argument("--steps", type=positive(int), default=10, help="profiled steps (after 3 warm-up steps)")
    p.add_argument("--top", type=positive(int), default=25, help="how many kernels or operators to list")
    p.add_argument("--out", type=Path, default=Path("runs/profile_step"), help="trace and HLO folder")
    args = p.parse_args(argv)
    if args.steps < 1 or args.top < 1:
        p.error("--steps and --top must be positive")
    if args.impl == "torch":
        print(profile_torch(args.model, args.steps, args.top))
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    rows = profile_jax(args.model, "hand" if args.impl == "jaxnn" else "autodiff", args.steps, args.out)
    whole = sum(ms for _, ms, _, _ in rows)
    dots = sum(ms for k, ms, _, _ in rows if k.startswith(("ynn_fusion", "dot")))
    print(f"{args.model}, {args.impl}: kernels {whole:.1f} ms per step, of which matrix products "
          f"{dots:.1f} ms ({100 * dots / whole:.0f}%); trace and HLO in {args.out}")
    print(f"{'ms/step':>8} {'share':>6} {'calls':>5}  kernel: HLO")
    for k, ms, n, hlo in rows[:args.top]:
        print(f"{ms:8.3f} {100 * ms / whole:5.1f}% {n:5d}  {k}: {hlo[:110]}")
    return {"rows": rows, "total_ms": whole, "dot_ms": dots}


if __name__ == "__main__":
    main()
