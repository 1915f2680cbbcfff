"""``jaxnn.memory.keep_step_memory``: refused once jax has started, a no-op off glibc. (What it saves
is measured by ``experiments/bench_memory.py``: the page faults of a GPT step; a small program's
faults were not reproducibly removed, so no test here counts them.)"""

import sys

import jax
import jax.numpy as jnp
import pytest

import jaxnn


def test_too_late_is_an_error_not_a_silent_no_op():
    jax.block_until_ready(jnp.ones(1) + 1)                      # jax has run something
    if sys.platform == "linux":
        with pytest.raises(RuntimeError, match="before the first jax computation"):
            jaxnn.memory.keep_step_memory()
    assert jax.config.values["jax_cpu_enable_async_dispatch"]   # and nothing was changed


def test_elsewhere_it_changes_nothing(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert jaxnn.memory.keep_step_memory() is False
    assert jax.config.values["jax_cpu_enable_async_dispatch"]
