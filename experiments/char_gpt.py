"""A small GPT on characters, every backward written out, against an LSTM of the same size trained
for the same wall time, and the unigram and bigram baselines.

Text: Python's reference topics (``pydoc_data``, shipped with Python; ``--text FILE`` for any UTF-8
file), 90/10 split by position. GPT: depth 2, dim 64, 4 heads, context 64 (117k parameters);
LSTM(128) language model (Embedding 64 → LSTM → Dense, 119k parameters). Both: AdamW (learning
rate 3e-3 with a warm-up and a cosine over the time budget, weight decay 0.1), dropout 0.1 (the
GPT's residual branches, after the LSTM), batch 32, random windows drawn inside the compiled
epoch: ``jaxnn.fit`` with ``sampling="windows"``, an epoch of 25 steps. Validation loss in nats
and bits per character on a fixed sample of 512 validation windows.

Quick default: 20 s per model. ``--full``: 5 minutes per model.

    python experiments/char_gpt.py --full [--text FILE] [--seconds 300] [--models GPT,LSTM] [--dropout 0]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import finish, parser

import jaxnn
from jaxnn.cli.arguments import positive
from jaxnn.data import text as T
from jaxnn.training.plots import save, subplots

CONTEXT, BATCH, LR, WEIGHT_DECAY = 64, 32, 3e-3, 0.1


def models(vocab: int, dropout: float = 0.0) -> dict:
    return {"GPT": jaxnn.models.gpt(vocab, CONTEXT, dim=64, heads=4, depth=2, dropout=dropout),
            "LSTM": jaxnn.models.char_lstm(vocab, CONTEXT, dropout=dropout)}


def baselines(train: np.ndarray, val: np.ndarray, vocab: int) -> dict[str, float]:
    """Validation nats/char of the unigram and (add-one smoothed) bigram models of the training text."""
    uni = np.bincount(train, minlength=vocab) + 1.0
    pair = np.ones((vocab, vocab))
    np.add.at(pair, (train[:-1], train[1:]), 1.0)
    return {"unigram": float(-np.mean(np.log(uni[val] / uni.sum()))),
            "bigram": float(-np.mean(np.log(pair[val[:-1], val[1:]] / pair[val[:-1]].sum(1))))}


def learning_rate(fraction: float) -> float:
    """Warm up over the first 2% of the time budget, then a cosine down to LR / 10 at its end."""
    if fraction < 0.02:
        return LR * fraction / 0.02
    return LR * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, (fraction - 0.02) / 0.98))))


def train_for(model, tokens, val_windows, seconds: float, key, steps: int | None = None,
              steps_per_epoch: int = 25):
    """AdamW on random windows (``fit``'s ``sampling="windows"``) until ``seconds`` of training are
    spent, or ``steps`` steps are done when given, the learning rate following
    ``learning_rate`` over that budget; validation loss after every ``steps_per_epoch`` steps.
    The budget counts each epoch's wall time (its validation included), the first epoch's as long
    as the second (the first compiles). Returns params and the curve."""
    opt = optax.inject_hyperparams(optax.adamw)(learning_rate=LR, weight_decay=WEIGHT_DECAY)

    def training_seconds(history) -> list[float]:   # each epoch's, the first counted as the second
        seconds = history["seconds"]
        return [seconds[min(1, len(seconds) - 1)], *seconds[1:]]

    def schedule(epoch):                          # the next epoch's learning rate, or the end
        spent = sum(training_seconds(epoch.history)) if len(epoch.history["seconds"]) > 1 else 0.0
        fraction = epoch.metrics["epoch"] * steps_per_epoch / steps if steps else spent / seconds
        if fraction >= 1:
            return "stop"
        rate = epoch.opt_state.hyperparams["learning_rate"]
        epoch.opt_state.hyperparams["learning_rate"] = jnp.asarray(learning_rate(fraction), rate.dtype)
        return None

    params, history = jaxnn.fit(model, jaxnn.init(jax.random.key(0), model), tokens, optimizer=opt,
                                epochs=10**6, batch_size=BATCH, key=key, sampling="windows",
                                steps_per_epoch=steps_per_epoch, eval_data=val_windows,
                                callbacks=[schedule], progress=False)
    elapsed = np.cumsum(training_seconds(history))
    curve = [{"seconds": float(t), "steps": n * steps_per_epoch, "train": train, "val": val}
             for n, t, train, val in zip(history["epoch"], elapsed, history["train_loss"],
                                         history["eval_loss"])]
    return params, curve


def main(argv=None):
    p = parser(__doc__, "char_gpt")
    p.add_argument("--text", default=None, help="a UTF-8 text file (default: Python's reference topics)")
    p.add_argument("--seconds", type=positive(float), default=None, help="training seconds per model")
    p.add_argument("--steps", type=positive(int), default=None,
                   help="train each model this many steps instead of for a time (reproducible)")
    p.add_argument("--models", default="GPT,LSTM", help="which models, comma-separated")
    p.add_argument("--dropout", type=positive(float), default=0.1,
                   help="Dropout rate in the GPT's residual branches and after the LSTM (0: none)")
    args = p.parse_args(argv)
    seconds = args.seconds or (300.0 if args.full else 20.0)
    text, desc = T.load_text(args.text)
    vocab = T.Vocab.of(text)
    train, val = T.split(vocab.encode(text), CONTEXT)
    print(f"text: {desc}; {len(vocab.chars)} distinct characters; {len(train):,} train / "
          f"{len(val):,} validation")
    starts = np.random.default_rng(0).integers(0, len(val) - CONTEXT, 512)
    val_windows = (np.stack([val[s:s + CONTEXT] for s in starts]),
                   np.stack([val[s + 1:s + CONTEXT + 1] for s in starts]))
    results = {"text": desc, "vocab": len(vocab.chars), "seconds_per_model": seconds,
               "steps_per_model": args.steps, "dropout": args.dropout,
               "baselines": baselines(train, val, len(vocab.chars)), "models": {}}
    chosen = models(len(vocab.chars), args.dropout)
    unknown = set(args.models.split(",")) - set(chosen)
    if unknown:
        p.error(f"unknown --models {', '.join(sorted(unknown))}; choose from {', '.join(chosen)}")
    for name in args.models.split(","):
        model = chosen[name]
        params, curve = train_for(model, train, val_windows, seconds, jax.random.key(1), args.steps)
        prompt = "The "
        sample = vocab.decode(jaxnn.generate(model, params, vocab.encode(prompt), 300,
                                             temperature=0.8, key=jax.random.key(2)))
        best = min(c["val"] for c in curve)
        results["models"][name] = {
            "parameters": sum(x.size for x in jax.tree.leaves(params)), "steps": curve[-1]["steps"],
            "final_val": curve[-1]["val"], "best_val": best,
            "final_bits": curve[-1]["val"] / math.log(2), "curve": curve, "sample": prompt + sample}
        print(f"{name}: {results['models'][name]['parameters']:,} parameters, "
              f"{curve[-1]['steps']} steps in {curve[-1]['seconds']:.0f} s: validation "
              f"{curve[-1]['val']:.3f} nats/char ({curve[-1]['val'] / math.log(2):.2f} bits), best "
              f"{best:.3f}\n--- sample ---\n{prompt + sample}\n---")
    b = results["baselines"]
    print(f"baselines: unigram {b['unigram']:.3f}, bigram {b['bigram']:.3f} nats/char")
    return finish(args, "char_gpt", results, plot)


def plot(results, path):
    fig, ax = subplots(figsize=(7, 4))
    for name, r in results["models"].items():
        ax.plot([c["seconds"] for c in r["curve"]], [c["val"] for c in r["curve"]], label=name)
    for name, v in results["baselines"].items():
        ax.axhline(v, ls=":", color="0.5")
        ax.text(0, v, f" {name}", va="bottom", color="0.4", fontsize=8)
    ax.set(xlabel="training seconds", ylabel="validation loss (nats/char)",
           title=results["text"][:60], ylim=(1.0, max(3.5, results["baselines"]["bigram"] + 0.3)))
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, path)


if __name__ == "__main__":
    main()
