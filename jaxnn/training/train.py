"""Training: one loop, [`fit`][jaxnn.fit], runs compiled epochs ([`jaxnn.training.epoch`][]),
evaluates, checkpoints and resumes, for one model and for a population of ``N`` members trained
together ([`jaxnn.fit_population`][] calls it with ``members=N``: its arrays carry a leading member
axis).

After every epoch each callback gets an [`Epoch`][jaxnn.training.train.Epoch] (the epoch's metrics, the
history so far, the parameters and optimiser state) and may answer ``"stop"``; the checkpoint writer, the
progress bar, the CLI's table and its Ctrl-C handling, and a notebook's live curves are all such callbacks.

The epoch key is ``fold_in(key, epoch)``, so a run is fully determined by ``key`` and the data: the
same inputs give bit-identical parameters on CPU, and a resumed run continues exactly where the
interrupted one stopped.

The history maps each metric to a list with one entry per epoch (a population's: a list of ``N``
values): ``epoch``, ``train_loss``, ``train_accuracy`` (``nan`` unless ``eval_train``), for each
eval set ``name`` ``{name}_loss`` and ``{name}_accuracy`` (``eval`` for a bare ``(x, y)``; ``nan``
without eval data), a population's ``{name}_ensemble_accuracy`` (the mean of the members'
outputs), and ``seconds``.

Divergence: a member whose training loss becomes NaN/inf is named in a warning and carries NaN from
then on while the others train on; when no member is left (one model: at once), training stops
with [`TrainingDiverged`][jaxnn.training.train.TrainingDiverged], which holds the last good parameters.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import model as M
from jaxnn.backprop import value_and_grad
from jaxnn.data import Dataset, chunks, prepare, prepare_stream
from jaxnn.model import Params
from jaxnn.training import checkpoint as ckpt
from jaxnn.training import parallel
from jaxnn.training.epoch import Backward, Loop, Sampling, make_chunks, make_epoch


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite. ``params``/``history`` hold the last good state."""

    def __init__(self, message: str, params: Params, history: dict):
        super().__init__(message)
        self.params, self.history = params, history


class Epoch(NamedTuple):
    """What every ``fit`` callback gets after each epoch.

    Attributes:
        metrics: this epoch's entry of each history field (see the module docstring).
        history: every epoch's metrics so far, each field a list (what ``fit`` returns).
        params, opt_state: the state after this epoch.
    """

    metrics: dict[str, float]
    history: dict[str, list]
    params: Params
    opt_state: Any


Callback = Callable[[Epoch], Literal["stop"] | None]
"""``callback(epoch) -> "stop" | None``: ``"stop"`` ends training after this epoch."""

TrainData = tuple[jax.Array, jax.Array] | Dataset | jax.Array
"""``(x, y)``, a [`jaxnn.data.Dataset`][], or a token stream ``(n,)`` (``sampling="windows"``)."""

EvalData = tuple[jax.Array, jax.Array] | Mapping[str, tuple[jax.Array, jax.Array]]
"""``(x, y)``, or ``{name: (x, y)}``: each evaluated after every epoch."""


def gradient_descent(model, params: Params, x, y, *, lr: float, steps: int) -> Params:
    """Plain full-batch gradient descent, the first training loop one writes: ``steps`` times
    ``W ← W − η ∂C/∂W``, ``b ← b − η ∂C/∂b`` with the hand-derived gradients of the whole
    ``(x, y)``, as one ``lax.fori_loop``.

    Pure and traceable, so ``jax.vmap`` over the initial ``params`` (e.g. of ``jaxnn.init`` over
    a batch of keys) trains many seeds in one compiled call. ``y`` as [`jaxnn.value_and_grad`][]
    takes it (targets ``(m, n_L)``, or labels for ``cross_entropy``).

    Examples:
        >>> run = lambda key: gradient_descent(net, jaxnn.init(key, net), x, y, lr=0.5, steps=1000)
        >>> params = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 100))  # 100 seeds
    """
    def step(_, p):
        _, g = value_and_grad(model, p, x, y)
        return jax.tree.map(lambda w, dw: w - lr * dw, p, g)

    return jax.lax.fori_loop(0, steps, step, params)


