"""The same model, side by side, on this machine: jaxnn (hand-derived backward), ``jax.grad`` of the
same model, PyTorch eager and ``torch.compile`` — what a user would otherwise pick.

**Step time**: one optimiser step on a fixed batch (float32, same layers, parameter count,
optimizer and batch size in every framework), median ms over ``--chunks`` chunks of ``--steps``
steps after one untimed chunk; each implementation in its **own process** (thread pools never
fight), processes alternated over ``--rounds`` rounds; the best round's median counts (a slower
round is the machine's noise, not the code). Each step is a call from Python (as a PyTorch loop
runs); "jaxnn-scanned" runs a chunk's ``--steps`` steps in one compiled ``lax.scan``, as ``fit``
and ``jaxnn train`` run an epoch (XLA then allocates the step's temporaries once per call). A
``torch.compile`` that fails here is reported with its error, not left out silently.

**Time to a target** (``--targets``): training seconds until the target is first reached
(compilation included, evaluation not timed), one process per run: the CNN to 99% and the LSTM
to 98% test accuracy on MNIST (``--data-dir``; the recipes of ``bench_time_to_accuracy.py``), the
small GPT to 1.45 nats/char on the validation text of Python's reference topics (AdamW 3e-3, batch
32, random windows, validation on 512 fixed windows every 100 steps). PyTorch eager only: the
compile time of ``torch.compile`` is paid once per run and is in its step row.

| model | configuration |
|---|---|
| mlp-A | Nielsen: [784, 30, 10], sigmoid, quadratic cost, SGD η = 3, batch 10 |
| mlp-B | [784, 128, 64, 10], ReLU, softmax + cross-entropy, Adam 1e-3, batch 128 |
| cnn | ``small_cnn`` (conv 32 → pool → conv 64 → pool → 128 → 10), Adam 1e-3, batch 32 |
| lstm | LSTM(128) over the 28 rows of an image → Dense(10), Adam 1e-3, batch 64 |
| gpt-small | ``gpt``: depth 2, dim 64, 4 heads, context 64 (117,479 parameters), AdamW, batch 32 |
| gpt-large | ``gpt``: depth 4, dim 128, 4 heads, context 128 (836,199 parameters), AdamW, batch 32 |

The ``jax.grad`` CNN is the strongest autodiff variant measured (``lax.conv``, max-pool by reshape,
see ``bench_conv.py``). Writes ``--out`` (default ``experiments/results/bench_peers.json``), from which
``experiments/report.py`` renders the docs' table.

    python experiments/bench_peers.py [--models gpt-small,lstm] [--impls jaxnn,torch] [--rounds 2]
                                      [--targets cnn,lstm,gpt-small --data-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch_baseline
from common import jsonable, machine

from jaxnn.cli.arguments import positive

MODELS = ("mlp-A", "mlp-B", "cnn", "lstm", "gpt-small", "gpt-large")
IMPLS = ("jaxnn", "jaxnn-scanned", "jax.grad", "torch", "torch.compile")
TARGETS = {"cnn": 0.99, "lstm": 0.98, "gpt-small": 1.45}   # accuracy ≥, or nats/char ≤ (the GPT)
VOCAB = 103                                                   # the reference topics' characters
RESULTS = Path(__file__).parent / "results" / "bench_peers.json"


# ------------------------------------------------------------------------------ one process each
BATCH = {"mlp-A": 10, "mlp-B": 128, "cnn": 32, "lstm": 64, "gpt-small": 32, "gpt-large": 32}


def fixed_batch(name: str):
    """A fixed random batch ``(x, y)`` of the model's input and label shapes (NumPy)."""
    batch, rng = BATCH[name], np.random.default_rng(0)
    if name.startswith("gpt"):
        T = 64 if name == "gpt-small" else 128
        tokens = rng.integers(0, VOCAB, (batch, T + 1))
        return tokens[:, :-1].astype(np.int32), tokens[:, 1:].astype(np.int32)
    shape = {"cnn": (28, 28, 1), "lstm": (28, 28)}.get(name, (784,))
    return rng.random((batch, *shape), dtype=np.float32), rng.integers(0, 10, batch).astype(np.int32)


