"""MNIST and Fashion-MNIST through tensorflow-datasets, as Colab users have them.

- **Any prepared format.** ``tfds.load("mnist")`` prepares as ``tfrecord`` by default, newer code as
  ``array_record``. ``tfrecord`` is read with TensorFlow, a whole split in one call
  (``as_dataset(batch_size=-1)``); without TensorFlow it gets an error saying how to fix it.
  ``array_record`` is read through tfds's data source in one batched ``__getitems__`` call, with or
  without TensorFlow.
- **Fast after the first time.** The decoded split is kept as an uncompressed ``.npz`` in
  ``$JAXNN_CACHE_DIR`` (default ``~/.cache/jaxnn``), keyed by dataset, version, split, tfds version
  and the prepared folder (its path and ``dataset_info.json`` time stamp); a later load reads that.
- **Never stalls offline.** A download is tried only when no prepared data exists, TensorFlow is
  installed (preparing needs it) and the download host answers within a few seconds; a failed
  attempt is one line and leaves no folders behind.
- **Quiet.** tfds's and TensorFlow's log noise is silenced for the whole load.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import threading
import warnings
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

ENV_CACHE_DIR = "JAXNN_CACHE_DIR"
PROBE_SECONDS = 3.0


class TfdsError(ValueError):
    """tfds data that cannot be read or prepared; the message says what was found and the fix."""


def tfds_dir(data_dir=None) -> Path:
    """Where tfds keeps prepared datasets: ``data_dir``, else ``$TFDS_DATA_DIR``, else
    ``~/tensorflow_datasets``."""
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


def prepared_dir(name: str, directory: Path) -> Path | None:
    """The newest ``directory/name/<version>/`` holding a ``dataset_info.json`` (no tfds import)."""
    versions = [p.parent for p in (directory / name).glob("*/dataset_info.json")]
    return max(versions, key=lambda p: tuple(int(v) for v in p.name.split(".") if v.isdigit()),
               default=None)


def has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def can_download(name: str) -> bool:
    """TensorFlow is installed and the host of ``name``'s files answers within a few seconds."""
    return has_tensorflow() and _host_answers(_download_host(name))


def load(name: str, split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray, str]:
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` of one split, and a description.

    Prepares (downloads) the dataset first if nothing is prepared in `tfds_dir`.

    Raises:
        TfdsError: nothing prepared and no download possible, or a format this machine cannot read.
    """
    directory = tfds_dir(data_dir)
    prepared = prepared_dir(name, directory)
    if prepared is None:
        _download(name, directory)
        prepared = prepared_dir(name, directory)
    cache = _cache_path(name, split, prepared)
    what = f"tensorflow-datasets {name}/{split} {prepared.name} in {directory}"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return z["images"], z["labels"], what + " (decoded cache)"
        except (OSError, ValueError, KeyError, EOFError):
            cache.unlink(missing_ok=True)           # a damaged cache is rebuilt, never trusted
    with quiet():
        images, labels = _read(name, split, directory, prepared)
    images = images.reshape(images.shape[:3]).astype(np.uint8)
    _write_cache(cache, images, np.asarray(labels))
    return images, np.asarray(labels), what


@contextlib.contextmanager
def quiet():
    """Silence tfds's absl warnings, Python warnings and TensorFlow's C++ log for the block."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # read when TensorFlow loads
    from absl import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.set_verbosity(verbosity)


def _read(name: str, split: str, directory: Path, prepared: Path):
    import tensorflow_datasets as tfds

    info = json.loads((prepared / "dataset_info.json").read_text())
    file_format = info.get("fileFormat", "tfrecord")
    builder = tfds.builder(name, data_dir=str(directory), version=prepared.name)
    if builder.info.splits and split not in builder.info.splits:
        raise TfdsError(f"{prepared} has no {split!r} split (found {', '.join(builder.info.splits)})")
    if file_format != "array_record" and has_tensorflow():
        arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        return np.asarray(arrays["image"]), np.asarray(arrays["label"])
    if file_format != "array_record":
        raise TfdsError(
            f"{name} in {prepared} is prepared as {file_format}, which only TensorFlow can read; "
            f"install it (pip install tensorflow-cpu), prepare {name} again as array_record "
            f"(tfds.builder({name!r}, file_format='array_record').download_and_prepare()), or use "
            "the IDX files with --data-dir")
    source = builder.as_data_source(split=split)
    try:
        items = source.__getitems__(range(len(source)))      # one batched read and decode
    except TypeError:  # tfds.testing.mock_data's source binds __getitems__ oddly; same items
        items = [source[i] for i in range(len(source))]
    return np.stack([it["image"] for it in items]), np.array([it["label"] for it in items])


def _cache_path(name: str, split: str, prepared: Path) -> Path:
    version = importlib.metadata.version("tensorflow-datasets")   # no import: hits stay fast
    stamp = (prepared / "dataset_info.json").stat().st_mtime_ns
    key = hashlib.sha256(f"{prepared.resolve()}|{stamp}".encode()).hexdigest()[:16]
    root = Path(os.environ.get(ENV_CACHE_DIR) or "~/.cache/jaxnn").expanduser()
    return root / "tfds" / f"{name}-{prepared.name}-{split}-tfds{version}-{key}.npz"


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Atomically; a cache that cannot be written is skipped (it only saves time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=images, labels=labels)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


@functools.cache
def _download_host(name: str) -> str:
    import tensorflow_datasets as tfds

    with quiet():
        urls = list(tfds.builder(name).url_infos or ())
    return urlparse(urls[0]).hostname if urls else ""


@functools.cache
def _host_answers(host: str) -> bool:
    """A TCP connection to ``host``:443 within `PROBE_SECONDS` (DNS included)."""
    if not host:
        return False
    result = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=PROBE_SECONDS).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    return bool(result)


def _download(name: str, directory: Path) -> None:
    if not has_tensorflow():
        raise TfdsError(f"no {name} prepared for tensorflow-datasets in {directory}, and preparing "
                        "it needs TensorFlow (not installed); use the IDX files with --data-dir")
    host = _download_host(name)
    if not _host_answers(host):
        raise TfdsError(f"no {name} prepared for tensorflow-datasets in {directory}, and its "
                        f"download host {host or '(unknown)'} did not answer within "
                        f"{PROBE_SECONDS:.0f} s (offline?); use the IDX files with --data-dir")
    import tensorflow_datasets as tfds

    downloads = directory / "downloads"
    before = set(downloads.iterdir()) if downloads.is_dir() else set()
    created = [p for p in (directory, directory / name, downloads) if not p.exists()]
    print(f"data: downloading and preparing {name} with tensorflow-datasets into {directory} "
          "(once)")
    try:
        with quiet():
            tfds.builder(name, data_dir=str(directory)).download_and_prepare()
    except Exception as e:  # noqa: BLE001 - one line, and nothing left behind
        leftovers = set(downloads.iterdir()) - before if downloads.is_dir() else set()
        for path in [*leftovers, *reversed(created)]:
            shutil.rmtree(path, ignore_errors=True)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TfdsError(f"downloading {name} with tensorflow-datasets failed "
                        f"({type(e).__name__}: {first}); use the IDX files with --data-dir") from None
