"""The model zoo: the classic network's constructor [`Network`][jaxnn.models.Network] and the ready-made
models that the CLI, the experiments and the notebooks build from.

Each is a function returning a [`jaxnn.model.Model`][] (the one model type); nothing here is
more than a list of layers, so reading a function shows the whole architecture.

**Network** (``Network(sizes, hidden, output, loss)``): a Model whose layers are
[`jaxnn.layers.Dense`][] (each ``a^l = σ_l(W^l a^{l-1} + b^l)``), so ``init``, ``forward``,
``loss``, the hand-derived backward pass, checkpoints and every tool treat it as any other model.
Its ``sizes``, ``hidden``, ``output``, ``activations`` and ``loss`` are read back from the model.

Notation: layers ``l = 0..L``, ``n_l`` neurons in layer ``l``, ``a^0 = x``,
``z^l = W^l a^{l-1} + b^l``, ``a^l = σ_l(z^l)``, ``W^l`` of shape ``(n_l, n_{l-1})``.

Where the code departs from the notation:

- **Batch-first arrays.** A batch of ``m`` examples is ``x: (m, n_0)``, one example per row (the
  notation puts examples in columns). The forward pass therefore reads ``z = a @ W.T + b`` and BP4 reads
  ``∂C/∂W = δᵀ @ a_prev`` (which gives ``(n_l, n_{l-1})``, the layout of ``W``, directly; it is also
  the fastest layout measured for the weight gradient).
- **Python indices start at 0.** ``params[0]`` holds ``W^1, b^1``; ``params[l-1]`` holds layer ``l``.

Shapes are validated in Python when a function is traced, so the checks cost nothing inside
``jax.jit``; every error message names the problem and the value expected.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from jaxnn import activations, losses
from jaxnn.layers import (
    LSTM,
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    MaxPool2D,
    Remat,
    Residual,
    SelfAttention,
    Sequential,
    SimpleRNN,
)
from jaxnn.model import Model


def Network(sizes: Sequence[int], hidden: str | Sequence[str] = "sigmoid",  # noqa: N802 (a constructor)
            output: str = "sigmoid", loss: str = "quadratic") -> Model:
    """A feedforward network of Dense layers: the [`jaxnn.Model`][] with layers
    ``Dense(n_l, σ_l)`` for ``l = 1..L`` over inputs ``(n_0,)``.

    Args:
        sizes: neurons per layer ``[n_0, n_1, ..., n_L]`` (at least two positive ints).
        hidden: activation of the hidden layers 1..L−1: one name for all, or a list with one name
            per hidden layer (see [`jaxnn.activations`][]).
        output: activation of the output layer L.
        loss: cost function (a name in [`jaxnn.losses`][], or your registered function);
            ``cross_entropy`` needs a ``softmax`` output, ``binary_cross_entropy`` a ``sigmoid``
            output.

    Examples:
        >>> net = Network(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
        >>> net.sizes, net.activations
        ((784, 30, 10), ('sigmoid', 'sigmoid'))
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a list of layer widths like [784, 30, 10], got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two layers (input and output), got {list(sizes)}; "
                         "e.g. [2, 1] for a single-layer network")
    for i, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
            raise TypeError(f"sizes[{i}] must be a positive int, got {n!r}")
        if operator.index(n) <= 0:
            raise ValueError(f"sizes[{i}] must be a positive int, got {n}")
    sizes = tuple(operator.index(n) for n in sizes)
    n_hidden = len(sizes) - 2
    hidden = (hidden,) * n_hidden if isinstance(hidden, str) else tuple(hidden)
    if len(hidden) != n_hidden:
        raise ValueError(f"hidden lists {len(hidden)} activations but sizes {list(sizes)} has "
                         f"{n_hidden} hidden layers; give one name per hidden layer or a single name")
    names = [activations.get(h).name for h in (*hidden, output)]
    loss = losses.name_of(loss)
    needs = losses.get(loss).output
    if needs is not None and names[-1] != needs:
        raise ValueError(f"loss {loss!r} needs output={needs!r}, got output={names[-1]!r}; "
                         f"use output={needs!r} or a loss such as 'quadratic' or 'mse'")
    return Model(tuple(Dense(n, a) for n, a in zip(sizes[1:], names, strict=True)), sizes[:1], loss)


