"""Checkpoints: one ``.npz`` file (written with ``numpy.savez``) from which the network is rebuilt.

The file holds the network structure, the parameters, the optimiser state, the PRNG key and a JSON
``meta`` dict (epoch, history, anything else). It is written atomically: to a temporary file in the
same folder, flushed and fsync'ed, then renamed over the old file, so a crash mid-write never
destroys the previous checkpoint. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import model as M
from jaxnn.model import Model, Params
from jaxnn.models import Network

FORMAT = "jaxnn-checkpoint-1"
CHECKPOINT = "checkpoint.npz"
"""The checkpoint's file name in a run folder (``jaxnn train --out``), which
[`load`][jaxnn.training.checkpoint.load] also takes."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


class Checkpoint(NamedTuple):
    """What [`load`][jaxnn.training.checkpoint.load] returns.

    Attributes:
        model: the rebuilt [`jaxnn.Model`][].
        params: one entry per layer (a Network: ``[{"W", "b"}, ...]``) as NumPy arrays.
        opt_state: the optimiser state's leaves (a list), or ``None``; see
            [`restore_opt_state`][jaxnn.training.checkpoint.restore_opt_state].
        key: the saved PRNG key (same kind as was saved), or ``None``.
        meta: the JSON ``meta`` dict.
        members: a population's number of members ``N`` (every parameter has a leading axis
            ``N``), else ``None``.
    """

    model: Model
    params: Params
    opt_state: list[np.ndarray] | None
    key: jax.Array | None
    meta: dict[str, Any]
    members: int | None = None


def _key_arrays(key) -> dict[str, np.ndarray]:
    if key is None:
        return {}
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return {"key/data": np.asarray(jax.random.key_data(key)),
                "key/impl": np.array(str(jax.random.key_impl(key)))}
    return {"key/data": np.asarray(key), "key/impl": np.array("raw")}


