"""The model zoo: the ready-made models that the CLI, the experiments and the notebooks build from.

Each is a function returning a :class:`jaxnn.layers.Model` (the one model type); nothing here is
more than a list of layers, so reading a function shows the whole architecture.
"""

from __future__ import annotations

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
    Model,
    Remat,
    Residual,
    SelfAttention,
    Sequential,
    SimpleRNN,
)
from jaxnn.network import Network


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
    :class:`BatchNorm` before each of the three ReLUs (spatial after the convolutions) and drops
    the bias of the layer before it (``bias=False``: BatchNorm's β shifts instead)."""
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
    wraps each branch in :class:`Remat`: the backward recomputes the branch's forward instead of
    keeping its activations (less memory, a second forward's time)."""
    drop = [Dropout(dropout)] if dropout else []
    wrap = Remat if remat else (lambda block: block)
    blocks = [Residual(wrap(Sequential(branch))) for _ in range(depth) for branch in (
        [LayerNorm(), SelfAttention(heads, causal=True), *drop],
        [LayerNorm(), Dense(4 * dim, "gelu"), Dense(dim), *drop])]
    return Model((Embedding(vocab, dim, context), *blocks, LayerNorm(), Dense(vocab, "softmax")),
                 (context,), "cross_entropy")