def jax_setup(name: str, backward: str):
    """``(model, optimizer)`` of ``name`` for jaxnn (``"hand"``) or ``jax.grad``."""
    import optax
    from bench_conv import VARIANTS

    import jaxnn

    adamw = optax.adamw(3e-3, weight_decay=0.1)
    return {
        "mlp-A": lambda: (jaxnn.models.nielsen(), jaxnn.sgd(3.0)),
        "mlp-B": lambda: (jaxnn.models.mlp(), optax.adam(1e-3)),
        "cnn": lambda: (VARIANTS["hand matmul" if backward == "hand" else "jax.grad lax.conv"][0],
                        optax.adam(1e-3)),
        "lstm": lambda: (jaxnn.models.row_rnn("lstm"), optax.adam(1e-3)),
        "gpt-small": lambda: (jaxnn.models.gpt(VOCAB, 64, dim=64, heads=4, depth=2), adamw),
        "gpt-large": lambda: (jaxnn.models.gpt(VOCAB, 128, dim=128, heads=4, depth=4), adamw),
    }[name]()


def jax_step(name: str, backward: str, scan: int = 0):
    """``(compiled step, (params, opt_state, x, y))`` of ``name`` on ``fixed_batch``; with
    ``scan``, one call runs that many steps in a ``lax.scan`` (as ``fit`` runs an epoch)."""
    import jax

    import jaxnn
    from jaxnn.training.epoch import make_step

    model, opt = jax_setup(name, backward)
    params = jaxnn.init(jax.random.key(0), model)
    x, y = map(jax.numpy.asarray, fixed_batch(name))
    if model.loss == "quadratic":                                  # targets, not labels
        y = jax.nn.one_hot(y, 10)
    step = make_step(model, opt, backward=backward)

    def steps(params, opt_state, x, y):
        def body(carry, _):
            params, opt_state, cost = step(*carry, x, y)
            return (params, opt_state), cost

        (params, opt_state), costs = jax.lax.scan(body, (params, opt_state), length=scan)
        return params, opt_state, costs[-1]

    return jax.jit(steps if scan else step), (params, opt.init(params), x, y)


def torch_step(name: str, compile: bool = False):
    """``(step() -> loss, parameter count)`` of ``name`` in PyTorch on ``fixed_batch``."""
    return torch_baseline.train_step(name, *fixed_batch(name), compile=compile)


def _time_steps(step, chunks: int, steps: int, sync) -> tuple[list[float], dict]:
    """ms per step of ``chunks`` chunks of ``steps`` steps, after one untimed chunk (the first
    steps after compilation run slower in every framework: allocation, caches), and the page
    faults and kernel (system) ms per timed step."""
    import resource  # (Unix only; so not at import)

    def chunk() -> float:
        t = time.perf_counter()
        for _ in range(steps):
            last = step()
        sync(last)
        return (time.perf_counter() - t) / steps * 1e3

    chunk()
    before = resource.getrusage(resource.RUSAGE_SELF)
    out = [chunk() for _ in range(chunks)]
    after, n = resource.getrusage(resource.RUSAGE_SELF), chunks * steps
    return out, {"page_faults": (after.ru_minflt - before.ru_minflt) / n,
                 "kernel_ms": (after.ru_stime - before.ru_stime) / n * 1e3}


def worker_step(impl: str, name: str, chunks: int, steps: int, keep_memory: bool = False) -> dict:
    """Time one implementation's step of ``name`` in this process (jax: after
    ``jaxnn.training.memory.keep_step_memory`` with ``keep_memory``)."""
    if impl.startswith("torch"):
        import torch

        step, n_params = torch_step(name, compile=impl == "torch.compile")
        t = time.perf_counter()
        step()                                                     # compiles (torch.compile)
        compile_s = time.perf_counter() - t
        ms, usage = _time_steps(step, chunks, steps, lambda loss: loss.item())
        return {"ms": ms, "parameters": n_params, "compile_s": compile_s,
                "version": f"PyTorch {torch.__version__.split('+')[0]}", **usage}
    import jax

    from jaxnn.training.memory import keep_step_memory

    if keep_memory and not keep_step_memory():
        raise RuntimeError("keep_step_memory() has no effect here (it needs Linux with glibc)")
    scan = steps if impl == "jaxnn-scanned" else 0                # a chunk is then one call
    compiled, (params, opt_state, x, y) = jax_step(name, "autodiff" if impl == "jax.grad" else "hand", scan)
    state = [params, opt_state]

    def step():
        state[0], state[1], cost = compiled(state[0], state[1], x, y)
        return cost

    t = time.perf_counter()
    jax.block_until_ready(step())
    compile_s = time.perf_counter() - t
    ms, usage = _time_steps(step, chunks, 1 if scan else steps, jax.block_until_ready)
    if scan:                                                       # per step, not per call
        ms, usage = [t / scan for t in ms], {k: v / scan for k, v in usage.items()}
    return {"ms": ms, "parameters": sum(a.size for a in jax.tree.leaves(params)),
            "compile_s": compile_s, "version": f"jax {jax.__version__}", **usage}


