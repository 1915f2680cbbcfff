"""Training: ``fit`` runs compiled epochs (:mod:`jaxnn.epoch`), evaluates, checkpoints, resumes.

After every epoch each callback gets an :class:`Epoch` (the epoch's metrics, the history so far,
the parameters and optimiser state) and may answer ``"stop"``; the checkpoint writer, the progress
bar, the CLI's table and its Ctrl-C handling, and a notebook's live curves are all such callbacks.

The epoch key is ``fold_in(key, epoch)``, so a run is fully determined by ``key`` and the data: the
same inputs give bit-identical parameters on CPU, and a resumed run continues exactly where the
interrupted one stopped.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import checkpoint as ckpt
from jaxnn import parallel
from jaxnn.backprop import value_and_grad
from jaxnn.data import chunks, prepare
from jaxnn.epoch import Backward, Loop, Sampling, make_epoch
from jaxnn.layers import model as M
from jaxnn.layers.model import Params


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite. ``params``/``history`` hold the last good state."""

    def __init__(self, message: str, params: Params, history: dict):
        super().__init__(message)
        self.params, self.history = params, history


class Epoch(NamedTuple):
    """What every ``fit`` callback gets after each epoch.

    Attributes:
        metrics: this epoch's ``{"epoch", "train_loss", "train_accuracy", "eval_loss",
            "eval_accuracy", "seconds"}`` (``nan`` where not measured).
        history: every epoch's metrics so far, each field a list (what ``fit`` returns).
        params, opt_state: the state after this epoch.
    """

    metrics: dict[str, float]
    history: dict[str, list]
    params: Params
    opt_state: Any


Callback = Callable[[Epoch], Literal["stop"] | None]
"""``callback(epoch) -> "stop" | None``: ``"stop"`` ends training after this epoch."""
RECORD_FIELDS = ("epoch", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "seconds")


def gradient_descent(net, params: Params, x, y, *, lr: float, steps: int) -> Params:
    """Plain full-batch gradient descent, the first training loop one writes: ``steps`` times
    ``W ← W − η ∂C/∂W``, ``b ← b − η ∂C/∂b`` with the hand-derived gradients of the whole
    ``(x, y)``, as one ``lax.fori_loop``.

    Pure and traceable, so ``jax.vmap`` over the initial ``params`` (e.g. of ``jaxnn.init`` over
    a batch of keys) trains many seeds in one compiled call. ``y`` as :func:`jaxnn.value_and_grad`
    takes it (targets ``(m, n_L)``, or labels for ``cross_entropy``).

    Example:
        >>> train = lambda key: gradient_descent(net, jaxnn.init(key, net), x, y, lr=0.5, steps=1000)
        >>> params = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 100))  # 100 seeds
    """
    def step(_, p):
        _, g = value_and_grad(net, p, x, y)
        return jax.tree.map(lambda w, dw: w - lr * dw, p, g)

    return jax.lax.fori_loop(0, steps, step, params)


def evaluate(net, params: Params, x, y, *, batch_size: int = 10_000) -> dict[str, float]:
    """Mean loss and accuracy on ``(x, y)``, in jitted chunks of ``batch_size`` examples.

    Returns ``{"loss": float, "accuracy": float}`` (accuracy ``nan`` for a regression network).
    """
    x, y = prepare(net, x, y, _dtype(params), name="eval data")
    return _evaluate(net, params, x, y, batch_size)


def _evaluate(net, params, x, y, batch_size=10_000):
    """:func:`evaluate` on arrays already validated and on the device."""
    loss, acc = chunked_means(_eval_chunk, net, params, x, y, batch_size)
    return {"loss": float(loss), "accuracy": float(acc)}


def chunked_means(chunk: Callable, model, params, x, y, batch_size: int = 10_000):
    """Run ``chunk(model, params, x_part, y_part) -> (loss_sum, *correct_counts)`` over ``x`` in
    chunks of ``batch_size`` and return ``(mean loss per example, *accuracies)``: each count over
    the predicted positions (examples × time steps), NaN for a regression model."""
    totals = None
    for part in chunks(len(x), batch_size):
        sums = [np.asarray(s, np.float64) for s in chunk(model, params, x[part], y[part])]
        totals = sums if totals is None else [t + s for t, s in zip(totals, sums)]
    loss, *counts = totals
    positions = len(x) * math.prod(M.output_shape(model)[:-1])
    classifier = M.is_classifier(model)
    return loss / len(x), *(c / positions if classifier else np.full_like(c, math.nan) for c in counts)


