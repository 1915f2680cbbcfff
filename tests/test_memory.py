"""``jaxnn.memory.keep_step_memory``: a compiled step's temporaries are reused from one run to the
next instead of being faulted in again by the kernel every time."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import jaxnn

PROGRAM = textwrap.dedent("""
    import resource, sys
    import jax, jax.numpy as jnp
    import jaxnn
    if sys.argv[1] == "kept":
        assert jaxnn.memory.keep_step_memory()
    f = jax.jit(lambda a, b, c: (a @ b) @ c)          # a @ b: a 36 MiB temporary, between two products
    a, b, c = jnp.ones((3072, 64)), jnp.ones((64, 3072)), jnp.ones((3072, 8))
    for _ in range(2):
        jax.block_until_ready(f(a, b, c))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        jax.block_until_ready(f(a, b, c))
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
""")


def page_faults_per_run(way: str) -> float:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", PROGRAM, way], capture_output=True, text=True, check=True,
                         env=env)
    return float(out.stdout.split()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc: Linux only")
def test_kept_memory_is_not_faulted_in_again():
    default = page_faults_per_run("default")
    if default < 2_000:       # 36 MiB are ~9,000 pages of 4 KiB; fewer: huge pages, nothing to show
        pytest.skip(f"only {default:.0f} page faults per run by default: this machine's malloc or "
                    "kernel keeps the block already")
    assert page_faults_per_run("kept") < default / 10


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