def worker_target(impl: str, name: str, data_dir: str | None, max_seconds: float) -> dict:
    """Train ``name`` with ``impl`` until its target; ``{"seconds": …, "reached": …, "curve": …}``."""
    if name == "gpt-small":
        return _gpt_to_target(impl, TARGETS[name], max_seconds)
    import jax
    from bench_time_to_accuracy import MODELS as TTA_MODELS
    from bench_time_to_accuracy import time_to, train_jax
    from common import load_mnist

    from jaxnn.cli.recipes import RECIPES

    shape, hand_model, grad_model, target = TTA_MODELS[name]
    recipe = RECIPES[name]
    (x, y), (xt, yt), _ = load_mnist(Path(data_dir) if data_dir else None)
    train, test = (x.reshape(-1, *shape), y), (xt.reshape(-1, *shape), yt)
    if impl == "torch":
        run = torch_baseline.train_to_accuracy(name, train, test, batch_size=recipe.batch_size,
                                               peak_lr=recipe.peak_lr, epochs=recipe.epochs, seed=0)
    else:
        model, backward = (hand_model, "hand") if impl == "jaxnn" else (grad_model, "autodiff")
        run = train_jax(model, backward, recipe, train, test, 0)
    seconds = time_to(target, run)
    return {"seconds": seconds, "reached": math.isfinite(seconds), "curve": run,
            "final": run[-1][1], "backend": jax.default_backend()}


def _gpt_to_target(impl: str, target: float, max_seconds: float, every: int = 100) -> dict:
    """Train the small GPT until the validation loss is ≤ ``target`` nats/char (checked every
    ``every`` steps) or ``max_seconds`` of training pass."""
    from jaxnn.data import text as T

    corpus, _ = T.load_text()
    vocab = T.Vocab.of(corpus)
    train, val = T.split(vocab.encode(corpus), 64)
    starts = np.random.default_rng(0).integers(0, len(val) - 64, 512)
    xv = np.stack([val[s:s + 64] for s in starts]).astype(np.int32)
    yv = np.stack([val[s + 1:s + 65] for s in starts]).astype(np.int32)
    if impl == "torch":
        chunk, val_loss = _torch_gpt_chunks(train, xv, yv, every)
    else:
        chunk, val_loss = _jax_gpt_chunks(train, xv, yv, every, "hand" if impl == "jaxnn" else "autodiff")
    spent, curve = 0.0, []
    while spent < max_seconds:
        t = time.perf_counter()
        chunk(len(curve))
        spent += time.perf_counter() - t
        curve.append((spent, val_loss()))
        if curve[-1][1] <= target:
            return {"seconds": spent, "reached": True, "curve": curve, "final": curve[-1][1]}
    return {"seconds": math.inf, "reached": False, "curve": curve, "final": curve[-1][1]}


def _jax_gpt_chunks(train, xv, yv, every, backward):
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn.training.epoch import make_stream_steps

    model, opt = jax_setup("gpt-small", backward)
    params = jaxnn.init(jax.random.key(0), model)
    state = [params, opt.init(params)]
    run = make_stream_steps(model, opt, batch_size=BATCH["gpt-small"], steps=every, backward=backward)
    tokens, loss = jnp.asarray(train), jax.jit(jaxnn.loss, static_argnums=0)

    def chunk(i):
        state[0], state[1], cost = run(state[0], state[1], jax.random.key(i), tokens)
        jax.block_until_ready(cost)

    return chunk, lambda: float(loss(model, state[0], xv, yv))


def _torch_gpt_chunks(train, xv, yv, every):
    import torch

    torch.manual_seed(0)
    make, _, optimizer, options = torch_baseline.PEERS["gpt-small"]
    model = make()
    opt = getattr(torch.optim, optimizer)(model.parameters(), **options)
    tokens, gen = torch.as_tensor(train.astype(np.int64)), torch.Generator().manual_seed(0)
    offsets = torch.arange(65)
    xv, yv = torch.as_tensor(xv).long(), torch.as_tensor(yv).long()
    ce = torch.nn.functional.cross_entropy

    def chunk(_):
        for _ in range(every):
            windows = tokens[torch.randint(0, len(tokens) - 65, (32, 1), generator=gen) + offsets]
            opt.zero_grad(set_to_none=True)
            ce(model(windows[:, :-1]).reshape(-1, VOCAB), windows[:, 1:].reshape(-1)).backward()
            opt.step()

    def val_loss():
        with torch.no_grad():
            return float(ce(model(xv).reshape(-1, VOCAB), yv.reshape(-1)))

    return chunk, val_loss


