"""A run folder that is safe to train into: checked writable before training, locked against a
second run, and never silently overwritten; and its files that people and programs read while the
run goes (``metrics.jsonl``: a strict JSON line per report, appended). A run that stops before
its first checkpoint leaves nothing behind: the lock file and the folders it created are removed
(a folder that existed stays as it was).

The lock is an OS-level ``flock`` on ``FOLDER/.lock``: the kernel drops it when the process ends,
``kill -9`` included, so a crashed run never leaves a stale lock behind. The file holds the PID of
the holder, which the error for a second run names.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

from jaxnn.training.checkpoint import CHECKPOINT

LOCK = ".lock"
METRICS_LINES = "metrics.jsonl"
"""The run's reports, one strict JSON object a line, appended as they come (see
[`append_line`][jaxnn.training.run_dir.append_line])."""


class RunDirError(ValueError):
    """The run folder cannot be used; the message names the folder and what to do."""


@contextlib.contextmanager
def open_run_dir(path, *, resume: bool = False, overwrite: bool = False) -> Iterator[Path]:
    """Create (if needed), check and lock the run folder ``path`` for the duration of the block.

    Args:
        resume: the run continues the checkpoint in the folder (it may or may not exist yet).
        overwrite: a checkpoint already in the folder may be replaced by a fresh run.

    Raises:
        RunDirError: ``path`` is a file or lies under one, cannot be created or written, is locked by
            another live run (naming its PID), or holds a checkpoint that neither ``resume`` nor
            ``overwrite`` allows to touch.
    """
    path = Path(path)
    made = [p for p in (path, *path.parents) if not p.exists()]     # what this run creates
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunDirError(f"output folder {path} is a file (or lies under one); choose another "
                          "--out") from None
    except NotADirectoryError:
        raise RunDirError(f"output folder {path} lies under a file; choose another --out") from None
    except OSError as e:
        raise RunDirError(f"cannot create output folder {path}: {e.strerror or e}; choose another "
                          "--out") from None
    lock_path = path / LOCK
    made += [lock_path] if not lock_path.exists() else []
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        _remove(made)
        raise RunDirError(f"output folder {path} is not writable ({e.strerror or e}); choose "
                          "another --out") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirError(f"output folder {path} is in use by another jaxnn run (pid {holder}); "
                              "wait for it to finish or choose another --out") from None
        checkpoint = path / CHECKPOINT
        if checkpoint.exists() and not (resume or overwrite):
            raise RunDirError(f"{path} already holds a checkpoint from an earlier run; continue it "
                              "with --resume, replace it with --overwrite, or choose another --out")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            raise RunDirError(f"cannot write in output folder {path} ({e.strerror or e}); free some "
                              "space or choose another --out") from None
        yield path
    finally:
        os.close(fd)  # releases the lock
        if not (path / CHECKPOINT).exists():   # stopped before its first checkpoint: leave nothing
            _remove(made)


def _remove(made: list[Path]) -> None:
    """Remove the lock file and the (still empty) folders this run created, deepest first."""
    for p in sorted(made, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):     # not empty (something else was written): keep it
            p.unlink() if p.name == LOCK else p.rmdir()


def strict_json(value, indent: int | None = None) -> str:
    """``value`` as strict JSON: NaN and ±infinity (which Python's ``json`` writes bare, and strict
    readers reject) as ``null``, NumPy numbers and arrays as plain ones."""
    def plain(v):
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if hasattr(v, "tolist"):                   # NumPy and JAX scalars and arrays
            return plain(v.tolist())
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return json.dumps(plain(value), allow_nan=False, indent=indent)


def append_line(path, record: dict) -> None:
    """Append ``record`` to the JSON-lines file ``path`` as one line in one ``write`` (so a reader,
    and a run killed with ``kill -9``, leave whole lines only: the kernel has each as it is written)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (strict_json(record) + "\n").encode())
    finally:
        os.close(fd)
