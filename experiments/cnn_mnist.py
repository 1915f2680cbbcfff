"""A small CNN on MNIST with the hand-derived conv/pool backward, trained by the same ``fit``;
reported with and without random affine augmentation, beside the best MLP of ``mnist_mlp``.

Model: Conv2D(32, 3×3) → ReLU → MaxPool 2 → Conv2D(64, 3×3) → ReLU → MaxPool 2 → Flatten →
Dense(128) → ReLU → Dense(10) → softmax; cross-entropy, Adam 1e-3, batch 64. Augmentation:
rotation ±10°, scale 0.9–1.1, shift ±2 px, applied inside the compiled epoch.

Quick default: 3 epochs on the best digits available (offline: the shipped subset).
``--full``: 6 epochs; with ``--data-dir`` (or tfds) on full MNIST (target ≥ 99%).

    python experiments/cnn_mnist.py --full --data-dir path/to/mnist
"""

from __future__ import annotations

import functools

import jax
import optax
from common import LOSS_HEADER, Timer, finish, load_mnist, parser, print_loss_row, run_summary

import jaxnn
from jaxnn import augment
from jaxnn import layers as L
from jaxnn.plots import plot_history

MODEL = L.small_cnn((28, 28, 1))
AUGMENT = functools.partial(augment.random_affine, image_shape=(28, 28, 1), max_angle=10.0,
                            scale=(0.9, 1.1), max_shift=2.0)


def main(argv=None):
    p = parser(__doc__, "cnn_mnist", data=True)
    p.add_argument("--augment", choices=("both", "on", "off"), default="both")
    args = p.parse_args(argv)
    epochs = args.epochs or (6 if args.full else 3)
    train, test, info = load_mnist(args.data_dir)
    results = {"data": info.description, "source": info.source, "epochs": epochs, "runs": {}}
    settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.augment]
    for use_aug in settings:
        name = "with augmentation" if use_aug else "without augmentation"
        params = jaxnn.init(jax.random.key(0), MODEL)
        print(f"\nCNN {name}\n{LOSS_HEADER}")
        with Timer() as t:
            params, hist = jaxnn.fit(MODEL, params, train, optimizer=optax.adam(1e-3),
                                     epochs=epochs, batch_size=64, key=jax.random.key(1),
                                     eval_data=test, augment=AUGMENT if use_aug else None,
                                     progress=False, callbacks=[print_loss_row])
        results["runs"][name] = run_summary(hist, t.seconds)
        print(f"CNN {name}: test accuracy {100 * hist['eval_accuracy'][-1]:.2f}% after {epochs} "
              f"epochs, {t.seconds:.0f} s [{info.source}]")
        plot_history(hist, args.out / f"cnn_mnist_{'aug' if use_aug else 'plain'}.png",
                     title=f"CNN {name} ({info.source})")
    return finish(args.out, "cnn_mnist", results)


if __name__ == "__main__":
    main()
