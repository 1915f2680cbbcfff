"""A small CNN on MNIST with the hand-derived conv/pool backward, trained by the same ``fit``;
reported with and without random affine augmentation, beside the best MLP of ``mnist_mlp``.

Model: Conv2D(32, 3×3) → ReLU → MaxPool 2 → Conv2D(64, 3×3) → ReLU → MaxPool 2 → Flatten →
Dense(128) → ReLU → Dense(10) → softmax; cross-entropy. Recipes: ``fast`` (default; the fastest to
99% found, ``recipes.RECIPES["cnn"]``): Adam with a one-cycle learning rate peaking at 3e-3,
batch 32, 2 epochs in ``--full``; ``adam``: Adam 1e-3, batch 64, 6 epochs in ``--full``.
Augmentation: rotation ±10°, scale 0.9–1.1, shift ±2 px, applied inside the compiled epoch.
``--norm batch``: the model with a BatchNorm before each ReLU (``small_cnn(norm="batch")``);
``--norm both``: each run with and without it. Runs with ``--norm`` keep their results as
``cnn_mnist_norm``, beside the plain ``cnn_mnist``. Each run records the seconds to 99% test
accuracy (at the end of the first epoch that reaches it).

Quick default: 3 epochs on the best digits available (offline: the shipped subset).
``--full``: the recipe's epochs; with ``--data-dir`` (or tfds) on full MNIST (target ≥ 99%).

    python experiments/cnn_mnist.py --full --data-dir path/to/mnist
"""

from __future__ import annotations

import functools

import optax
from common import finish, fit_and_report, load_mnist, parser

import jaxnn
from jaxnn.cli import recipes
from jaxnn.training import augment

MODEL = jaxnn.models.small_cnn((28, 28, 1))
BN_MODEL = jaxnn.models.small_cnn((28, 28, 1), norm="batch")
AUGMENT = functools.partial(augment.random_affine, image_shape=(28, 28, 1), max_angle=10.0,
                            scale=(0.9, 1.1), max_shift=2.0)


def main(argv=None):
    p = parser(__doc__, "cnn_mnist", data=True)
    p.add_argument("--augment", choices=("both", "on", "off"), default="both")
    p.add_argument("--recipe", choices=("fast", "adam"), default="fast")
    p.add_argument("--norm", choices=("off", "batch", "both"), default="off",
                   help="BatchNorm before each ReLU (both: a run with and one without)")
    args = p.parse_args(argv)
    recipe = recipes.RECIPES["cnn"] if args.recipe == "fast" else recipes.Recipe(64, 1e-3, 6)
    epochs = args.epochs or (recipe.epochs if args.full else 3)
    train, test, info = load_mnist(args.data_dir)
    results = {"data": info.description, "source": info.source, "epochs": epochs,
               "recipe": args.recipe, "runs": {}}
    steps = len(train[0]) // recipe.batch_size * epochs
    settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.augment]
    norms = {"both": (False, True), "batch": (True,), "off": (False,)}[args.norm]
    for use_bn in norms:
        for use_aug in settings:
            name = ("BatchNorm, " if use_bn else "") + ("with" if use_aug else "without") + " augmentation"
            optimizer = (jaxnn.optim.one_cycle("adam", recipe.peak_lr, steps) if args.recipe == "fast"
                         else optax.adam(recipe.peak_lr))
            png = args.out / f"cnn_mnist_{'bn_' if use_bn else ''}{'aug' if use_aug else 'plain'}.png"
            run = fit_and_report(f"CNN {name}", BN_MODEL if use_bn else MODEL, train, test, info, png,
                                 optimizer=optimizer, epochs=epochs, batch_size=recipe.batch_size,
                                 augment=AUGMENT if use_aug else None)
            hist = run["history"]
            reached = [i for i, a in enumerate(hist["eval_accuracy"]) if a >= 0.99]
            run["seconds_to_99"] = sum(hist["seconds"][: reached[0] + 1]) if reached else None
            results["runs"][name] = run
    return finish(args, "cnn_mnist" if args.norm == "off" else "cnn_mnist_norm", results)


if __name__ == "__main__":
    main()