def evaluate(model, params: Params, x, y, *, batch_size: int = 10_000) -> dict[str, float]:
    """Mean loss and accuracy on ``x (n, *input_shape)`` and ``y`` (labels ``(n,)`` or targets
    ``(n, n_L)``), in jitted chunks of ``batch_size`` examples.

    Returns ``{"loss": float, "accuracy": float}`` (accuracy ``nan`` for a regression network).
    """
    x, y = prepare(model, x, y, _dtype(params), name="eval data")
    loss, acc = _chunked_means(_eval_chunk, model, params, x, y, batch_size)
    return {"loss": float(loss), "accuracy": float(acc)}


def _chunked_means(chunk: Callable, model, params, x, y, batch_size: int = 10_000):
    """Run ``chunk(model, params, x_part, y_part) -> (loss_sum, *correct_counts, positions)`` over
    ``x`` in chunks of ``batch_size`` and return ``(mean loss, *accuracies)``, both over the
    predicted positions that count (examples × time steps, less those labelled ``IGNORE``);
    accuracies NaN for a regression model."""
    totals = None
    for part in chunks(len(x), batch_size):
        sums = [np.asarray(s, np.float64) for s in chunk(model, params, x[part], y[part])]
        totals = sums if totals is None else [t + s for t, s in zip(totals, sums)]
    loss, *counts, positions = totals
    positions = max(positions, 1)
    classifier = M.is_classifier(model)
    return loss / positions, *(c / positions if classifier else np.full_like(c, math.nan) for c in counts)


@functools.partial(jax.jit, static_argnums=0)
def _eval_chunk(model, params, x, y):
    z_out, a_out = M.output(model, params, x)
    labels = y if y.ndim == a_out.ndim - 1 else jnp.argmax(y, axis=-1)
    n = jnp.sum(M.counted(model, y, a_out))
    return M.cost(model, z_out, a_out, y) * n, jnp.sum(M.to_classes(a_out) == labels), n


@functools.partial(jax.jit, static_argnums=0)
def _members_chunk(model, params, x, y):
    """Every member's summed loss and correct count ``(N,)``, the ensemble's correct count and the
    positions that count."""
    z, a = jax.vmap(lambda p: M.output(model, p, x))(params)             # (N, m, ..., n_L)
    n = jnp.sum(M.counted(model, y, a[0]))
    cost = jax.vmap(lambda z1, a1: M.cost(model, z1, a1, y))(z, a) * n
    labels = y if y.ndim == a.ndim - 2 else jnp.argmax(y, axis=-1)
    correct = jnp.sum(M.to_classes(a) == labels, axis=tuple(range(1, a.ndim - 1)))
    finite = jnp.all(jnp.isfinite(a), axis=tuple(range(1, a.ndim)))      # diverged members left out
    mean_out = jnp.sum(jnp.where(finite.reshape(-1, *[1] * (a.ndim - 1)), a, 0), 0) / jnp.sum(finite)
    return cost, correct, jnp.sum(M.to_classes(mean_out) == labels), n


def _dtype(params):
    return jnp.result_type(*jax.tree.leaves(params)[:1])


@contextlib.contextmanager
def progress_bar(epochs: int, start: int = 0, enabled: bool | None = True):
    """A tqdm bar over epochs as a callback (``enabled=None``: only on a terminal; ``False``: no
    bar, and tqdm not even imported: it warns in a notebook without widgets)."""
    if enabled is False:
        yield lambda epoch: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, initial=start, unit="epoch", disable=None if enabled is None else False,
               dynamic_ncols=True, leave=False)

    def mean(values):                 # a population's: over its members that did not diverge
        values = np.asarray(values, np.float64)
        return values[np.isfinite(values)].mean() if np.isfinite(values).any() else math.nan

    def callback(epoch: Epoch):
        if "step" in epoch.metrics:                  # a report inside an epoch
            return
        acc = next(v for k, v in epoch.metrics.items() if k.endswith("_accuracy") and k != "train_accuracy")
        bar.set_postfix(loss=f"{mean(epoch.metrics['train_loss']):.4f}", acc=f"{mean(acc):.4f}")
        bar.update(1)

    try:
        yield callback
    finally:
        bar.close()


