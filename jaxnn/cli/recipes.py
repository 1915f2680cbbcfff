"""Training recipes of the zoo's models: the batch size, peak learning rate and epochs that
``jaxnn train --recipe fast`` and the experiments use (the optimisers they feed are
[`jaxnn.training.optim`][]'s)."""

from __future__ import annotations

from typing import NamedTuple


class Recipe(NamedTuple):
    """A training recipe: mini-batch size, one-cycle peak learning rate (Adam), epochs."""

    batch_size: int
    peak_lr: float
    epochs: int


RECIPES = {
    "cnn": Recipe(batch_size=32, peak_lr=3e-3, epochs=2),
    "lstm": Recipe(batch_size=64, peak_lr=5e-3, epochs=2),
}
"""The fastest recipes found to 99% (the small CNN) and 98% (LSTM(128) on image rows) on full
MNIST, measured by ``experiments/bench_time_to_accuracy.py`` (the README's speed section): Adam
with [`jaxnn.training.optim.one_cycle`][] over all the steps of ``epochs`` epochs."""
