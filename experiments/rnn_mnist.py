"""A recurrent network (hand-derived backpropagation through time) reads MNIST one row at a time:
28 steps of 28 pixels, ``SimpleRNN(128)`` (tanh) → Dense(10) → softmax, Adam 1e-3, batch 64.

Quick default: 3 epochs on the best digits available (offline: the shipped subset).
``--full``: 8 epochs; with ``--data-dir`` (or tfds) on full MNIST.

    python experiments/rnn_mnist.py --full --data-dir path/to/mnist
"""

from __future__ import annotations

import jax
import optax
from common import Timer, finish, load_mnist, parser, run_summary

import jaxnn
from jaxnn import layers as L
from jaxnn.plots import plot_history

MODEL = L.Model([L.SimpleRNN(128), L.Dense(10), L.Activation("softmax")], input_shape=(28, 28))


def main(argv=None):
    args = parser(__doc__, "rnn_mnist", data=True).parse_args(argv)
    epochs = args.epochs or (8 if args.full else 3)
    train, test, info = load_mnist(args.data_dir)
    params = L.init(jax.random.key(0), MODEL)
    print(f"{'epoch':>5} {'train loss':>11} {'test acc':>9} {'seconds':>8}")
    with Timer() as t:
        params, hist = jaxnn.fit(MODEL, params, train, optimizer=optax.adam(1e-3), epochs=epochs,
                                 batch_size=64, key=jax.random.key(1), eval_data=test,
                                 progress=False, on_epoch=lambda r: print(
                                     f"{r['epoch']:>5} {r['train_loss']:>11.4f} "
                                     f"{100 * r['eval_accuracy']:>8.2f}% {r['seconds']:>8.1f}"))
    results = {"data": info.description, "source": info.source, "epochs": epochs,
               **run_summary(hist, t.seconds)}
    print(f"RNN on MNIST rows: test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after "
          f"{epochs} epochs, {t.seconds:.0f} s [{info.source}]")
    plot_history(hist, args.out / "rnn_mnist.png", title=f"RNN on MNIST rows ({info.source})")
    return finish(args.out, "rnn_mnist", results)


if __name__ == "__main__":
    main()