@contextlib.contextmanager
def stop_on_ctrl_c(every: int | None = None):
    """While the block runs, the first Ctrl-C asks training to stop once the running epoch (and its
    checkpoint) is done, or its next chunk of ``every`` steps (``fit(every=N)``): the callback this
    yields then answers ``"stop"``; a second Ctrl-C
    interrupts at once (``KeyboardInterrupt``). ``callback.pressed`` tells whether Ctrl-C was
    pressed. Outside the main thread (where Python delivers no signals) the callback never stops."""
    def callback(epoch: Epoch):
        return "stop" if callback.pressed else None

    def handler(signum, frame):
        if callback.pressed:
            raise KeyboardInterrupt
        callback.pressed = True
        when = "after this epoch" if every is None else f"within {every} steps"
        print(f"\nCtrl-C: stopping {when} (press it again to stop at once)", file=sys.stderr, flush=True)

    callback.pressed = False
    if threading.current_thread() is not threading.main_thread():
        yield callback
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield callback
    finally:
        signal.signal(signal.SIGINT, previous)


def checkpointer(path, model, key, *, every: int = 1, last: int | None = None,
                 members: int | None = None, meta: dict | None = None) -> Callback:
    """A callback writing checkpoint ``path`` every ``every`` epochs and after epoch ``last``
    (``members``: a population's, see [`jaxnn.save`][]), and at every report inside an epoch
    (``fit(every=N)``: the steps done in it, so a resumed run continues from there); ``meta``: more
    entries for every checkpoint's ``meta``."""
    def callback(epoch: Epoch):
        n = epoch.metrics["epoch"]
        if "step" in epoch.metrics:                  # inside epoch n: n − 1 epochs and some steps done
            done = epoch.metrics["step"]
            progress = {"epoch": n - 1, "step": done,
                        "loss_sum": (np.asarray(epoch.metrics["train_loss"]) * done).tolist()}
        elif n % every == 0 or n == last:
            progress = {"epoch": n}
        else:
            return
        params, opt_state = epoch.params, epoch.opt_state
        if not all(getattr(a, "is_fully_addressable", True) for a in jax.tree.leaves((params, opt_state))):
            from jax.experimental import multihost_utils  # sharded over several processes: whole

            params, opt_state = multihost_utils.process_allgather((params, opt_state), tiled=True)
        if jax.process_index() == 0:                 # a run of several processes: written once
            ckpt.save(path, model, params, opt_state, key=key, members=members,
                      meta={**(meta or {}), **progress, "history": epoch.history})

    return callback


