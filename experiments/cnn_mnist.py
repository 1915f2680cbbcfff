"""A small CNN on MNIST with the hand-derived conv/pool backward, trained by the same ``fit``;
reported with and without random affine augmentation, beside the best MLP of ``mnist_mlp``.

Model: Conv2D(32, 3×3) → ReLU → MaxPool 2 → Conv2D(64, 3×3) → ReLU → MaxPool 2 → Flatten →
Dense(128) → ReLU → Dense(10) → softmax; cross-entropy. Recipes: ``fast`` (default; the fastest to
99% found, ``jaxnn.optim.RECIPES["cnn"]``): Adam with a one-cycle learning rate peaking at 3e-3,
batch 32, 2 epochs in ``--full``; ``adam``: Adam 1e-3, batch 64, 6 epochs in ``--full``.
Augmentation: rotation ±10°, scale 0.9–1.1, shift ±2 px, applied inside the compiled epoch.

Quick default: 3 epochs on the best digits available (offline: the shipped subset).
``--full``: the recipe's epochs; with ``--data-dir`` (or tfds) on full MNIST (target ≥ 99%).

    python experiments/cnn_mnist.py --full --data-dir path/to/mnist
"""

from __future__ import annotations

import functools

import optax
from common import finish, fit_and_report, load_mnist, parser

import jaxnn
from jaxnn import augment

MODEL = jaxnn.models.small_cnn((28, 28, 1))
AUGMENT = functools.partial(augment.random_affine, image_shape=(28, 28, 1), max_angle=10.0,
                            scale=(0.9, 1.1), max_shift=2.0)


def main(argv=None):
    p = parser(__doc__, "cnn_mnist", data=True)
    p.add_argument("--augment", choices=("both", "on", "off"), default="both")
    p.add_argument("--recipe", choices=("fast", "adam"), default="fast")
    args = p.parse_args(argv)
    recipe = jaxnn.optim.RECIPES["cnn"] if args.recipe == "fast" else jaxnn.optim.Recipe(64, 1e-3, 6)
    epochs = args.epochs or (recipe.epochs if args.full else 3)
    train, test, info = load_mnist(args.data_dir)
    results = {"data": info.description, "source": info.source, "epochs": epochs,
               "recipe": args.recipe, "runs": {}}
    steps = len(train[0]) // recipe.batch_size * epochs
    settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.augment]
    for use_aug in settings:
        name = "with augmentation" if use_aug else "without augmentation"
        optimizer = (jaxnn.optim.one_cycle("adam", recipe.peak_lr, steps) if args.recipe == "fast"
                     else optax.adam(recipe.peak_lr))
        png = args.out / f"cnn_mnist_{'aug' if use_aug else 'plain'}.png"
        results["runs"][name] = fit_and_report(
            f"CNN {name}", MODEL, train, test, info, png, optimizer=optimizer, epochs=epochs,
            batch_size=recipe.batch_size,
            augment=AUGMENT if use_aug else None)
    return finish(args, "cnn_mnist", results)


if __name__ == "__main__":
    main()
