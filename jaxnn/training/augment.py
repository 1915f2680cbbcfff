"""Data augmentation with affine transformations in homogeneous coordinates.

A point of the image is ``(x, y, 1)`` with ``x`` the column and ``y`` the row (pointing down). A
transform is a 3×3 matrix ``T`` built from rotation, scaling, shear and translation about the
image centre. The transformed image samples, for every output pixel ``q``, the input at
``T⁻¹ q`` with bilinear interpolation (zero outside the image). Rotation angles are in degrees,
positive = counter-clockwise as displayed (``angle=90`` equals ``jnp.rot90`` on a square grid).

Everything is jittable and ``vmap``-ed over the batch, and
[`random_affine`][jaxnn.training.augment.random_affine] fits ``fit``'s ``augment=`` hook, so augmentation runs
inside the compiled training epoch. [`one_pixel_shifts`][jaxnn.training.augment.one_pixel_shifts] instead
expands a data set once, before training (Nielsen's chapter 6).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates


def affine_matrix(angle: float = 0.0, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
                  shear: float = 0.0, center: tuple[float, float] = (0.0, 0.0)) -> jax.Array:
    """``T = Translate(center + shift) · Rotate(angle) · Shear(shear) · Scale(scale) · Translate(−center)``.

    Args:
        angle: degrees, counter-clockwise as displayed. scale: zoom factor (> 1 enlarges).
        shift: ``(dx, dy)`` in pixels (columns, rows). shear: horizontal shear factor.
        center: ``(cx, cy)`` the point that stays fixed, e.g. ``((W − 1)/2, (H − 1)/2)``.

    Returns:
        ``(3, 3)`` array acting on column vectors ``(x, y, 1)``.
    """
    t = jnp.deg2rad(angle)
    c, s = jnp.cos(t), jnp.sin(t)
    one, zero = jnp.ones_like(c), jnp.zeros_like(c)
    rotate = jnp.array([[c, s, zero], [-s, c, zero], [zero, zero, one]])
    shear_m = jnp.array([[one, shear * one, zero], [zero, one, zero], [zero, zero, one]])
    scale_m = jnp.diag(jnp.array([scale * one, scale * one, one]))

    def translate(dx, dy):
        return jnp.array([[one, zero, dx * one], [zero, one, dy * one], [zero, zero, one]])

    cx, cy = center
    return (translate(cx + shift[0], cy + shift[1]) @ rotate @ shear_m @ scale_m
            @ translate(-cx, -cy))


def apply_affine(images, matrices):
    """Transform a batch: ``images (m, H, W, C)``, ``matrices (m, 3, 3)`` → ``(m, H, W, C)``."""
    images = jnp.asarray(images)
    if images.ndim != 4 or matrices.shape != (images.shape[0], 3, 3):
        raise ValueError(f"apply_affine needs images (m, H, W, C) and matrices (m, 3, 3), got "
                         f"{images.shape} and {matrices.shape}")
    _, H, W, _ = images.shape
    rows, cols = jnp.meshgrid(jnp.arange(H, dtype=images.dtype), jnp.arange(W, dtype=images.dtype),
                              indexing="ij")
    q = jnp.stack([cols.ravel(), rows.ravel(), jnp.ones(H * W, images.dtype)])    # (3, H·W)

    def one(image, T):
        p = jnp.linalg.inv(T).astype(images.dtype) @ q          # source point of each pixel
        sample = lambda ch: map_coordinates(ch, [p[1], p[0]], order=1, mode="constant")  # noqa: E731
        return jax.vmap(sample, in_axes=2, out_axes=1)(image).reshape(H, W, -1)

    return jax.vmap(one)(images, matrices)


def random_affine(key, x, *, image_shape=None, max_angle=15.0, scale=(0.9, 1.1), max_shift=2.0,
                  max_shear=0.0):
    """Random rotation/scale/shift/shear per example, drawn from ``key``; same shape out as in.

    ``x`` is ``(m, H, W, C)``, or flattened ``(m, H·W·C)`` with ``image_shape=(H, W, C)`` (as for
    an MLP on MNIST). Angles are uniform in ``±max_angle`` degrees, scale in ``scale``, shifts in
    ``±max_shift`` pixels, shear in ``±max_shear``.

    Examples:
        >>> aug = functools.partial(random_affine, image_shape=(28, 28, 1))
        >>> jaxnn.fit(net, params, train, ..., augment=aug)
    """
    x = jnp.asarray(x)
    shape = x.shape
    if image_shape is not None:
        x = x.reshape(shape[0], *image_shape)
    if x.ndim != 4:
        raise ValueError(f"random_affine needs images (m, H, W, C) or flat images with "
                         f"image_shape=(H, W, C), got shape {shape}")
    m, H, W, _ = x.shape
    ka, ks, kx, ky, kh = jax.random.split(key, 5)
    u = lambda k, lo, hi: jax.random.uniform(k, (m,), x.dtype, lo, hi)  # noqa: E731
    center = ((W - 1) / 2, (H - 1) / 2)
    mats = jax.vmap(lambda a, s, dx, dy, sh: affine_matrix(a, s, (dx, dy), sh, center))(
        u(ka, -max_angle, max_angle), u(ks, *scale), u(kx, -max_shift, max_shift),
        u(ky, -max_shift, max_shift), u(kh, -max_shear, max_shear) if max_shear else jnp.zeros(m, x.dtype))
    return apply_affine(x, mats).reshape(shape)


def rotation(angle, size: int):
    """The matrix rotating a ``size × size`` image by ``angle`` degrees about its centre."""
    c = (size - 1) / 2
    return affine_matrix(angle, center=(c, c))


def one_pixel_shifts(x, y, image_shape=(28, 28)):
    """Nielsen's expanded training set (his ``expand_mnist.py``): each image, then its copies shifted
    one pixel down, up, right and left, zeros shifted in. ``x (n, ...)`` images of ``image_shape``
    (flat or not), ``y (n, ...)`` → ``(5n, ...)`` each, in NumPy (data preparation, not training):
    MNIST's 50,000 training images become 250,000."""
    x, y = np.asarray(x), np.asarray(y)
    images = x.reshape(-1, *image_shape)

    def shifted(step, axis):
        out = np.roll(images, step, axis=axis)
        edge = [slice(None)] * out.ndim
        edge[axis] = 0 if step > 0 else -1          # the row/column that wrapped round
        out[tuple(edge)] = 0
        return out

    copies = [images] + [shifted(step, axis) for axis in (1, 2) for step in (1, -1)]
    return np.stack(copies, 1).reshape(5 * len(x), *x.shape[1:]), np.repeat(y, 5, axis=0)


__all__ = ["affine_matrix", "apply_affine", "one_pixel_shifts", "random_affine", "rotation"]