def save(path: str | os.PathLike, model: Model, params: Params, opt_state: Any = None, *,
         key: jax.Array | None = None,
         meta: dict | None = None, members: int | None = None) -> Path:
    """Write a checkpoint atomically to ``path`` (any name; ``.npz`` recommended). Returns the path.

    Temporary files of the same checkpoint left by a process killed mid-write are removed first
    (one writer per checkpoint path: the CLI locks its run folder, see [`jaxnn.training.run_dir`][]).

    Args:
        opt_state: any optax state (stored as its leaves).
        key: a PRNG key to store (e.g. the training key, for resuming).
        meta: JSON-serialisable extras, e.g. ``{"epoch": 3, "history": {...}}``.
        members: ``params`` are a population's ([`jaxnn.training.population`][]), with a leading axis of
            this many members.
    """
    M.check_params(model, params, members)
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"__jaxnn__": np.array(FORMAT),
                                     "network": np.array(json.dumps(model.to_dict())),
                                     "meta": np.array(json.dumps(meta or {}))}
    if members:
        arrays["members"] = np.array(members)
    arrays.update({f"params/{path}": np.asarray(v) for path, v in M.named_params(params)})
    if opt_state is not None:
        leaves = jax.tree.leaves(opt_state)
        arrays["opt_state/count"] = np.array(len(leaves))
        arrays.update({f"opt_state/{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)})
    arrays.update(_key_arrays(key))

    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a run killed mid-write
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load(path) -> Checkpoint:
    """Read a checkpoint written by [`save`][jaxnn.training.checkpoint.save] and rebuild the network from it
    alone. ``path``: the checkpoint file, or a run folder of ``jaxnn train`` (its ``checkpoint.npz``).

    Raises:
        CheckpointError: missing, truncated/corrupt, foreign (not written by jaxnn) or inconsistent.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / CHECKPOINT).is_file():
            raise CheckpointError(f"no checkpoint at {path}: the folder holds no {CHECKPOINT}")
        path = path / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e):     # numpy's message would advise loading it unsafely: never
            raise CheckpointError(f"{path} holds pickled Python objects, which jaxnn never loads; "
                                  "it is not a jaxnn checkpoint") from None
        raise CheckpointError(f"{path} is truncated or corrupt ({e}); use an earlier checkpoint "
                              "or retrain") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(e).__name__}: {e}); "
                              "use an earlier checkpoint or retrain") from None
    if files.get("__jaxnn__") is None or str(files["__jaxnn__"]) != FORMAT:
        raise CheckpointError(f"{path} is not a jaxnn checkpoint (expected format {FORMAT}, "
                              f"found keys {sorted(files)[:5]}); was it written by jaxnn.save?")

    def entry(name):
        if name not in files:
            raise CheckpointError(f"{path} lacks the entry {name!r}; the file is incomplete: use "
                                  "an earlier checkpoint or retrain")
        return files[name]

    try:   # (a layer or loss of one's own that this process has not registered fails here)
        model = from_dict(json.loads(str(entry("network"))))
        meta = json.loads(str(entry("meta")))
        members = int(files["members"]) if "members" in files else None
        want = M.param_shapes(model, members)
        params = jax.tree.unflatten(jax.tree.structure(want),
                                    [entry(f"params/{path}") for path, _ in M.named_params(want)])
        M.check_params(model, params, members)
        opt_state = None
        if "opt_state/count" in files:
            opt_state = [entry(f"opt_state/{i}") for i in range(int(files["opt_state/count"]))]
    except (KeyError, ValueError, TypeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path} cannot be loaded: {e}") from None
    for name, v in M.named_params(params):
        bad = int(np.size(v) - np.count_nonzero(np.isfinite(v)))
        if bad:
            raise CheckpointError(f"{path}: parameter params/{name} holds {bad} NaN/inf "
                                  "values, so every output would be meaningless; use an "
                                  "earlier checkpoint or retrain")
    key = None
    if "key/data" in files:
        impl = str(entry("key/impl"))
        key = files["key/data"] if impl == "raw" else jax.random.wrap_key_data(files["key/data"],
                                                                                impl=impl)
    return Checkpoint(model, params, opt_state, key, meta, members)


def describe(path) -> str:
    """'the last checkpoint (epoch N) is PATH', or that none was written there (for messages)."""
    try:
        meta = load(path).meta
        at = f"epoch {meta.get('epoch', '?')}" if "step" not in meta else \
            f"step {meta['step']:,} of epoch {meta['epoch'] + 1}"
        return f"the last checkpoint ({at}) is {path}"
    except CheckpointError:
        return f"no usable checkpoint was written to {path}"


def from_dict(d: dict):
    """The model a checkpoint's ``network`` entry describes: [`Model.to_dict`][jaxnn.model.Model.to_dict]'s,
    or the ``{"sizes", "hidden", "output", "loss"}`` of checkpoints written before there was one model
    type (a [`jaxnn.Network`][])."""
    return Model.from_dict(d) if d.get("kind") == "Model" else Network(**d)


def restore_opt_state(optimizer, params: Params, leaves: list[np.ndarray], *, template=None):
    """Rebuild an optax state from saved leaves, using ``template`` (default ``optimizer.init``
    of the params without their state) for its structure.

    Raises:
        CheckpointError: if the saved state does not fit this optimiser (a different optimiser).
    """
    template = optimizer.init(M.split_state(params)[0]) if template is None else template
    want = jax.tree.leaves(template)
    if len(want) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(want, leaves)):
        raise CheckpointError(
            f"the checkpoint's optimizer state ({len(leaves)} arrays) does not fit this optimizer "
            f"({len(want)} arrays); resume with the optimizer the run was started with")
    return jax.tree.unflatten(jax.tree.structure(template),
                              [jax.numpy.asarray(b, dtype=jax.numpy.result_type(a))
                               for a, b in zip(want, leaves)])
