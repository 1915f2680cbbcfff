"""Recurrent networks (hand-derived backpropagation through time) read MNIST one row at a time:
28 steps of 28 pixels, ``SimpleRNN(128)`` (tanh) or ``LSTM(128)`` → Dense(10, softmax), Adam 1e-3,
batch 64; the two cells side by side.

Quick default: 3 epochs on the best digits available (offline: the shipped subset).
``--full``: 8 epochs; with ``--data-dir`` (or tfds) on full MNIST.

    python experiments/rnn_mnist.py --full --data-dir path/to/mnist [--cell rnn|lstm|both]
"""

from __future__ import annotations

import jax
import optax
from common import LOSS_HEADER, Timer, finish, load_mnist, parser, print_loss_row, run_summary

import jaxnn
from jaxnn.plots import plot_history

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
        model = MODELS[name]
        print(f"\n{name}(128)\n{LOSS_HEADER}")
        with Timer() as t:
            params, hist = jaxnn.fit(model, jaxnn.init(jax.random.key(0), model), train,
                                     optimizer=optax.adam(1e-3), epochs=epochs, batch_size=64,
                                     key=jax.random.key(1), eval_data=test, progress=False,
                                     callbacks=[print_loss_row])
        results["runs"][name] = run_summary(hist, t.seconds)
        print(f"{name} on MNIST rows: test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after "
              f"{epochs} epochs, {t.seconds:.0f} s [{info.source}]")
        plot_history(hist, args.out / f"rnn_mnist_{name.lower()}.png",
                     title=f"{name} on MNIST rows ({info.source})")
    return finish(args.out, "rnn_mnist", results)


if __name__ == "__main__":
    main()