@functools.partial(jax.jit, static_argnums=0)
def _eval_chunk(net, params, x, y):
    z_out, a_out = M.output(net, params, x)
    labels = y if y.ndim == a_out.ndim - 1 else jnp.argmax(y, axis=-1)
    return M.cost(net, z_out, a_out, y) * x.shape[0], jnp.sum(M.to_classes(a_out) == labels)


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

    def callback(epoch: Epoch):
        bar.set_postfix(loss=f"{epoch.metrics['train_loss']:.4f}",
                        acc=f"{epoch.metrics['eval_accuracy']:.4f}")
        bar.update(1)

    try:
        yield callback
    finally:
        bar.close()


def checkpointer(path, model, key, *, every: int = 1, last: int | None = None) -> Callback:
    """A callback writing checkpoint ``path`` every ``every`` epochs and after epoch ``last``."""
    def callback(epoch: Epoch):
        n = epoch.metrics["epoch"]
        if n % every == 0 or n == last:
            ckpt.save(path, model, epoch.params, epoch.opt_state, key=key,
                      meta={"epoch": n, "history": epoch.history})

    return callback


def fit(model, params: Params, train, *, optimizer: optax.GradientTransformation,
        epochs: int, batch_size: int, key: jax.Array, eval_data=None, sampling: Sampling = "shuffle",
        steps_per_epoch: int | None = None, backward: Backward = "hand", checkpoint=None,
        checkpoint_every: int = 1, resume: bool = False, progress: bool | None = None,
        callbacks: Sequence[Callback] = (), devices: int | list | None = None,
        eval_train: bool = False, augment: Callable | None = None,
        loop: Loop = "auto") -> tuple[Params, dict[str, list]]:
    """Train ``model`` from ``params`` on ``train = (x, y)``; return ``(params, history)``.

    ``model`` is any model (:class:`jaxnn.Network`, :class:`jaxnn.layers.Model`, nested blocks).

    Args:
        train: ``(x (n, *input_shape), y)`` with ``y`` integer labels ``(n,)`` or targets
            ``(n, n_L)`` (a :class:`jaxnn.data.Dataset` works too). Labels become one-hot targets
            for losses other than ``cross_entropy``; flat images are reshaped to the input shape.
        optimizer: :func:`jaxnn.optim.sgd` or any ``optax.GradientTransformation``.
        epochs: total number of epochs (a resumed run trains the remaining ones).
        batch_size: mini-batch size ``m``.
        key: PRNG key for the mini-batch order (and augmentation).
        eval_data: optional ``(x, y)`` evaluated after every epoch (loss and accuracy).
        sampling: ``"shuffle"`` (a permutation per epoch) or ``"random"`` (each batch drawn anew);
            see :mod:`jaxnn.epoch`.
        steps_per_epoch: for ``sampling="random"``; default ``n // batch_size``.
        backward: ``"hand"`` (BP1–BP4) or ``"autodiff"`` (``jax.grad``), for honest comparisons.
        checkpoint: path of a checkpoint written every ``checkpoint_every`` epochs and at the end.
        resume: continue from ``checkpoint`` if it exists (params, optimiser state, key, history).
        progress: a progress bar over epochs: ``True`` always, ``None`` only on a terminal,
            ``False`` never.
        callbacks: each called with an :class:`Epoch` after every epoch (after the checkpoint is
            written); one that returns ``"stop"`` ends training there.
        devices: train data-parallel on this many local devices (or these devices); ``None`` = 1.
        eval_train: also measure accuracy on the whole training set after every epoch
            (``history["train_accuracy"]``; ``nan`` when off).
        augment: ``(key, x_batch) -> x_batch``, applied to every mini-batch inside the compiled
            epoch (e.g. ``functools.partial(jaxnn.augment.random_affine, image_shape=(28, 28, 1))``).
        loop: ``"scan"`` (the epoch is one compiled call), ``"python"`` (one compiled call per
            step) or ``"auto"`` (see :func:`jaxnn.epoch.make_epoch`).

    Returns:
        ``(params, history)``; ``history`` maps each metric to a list, one entry per epoch.

    Raises:
        TrainingDiverged: the training loss became NaN/inf (the message names the epoch; the last
            checkpoint written stays on disk untouched).

    Example:
        >>> params, hist = fit(net, params, (x, y), optimizer=jaxnn.sgd(3.0), epochs=30,
        ...                    batch_size=10, key=jax.random.key(0), eval_data=(x_test, y_test))
    """
    M.check_params(model, params)
    if checkpoint is not None:
        model.to_dict()    # a layer checkpoints cannot rebuild (not registered) fails before training
    epochs, batch_size, checkpoint_every = _check_args(epochs, batch_size, checkpoint_every, key)
    dtype = _dtype(params)
    x, y = prepare(model, train[0], train[1], dtype, name="train")
    if batch_size > len(x):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x)} training examples")
    evals = prepare(model, eval_data[0], eval_data[1], dtype, "eval data") if eval_data else None

    params = jax.tree.map(jnp.asarray, params)
    opt_state = optimizer.init(params)
    history: dict[str, list] = {k: [] for k in RECORD_FIELDS}
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        params, opt_state, key, history, start = _resume(checkpoint, model, optimizer, dtype)
    batch_sharding, (params, opt_state, x, y) = _place(devices, batch_size, (params, opt_state, x, y))
    epoch_fn = make_epoch(model, optimizer, batch_size=batch_size, sampling=sampling,
                          steps=steps_per_epoch, loop=loop, backward=backward, augment=augment,
                          batch_sharding=batch_sharding)

    writer = ([checkpointer(checkpoint, model, key, every=checkpoint_every, last=epochs)]
              if checkpoint is not None else [])
    with progress_bar(epochs, start, progress) as bar:
        for n in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            new_params, new_state, train_loss = epoch_fn(params, opt_state,
                                                         jax.random.fold_in(key, n), x, y)
            _check_finite(float(train_loss), n, checkpoint, params, history)
            params, opt_state = new_params, new_state
            metrics = _metrics(model, params, n, float(train_loss), (x, y) if eval_train else None,
                               evals)
            metrics["seconds"] = time.perf_counter() - t0
            for k, v in metrics.items():
                history[k].append(v)
            epoch = Epoch(metrics, history, params, opt_state)
            if "stop" in [cb(epoch) for cb in (*writer, bar, *callbacks)]:
                break
    return params, history


