"""Test set-up: float64 available, and 8 forced CPU devices for the data-parallel tests.

Both must be configured before JAX initialises its backends, hence here at import time.
Tests that want float32 ask for it explicitly.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
