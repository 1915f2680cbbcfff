"""Exact comparisons on any runtime: float64 where the backend runs it, else the best float32.

CPUs and GPUs run float64, and there a hand-derived gradient equals ``jax.grad``'s to ~1e-16.
TPUs do not run float64 natively (some float64 programs fail to compile there), so on a TPU the
checks run in float32 with matrix products at full float32 precision (``"highest"``, not the
TPU's default bfloat16 passes) and a tolerance that says so. The notebooks call
[`exact`][jaxnn.training.precision.exact] before their comparisons; ``JAXNN_REFUSE_X64=1`` makes any machine
behave as a TPU here (the test suite runs every notebook that way).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp

REFUSE_ENV = "JAXNN_REFUSE_X64"


class Exact(NamedTuple):
    """The dtype for exact comparisons and the largest relative error that still means "equal
    up to rounding" in it."""

    dtype: type
    tol: float


def float64_available() -> bool:
    """Whether float64 runs here: not on a TPU, nor when ``JAXNN_REFUSE_X64=1``."""
    return jax.default_backend() != "tpu" and os.environ.get(REFUSE_ENV, "0") != "1"


def exact(verbose: bool = True) -> Exact:
    """Switch on float64 if the backend runs it and return ``Exact(float64, 1e-12)``; else
    float32 with ``jax_default_matmul_precision="highest"`` and ``Exact(float32, 1e-4)``
    (printing why, when ``verbose``). Train afterwards after
    [`for_training`][jaxnn.training.precision.for_training]."""
    if float64_available():
        jax.config.update("jax_enable_x64", True)
        return Exact(jnp.float64, 1e-12)
    jax.config.update("jax_enable_x64", False)
    jax.config.update("jax_default_matmul_precision", "highest")
    if verbose:
        print(f"float64 is not native on this backend ({jax.default_backend()}"
              f"{', simulated' if os.environ.get(REFUSE_ENV) == '1' else ''}): the exact checks "
              "run in float32 at matmul precision 'highest', equal to ~1e-6 instead of ~1e-16")
    return Exact(jnp.float32, 1e-4)


def for_training() -> None:
    """Back to training settings after [`exact`][jaxnn.training.precision.exact]: float32 and the backend's
    default matrix product precision (a TPU's fast one)."""
    jax.config.update("jax_enable_x64", False)
    jax.config.update("jax_default_matmul_precision", None)