def fit(model, params: Params, train: TrainData, *, optimizer: optax.GradientTransformation,
        epochs: int, batch_size: int, key: jax.Array, eval_data: EvalData | None = None,
        sampling: Sampling = "shuffle", steps_per_epoch: int | None = None, backward: Backward = "hand",
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1, resume: bool = False,
        progress: bool | None = None, callbacks: Sequence[Callback] = (),
        devices: int | list | None = None, eval_train: bool = False, augment: Callable | None = None,
        loop: Loop = "auto", opt_state: Any = None, members: int | None = None, every: int | None = None,
        checkpoint_meta: dict | None = None, shard_params: bool = False
        ) -> tuple[Params, dict[str, list]]:
    """Train ``model`` from ``params`` on ``train = (x, y)``; return ``(params, history)``.

    ``model`` is any model ([`jaxnn.Network`][], [`jaxnn.Model`][], nested blocks).

    Args:
        train: ``(x (n, *input_shape), y)`` with ``y`` integer labels ``(n,)`` or targets
            ``(n, n_L)`` (a [`jaxnn.data.Dataset`][] works too). Labels become one-hot targets
            for losses other than ``cross_entropy``; flat images are reshaped to the input shape.
            With ``sampling="windows"``: a language model's token stream ``(n,)``.
        optimizer: [`jaxnn.training.optim.sgd`][] or any ``optax.GradientTransformation``.
        epochs: total number of epochs (a resumed run trains the remaining ones).
        batch_size: mini-batch size ``m``.
        key: PRNG key for the mini-batch order (and augmentation, Dropout).
        eval_data: ``(x, y)`` (recorded as ``eval``) or ``{name: (x, y)}`` such as
            ``{"validation": ..., "test": ...}``, each evaluated after every epoch.
        sampling: ``"shuffle"`` (a permutation per epoch), ``"random"`` (each batch drawn anew) or
            ``"windows"`` (random windows of a token stream and their next tokens); see
            [`jaxnn.training.epoch`][].
        steps_per_epoch: for ``sampling="random"`` (default ``n // batch_size``) and
            ``"windows"`` (default ``n // (batch_size · T)``).
        backward: ``"hand"`` (BP1–BP4) or ``"autodiff"`` (``jax.grad``), for honest comparisons.
        checkpoint: path of a checkpoint written every ``checkpoint_every`` epochs and at the end.
        checkpoint_meta: JSON-able entries kept in every checkpoint's ``meta`` beside fit's own
            (what a language model's vocabulary needs, say).
        shard_params: with ``devices``, shard the parameters and the optimiser state over the
            devices (FSDP-style, [`jaxnn.parallel.fsdp_sharding`][jaxnn.training.parallel.fsdp_sharding])
            instead of replicating them: each device keeps about ``1/N`` of them, the same updates.
            Parameters a user sharded over these devices keep their sharding either way. Checkpoints
            hold whole arrays, so a run resumes on any number of devices.
        resume: continue from ``checkpoint`` if it exists (params, optimiser state, key, history).
        progress: a progress bar over epochs: ``True`` always, ``None`` only on a terminal,
            ``False`` never.
        callbacks: each called with an [`Epoch`][jaxnn.training.train.Epoch] after every epoch (after the
            checkpoint is written); one that returns ``"stop"`` ends training there.
        devices: this many local devices (or these devices); ``None`` = 1. One model trains
            data-parallel (each batch split across them), a population's members are split.
            Devices of several processes (``jax.devices()`` after
            [`jaxnn.parallel.start_processes`][jaxnn.training.parallel.start_processes]): each process passes
            its own rows of ``train`` (the same number on each, e.g. ``x[parallel.process_slice(len(x))]``)
            and the whole ``eval_data``; every process then holds the same parameters and history, and process
            0 alone writes the checkpoint.
        eval_train: also measure accuracy on the whole training set after every epoch.
        augment: ``(key, x_batch) -> x_batch``, applied to every mini-batch inside the compiled
            epoch (e.g. ``functools.partial(jaxnn.training.augment.random_affine, image_shape=(28, 28, 1))``).
        loop: ``"scan"`` (the epoch is one compiled call), ``"python"`` (one compiled call per
            step) or ``"auto"`` (see [`jaxnn.training.epoch.make_epoch`][]).
        opt_state: the initial optimiser state; default ``optimizer.init`` of the params without
            their state ([`jaxnn.model.split_state`][]: the same for a model without).
        members: ``params``, ``opt_state`` and ``key`` carry a leading axis of this many members
            (what [`jaxnn.training.population.fit`][] passes).

    Returns:
        ``(params, history)``; ``history`` maps each metric to a list, one entry per epoch (see
        the module docstring).

    Raises:
        TrainingDiverged: the training loss became NaN/inf (of every member) (the message names
            the epoch; the last checkpoint written stays on disk untouched).

    Examples:
        >>> params, hist = fit(net, params, (x, y), optimizer=jaxnn.sgd(3.0), epochs=30,
        ...                    batch_size=10, key=jax.random.key(0), eval_data=(x_test, y_test))
    """
    M.check_params(model, params, members)
    if checkpoint is not None:
        model.to_dict()    # a layer checkpoints cannot rebuild (not registered) fails before training
    epochs, batch_size, checkpoint_every = _check_args(epochs, batch_size, checkpoint_every,
                                                       key[0] if members else key)
    dtype = _dtype(params)
    if sampling == "windows":                # a token stream: each step draws its windows
        if eval_train:
            raise ValueError("eval_train measures a set of examples; a token stream has none (pass "
                             "windows of it in eval_data instead)")
        x, y = prepare_stream(model, train, name="train"), jnp.zeros(0, jnp.int32)
    else:
        x, y = prepare(model, train[0], train[1], dtype, name="train")
        if parallel.spans_processes(devices):    # each process passed its rows: the data set is all of them
            x, y = parallel.gather_rows(x, y)
        if batch_size > len(x):
            raise ValueError(f"batch_size {batch_size} is larger than the {len(x)} training examples")
    if eval_data is not None and not isinstance(eval_data, Mapping):
        eval_data = {"eval": eval_data}
    evals = {name: prepare(model, *pair, dtype, f"{name} data") for name, pair in (eval_data or {}).items()}

    params = jax.tree.map(jnp.asarray, params)
    init = jax.vmap(optimizer.init) if members else optimizer.init
    trainable = M.split_state(params)[0]                   # the optimiser never sees the state
    if opt_state is None:
        opt_state = init(trainable)
    elif jax.tree.structure(opt_state) != jax.tree.structure(jax.eval_shape(init, trainable)):
        raise ValueError("opt_state does not fit this optimizer and these params; make it with "
                         "optimizer.init(params) (for a model with BatchNorm: of the params without "
                         "their state, jaxnn.model.split_state(params)[0]) or leave it out")
    history: dict[str, list] = {}
    start, partial = 0, None
    if resume and checkpoint is not None and Path(checkpoint).exists():
        params, opt_state, key, history, start, partial = _resume(checkpoint, model, optimizer,
                                                                  opt_state, dtype, members)
    sharding, (params, opt_state, key, x, y, evals) = _place(devices, batch_size, members,
                                                            (params, opt_state, key, x, y, evals),
                                                            shard_params)
    options = dict(batch_size=batch_size, sampling=sampling, steps=steps_per_epoch, loop=loop,
                   backward=backward, augment=augment, batch_sharding=sharding, members=bool(members))
    if sharding is not None:       # on a mesh: the updated parameters stay where they were put
        options["state_sharding"] = jax.tree.map(lambda a: a.sharding, (params, opt_state))
    if every is None:
        epoch_fn = make_epoch(model, optimizer, **options)
    else:
        every = _count("every", every, 1)
        plan, run = make_chunks(model, optimizer, **options)
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None)) if members else jax.random.fold_in
    writer = ([checkpointer(checkpoint, model, key, every=checkpoint_every, last=epochs,
                            members=members, meta=checkpoint_meta)] if checkpoint is not None else [])
    diverged = np.zeros(members or 1, bool)
    with progress_bar(epochs, start, progress) as bar:
        listeners = (*writer, bar, *callbacks)
        for n in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            if every is None:
                new_params, new_state, train_loss = epoch_fn(params, opt_state, fold(key, n), x, y)
            else:               # in chunks, with a report after each but the last
                resumed = partial if n == start + 1 and partial else (0, 0.0)
                for new_params, new_state, done, total, loss_sum in _in_chunks(
                        plan, run, params, opt_state, fold(key, n), x, y, every, *resumed):
                    report = Epoch({"epoch": n, "step": done, "steps": total,
                                    "train_loss": (loss_sum / done).tolist()}, history, new_params, new_state)
                    if done < total and "stop" in [cb(report) for cb in listeners]:
                        return new_params, history
                train_loss = loss_sum / total
            train_loss = np.asarray(train_loss, np.float64)
            diverged = _diverged(train_loss, diverged, n, checkpoint, params, history)
            params, opt_state = new_params, new_state
            metrics = _metrics(model, params, members, {"train": (x, y)} if eval_train else {}, evals)
            metrics = {"epoch": n, "train_loss": train_loss.tolist(), **metrics,
                       "seconds": time.perf_counter() - t0}
            for k, v in metrics.items():
                history.setdefault(k, []).append(v)
            epoch = Epoch(metrics, history, params, opt_state)
            if "stop" in [cb(epoch) for cb in listeners]:
                break
    return params, history


