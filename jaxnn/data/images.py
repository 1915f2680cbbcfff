"""Images to classify, from the files a user has: photos (PNG/JPEG …), IDX image files, ``.npy``
arrays; each read as MNIST-like rows ``(n, side²)`` in [0, 1] (what ``jaxnn predict`` feeds a
checkpoint)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxnn.data.arrays import DataError
from jaxnn.data.idx import read_idx


def read_images(path: Path, side: int) -> np.ndarray:
    """Images from an image file, an IDX file or a ``.npy`` array as float32 ``(n, side²)`` in
    [0, 1]. Photos are converted to grayscale (a transparent background is first filled with the
    colour opposite to the ink), resized to ``side × side`` and, when their background is light
    (mean > 0.5), inverted to MNIST's white-on-black.

    Raises:
        DataError: naming ``path`` and the expected format: a folder, an unreadable or truncated
            file, an array of the wrong shape, an empty array, or NaN/inf values.
    """
    expected = (f"expected images of shape ({side}, {side}), (n, {side}, {side}) or "
                f"(n, {side * side}), pixels 0..1 or 0..255")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give image files (PNG/JPEG...), IDX image files "
                             "or .npy arrays")
    if not path.exists():
        raise DataError(f"{path} does not exist")
    name = path.name.lower()
    if "idx" in name or name.endswith("-ubyte"):
        images = read_idx(path).astype(np.float32) / 255.0
    elif name.endswith(".npy"):
        try:
            images = np.load(path, allow_pickle=False)
        except ValueError as e:
            reason = "it holds pickled Python objects" if "pickle" in str(e) else str(e)
            raise DataError(f"cannot read {path}: {reason}; {expected}") from None
        if not np.issubdtype(images.dtype, np.number):
            raise DataError(f"{path} holds {images.dtype} values, not numbers; {expected}")
        images = images.astype(np.float32)
        if images.size == 0:
            raise DataError(f"{path} holds an empty array (shape {images.shape}); {expected}")
        if not np.all(np.isfinite(images)):
            raise DataError(f"{path} holds {int(np.sum(~np.isfinite(images)))} NaN/inf values; "
                                 "clean them first")
        images = images / 255.0 if images.max() > 1.0 else images
    else:
        images = _read_photo(path, side)[None]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 2 and images.shape == (side, side):
        images = images[None]
    if not (images.ndim == 3 and images.shape[1:] == (side, side)
            or images.ndim == 2 and images.shape[1] == side * side):
        raise DataError(f"{path} holds an array of shape {images.shape}; {expected}")
    return images.reshape(len(images), side * side)


def _read_photo(path: Path, side: int) -> np.ndarray:
    """One image file as grayscale ``(side, side)`` in [0, 1], white ink on black."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            rgba = np.asarray(img.convert("RGBA"), np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}; is it a complete PNG/JPEG file?") \
            from None
    gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if has_alpha:
        alpha = rgba[..., 3]
        ink = float((gray * alpha).sum() / max(alpha.sum(), 1e-6))
        background = 1.0 if ink < 0.5 else 0.0   # dark ink goes on white, light ink on black
        gray = gray * alpha + background * (1.0 - alpha)
    resized = Image.fromarray((gray * 255).round().astype(np.uint8)).resize((side, side))
    images = np.asarray(resized, np.float32) / 255.0
    return 1.0 - images if images.mean() > 0.5 else images
