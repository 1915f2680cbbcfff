"""Plots people would rather look at than read: training curves (matplotlib, written to PNG)."""

from __future__ import annotations

import math
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    return plt


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the file-only (Agg) backend."""
    return _pyplot().subplots(*args, **kwargs)


def save(fig, path, dpi: int = 100) -> Path:
    """Lay out, write ``fig`` to ``path`` (creating its folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def plot_history(history: dict, path, title: str = "") -> Path:
    """Loss (train and eval) and eval accuracy per epoch, side by side, saved to ``path``."""
    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"]
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train")
    if any(not math.isnan(v) for v in history["eval_loss"]):
        ax_loss.plot(epochs, history["eval_loss"], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    acc = [100 * v for v in history["eval_accuracy"]]
    ax_acc.plot(epochs, acc, "s-", color="C1")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save(fig, path)
