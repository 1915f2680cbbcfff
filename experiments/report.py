"""Render every figure of the README and the docs from the results files, so none is typed by hand.

Experiments run with ``--full`` and benchmarks run as scripts keep what they measured, with the
command, machine, date and versions, in ``experiments/results/<name>.json``. A page holds each
generated part between two markers::

    <!-- report:NAME ARGS -->
    ... (written by this script) ...
    <!-- /report -->

``python experiments/report.py`` rewrites every such part of ``README.md`` and ``docs/**/*.md``;
``--check`` only lists the parts that differ from their results (exit status 1), which
``tests/test_docs.py`` runs. A results file whose figures were measured in an earlier session and
copied in, not re-run, says so in its ``transcribed`` entry, and its table says so too.

``--notebooks`` executes every course notebook in its full setting (MNIST from ``$JAXNN_DATA_DIR``)
and writes the executed copies, outputs included, to ``docs/notebooks/`` for the docs site.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import math
import os
import re
import statistics
import sys
from contextlib import redirect_stdout
from pathlib import Path

from common import table  # beside this script (on sys.path as its folder)

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "experiments" / "results"
NOTEBOOKS = ROOT / "experiments" / "notebooks"
BLOCK = re.compile(r"(<!-- report:(?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /report -->)", re.S)


def pages() -> list[Path]:
    """The pages whose generated parts this script keeps: the README and every docs page."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def results(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"report: {path.relative_to(ROOT)} is missing; run the experiment that "
                         "writes it (its command is in the page beside the marker)")
    return json.loads(path.read_text())


def measured(*runs: dict, commands: bool = True) -> str:
    """One line under a table: how its figures were measured (the commands, unless the table
    shows them; each machine with its backend and jax version; the dates), and which were copied
    in from an earlier session rather than re-run."""
    def unique(items):
        return list(dict.fromkeys(items))

    def versions(r):
        v = r.get("versions", {})
        shown = [k for k in ("jax", "PyTorch") if k in v] or list(v)    # else whatever it names
        return ", ".join(f"{k} {v[k].removeprefix(k + ' ')}" for k in shown)

    where = unique(f"{r['machine']} ({r.get('backend', 'cpu').split(' ')[0]}, {versions(r)})" for r in runs)
    cmds = ", ".join(f"`{c}`" for c in unique(r["command"].strip() for r in runs))
    dates = ", ".join(sorted(unique(r["date"] for r in runs)))
    line = f"Measured{' with ' + cmds if commands else ''} on {'; '.join(where)}; {dates}."
    old = unique(f"*Copied in from an earlier session (`{r['command']}`): {r['transcribed']}.*"
                 for r in runs if "transcribed" in r)
    return " ".join([line, *old])


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def secs(x: float) -> str:
    return f"{x:,.1f} s" if x < 100 else f"{x:,.0f} s"


