"""Affine augmentation: identity, rot90 on the grid, shifts, randomness, inside fit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import data
from jaxnn.training import augment


@pytest.fixture
def images():
    return jax.random.uniform(jax.random.key(0), (3, 9, 9, 2), jnp.float32)


def test_identity_returns_the_image(images):
    out = augment.apply_affine(images, jnp.stack([augment.affine_matrix()] * 3))
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotation_by_multiples_of_90_matches_rot90(images, k):
    out = augment.apply_affine(images, jnp.stack([augment.rotation(90 * k, 9)] * 3))
    np.testing.assert_allclose(out, jnp.rot90(images, k, axes=(1, 2)), atol=1e-5)


def test_integer_shift_moves_pixels_and_fills_zeros(images):
    T = augment.affine_matrix(shift=(2.0, 1.0))      # 2 columns right, 1 row down
    out = augment.apply_affine(images, jnp.stack([T] * 3))
    np.testing.assert_allclose(out[:, 1:, 2:], images[:, :-1, :-2], atol=1e-6)
    assert float(jnp.abs(out[:, 0]).max()) == 0.0 and float(jnp.abs(out[:, :, :2]).max()) == 0.0


def test_scale_about_the_centre_keeps_the_centre(images):
    T = augment.affine_matrix(scale=2.0, center=(4.0, 4.0))
    out = augment.apply_affine(images, jnp.stack([T] * 3))
    np.testing.assert_allclose(out[:, 4, 4], images[:, 4, 4], atol=1e-6)


def test_random_affine_is_deterministic_and_handles_flat_images(images):
    flat = images[..., :1].reshape(3, -1)
    a = augment.random_affine(jax.random.key(1), flat, image_shape=(9, 9, 1), max_shear=0.1)
    b = augment.random_affine(jax.random.key(1), flat, image_shape=(9, 9, 1), max_shear=0.1)
    c = augment.random_affine(jax.random.key(2), flat, image_shape=(9, 9, 1), max_shear=0.1)
    assert a.shape == flat.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="image_shape"):
        augment.random_affine(jax.random.key(1), flat)


def test_fit_trains_with_augmentation_inside_the_compiled_epoch():
    tr, te = data.load("digits", "train"), data.load("digits", "test")
    net = jaxnn.Network([64, 32, 10], hidden="relu", output="softmax", loss="cross_entropy")
    params = jaxnn.init(jax.random.key(0), net, "he")
    aug = functools.partial(augment.random_affine, image_shape=(8, 8, 1), max_angle=10.0,
                            max_shift=0.5)
    _, hist = jaxnn.fit(net, params, (tr.x, tr.y), optimizer=optax.adam(1e-2), epochs=6,
                        batch_size=32, key=jax.random.key(1), eval_data=(te.x, te.y),
                        augment=aug, progress=False)
    assert hist["eval_accuracy"][-1] >= 0.9


def test_one_pixel_shifts_expand_five_fold_as_nielsen_does():
    img = np.zeros((1, 4, 4), np.float32)
    img[0, 1, 2], img[0, 3, 0] = 1.0, 0.5                       # (row 1, col 2) and a corner pixel
    x, y = augment.one_pixel_shifts(img.reshape(1, 16), np.array([7]), image_shape=(4, 4))
    assert x.shape == (5, 16) and y.tolist() == [7] * 5
    copies = x.reshape(5, 4, 4)
    np.testing.assert_array_equal(copies[0], img[0])
    for copy, (dr, dc) in zip(copies[1:], [(1, 0), (-1, 0), (0, 1), (0, -1)]):
        assert copy[1 + dr, 2 + dc] == 1.0 and copy.sum() in (1.0, 1.5)   # moved, nothing new
    assert copies[1].sum() == 1.0 and copies[4].sum() == 1.0   # the corner leaves down and left
