"""IDX files, the format MNIST is distributed in: ``train-images-idx3-ubyte.gz`` and friends."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from jaxnn.data.arrays import DataError

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILES = {"train": ("train-images", "train-labels"), "test": ("t10k-images", "t10k-labels")}


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


def find(directory: Path, stem: str, idx_ndim: int) -> Path | None:
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
    image_stem, label_stem = FILES[split]
    base = Path(directory).expanduser()
    tried = [base, base / name]
    for d in tried:
        img, lab = find(d, image_stem, 3), find(d, label_stem, 1)
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


def present(name: str, directory: Path) -> bool:
    return any(find(d, stem, nd) for d in (directory, directory / name)
               for stems in FILES.values() for stem, nd in zip(stems, (3, 1)))


def expected() -> list[str]:
    return [f"{stem}-idx{nd}-ubyte.gz" for stems in FILES.values()
            for stem, nd in zip(stems, (3, 1))]