# ------------------------------------------------------------------------------------ renderers
def r_results() -> str:
    """The results table: every experiment's quick command in its full setting."""
    rows, runs = [], []

    def add(r, what, data, figures):
        runs.append(r)
        rows.append([what, f"`{r['command']}`", data, figures, r["date"]])

    def runs_of(r, best=True):                     # one experiment's runs: accuracy (best), seconds
        return "; ".join(f"{name}: {pct(v['final_test_accuracy'])}"
                         + (f" (best {pct(v['best_test_accuracy'])})" if best else "")
                         + f", {secs(v['seconds'])}" for name, v in r["runs"].items()) \
            + f" — {r['epochs']} epochs"

    def to_99(r):                                  # runs with the seconds to 99% test accuracy
        return "; ".join(f"{name}: {pct(v['final_test_accuracy'])}, {secs(v['seconds'])}, 99% "
                         + (f"after {secs(v['seconds_to_99'])}" if v["seconds_to_99"] else "not reached")
                         for name, v in r["runs"].items()) + f" — {r['epochs']} epochs"

    r = results("worked_example")
    we = r["linear"]
    worst = max(abs(we["hand"][k] - we["chain_rule"][k]) for k in we["hand"])
    add(r, "worked example (2-2-2, seed 001)", "given weights",
        f"hand = `jax.grad` = chain rule for all 12 partials (largest difference {worst:.1e}); "
        f"∂E/∂w5 = {we['hand']['w5']:.9f}")
    digits = {"nielsen_mnist": ("Nielsen [784,30,10] (seed 002)", lambda r: (
                  f"{pct(r['final_test_accuracy'])} test after {r['epochs']} epochs (best "
                  f"{pct(r['best_test_accuracy'])}), {secs(r['seconds'])}")),
              "mnist_mlp": ("MLPs, ReLU, Adam (seed 000)", runs_of),
              "cnn_mnist": ("small CNN, recipe `{recipe}`", lambda r: runs_of(r, best=False)),
              "cnn_mnist_norm": ("small CNN without and with BatchNorm, recipe `{recipe}`", to_99),
              "rnn_mnist": ("RNNs over image rows", runs_of)}
    for name, (what, figures) in digits.items():
        for source, data in (("idx", "full MNIST"), ("shipped", "shipped subset")):
            r = results(f"{name}-{source}")
            add(r, what.format(**r), data, figures(r))
    r = results("binary_to_decimal")
    add(r, "binary → decimal (seed 003)", "3-bit patterns, 101 held out", "; ".join(
        f"{net}: prediction for 101 within 0.5 of 5 in {100 * v['fraction_within_0.5_of_5']:.0f}% of "
        f"{v['seeds']:,} seeds" for net, v in r.items() if isinstance(v, dict) and "seeds" in v))
    r = results("xor")
    add(r, "XOR", "4 points", "; ".join(f"{net}: all four right in {v['solved']} of {v['seeds']} seeds"
                                        for net, v in r.items() if isinstance(v, dict) and "solved" in v))
    r = results("gradient_check")
    add(r, "gradient check", "random, float64",
        f"worst relative error hand vs `jax.grad` {r['worst_vs_autodiff']:.1e}, vs finite "
        f"differences {r['worst_vs_finite_diff']:.1e}")
    r = results("char_gpt")
    gv, lv = r["models"]["GPT"], r["models"]["LSTM"]
    add(r, "char-level GPT vs LSTM", "Python's reference topics",
        f"validation {gv['final_val']:.3f} (GPT) vs {lv['final_val']:.3f} (LSTM) nats/char after equal "
        "training time (see Attention)")
    header = ["experiment", "command (`DIR`: the MNIST IDX files)", "data", "measured", "date"]
    return table(header, rows) + "\n\n" + measured(*runs, commands=False)