# ------------------------------------------------------------------------------------- driver
# Runs this script with ``jaxnn`` imported from a given folder (an editable install's hook set aside).
_FROM = """
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__name__.lower()]
sys.path.insert(0, sys.argv.pop(1))
import jaxnn
assert jaxnn.__file__.startswith(sys.path[0]), jaxnn.__file__
sys.argv[0] = {script!r}
runpy.run_path({script!r}, run_name="__main__")
"""


def run_worker(args: list[str], jaxnn_from: Path | None = None) -> dict:
    """One measuring process (``jaxnn_from``: with the ``jaxnn`` package in that folder)."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_DISABLE_MOST_OPTIMIZATIONS"}  # (the suite's)
    script = [__file__] if jaxnn_from is None else ["-c", _FROM.format(script=__file__), str(jaxnn_from)]
    proc = subprocess.run([sys.executable, *script, "--worker", *args], capture_output=True, text=True,
                          cwd=Path(__file__).parent, env=env)                       # optimized, always
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        errors = [line for line in lines if re.match(r"\w*(Error|Exception)\b", line)]
        return {"error": (errors or lines)[-1][:300]}
    return json.loads(lines[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {', '.join(MODELS)}")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated: {', '.join(IMPLS)}")
    p.add_argument("--rounds", type=positive(int), default=3, help="alternated rounds of processes")
    p.add_argument("--chunks", type=positive(int), default=5, help="timed chunks per process (median)")
    p.add_argument("--steps", type=positive(int), default=10, help="steps per chunk")
    p.add_argument("--targets", default="", help=f"time to target for: {', '.join(TARGETS)} (empty: none)")
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder for the cnn/lstm targets")
    p.add_argument("--max-seconds", type=positive(float), default=900, help="give up a target then")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--keep-memory", action="store_true", help=argparse.SUPPRESS)   # (bench_memory's)
    args = p.parse_args(argv)
    if args.worker:                                       # inside one measuring process
        kind, impl, name = args.worker[0].split(":")
        result = (worker_step(impl, name, args.chunks, args.steps, args.keep_memory) if kind == "step" else
                  worker_target(impl, name, args.data_dir, args.max_seconds))
        print(json.dumps(result, default=float))
        return result
    models, impls = args.models.split(","), args.impls.split(",")
    targets = [t for t in args.targets.split(",") if t]
    for flag, given, known in (("--models", models, MODELS), ("--impls", impls, IMPLS),
                               ("--targets", targets, TARGETS)):
        if unknown := sorted(set(given) - set(known)):
            p.error(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    if min(args.rounds, args.chunks, args.steps) < 1:
        p.error("--rounds, --chunks and --steps must be positive")
    if any(i.startswith("torch") for i in impls) and not torch_baseline.available():
        print("(no PyTorch columns: torch is not importable; pip install torch to add them)")
        impls = [i for i in impls if not i.startswith("torch")]
    command = re.sub(r"--data-dir \S+", "--data-dir DIR", " ".join(argv or sys.argv[1:]))   # no local paths
    results = {"command": f"python experiments/bench_peers.py {command}",
               "machine": machine(), "date": datetime.date.today().isoformat(), "versions": {},
               "steps": args.steps,
               "step_ms": {}, "time_to_target": {}}
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in models:
        runs = {impl: [] for impl in impls}
        for r in range(args.rounds):                      # alternate processes: same machine state
            for impl in impls:
                out = run_worker([f"step:{impl}:{name}", "--chunks", str(args.chunks),
                                   "--steps", str(args.steps)])
                runs[impl].append(out)
                ms = f"{statistics.median(out['ms']):8.2f} ms" if "ms" in out else out["error"]
                print(f"round {r + 1} {name:>9} {impl:>13}: {ms}", flush=True)
        results["step_ms"][name] = {impl: step_summary(rs, results["versions"]) for impl, rs in runs.items()}
    for name in targets:
        results["time_to_target"][name] = {}
        for impl in [i for i in ("jaxnn", "jax.grad", "torch") if i in impls]:
            out = run_worker([f"target:{impl}:{name}", "--max-seconds", str(args.max_seconds)]
                              + (["--data-dir", str(Path(args.data_dir).resolve())] if args.data_dir else []))
            results["time_to_target"][name][impl] = out
            print(f"{name:>9} {impl:>9}: to {TARGETS[name]}: "
                  f"{out.get('seconds', out.get('error'))}", flush=True)
    if not targets and old.get("time_to_target"):        # keep earlier target runs, say when
        results["time_to_target"] = old["time_to_target"]
        results["time_to_target_from"] = old.get("time_to_target_from", old.get("date"))
        results["time_to_target_command"] = old.get("time_to_target_command", old.get("command"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(results), indent=1))
    print(render(results))
    print(f"wrote {args.out}; python experiments/report.py puts it in the docs")
    return results


def step_summary(runs: list[dict], versions: dict) -> dict:
    """One implementation's rounds: the best round's median ms, the medians of the rest (page
    faults, kernel ms per step); ``versions`` gains the framework's version."""
    good = [r for r in runs if "ms" in r]
    if not good:
        return {"error": runs[-1]["error"]}
    versions.update({r["version"].split()[0]: r["version"] for r in good})
    medians = [statistics.median(r["ms"]) for r in good]
    return {"ms": min(medians), "round_medians": medians, "parameters": good[0]["parameters"],
            **{k: statistics.median(r[k] for r in good) for k in ("compile_s", "page_faults", "kernel_ms")}}


