"""The ``jaxnn`` command: ``train`` (the default), ``eval CHECKPOINT``, ``predict CHECKPOINT INPUT``,
``generate CHECKPOINT`` (text from a ``--arch gpt`` run).

``jaxnn train`` with no flags trains a 784-128-64-10 ReLU MLP (softmax + cross-entropy, Adam 1e-3,
batch 64, 10 epochs) on the best digits available (tfds → IDX files in ``--data-dir`` → the shipped
subset), prints a per-epoch table and the final test accuracy, and writes ``metrics.json``,
``checkpoint.npz`` and ``curves.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import NamedTuple, get_args

import numpy as np

from jaxnn import data, initializers, losses
from jaxnn.cli import arguments, recipes
from jaxnn.training import optim
from jaxnn.training.checkpoint import CHECKPOINT
from jaxnn.training.epoch import Backward, Sampling


def _data_args(p: argparse.ArgumentParser, split_default: str = "test"):
    p.add_argument("--dataset", default="mnist", choices=data.DATASETS, help="which digits")
    p.add_argument("--source", default="auto", choices=("auto",) + data.SOURCES,
                   help="where to load from (auto: the IDX files or prepared tfds data in "
                        "--data-dir; with no --data-dir, tfds's folder, else the shipped subset)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"folder with the IDX .gz files or prepared tfds data (default: "
                        f"${data.ENV_DATA_DIR}; tfds's own folder is $TFDS_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="jaxnn",
                                     description=__doc__.split("\n\n")[0].replace("``", ""),
                                     formatter_class=arguments.HelpFormatter)
    commands = parser.add_subparsers(dest="command")

    def sub(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, allow_abbrev=False, help=help,
                                   formatter_class=arguments.HelpFormatter)

    t = sub("train", "train a network and report test accuracy")
    t.add_argument("--arch", choices=("mlp", "cnn", "rnn", "lstm", "gpt"), default="mlp",
                   help="mlp: a jaxnn.Network built from the flags below; cnn: "
                        "jaxnn.models.small_cnn (conv 32-64, pool, dense 128); rnn / lstm: "
                        "SimpleRNN(128) / LSTM(128) over the image rows, then dense softmax; gpt: "
                        "jaxnn.models.gpt (depth 2, dim 64, 4 heads) on the characters of --text "
                        "(all but mlp ignore --layers/--hidden/--output/--loss/--init)")
    t.add_argument("--norm", choices=("none", "batch"), default="none",
                   help="--arch cnn: batch puts a BatchNorm before each ReLU")
    t.add_argument("--text", type=Path, default=None,
                   help="--arch gpt: a UTF-8 text file (default: Python's reference topics, "
                        "shipped with Python)")
    t.add_argument("--context", type=arguments.positive(int), default=None,
                   help="--arch gpt: characters the model sees at once (default 64)")
    for flag, default, what in (("--dim", 64, "width of the embeddings and the residual stream"),
                                ("--depth", 2, "transformer blocks"),
                                ("--heads", 4, "attention heads (they divide --dim)")):
        t.add_argument(flag, type=arguments.positive(int), default=None,
                       help=f"--arch gpt: {what} (default {default})")
    t.add_argument("--dropout", type=arguments.probability, default=None,
                   help="--arch gpt: Dropout rate at the end of each residual branch (default 0)")
    t.add_argument("--layers", type=arguments.sizes, default=[128, 64],
                   help="hidden layer widths (input and output come from the data)")
    t.add_argument("--hidden", type=arguments.activation, default="relu", help="hidden activation")
    t.add_argument("--output", type=arguments.activation, default="softmax", help="output activation")
    t.add_argument("--loss", default="cross_entropy", choices=losses.NAMES, help="cost function")
    t.add_argument("--init", default="he", choices=initializers.NAMES, help="weight initialisation")
    t.add_argument("--optimizer", default="adam", choices=tuple(optim.OPTIMIZERS), help="optimiser")
    t.add_argument("--recipe", default="default", choices=("default", "fast"),
                   help="fast: the recipe measured fastest to 99%% (cnn) / 98%% (lstm) on full MNIST: "
                        "a one-cycle learning rate over all steps, and its own batch size, peak "
                        "rate and epochs (cnn: 32, 3e-3, 2; lstm: 64, 5e-3, 2), each overridden by "
                        "--batch-size/--lr/--epochs when given")
    t.add_argument("--lr", type=arguments.positive(float), default=None,
                   help="learning rate η (default 1e-3; --recipe fast: the one-cycle peak)")
    t.add_argument("--batch-size", type=arguments.positive(int), default=None,
                   help="mini-batch size m (default 64)")
    t.add_argument("--epochs", type=arguments.positive(int), default=None, help="epochs in all (default 10; "
                   "with --resume: the total, not the number still to run)")
    t.add_argument("--sampling", default=None, choices=get_args(Sampling),
                   help="shuffle (the default for digits): a permutation per epoch (Nielsen); random: "
                        "each batch drawn anew; windows (--arch gpt, its only one): random windows of "
                        "the text")
    t.add_argument("--backward", default="hand", choices=get_args(Backward),
                   help="hand-derived BP1-BP4 or jax.grad")
    t.add_argument("--devices", type=arguments.positive(int), default=None,
                   help="train data-parallel on this many local devices")
    t.add_argument("--shard-params", action="store_true",
                   help="with several devices: shard the parameters and the optimiser state over them "
                        "(FSDP-style; each keeps about 1/N) instead of replicating them")
    t.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="train as one of several processes (jax.distributed; with --num-processes and "
                        "--process-id): every device of every process, each process loading its share "
                        "of the images, process 0 writing the run folder")
    t.add_argument("--num-processes", type=arguments.positive(int), default=None,
                   help="the number of processes of such a run")
    t.add_argument("--process-id", type=int, default=None, help="this process's index, 0 to N-1")
    t.add_argument("--heartbeat", type=arguments.positive(int), default=30, metavar="SECONDS",
                   help="a run of several processes: how long a silent process may stay silent before "
                        "the others end the run")
    t.add_argument("--distributed", action="store_true",
                   help="join a run of several processes that JAX's cluster detection finds (a TPU pod "
                        "slice, SLURM) instead of giving the three flags above")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batch order")
    _data_args(t)
    t.add_argument("--limit", type=arguments.positive(int), default=None,
                   help="train on a class-stratified subset of N images (quick runs; fixed by --seed)")
    t.add_argument("--out", type=Path, default=None,
                   help="output folder (default: a new runs/<dataset>-<date>-<time>)")
    t.add_argument("--checkpoint-every", type=arguments.positive(int), default=1,
                   help="write OUT/checkpoint.npz every N epochs (and after the last)")
    t.add_argument("--every", type=arguments.positive(int), default=None,
                   help="also report, checkpoint and honour Ctrl-C every N steps inside an epoch (a "
                        "long epoch: the run resumes from the last such checkpoint)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint.npz")
    t.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out that already holds a checkpoint, replacing it")
    t.add_argument("--quiet", action="store_true", help="no per-epoch table")
    t.add_argument("--no-plot", action="store_true", help="do not write curves.png")

    checkpoint_help = "a checkpoint.npz, or the run folder (--out of train) that holds it"
    e = sub("eval", "evaluate a checkpoint on a dataset split")
    e.add_argument("checkpoint", type=Path, help=checkpoint_help)
    e.add_argument("--split", default="test", choices=("train", "test"),
                   help="which split (a language model: train, or test for its validation part)")
    e.add_argument("--text", type=Path, default=None,
                   help="a language model's text (default: the one it was trained on)")
    _data_args(e)

    pr = sub("predict", "classify images with a checkpoint")
    pr.add_argument("checkpoint", type=Path, help=checkpoint_help)
    pr.add_argument("inputs", nargs="+", type=Path,
                    help="image files (PNG/JPEG...), IDX image files, or .npy arrays")
    pr.add_argument("--top", type=arguments.positive(int), default=3, help="show the top-k classes")

    g = sub("generate", "write text with a language model (--arch gpt) checkpoint")
    g.add_argument("checkpoint", type=Path, help=checkpoint_help)
    g.add_argument("--prompt", default=None,
                   help="the text to continue (default: the first word of the training text)")
    g.add_argument("--steps", type=arguments.positive(int), default=300, help="characters to write")
    g.add_argument("--temperature", type=arguments.positive(float), default=0.8,
                   help="below 1: safer choices; above 1: more surprising ones")
    g.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    commands = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "generate": cmd_generate}
    if argv and not argv[0].startswith("-") and argv[0] not in commands:   # train takes no word
        close = difflib.get_close_matches(argv[0], commands, n=1)
        parser.error(f"unknown command {argv[0]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                     + f"; the commands are {', '.join(commands)} (with none, jaxnn runs train)")
    if not argv or argv[0] not in (*commands, "-h", "--help"):
        argv = ["train", *argv]  # `jaxnn` alone runs the main job
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print(f"jaxnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except (data.DataError, ValueError, FloatingPointError) as e:
        print(f"jaxnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        print(f"jaxnn {args.command}: error: cannot access{where}: {e.strerror or e}",
              file=sys.stderr)
        return 2


def _load_splits(args, splits, limit=None):
    """The splits, all from the one source ``data.resolve_source`` picks; prints its note once."""
    loaded = [data.load(args.dataset, split, source=args.source, data_dir=args.data_dir,
                        limit=limit if split == "train" else None, seed=getattr(args, "seed", 0))
              for split in splits]
    if loaded[0].note:
        print(f"data: {loaded[0].note}")
    return loaded


def cmd_train(args) -> int:
    if args.distributed or any(v is not None for v in (args.coordinator, args.num_processes,
                                                        args.process_id)):
        import jax

        from jaxnn.training import parallel

        if args.devices is not None:
            raise ValueError("--devices counts this machine's devices; a run of several processes "
                             "trains on every device of every process (leave --devices out)")
        if args.out is None:
            raise ValueError("a run of several processes needs --out, the same folder on every "
                             "process: process 0 writes the run there and --resume continues from it")
        if os.environ.get(_CHILD) != "1":
            parallel.check_process_flags(args.coordinator, args.num_processes, args.process_id)
            return _supervise(args)
        parallel.start_processes(args.coordinator, args.num_processes, args.process_id,
                                 heartbeat_seconds=args.heartbeat)
        if jax.process_index() != 0:     # process 0 speaks and writes the run folder; the others train
            with contextlib.redirect_stdout(io.StringIO()):
                return _checked_train(args, open_folder=False)
    return _checked_train(args, open_folder=True)


_CHILD = "JAXNN_RUN_PROCESS"       # set in the process that trains under _supervise
_RUNTIME_LOG = re.compile(r"^(\[Gloo\]|[EFWI]\d{4} |\s+@ |\*\*\* |RPC: |The tasks have|\d+$|$)")


def _supervise(args) -> int:
    """This process's part of a run of several processes, trained in a child process: when another
    process dies, JAX's runtime ends the survivors with an abort and a C++ stack trace (after the
    heartbeat); here that becomes one line saying what happened and how to go on. The child dies
    with this process (PR_SET_PDEATHSIG on Linux); its standard output passes through."""
    import ctypes
    import signal
    import subprocess

    def die_with_parent():
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)          # PR_SET_PDEATHSIG

    child = subprocess.Popen([sys.executable, "-m", "jaxnn", *args.argv], env={**os.environ, _CHILD: "1"},
                             stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the child's to handle
    runtime = []
    try:
        for line in child.stderr:
            if _RUNTIME_LOG.match(line):
                runtime.append(line)
            else:
                sys.stderr.write(line)
                sys.stderr.flush()
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if code == 0 or not runtime or not any("distributed" in line or "heartbeat" in line
                                           for line in runtime):
        return code if code >= 0 else 1
    from jaxnn.training import checkpoint as ckpt

    raise ValueError("another process of the run stopped answering, and JAX's distributed runtime "
                     f"ended this one {args.heartbeat} s later; {ckpt.describe(args.out / CHECKPOINT)}; "
                     "start every process again with --resume (and the same flags)")


def _checked_train(args, open_folder: bool) -> int:
    from jaxnn.training.run_dir import open_run_dir

    if args.resume and args.out is None:
        raise ValueError("--resume needs --out, the folder of the run to continue "
                         "(e.g. --out runs/mnist-20260101-120000 --resume)")
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite contradict each other; choose one")
    image_flags = [f for f, given in (("--data-dir", args.data_dir), ("--limit", args.limit),
                                      ("--source", args.source != "auto"),
                                      ("--dataset", args.dataset != "mnist")) if given]
    if args.arch == "gpt" and image_flags:
        raise ValueError(f"{', '.join(image_flags)} apply to the digit datasets, not to --arch gpt; "
                         "give it a text with --text FILE")
    if args.norm != "none" and args.arch != "cnn":
        raise ValueError(f"--norm is for --arch cnn, not --arch {args.arch}")
    gpt_flags = [f"--{name}" for name in ("text", "context", "dim", "depth", "heads", "dropout")
                 if getattr(args, name) is not None]
    if args.arch != "gpt" and gpt_flags:
        raise ValueError(f"{' and '.join(gpt_flags)} {'is' if len(gpt_flags) == 1 else 'are'} for "
                         f"--arch gpt (a language model); --arch {args.arch} trains on digits")
    if (args.sampling == "windows") != (args.arch == "gpt") and args.sampling is not None:
        raise ValueError("--sampling windows is how --arch gpt trains (random windows of the text), "
                         "and the only way it does; the digit models take shuffle or random")
    args.sampling = args.sampling or ("windows" if args.arch == "gpt" else "shuffle")
    args.context, args.dim, args.depth = args.context or 64, args.dim or 64, args.depth or 2
    args.heads, args.dropout = args.heads or 4, args.dropout or 0.0
    if args.dim % args.heads:
        raise ValueError(f"--heads {args.heads} does not divide --dim {args.dim}: each head takes "
                         "dim/heads of the width; choose, e.g., --heads 4 with --dim 64")
    recipe = recipes.Recipe(64, 1e-3, 10)
    if args.recipe == "fast":
        if args.arch not in recipes.RECIPES:
            raise ValueError(f"--recipe fast is measured for --arch {' and '.join(recipes.RECIPES)}, not "
                             f"for --arch {args.arch}; leave --recipe out (or set --lr, --batch-size, "
                             "--epochs yourself)")
        recipe = recipes.RECIPES[args.arch]
    args.batch_size = args.batch_size or recipe.batch_size
    args.lr, args.epochs = args.lr or recipe.peak_lr, args.epochs or recipe.epochs
    name = "text" if args.arch == "gpt" else args.dataset
    out = args.out or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.resume and not (out / CHECKPOINT).exists():
        print(f"note: {out} holds no checkpoint yet; --resume starts a new run there")
    if not open_folder:
        return _train(args, out)
    with open_run_dir(out, resume=args.resume, overwrite=args.overwrite):   # RunDirError: one line
        return _train(args, out)


class _Run(NamedTuple):
    """What a training run works on: data, model and how to describe them."""

    train: object       # (x, y), or a language model's token stream
    test: tuple
    model: object
    params: object
    described: str
    data: dict          # description, source, note, and what the test part is called


def _images_run(args, key) -> _Run:
    import jax

    import jaxnn
    from jaxnn import models
    from jaxnn.training import parallel

    train, test = _load_splits(args, ("train", "test"), limit=args.limit)
    x, y = train.x, train.y
    print(f"data: {train.description}")
    print(f"      {len(x):,} training / {len(test.x):,} test images")
    if jax.process_count() > 1:                        # this process's share of the rows
        rows = parallel.process_slice(len(x) - len(x) % jax.process_count())
        x, y = x[rows], y[rows]
    side = math.isqrt(x.shape[1])
    scheme = None                                        # each layer's own init
    if args.arch == "mlp":
        sizes = [x.shape[1], *args.layers, train.classes]
        model = jaxnn.Network(sizes, hidden=args.hidden, output=args.output, loss=args.loss)
        described = f"{'-'.join(map(str, sizes))} {model.hidden[0] if model.hidden else ''}/{model.output}"
        scheme = args.init
    elif args.arch == "cnn":
        norm = None if args.norm == "none" else args.norm
        model = models.small_cnn((side, side, 1), train.classes, padding="same", norm=norm)
        described = f"small CNN on {side}x{side}x1" + (" with BatchNorm" if norm else "")
    else:
        model = models.row_rnn(args.arch, 128, side, train.classes)
        described = f"{type(model.layers[0]).__name__}(128) over {side} rows of {side} pixels"
    params = jaxnn.init(key, model, scheme)
    what = {"description": train.description, "source": train.source, "note": train.note,
            "test": f"{args.dataset} test images"}
    return _Run((x, y), (test.x, test.y), model, params, described, what)


def _text_run(args, key, out: Path) -> _Run:
    import jaxnn
    from jaxnn.data import text

    corpus, description = text.load_text(args.text)
    vocab = text.Vocab.of(corpus)
    train, val = text.split(vocab.encode(corpus), args.context)
    print(f"data: {description}, {len(vocab.chars)} distinct characters; random windows of "
          f"{args.context}: {len(train):,} train / {len(val):,} validation characters")
    model = jaxnn.models.gpt(len(vocab.chars), args.context, dim=args.dim, heads=args.heads,
                             depth=args.depth, dropout=args.dropout)
    what = {"description": description, "source": "text", "note": "",
            "test": "validation windows (next-character accuracy)",
            # what generate and eval need, kept in the checkpoint itself
            "meta": {"vocab": vocab.chars, "prompt": text.first_word(corpus),
                     "text": None if args.text is None else str(Path(args.text).resolve())}}
    return _Run(train, text.windows(val, args.context), model, jaxnn.init(key, model),
                f"GPT (depth {args.depth}, dim {args.dim}, {args.heads} heads, context {args.context}"
                + (f", dropout {args.dropout}" if args.dropout else "") + ")", what)


def _train(args, out: Path) -> int:
    import jax

    import jaxnn
    import jaxnn.training.train
    from jaxnn.training import checkpoint as ckpt
    from jaxnn.training import run_dir

    t_start = time.perf_counter()
    key_init, key_train = jax.random.split(jax.random.key(args.seed))
    run = _text_run(args, key_init, out) if args.arch == "gpt" else _images_run(args, key_init)
    model, params = run.model, run.params
    described = run.described
    if args.recipe == "fast":         # the schedule spans every step of the run
        rows = len(run.train[0]) * jax.process_count()              # (gpt takes no --recipe)
        steps = rows // args.batch_size * args.epochs
        optimizer, rate = optim.one_cycle(args.optimizer, args.lr, max(steps, 1)), f"one-cycle peak {args.lr}"
    else:
        optimizer, rate = optim.get(args.optimizer, args.lr), f"lr={args.lr}"
    print(f"network: {described}, "
          f"{model.loss}, {args.optimizer} {rate}, batch {args.batch_size}, "
          f"{args.epochs} epochs, backward={args.backward}, devices={jax.device_count()} "
          f"{jax.default_backend()}")

    held = "validation" if args.arch == "gpt" else "test"
    if not args.quiet:
        print(f"{'epoch':>5} {'train loss':>11} {held + ' loss':>16} {held + ' acc':>15} {'seconds':>8}")
    done = {"epoch": 0, "step": None}
    lines = out / run_dir.METRICS_LINES
    writes = jax.process_index() == 0              # a run of several processes: process 0 writes
    if writes and not args.resume:
        lines.unlink(missing_ok=True)

    def row(epoch):                              # the table, and metrics.jsonl as it goes
        r = epoch.metrics
        if writes:
            run_dir.append_line(lines, r)
        done["epoch"], done["step"] = (r["epoch"] - 1, r["step"]) if "step" in r else (r["epoch"], None)
        if args.quiet:
            return
        if "step" in r:
            print(f"{r['epoch']:>5} {r['train_loss']:>11.4f}   (step {r['step']:,} of {r['steps']:,})",
                  flush=True)
        else:
            print(f"{r['epoch']:>5} {r['train_loss']:>11.4f} {r['eval_loss']:>16.4f} "
                  f"{100 * r['eval_accuracy']:>14.2f}% {r['seconds']:>8.2f}", flush=True)

    checkpoint = out / CHECKPOINT
    try:
        with jaxnn.training.train.stop_on_ctrl_c(args.every) as ctrl_c:   # its checkpoint completes
            params, history = jaxnn.fit(
                model, params, run.train, optimizer=optimizer, epochs=args.epochs,
                batch_size=args.batch_size, key=key_train, eval_data=run.test,
                sampling=args.sampling, backward=args.backward, checkpoint=checkpoint,
                checkpoint_every=args.checkpoint_every, resume=args.resume, every=args.every,
                checkpoint_meta=run.data.get("meta"), shard_params=args.shard_params,
                progress=False, callbacks=[row, ctrl_c],                # the table: progress
                devices=jax.devices() if jax.process_count() > 1 else args.devices)
    except KeyboardInterrupt:                    # a second Ctrl-C: stopped at once
        when = f"in epoch {done['epoch'] + 1}"
    except OSError as e:
        raise ValueError(f"cannot write {e.filename or checkpoint}: {e.strerror or e}; "
                         f"{ckpt.describe(checkpoint)}") from None
    else:
        at = f"epoch {done['epoch']}" if done["step"] is None else \
            f"step {done['step']:,} of epoch {done['epoch'] + 1}"
        when = f"after {at}" if ctrl_c.pressed else None
    if when is not None:
        print(f"\ninterrupted {when}; {ckpt.describe(checkpoint)}; continue with: jaxnn train "
              f"--out {out} --resume (and the same flags)", file=sys.stderr)
        return 130
    total = time.perf_counter() - t_start
    acc = history["eval_accuracy"][-1]
    source = run.data["source"]
    metrics = {"test_accuracy": acc, "test_loss": history["eval_loss"][-1],
               "seconds_total": total, "data": run.data["description"], "source": source,
               "data_note": run.data["note"],
               "train_examples": len(run.train) if args.arch == "gpt" else len(run.train[0]),
               "test_examples": len(run.test[0]), "network": model.to_dict(),
               "args": {k: str(v) for k, v in vars(args).items()}, "history": history}
    if writes:
        (out / "metrics.json").write_text(run_dir.strict_json(metrics, indent=2))
    if writes and not args.no_plot:
        from jaxnn.training.plots import plot_history

        title = run.data["description"][:50]
        plot_history(history, out / "curves.png",
                     title=title if title.startswith(source) else f"{title} ({source})")
    if args.arch == "gpt":
        print(f"validation loss: {metrics['test_loss']:.3f} nats/char "
              f"({metrics['test_loss'] / math.log(2):.2f} bits)")
    print(f"{held} accuracy: {100 * acc:.2f}% on {len(run.test[0]):,} {run.data['test']} "
          f"[{source}] after {len(history['epoch'])} epochs, {total:.1f} s in all")
    if source == "shipped" and args.dataset == "mnist":
        print("note: trained on the shipped subset; accuracy is not comparable to full MNIST "
              "(point --data-dir at the IDX files for that)")
    print(f"wrote {out}/metrics.json, metrics.jsonl, checkpoint.npz"
          + ("" if args.no_plot else ", curves.png"))
    return 0


def _load(path: Path, language_model: bool):
    """``(checkpoint, its run folder)`` of ``path`` (the folder or its checkpoint file), refused
    (naming what to do) unless it is a language model or a classifier of images as asked."""
    import jaxnn
    from jaxnn.model import body

    c, folder = jaxnn.load(path), path if path.is_dir() else path.parent
    if language_model and not body(c.model).integer_input:
        raise ValueError(f"{path} is not a language model (train one with --arch gpt)")
    if not language_model and body(c.model).integer_input:
        raise ValueError(f"{path} is a language model, not a digit classifier; its validation loss "
                         f"is in {folder / 'metrics.json'}, and jaxnn generate writes text with it")
    return c, folder


def cmd_generate(args) -> int:
    import jax

    import jaxnn

    c, folder = _load(args.checkpoint, language_model=True)
    vocab = _vocab(c, folder)
    prompt = args.prompt if args.prompt is not None else c.meta.get("prompt", "The ")
    tokens = jaxnn.generate(c.model, c.params, vocab.encode(prompt), args.steps,
                            temperature=args.temperature, key=jax.random.key(args.seed))
    print(prompt + vocab.decode(tokens))
    return 0


def _vocab(c, folder: Path):
    """A language model's vocabulary: in its checkpoint, or (runs before that) vocab.json in the
    run folder."""
    from jaxnn.data.text import Vocab

    return Vocab("".join(c.meta["vocab"])) if "vocab" in c.meta else Vocab.load(folder / "vocab.json")


def cmd_eval(args) -> int:
    import jaxnn
    from jaxnn.model import body

    checkpoint = jaxnn.load(args.checkpoint)
    if body(checkpoint.model).integer_input:
        return _eval_language_model(args, checkpoint)
    if args.text is not None:
        raise ValueError("--text is for a language model's checkpoint (jaxnn train --arch gpt)")
    c, _ = _load(args.checkpoint, language_model=False)
    (d,) = _load_splits(args, (args.split,))
    n_inputs = math.prod(c.model.input_shape)
    if d.x.shape[1] != n_inputs:
        raise ValueError(f"{args.checkpoint} expects {n_inputs} inputs but {args.dataset} "
                         f"images have {d.x.shape[1]}; evaluate on the dataset it was trained on")
    m = jaxnn.evaluate(c.model, c.params, d.x, d.y)
    print(f"data: {d.description}")
    print(f"{args.split} loss {m['loss']:.4f}, accuracy {100 * m['accuracy']:.2f}% "
          f"on {len(d.x):,} images")
    return 0


def _eval_language_model(args, c) -> int:
    """The loss, bits per character and next-character accuracy on the validation part of the text
    the model was trained on (the run records it), or of ``--text``."""
    import jaxnn
    from jaxnn.data import text

    folder = args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent
    vocab = _vocab(c, folder)
    corpus, description = text.load_text(args.text or c.meta.get("text"))
    try:
        tokens = vocab.encode(corpus)
    except ValueError as e:
        raise ValueError(f"{e}: {description} is not the text this model was trained on; pass that "
                         "one with --text FILE") from None
    context = c.model.input_shape[0]
    part = "train" if args.split == "train" else "validation"
    tokens = text.split(tokens, context)[part == "validation"]
    m = jaxnn.evaluate(c.model, c.params, *text.windows(tokens, context))
    print(f"data: {description}, its {part} part ({len(tokens):,} characters)")
    print(f"{part} loss {m['loss']:.4f} nats/char ({m['loss'] / math.log(2):.3f} bits per character), "
          f"next-character accuracy {100 * m['accuracy']:.2f}%")
    return 0


def cmd_predict(args) -> int:
    import jax

    import jaxnn

    c, _ = _load(args.checkpoint, language_model=False)
    n_inputs = math.prod(c.model.input_shape)
    side = math.isqrt(n_inputs)
    if side * side != n_inputs:
        raise ValueError(f"{args.checkpoint} takes {n_inputs} inputs, not square images")
    for path in args.inputs:
        x = data.read_images(path, side)
        out = jaxnn.forward(c.model, c.params, x.reshape(len(x), *c.model.input_shape))[0]
        probs = np.asarray(out if c.model.output == "softmax" else jax.nn.softmax(out, -1))
        blank = np.ptp(x, axis=1) < 1e-3
        for i, p in enumerate(probs[:20]):
            top = np.argsort(-p)[: args.top]
            label = f"{path}" + (f"[{i}]" if len(probs) > 1 else "")
            print(f"{label}: {top[0]}  (" + ", ".join(f"{k}: {p[k]:.3f}" for k in top) + ")"
                  + ("  [blank image: the prediction means nothing]" if blank[i] else ""))
        if len(probs) > 20:
            counts = np.bincount(probs.argmax(1), minlength=probs.shape[1])
            print(f"{path}: {len(probs)} images; predicted class counts {counts.tolist()}")
    return 0