def r_summary() -> str:
    """The README's one table: headline accuracies and the speed against PyTorch."""
    import bench_peers  # beside this script (on sys.path as its folder)

    rows, runs = [], []
    for name, what, run in (("mnist_mlp-idx", "MLP 784-128-64-10", None),
                            ("cnn_mnist-idx", "small CNN", None),
                            ("cnn_mnist_norm-idx", "small CNN with BatchNorm",
                             "BatchNorm, without augmentation"),
                            ("rnn_mnist-idx", "LSTM(128) over image rows", "LSTM")):
        r = results(name)
        runs.append(r)
        run = r["runs"][run] if run else next(iter(r["runs"].values()))
        how = f"{r['epochs']} epochs, {secs(run['seconds'])}"
        if name == "cnn_mnist_norm-idx":                     # its baseline, run on the same machine
            plain = r["runs"]["without augmentation"]
            how += (f" (without BatchNorm, same run: {pct(plain['final_test_accuracy'])}, "
                    f"{secs(plain['seconds'])})")
        how += f" on {cpu(r['machine'])}, {r['date']}"
        rows.append([what, "full MNIST test accuracy", pct(run["final_test_accuracy"]), how])
    g = results("char_gpt")
    runs.append(g)
    gpt = g["models"]["GPT"]
    rows.append([f"GPT, {gpt['parameters']:,} parameters", "validation nats/char", f"{gpt['final_val']:.3f}",
                 f"{g['seconds_per_model'] / 60:.0f} minutes of training on {cpu(g['machine'])}, "
                 f"{g['date']}"])
    p = results("bench_peers")
    runs.append(p)
    for model, row in p["step_ms"].items():
        call, scanned = (bench_peers.round_ratios(row, impl) for impl in ("jaxnn", "jaxnn-scanned"))
        if call:
            value = f"{statistics.median(call):.2f}× a call" + (
                f", {statistics.median(scanned):.2f}× as `fit` runs it" if scanned else "")
            rows.append([f"{model} training step", "time ÷ the faster PyTorch", value,
                         f"median of {len(call)} paired rounds on {cpu(p['machine'])}, {p['date']}; "
                         "below 1: jaxnn is faster"])
    return table(["model", "figure", "value", "how"], rows) + "\n\n" + measured(*runs)


def cpu(machine: str) -> str:
    """The processor of a results file's machine, without the core count and OS."""
    return machine.split(",")[0].replace("(R)", "")


def r_nielsen_book() -> str:
    r = results("nielsen_book")
    rows = [[x["row"], x["config"], x["book"],
             x.get("not_run") or f"{x['mean']:.2f} ± {x['std']:.2f}% ({x['seeds']})",
             f"{x['best']:.2f}%" if "best" in x else "–",
             f"{x['seconds']:,} s" if "seconds" in x else "–", x.get("date", "–")] for x in r["rows"]]
    return (table(["row", "config", "book", "jaxnn mean ± std (seeds)", "best seed", "time (all seeds)",
                   "date"], rows) + f"\n\nProtocol: {r['protocol']}.\n\n{r['notes']}\n\n" + measured(r))


def r_char_gpt() -> str:
    r = results("char_gpt")
    names = {"GPT": "GPT, depth 2, dim 64, 4 heads, context 64",
             "LSTM": "LSTM(128) language model (Embedding 64 → LSTM → Dropout → Dense)"}
    rows = [[names.get(m, m), f"{v['parameters']:,}", f"{v['steps']:,}",
             f"**{v['final_val']:.3f}** ({v['final_val'] / math.log(2):.2f} bits)", f"{v['best_val']:.3f}"]
            for m, v in r["models"].items()]
    b = r["baselines"]
    rows.append(["bigram / unigram of the training text", "–", "–",
                 f"{b['bigram']:.3f} / {b['unigram']:.3f}", "–"])
    variants = "".join(f" Same script and day, {name}: GPT {v['GPT'][0]:.3f} (best {v['GPT'][1]:.3f}), "
                       f"LSTM {v['LSTM'][0]:.3f} (best {v['LSTM'][1]:.3f})."
                       for name, v in r.get("variants", {}).items())
    sample = " ".join(r["models"].get("GPT", {}).get("sample", "").replace("`", "'").split())[:160]
    return (table(["model", "parameters", "steps", "validation nats/char at the end", "best"], rows)
            + f"\n\nSetting: {r['seconds_per_model'] / 60:.0f} minutes of training per model, "
            "compilation excluded, through `jaxnn.fit` (random windows of the text, an epoch of 25 "
            "steps, the validation after each counted in the budget); Python's reference topics, "
            "90/10 split by position; AdamW 3e-3 with warm-up and a cosine over the time budget, "
            f"weight decay 0.1, dropout {r['dropout']}, batch 32; validation on 512 fixed windows of "
            f"64.{variants} A sample "
            f"from the GPT (temperature 0.8): `{sample}`\n\n" + measured(r))