def _in_chunks(plan, run, params, opt_state, key, x, y, every: int, done: int, loss_sum):
    """An epoch ([`jaxnn.training.epoch.make_chunks`][]'s ``plan``) from step ``done`` on, in
    compiled chunks of ``every`` steps: after each, ``(params, opt_state, steps done, steps in all,
    the sum of the costs so far)`` (``loss_sum``: the sum of the steps before ``done``)."""
    rows, keys = plan(key, x.shape[0])
    total = rows.shape[0]
    for first in range(done, total, every):
        params, opt_state, costs = run(params, opt_state, rows[first:first + every],
                                       keys[first:first + every], x, y)
        loss_sum = loss_sum + np.asarray(costs, np.float64).sum(0)
        yield params, opt_state, min(first + every, total), total, loss_sum


def _check_args(epochs, batch_size, checkpoint_every, key):
    """fit's counts as ``int``s and its key checked; ``ValueError`` naming the argument."""
    counts = tuple(_count(name, value, minimum) for name, value, minimum in
                   (("epochs", epochs, 0), ("batch_size", batch_size, 1),
                    ("checkpoint_every", checkpoint_every, 1)))
    if not (isinstance(key, jax.Array) or isinstance(key, np.ndarray) and key.dtype == np.uint32):
        raise ValueError(f"key must be a PRNG key such as jax.random.key(0), got {key!r}")
    return counts


