"""Test set-up: float64 available, 8 forced CPU devices for the data-parallel tests (one under
`pytest -m bench`), XLA's optimization passes off and one compilation cache for the whole run (the
suite is compile-bound; see below).

Both must be configured before JAX initialises its backends, hence here at import time.
Tests that want float32 ask for it explicitly. On a GPU or TPU the default backend has as many
devices as the machine, so tests marked ``forced_cpu_devices`` (they need the 8 forced host
devices) are skipped there with that reason; everything else runs on the accelerator.
"""

import os
import re
import shutil
import sys
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# The suite is compile-bound (hundreds of small programs): XLA's optimization passes cost more than
# they save here (measured: test_cli + test_one_model 124 s -> 86 s). Set in the environment so
# the CLI subprocesses inherit it. What users run is optimized: tests/test_backprop.py proves the
# gradients with the optimizations on too, and `pytest -m bench` measures optimized programs.
# JAXNN_TEST_OPTIMIZE=1 runs the whole suite optimized.
if os.environ.get("JAXNN_TEST_OPTIMIZE") != "1":
    os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# Many tests, notebooks and CLI runs compile the same programs (the notebooks' float64-refused runs
# train exactly as their float64 runs do): one persistent compilation cache, fresh for each run
# (made here in the controller, inherited by the xdist workers and every subprocess, removed at
# the end), compiles each program once. Measured (2-core AVX2 EPYC, 2026-12-02): notebook 06's
# float64-refused run 42 s -> 32 s after its float64 run. A cache the caller set
# (JAX_COMPILATION_CACHE_DIR) is used as it is.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxnn-tests-xla-cache-")
    os.environ["JAXNN_TESTS_OWN_CACHE"] = os.environ["JAX_COMPILATION_CACHE_DIR"]
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# XLA's CPU compiler spends most of a small program's compile time in its fusion emitters and in
# splitting the module for parallel LLVM codegen; the older elemental emitters compile the suite's
# programs about twice as fast (measured with `pytest tests/test_layers.py -k "conv2d_backward and
# size1"` on the 2-core AVX2 EPYC, 2026-12-02: the 24 conv proofs 17.5 s -> 7.6 s). Numbers
# are unchanged (every proof still passes at its tolerance); `pytest -m bench` and
# JAXNN_TEST_OPTIMIZE=1 keep XLA's defaults. Passed on to subprocesses as JAXNN_TEST_XLA_FLAGS for
# the tests that give a subprocess its own XLA_FLAGS.
FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false --xla_cpu_parallel_codegen_split_count=1"
_args = " ".join(sys.argv[1:] + [os.environ.get("PYTEST_ADDOPTS", "")])
_bench = re.search(r"-m\s*['\"]?\s*bench\b", _args) is not None     # -m bench, not "not bench"
if "JAXNN_TEST_XLA_FLAGS" not in os.environ:   # decided once, by the controller (workers inherit)
    _fast = os.environ.get("JAXNN_TEST_OPTIMIZE") != "1" and not _bench
    os.environ["JAXNN_TEST_XLA_FLAGS"] = FAST_COMPILE if _fast else ""
# `pytest -m bench` measures what a user runs: one CPU device (8 forced host devices made the
# benchmarks' jax steps 1.1-1.3x slower, PyTorch's not; measured 2026-12-03, cnn 9.3 vs 7.0 ms)
if "JAXNN_TEST_DEVICES" not in os.environ:     # likewise
    os.environ["JAXNN_TEST_DEVICES"] = "" if _bench else "--xla_force_host_platform_device_count=8"
_flags = [os.environ.get(k, "") for k in ("XLA_FLAGS", "JAXNN_TEST_DEVICES", "JAXNN_TEST_XLA_FLAGS")]
os.environ["XLA_FLAGS"] = " ".join(f for f in _flags if f)             # read when JAX is imported

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    # the longest tests first (the notebooks, 10-30 s each), so that xdist's workers finish together
    # instead of one running the last notebook alone
    items.sort(key=lambda item: "::test_notebook_runs[" not in item.nodeid)
    if jax.default_backend() == "cpu":
        return
    skip = pytest.mark.skip(reason=f"needs the 8 forced CPU host devices; the default backend is "
                                   f"{jax.default_backend()}")
    for item in items:
        if "forced_cpu_devices" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config):
    """The controller (not an xdist worker) removes the cache it made."""
    own = os.environ.get("JAXNN_TESTS_OWN_CACHE")
    if own and not hasattr(config, "workerinput"):
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture
def optimized():
    """XLA's optimizations on for one test (the suite runs with them off, see above)."""
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", False)
    jax.clear_caches()     # jax's in-memory caches do not key on this flag: no program crosses over
    yield
    jax.config.update("jax_disable_most_optimizations", before)
    jax.clear_caches()     # (an optimized draw differs from an unoptimized one in the last bit)
