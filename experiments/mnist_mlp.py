"""Seed 000: MLPs ``784-128-64-10`` and ``784-256-256-10`` (ReLU, softmax + cross-entropy, He
initialisation, Adam 1e-3, batch 64) on MNIST; per-epoch train and test accuracy. Seed 000 expects
about 97-98% test accuracy.

Quick default: 5 epochs on the best digits available (offline: the shipped subset).
``--full``: 20 epochs; with ``--data-dir`` (or tfds) on full MNIST.

    python experiments/mnist_mlp.py --full --data-dir path/to/mnist
"""

from __future__ import annotations

import jax
import optax
from common import Timer, finish, load_mnist, parser, run_summary

import jaxnn
from jaxnn.training.plots import plot_history

ARCHS = {"784-128-64-10": [784, 128, 64, 10], "784-256-256-10": [784, 256, 256, 10]}


def print_row(epoch):
    r = epoch.metrics
    print(f"{r['epoch']:>5} {100 * r['train_accuracy']:>9.2f}% {100 * r['eval_accuracy']:>8.2f}%")


def main(argv=None):
    args = parser(__doc__, "mnist_mlp", data=True).parse_args(argv)
    epochs = args.epochs or (20 if args.full else 5)
    train, test, info = load_mnist(args.data_dir)
    results = {"data": info.description, "source": info.source, "epochs": epochs, "runs": {}}
    for name, sizes in ARCHS.items():
        net = jaxnn.Network(sizes, hidden="relu", output="softmax", loss="cross_entropy")
        params = jaxnn.init(jax.random.key(0), net, "he")
        print(f"\n{name}\n{'epoch':>5} {'train acc':>10} {'test acc':>9}")
        with Timer() as t:
            params, hist = jaxnn.fit(net, params, train, optimizer=optax.adam(1e-3), epochs=epochs,
                                     batch_size=64, key=jax.random.key(1), eval_data=test,
                                     eval_train=True, progress=False, callbacks=[print_row])
        results["runs"][name] = {**run_summary(hist, t.seconds),
                                 "final_train_accuracy": hist["train_accuracy"][-1]}
        print(f"{name}: test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after {epochs} "
              f"epochs in {t.seconds:.1f} s [{info.source}]")
        plot_history(hist, args.out / f"mnist_mlp_{name}.png", title=f"{name} ({info.source})")
    return finish(args, "mnist_mlp", results)


if __name__ == "__main__":
    main()
