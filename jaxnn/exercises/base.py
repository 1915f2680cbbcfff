"""What an exercise is, and the helpers every topic's exercises draw their inputs with."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np


class Exercise(NamedTuple):
    signature: str                      # what to write
    task: str                           # the forward and what is asked
    inputs: Callable                    # (rng, dtype) -> {name: NumPy array}: the forward's arguments
    forward: Callable                   # (**inputs) -> output; differentiated w.r.t. `grads`
    grads: tuple[str, ...]              # the inputs whose gradients are returned, in this order
    args: Callable                      # (inputs, output, g) -> the student function's arguments
    mistakes: dict[str, Callable]       # hint -> (inputs, output, g) -> the wrong results


def _normal(rng: np.random.Generator, shape, dtype):
    """Standard normal draws in NumPy: the inputs compile nothing (grading is compile-bound)."""
    return rng.standard_normal(shape).astype(dtype)


def _normals(names: tuple[str, ...], shapes: tuple, scale: float = 1.0) -> Callable:
    """An exercise's ``inputs``: each name a normal draw of its shape (times ``scale``), from its own
    child generator of ``rng``."""
    def draw(rng: np.random.Generator, dtype) -> dict:
        arrays = (_normal(k, s, dtype) for k, s in zip(rng.spawn(len(names)), shapes, strict=True))
        return {n: a if scale == 1.0 else scale * a for n, a in zip(names, arrays, strict=True)}
    return draw


def _integers(rng: np.random.Generator, n: int, shape):
    return rng.integers(0, n, shape, dtype=np.int32)


def _onehot(rng, m, n, dtype):
    return np.eye(n, dtype=dtype)[_integers(rng, n, (m,))]


def _autodiff(forward, inputs, names, g, **fixed):
    """``jax.vjp`` of ``forward`` w.r.t. ``names`` at ``inputs``, applied to ``g``."""
    def f(*wrt):
        return forward(**{**inputs, **dict(zip(names, wrt)), **fixed})

    return jax.vjp(f, *(inputs[n] for n in names))[1](g)