def _check_args(epochs, batch_size, checkpoint_every, key):
    """fit's counts as ``int``s and its key checked; ``ValueError`` naming the argument."""
    counts = tuple(_count(name, value, minimum) for name, value, minimum in
                   (("epochs", epochs, 0), ("batch_size", batch_size, 1),
                    ("checkpoint_every", checkpoint_every, 1)))
    if not (isinstance(key, jax.Array) or isinstance(key, np.ndarray) and key.dtype == np.uint32):
        raise ValueError(f"key must be a PRNG key such as jax.random.key(0), got {key!r}")
    return counts


def _place(devices, batch_size: int, tree):
    """``(batch_sharding, tree)``: with ``devices``, ``tree`` replicated on a data mesh and the
    sharding that splits each mini-batch across it; else ``(None, tree)``."""
    if devices is None:
        return None, tree
    mesh = parallel.data_mesh(devices)
    if batch_size % mesh.size:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {mesh.size} devices; "
                         f"use a multiple of {mesh.size}")
    return parallel.batch_sharding(mesh), parallel.replicate(tree, mesh)


def _check_finite(train_loss: float, epoch: int, checkpoint, params, history) -> None:
    if not math.isfinite(train_loss):
        raise TrainingDiverged(
            f"training loss became {train_loss} in epoch {epoch}; the learning rate is probably "
            "too large: try a smaller one (e.g. 10x smaller)"
            + (f"; the last good checkpoint is {checkpoint}"
               if checkpoint is not None and Path(checkpoint).exists() else ""),
            params, history)


def _metrics(model, params, epoch: int, train_loss: float, train, evals) -> dict[str, Any]:
    """One epoch's metrics (without ``seconds``): accuracy on ``train``/``evals`` where given."""
    metrics = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": math.nan,
               "eval_loss": math.nan, "eval_accuracy": math.nan}
    if train is not None:
        metrics["train_accuracy"] = _evaluate(model, params, *train)["accuracy"]
    if evals is not None:
        result = _evaluate(model, params, *evals)
        metrics.update(eval_loss=result["loss"], eval_accuracy=result["accuracy"])
    return metrics


def _count(name: str, value, minimum: int) -> int:
    """``value`` as an ``int`` ≥ ``minimum`` (NumPy integers welcome; bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def _resume(path, net, optimizer, dtype):
    c = ckpt.load(path)
    if c.net != net:
        raise ckpt.CheckpointError(f"{path} was written for {c.net}, not {net}; "
                                   "use the same network or another checkpoint path")
    if c.opt_state is None or c.key is None:
        raise ckpt.CheckpointError(f"{path} holds no optimizer state or key to resume from "
                                   "(written by jaxnn.save without them?)")
    for entry in ("epoch", "history"):
        if entry not in c.meta:
            raise ckpt.CheckpointError(f"{path} lacks meta[{entry!r}], which resuming needs "
                                       "(written by jaxnn.save, not by fit?)")
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), c.params)
    opt_state = ckpt.restore_opt_state(optimizer, params, c.opt_state)
    return params, opt_state, c.key, c.meta["history"], int(c.meta["epoch"])