def round_ratios(row: dict, impl: str) -> list[float]:
    """``impl``'s step time ÷ the faster PyTorch column's, round by round (the processes of one
    round ran one after another, so a slower stretch of the machine's load slows both sides); empty
    without a PyTorch column or when a round failed."""
    peers = [row[i]["round_medians"] for i in ("torch", "torch.compile") if "ms" in row.get(i, {})]
    own = row.get(impl, {}).get("round_medians", [])
    if not peers or not own or any(len(p) != len(own) for p in peers):
        return []
    return [ms / min(p) for ms, *p in zip(own, *peers)]


def render(results: dict) -> str:
    """The README's tables (markdown) from a results dict."""
    steps, impls = results["step_ms"], IMPLS
    command = results["command"].strip()
    lines = [f"One optimiser step, ms (best of the rounds' medians; ratios: jaxnn ÷ the faster "
             f"PyTorch column within each round, the median over rounds and, in brackets, the lowest "
             f"and highest round; jaxnn-scanned: the same step, {results.get('steps', 10)} of them in "
             f"one compiled `lax.scan`, as `fit` runs an epoch). {results['machine']}; "
             f"{', '.join(sorted(results['versions'].values()))}; {results['date']}; `{command}`.",
             "",
             "| model | jaxnn vs best PyTorch | scanned vs best | parameters | " + " | ".join(impls) + " |",
             "|---|---|---|---|" + "---|" * len(impls)]
    for name, row in steps.items():
        cells = [f"{row[i]['ms']:.2f}" if "ms" in row.get(i, {}) else
                 ("fails: " + row[i]["error"][:60] if i in row else "–") for i in impls]
        ratios = []
        for impl in ("jaxnn", "jaxnn-scanned"):
            r = round_ratios(row, impl)
            ratios.append(f"**{statistics.median(r):.2f}×** ({min(r):.2f}–{max(r):.2f})" if r else "–")
        n = next((r["parameters"] for r in row.values() if "parameters" in r), "")
        lines.append(f"| {name} | " + " | ".join([*ratios, f"{n:,}", *cells]) + " |")
    tta = results.get("time_to_target") or {}
    if tta:
        lines += ["", f"Time to target, training seconds (compilation included, evaluation not); "
                  f"measured {results.get('time_to_target_from', results['date'])} with "
                  f"`{results.get('time_to_target_command', command)}`:", "",
                  "| model | target | jaxnn | jax.grad | torch | jaxnn vs torch |",
                  "|---|---|---|---|---|---|"]
        for name, row in tta.items():
            def cell(r):
                if "error" in r:
                    return "fails"
                s = r["seconds"]
                if s is None or not math.isfinite(s):
                    return f"not reached ({r['final']:.3f})"
                return f"{s:.1f} s"
            secs = {i: row[i].get("seconds") for i in row}
            ratio = (f"**{secs['jaxnn'] / secs['torch']:.2f}×**" if secs.get("jaxnn") and secs.get("torch")
                     else "–")
            what = f"≤ {TARGETS[name]} nats/char" if name.startswith("gpt") else f"{100 * TARGETS[name]:.0f}%"
            lines.append(f"| {name} | {what} | " + " | ".join(cell(row[i]) if i in row else "–"
                                                              for i in ("jaxnn", "jax.grad", "torch"))
                         + f" | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