def r_bench_peers() -> str:
    import bench_peers  # beside this script (on sys.path as its folder)

    return bench_peers.render(results("bench_peers"))


def r_bench_memory() -> str:
    import bench_memory

    return bench_memory.render(results("bench_memory"))


def r_bench_sharding() -> str:
    import bench_sharding

    return bench_sharding.render(results("bench_sharding"))


def r_bench_vjp() -> str:
    import bench_vjp

    return bench_vjp.render(results("bench_vjp"))


def r_bench_training() -> str:
    r = results("bench_training")
    rows = []
    for name in ("A", "B"):
        med = r[name]["median_s_per_epoch"]
        base = med["jax.grad (scan epoch)"]
        rows += [[f"config {name}", k, f"{v:.3f} s", f"{v / base:.2f}×"] for k, v in med.items()]
    return (table(["config", "variant", "s/epoch (median)", "vs `jax.grad`"], rows)
            + "\n\nConfig A: [784,30,10] sigmoid, quadratic, SGD η=3, batch 10; config B: "
            "[784,128,64,10] ReLU, softmax + cross-entropy, Adam, batch 128; synthetic 60,000 × 784 "
            "data, all variants in one run, round-robin.\n\n" + measured(r))


def r_bench_conv() -> str:
    r = results("bench_conv")
    med, steps = r["seconds_per_epoch"], r["n"] // r["batch"]
    base = min((v for k, v in med.items() if k.startswith("jax.grad")), default=None)
    rows = [[k, f"{1000 * v / steps:.2f}", f"{v / base:.2f}×" if base else "–"] for k, v in med.items()]
    return (table(["variant (loop)", "ms/step", "vs the fastest `jax.grad`"], rows)
            + f"\n\nThe `cnn_mnist.py` model, batch {r['batch']}, Adam, {r['n']:,} synthetic 28×28 "
            "images per epoch, median of round-robin rounds.\n\n" + measured(r))


def r_bench_population() -> str:
    r = results("bench_population")
    rows = [[n, f"{v['seconds']['sequential']:.3f} s", f"{v['seconds']['population']:.3f} s",
             *(f"{v['members_epochs_per_s'][k]:.1f}" for k in ("sequential", "population")),
             f"{v['speedup']:.2f}×"] for n, v in r.items() if isinstance(v, dict) and "speedup" in v]
    return (table(["N", "sequential", "population", "members·epochs/s, sequential",
                   "members·epochs/s, population", "speed-up"], rows)
            + "\n\n`N` Nielsen [784,30,10] networks, one epoch of 5,000 random images at batch 10: "
            "one population call vs `N` sequential epochs of the same compiled epoch.\n\n" + measured(r))


def r_bench_attention() -> str:
    r = results("bench_attention")
    names = {"small": "depth 2, dim 64, context 64, batch 32",
             "large": "depth 4, dim 128, context 128, batch 32",
             "long": "depth 2, dim 64, context 2,048, batch 8"}
    sizes = {k: v for k, v in r.items() if isinstance(v, dict) and "ms" in v}
    headline = [[names.get(k, k), f"{v['parameters']:,}",
                 f"**{v['time_ratio']:.2f}×**, {v['remat_time_ratio']:.2f}×",
                 f"**{v['memory_ratio']:.2f}×**, **{v['remat_memory_ratio']:.2f}×**"]
                for k, v in sizes.items()]
    details = [[names.get(k, k), *(f"{v['ms'][b]:,.1f}" for b in ("hand", "remat", "autodiff")),
                *(f"{v['memory_mb'][b]:,.1f}" for b in ("hand", "remat", "autodiff"))]
               for k, v in sizes.items()]
    return (table(["size", "parameters", "time vs `jax.grad`: hand, remat",
                   "memory vs `jax.grad`: hand, remat"], headline)
            + "\n\nThe times and memory behind those ratios:\n\n"
            + table(["size", "hand ms/step", "remat ms/step", "`jax.grad` ms/step", "hand MB", "remat MB",
                     "`jax.grad` MB"], details)
            + "\n\nOne AdamW step; temporary memory of the compiled step from `memory_analysis()`; "
            "*remat*: the hand backward of `gpt(..., remat=True)`.\n\n" + measured(r))


