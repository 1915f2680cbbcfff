"""Small tasks for the first lessons: XOR, binary → decimal, a worked 2-2-2 example, two moons and
spirals."""

from __future__ import annotations

import numpy as np

from jaxnn.data.arrays import DataError


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The XOR truth table: x ``(4, 2)``, y ``(4, 1)`` float32."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    return x, (x[:, :1] != x[:, 1:]).astype(np.float32)


def binary_to_decimal(holdout: str | None = "101"):
    """3-bit binary → its decimal value (a network learning a linear map from few examples).

    Returns ``(x, y, x_held, y_held)``: the 7 (or 8) training patterns ``(k, 3)`` and values
    ``(k, 1)`` float32, and the held-out pattern (by default ``101`` = 5), empty if none.
    """
    bits = np.array([[int(b) for b in f"{i:03b}"] for i in range(8)], np.float32)
    values = np.arange(8, dtype=np.float32)[:, None]
    held = np.array([holdout is not None and f"{i:03b}" == holdout for i in range(8)])
    if holdout is not None and not held.any():
        raise DataError(f"holdout must be a 3-bit pattern like '101', got {holdout!r}")
    return bits[~held], values[~held], bits[held], values[held]


def worked_example() -> dict:
    """A worked example by hand: 2 inputs, 2 hidden, 2 outputs, given weights, η = 0.5.

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
