"""Seed 002: Nielsen's ``Network([784, 30, 10])`` on MNIST — sigmoid, quadratic cost, N(0, 1)
initialisation, mini-batch SGD with batch 10 and η = 3.0, 30 epochs; per-epoch test accuracy.
Nielsen reports about 95% (peak 95.42%) on full MNIST.

Quick default: 10 epochs on the best digits available (offline: the shipped 4,000/1,000 subset).
``--full``: 30 epochs; with ``--data-dir path/to/mnist`` (or tfds) on full MNIST.

    python experiments/nielsen_mnist.py --full --data-dir path/to/mnist
"""

from __future__ import annotations

import jax
from common import Timer, finish, load_mnist, parser, run_summary

import jaxnn
from jaxnn.training.plots import plot_history


def main(argv=None):
    args = parser(__doc__, "nielsen_mnist", data=True).parse_args(argv)
    epochs = args.epochs or (30 if args.full else 10)
    train, test, info = load_mnist(args.data_dir)
    net = jaxnn.Network([784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
    params = jaxnn.init(jax.random.key(0), net, "normal")
    print(f"{'epoch':>5} {'test acc':>9}")
    with Timer() as t:
        params, hist = jaxnn.fit(net, params, train, optimizer=jaxnn.sgd(3.0), epochs=epochs,
                                 batch_size=10, key=jax.random.key(1), eval_data=test,
                                 progress=False, callbacks=[lambda e: print(
                                     f"{e.metrics['epoch']:>5} {100 * e.metrics['eval_accuracy']:>8.2f}%")])
    results = {"data": info.description, "source": info.source, "epochs": epochs,
               "reference": "Nielsen: ~95%, peak 95.42%", **run_summary(hist, t.seconds)}
    print(f"final test accuracy {100 * results['final_test_accuracy']:.2f}% "
          f"(best {100 * results['best_test_accuracy']:.2f}%) after {epochs} epochs in "
          f"{t.seconds:.1f} s [{info.source}]")
    plot_history(hist, args.out / "nielsen_mnist.png", title=f"Nielsen [784,30,10] ({info.source})")
    return finish(args, "nielsen_mnist", results)


if __name__ == "__main__":
    main()