def nielsen(hidden: int = 30) -> Model:
    """Nielsen's ``network.py``: ``[784, hidden, 10]``, sigmoid everywhere, quadratic cost."""
    return Network([784, hidden, 10], "sigmoid", "sigmoid", "quadratic")


def mlp(n_in: int = 784, hidden=(128, 64), n_classes: int = 10, activation: str = "relu") -> Model:
    """``n_in → hidden… → n_classes``: ``activation`` in the hidden layers, softmax + cross-entropy
    (``jaxnn train``'s default network)."""
    return Network([n_in, *hidden, n_classes], activation, "softmax", "cross_entropy")


def small_cnn(input_shape=(28, 28, 1), n_classes: int = 10, padding: str = "valid",
              norm: str | None = None) -> Model:
    """Conv2D(32, 3×3) → ReLU → MaxPool 2 → Conv2D(64, 3×3) → ReLU → MaxPool 2 → Flatten →
    Dense(128) → ReLU → Dense(n_classes) → softmax, with cross-entropy (``padding="same"`` keeps
    small images such as 8×8 digits large enough for both pooling layers). ``norm="batch"`` puts a
    [`BatchNorm`][jaxnn.layers.norm.BatchNorm] before each of the three ReLUs (spatial after the convolutions)
    and drops the bias of the layer before it (``bias=False``: BatchNorm's β shifts instead)."""
    if norm not in (None, "batch"):
        raise ValueError(f"norm must be None or 'batch', got {norm!r}")
    bias, bn = (False, [BatchNorm()]) if norm == "batch" else (True, [])
    return Model((Conv2D(32, 3, padding=padding, bias=bias), *bn, Activation("relu"), MaxPool2D(2),
                  Conv2D(64, 3, padding=padding, bias=bias), *bn, Activation("relu"), MaxPool2D(2),
                  Flatten(), Dense(128, bias=bias), *bn, Activation("relu"), Dense(n_classes),
                  Activation("softmax")), tuple(input_shape), "cross_entropy")


def row_rnn(cell: str = "lstm", units: int = 128, side: int = 28, n_classes: int = 10) -> Model:
    """An image read row by row: ``SimpleRNN(units)`` (``cell="rnn"``) or ``LSTM(units)`` over
    ``side`` rows of ``side`` pixels, its last state → Dense(n_classes) + softmax."""
    if cell not in ("rnn", "lstm"):
        raise ValueError(f"cell must be 'rnn' or 'lstm', got {cell!r}")
    return Model([SimpleRNN(units) if cell == "rnn" else LSTM(units), Dense(n_classes, "softmax")],
                 (side, side))


def char_lstm(vocab: int, context: int, dim: int = 64, units: int = 128,
              dropout: float = 0.0) -> Model:
    """A character language model: Embedding(vocab, dim) → LSTM(units) at every position →
    Dense(vocab) + softmax, cross-entropy at every position (the GPT's recurrent rival)."""
    drop = [Dropout(dropout)] if dropout else []
    return Model([Embedding(vocab, dim), LSTM(units, return_sequences=True), *drop,
                  Dense(vocab, "softmax")], (context,), "cross_entropy")


def gpt(vocab: int, context: int, dim: int = 64, heads: int = 4, depth: int = 2,
        dropout: float = 0.0, remat: bool = False) -> Model:
    """A small GPT: token and position embeddings → ``depth`` × [``x + attn(LN(x))``,
    ``x + mlp(LN(x))``] → LN → Dense(vocab) + softmax, with cross-entropy at every position
    (labels ``(m, T)``: the next token). The MLP is Dense(4·dim, GELU) → Dense(dim) on the last
    axis; ``dropout > 0`` puts a ``Dropout`` at the end of each residual branch. ``remat=True``
    wraps each branch in [`Remat`][jaxnn.layers.sequential.Remat]: the backward recomputes the branch's
    forward instead of keeping its activations (less memory, a second forward's time)."""
    drop = [Dropout(dropout)] if dropout else []
    wrap = Remat if remat else (lambda block: block)
    blocks = [Residual(wrap(Sequential(branch))) for _ in range(depth) for branch in (
        [LayerNorm(), SelfAttention(heads, causal=True), *drop],
        [LayerNorm(), Dense(4 * dim, "gelu"), Dense(dim), *drop])]
    return Model((Embedding(vocab, dim, context), *blocks, LayerNorm(), Dense(vocab, "softmax")),
                 (context,), "cross_entropy")