def r_time_to_accuracy() -> str:
    r = results("bench_time_to_accuracy")
    what = {"cnn": "CNN (`cnn_mnist.py`), batch 32, peak 3e-3; 99%",
            "lstm": "LSTM(128) over rows (`rnn_mnist.py`), batch 64, peak 5e-3; 98%"}
    how = {"jaxnn": "jaxnn (hand backward)", "jax.grad": "`jax.grad` (autodiff at its strongest on CPU)",
           "PyTorch": "PyTorch CPU, same model and schedule"}
    rows = []
    for model in what:
        impls = r.get(model, {})
        base = impls.get("jax.grad", {}).get("time_to_target")
        for i, (impl, v) in enumerate(impls.items()):
            t = v["time_to_target"]
            rows.append([what[model] if i == 0 else "", how.get(impl, impl),
                         "not reached" if t is None else f"{t:.1f} s",
                         ", ".join(f"{100 * a:.2f}" for a in v["final_accuracy"]) + "%",
                         f"{v['epoch_seconds']:.1f}", f"{t / base:.2f}×" if t and base else "–"])
    return (table(["model, recipe, target", "implementation", "time to target",
                   "final test accuracy (seeds)", "epoch s", "vs `jax.grad`"], rows)
            + f"\n\nSetting: {r['setting']}.\n\n" + measured(r))


def r_gpu() -> str:
    r = results("gpu_h100")
    prec = table(["precision", "hand vs `jax.grad` (float32)", "either vs float64 gradients"],
                 [[p["precision"], p["hand_vs_grad"], p["vs_float64"]] for p in r["precision"]])
    exps = table(["experiment (full MNIST)", "accuracy", "seconds (training)"],
                 [[e["experiment"], e["accuracy"], e["seconds"]] for e in r["experiments"]])
    speed = table(["config", "hand, scan epoch", "jax.grad, scan epoch", "hand, Python loop",
                   "hand, `fit(devices=1)`", "Nielsen NumPy (CPU)", "PyTorch CUDA, eager loop"],
                  [[s["config"], s["hand_scan"], s["grad_scan"], s["hand_python"], s["fit"],
                    s["nielsen"], s["torch"]] for s in r["speed"]])
    c = r["cnn_step_ms"]
    return (f"float32 matrix-product precision on the GPU (784-128-64-10, batch 256):\n\n{prec}\n\n"
            f"{exps}\n\n{speed}\n\nCNN step, batch 64: " + ", ".join(f"{k} {v} ms" for k, v in c.items())
            + "\n\n" + measured(r))


def r_tfds_load() -> str:
    r = results("tfds_load")
    return (table(["source", "first load", "later loads"], [[x["source"], x["first"], x["later"]]
                                                          for x in r["rows"]]) + "\n\n" + measured(r))


def r_test_suite() -> str:
    r = results("test_suite")
    return (f"The suite ({r['tests']} tests) took {r['seconds'] // 60} min {r['seconds'] % 60:02d} s "
            f"({r['with_install'] // 60} min {r['with_install'] % 60:02d} s with the venv and the "
            f"install) from a clean clone. {measured(r)}")


