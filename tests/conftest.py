"""Test set-up: float64 available, and 8 forced CPU devices for the data-parallel tests.

Both must be configured before JAX initialises its backends, hence here at import time.
Tests that want float32 ask for it explicitly. On a GPU or TPU the default backend has as many
devices as the machine, so tests marked ``forced_cpu_devices`` (they need the 8 forced host
devices) are skipped there with that reason; everything else runs on the accelerator.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    import pytest

    if jax.default_backend() == "cpu":
        return
    skip = pytest.mark.skip(reason=f"needs the 8 forced CPU host devices; the default backend is "
                                   f"{jax.default_backend()}")
    for item in items:
        if "forced_cpu_devices" in item.keywords:
            item.add_marker(skip)
