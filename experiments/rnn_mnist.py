"""Recurrent networks (hand-derived backpropagation through time) read MNIST one row at a time:
28 steps of 28 pixels, ``SimpleRNN(128)`` (tanh) or ``LSTM(128)`` → Dense(10, softmax), Adam 1e-3,
batch 64; the two cells side by side.

Quick default: 3 epochs on the best digits available (offline: the shipped subset).
``--full``: 8 epochs; with ``--data-dir`` (or tfds) on full MNIST.

    python experiments/rnn_mnist.py --full --data-dir path/to/mnist [--cell rnn|lstm|both]
"""

from __future__ import annotations

import optax
from common import finish, fit_and_report, load_mnist, parser

import jaxnn

MODELS = {"SimpleRNN": jaxnn.models.row_rnn("rnn"), "LSTM": jaxnn.models.row_rnn("lstm")}


def main(argv=None):
    p = parser(__doc__, "rnn_mnist", data=True)
    p.add_argument("--cell", choices=("rnn", "lstm", "both"), default="both")
    args = p.parse_args(argv)
    epochs = args.epochs or (8 if args.full else 3)
    train, test, info = load_mnist(args.data_dir)
    names = {"rnn": ["SimpleRNN"], "lstm": ["LSTM"], "both": ["SimpleRNN", "LSTM"]}[args.cell]
    results = {"data": info.description, "source": info.source, "epochs": epochs, "runs": {}}
    for name in names:
        results["runs"][name] = fit_and_report(
            f"{name}(128) on MNIST rows", MODELS[name], train, test, info,
            args.out / f"rnn_mnist_{name.lower()}.png", optimizer=optax.adam(1e-3), epochs=epochs,
            batch_size=64)
    return finish(args, "rnn_mnist", results)


if __name__ == "__main__":
    main()
