"""Keeping a training step's temporary memory from one step to the next, on a Linux CPU.

XLA's CPU runtime takes one block for all the temporaries of a compiled step (the activations kept
for the backward, the gradients on their way) each time the step runs, with ``malloc`` on one of
its worker threads, and frees it when the step ends. glibc serves a block over 32 MiB with a fresh
``mmap`` and unmaps it when it is freed, so at every step the kernel zero-fills each of its pages
again on first touch. For a step with hundreds of MiB of temporaries (the larger GPT of the
benchmarks) that is a large part of the step, spent in the kernel; PyTorch's CPU allocator keeps
such blocks. ``experiments/bench_memory.py`` measures both ways. The block is taken once per call
of a compiled program: ``fit`` and ``jaxnn train`` run a whole epoch in one call, so this concerns a
step called from Python, once per step.

[`keep_step_memory`][jaxnn.training.memory.keep_step_memory] lets the block be reused: glibc keeps freed
memory instead of returning it to the kernel, and never ``mmap``\\s a block of its own, and steps run in the
calling thread (a worker thread's glibc heap is capped at 64 MiB, so a larger block is always ``mmap``\\ed
there, while the main thread's heap grows as far as needed). It is not the default: it must run before
the first jax computation, keeps the process's peak memory for good, and small steps (no block
over 32 MiB) have nothing to gain from it while running them in the calling thread gives up the
overlap of Python with XLA.
"""

from __future__ import annotations

import ctypes
import sys

import jax

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4           # glibc's mallopt parameters (malloc.h)


def keep_step_memory() -> bool:
    """Make the CPU reuse each step's temporary memory (see the module). Call it once, before the
    first jax computation; ``True`` when it took effect, ``False`` off glibc (macOS, Windows,
    musl), where it changes nothing.

    Raises ``RuntimeError`` once jax has run anything: XLA's CPU client, and with it the choice
    of thread that allocates, then exists already.
    """
    from jax._src import xla_bridge  # no public way to ask whether jax has started

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform == "linux" else None
    if mallopt is None:
        return False
    if xla_bridge.backends_are_initialized():
        raise RuntimeError("keep_step_memory() must run before the first jax computation; call it "
                           "at the top of the script, right after the imports")
    if mallopt(M_MMAP_MAX, 0) != 1:                  # musl has the function but ignores it
        return False
    mallopt(M_TRIM_THRESHOLD, 2**31 - 1)             # keep up to 2 GiB of freed memory at the top
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return True