def _place(devices, batch_size: int, members, tree, shard_params: bool = False):
    """``(batch_sharding, tree)`` of ``(params, opt_state, key, x, y, evals)``: ``devices=None``:
    as they are; one model: the data replicated on a data mesh, each mini-batch split across it,
    the parameters and optimiser state replicated or (``shard_params``) sharded; a population: the
    members split across it, the data replicated."""
    if devices is None:
        if shard_params:
            raise ValueError("shard_params (--shard-params) shards the parameters over several "
                             "devices; pass devices (--devices N) too")
        return None, tree
    mesh = parallel.data_mesh(devices)
    if members:
        if shard_params:
            raise ValueError("a population splits its members over the devices; shard_params is for "
                             "one model")
        if members % mesh.size:
            raise ValueError(f"{members} members cannot be split evenly over {mesh.size} devices; "
                             f"use a multiple of {mesh.size} members")
        return None, (*jax.device_put(tree[:3], parallel.batch_sharding(mesh)),
                      *parallel.replicate(tree[3:], mesh))
    if batch_size % mesh.size:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {mesh.size} devices; "
                         f"use a multiple of {mesh.size}")
    params, opt_state, key, *data = tree
    return parallel.batch_sharding(mesh), (*parallel.place_state((params, opt_state), mesh, shard_params),
                                           key, *parallel.replicate(tuple(data), mesh))


def _diverged(train_loss: np.ndarray, before: np.ndarray, epoch: int, checkpoint, params, history):
    """The members diverged so far; warns of new ones, raises when none is left (the policy in the
    module docstring)."""
    now = before | ~np.isfinite(np.reshape(train_loss, -1))
    if now.all():
        raise TrainingDiverged(
            f"training loss became {np.reshape(train_loss, -1)[0] if now.size == 1 else 'NaN/inf'} "
            f"in epoch {epoch}{'' if now.size == 1 else ' for every member'}; the learning rate is "
            "probably too large: try a smaller one (e.g. 10x smaller)"
            + (f"; the last good checkpoint is {checkpoint}"
               if checkpoint is not None and Path(checkpoint).exists() else ""),
            params, history)
    if (now & ~before).any():
        warnings.warn(f"members {np.flatnonzero(now & ~before).tolist()} diverged in epoch {epoch} "
                      "(training loss NaN/inf: learning rate too large?); their results are NaN "
                      "from here on, the other members train on", stacklevel=3)
    return now


def _metrics(model, params, members, train: dict, evals: dict) -> dict[str, Any]:
    """Loss and accuracy on each named set (``train``: accuracy only); NaN where nothing is
    measured; a population's per member and its ensemble's."""
    nan = [math.nan] * members if members else math.nan
    metrics: dict[str, Any] = {"train_accuracy": nan} if not train else {}
    for name, (ex, ey) in {**train, **evals}.items():
        loss, acc, *ens = _chunked_means(_members_chunk if members else _eval_chunk, model, params, ex, ey)
        if name != "train":
            metrics[f"{name}_loss"] = loss.tolist()
        metrics[f"{name}_accuracy"] = acc.tolist()
        if members and name != "train":
            metrics[f"{name}_ensemble_accuracy"] = float(ens[0])
    if not evals:
        metrics.update(eval_loss=nan, eval_accuracy=nan)
    return metrics


def _count(name: str, value, minimum: int) -> int:
    """``value`` as an ``int`` ≥ ``minimum`` (NumPy integers welcome; bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def _resume(path, model, optimizer, opt_state, dtype, members):
    c = ckpt.load(path)
    if c.model != model or c.members != members:
        what = lambda m, n: f"{m}" + (f" ({n} members)" if n else "")  # noqa: E731
        raise ckpt.CheckpointError(f"{path} was written for {what(c.model, c.members)}, not "
                                   f"{what(model, members)}; use the same model or another "
                                   "checkpoint path")
    if c.opt_state is None or c.key is None:
        raise ckpt.CheckpointError(f"{path} holds no optimizer state or key to resume from "
                                   "(written by jaxnn.save without them?)")
    for entry in ("epoch", "history"):
        if entry not in c.meta:
            raise ckpt.CheckpointError(f"{path} lacks meta[{entry!r}], which resuming needs "
                                       "(written by jaxnn.save, not by fit?)")
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), c.params)
    opt_state = ckpt.restore_opt_state(optimizer, params, c.opt_state, template=opt_state)
    partial = (int(c.meta["step"]), np.asarray(c.meta["loss_sum"], np.float64)) if "step" in c.meta else None
    return params, opt_state, c.key, c.meta["history"], int(c.meta["epoch"]), partial