def r_source(path: str, *names: str) -> str:
    """The source of functions or methods (``Class.method``) of ``path``, docstrings left out."""
    text = (ROOT / path).read_text()
    lines, tree, parts = text.splitlines(), ast.parse(text), []
    for name in names:
        scope = tree
        for part in name.split("."):
            scope = next(n for n in ast.iter_child_nodes(scope)
                         if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
        body = scope.body
        skip = body[0].end_lineno if isinstance(body[0], ast.Expr) and isinstance(
            getattr(body[0], "value", None), ast.Constant) else None
        src = [ln for i, ln in enumerate(lines[scope.lineno - 1:scope.end_lineno], scope.lineno)
               if skip is None or not (body[0].lineno <= i <= skip)]
        indent = min(len(ln) - len(ln.lstrip()) for ln in src if ln.strip())
        parts.append("\n".join(ln[indent:] for ln in src))
    return f"```python\n# {path}\n" + "\n\n".join(parts) + "\n```"


def r_cli_help(command: str = "") -> str:
    """``jaxnn [command] --help`` as the command prints it (100 columns)."""
    from jaxnn import cli

    out, columns = io.StringIO(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with redirect_stdout(out):
            cli.build_parser().parse_args([command, "--help"] if command else ["--help"])
    except SystemExit:
        pass
    finally:
        os.environ.pop("COLUMNS") if columns is None else os.environ.update(COLUMNS=columns)
    return "```text\n" + out.getvalue().rstrip() + "\n```"


RENDERERS = {name[2:].replace("_", "-"): fn for name, fn in globals().items() if name.startswith("r_")}


# ------------------------------------------------------------------------------------- pages
def render(text: str, where: str = "") -> str:
    """``text`` with every generated part rendered anew."""
    def one(m):
        name, *args = m["spec"].split()
        if name not in RENDERERS:
            raise SystemExit(f"report: {where}: unknown part {name!r}; known: {', '.join(RENDERERS)}")
        return m[1] + RENDERERS[name](*args) + "\n" + m[4]
    return BLOCK.sub(one, text)


def stale() -> list[str]:
    """``page: part`` for every generated part that differs from what its results give."""
    out = []
    for page in pages():
        text = page.read_text()
        new = render(text, str(page.relative_to(ROOT)))
        if new != text:
            old_parts, new_parts = BLOCK.findall(text), BLOCK.findall(new)
            out += [f"{page.relative_to(ROOT)}: {a[1]}" for a, b in zip(old_parts, new_parts) if a != b]
    return out


def execute_notebooks(names: list[str]) -> None:
    """Run each notebook in its full setting; write it with its outputs to docs/notebooks/."""
    import nbformat
    from nbclient import NotebookClient

    target = ROOT / "docs" / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    known = {p.stem: p for p in sorted(NOTEBOOKS.glob("*.ipynb"))}
    if unknown := sorted(set(names) - set(known)):
        raise SystemExit(f"report: no notebook {', '.join(unknown)}; the notebooks are "
                         f"{', '.join(known)}")
    for path in [known[n] for n in names] if names else known.values():
        print(f"executing {path.name} ...", flush=True)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(scrub(nb), target / path.name)


def scrub(nb):
    """The notebook with the local data folder's name (``$JAXNN_DATA_DIR``) left out of its outputs."""
    if not os.environ.get("JAXNN_DATA_DIR"):
        return nb
    local = str(Path(os.environ["JAXNN_DATA_DIR"]).resolve())
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for place, key in [(out, "text"), (out.get("data", {}), "text/plain"),
                               (out.get("data", {}), "text/html")]:
                if key in place:
                    place[key] = place[key].replace(local, "$JAXNN_DATA_DIR")
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--check", action="store_true", help="only list the parts that are out of date")
    p.add_argument("--notebooks", nargs="*", default=None, metavar="NAME",
                   help="execute these notebooks (none named: all) into docs/notebooks/")
    args = p.parse_args(argv)
    if args.notebooks is not None:
        execute_notebooks(args.notebooks)
        return 0
    if args.check:
        parts = stale()
        print("\n".join(parts) if parts else "every generated part is up to date")
        return 1 if parts else 0
    for page in pages():
        text = page.read_text()
        new = render(text, str(page.relative_to(ROOT)))
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
