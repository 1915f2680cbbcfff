"""Training: ``fit`` runs whole epochs as single compiled calls, evaluates, checkpoints and resumes.

One epoch is one ``jax.jit`` call: the training set lives on the device, the epoch's mini-batch
index rows are drawn from the PRNG key, and ``lax.scan`` runs the steps (gather a batch,
hand-derived ``value_and_grad``, optimiser update) with no Python per mini-batch. The epoch function
is compiled once per ``fit`` (once per shape), not once per epoch.

Mini-batches:

- ``sampling="shuffle"`` (Nielsen): each epoch a fresh permutation, cut into ``n // batch_size``
  batches. The ``n % batch_size`` examples left over are skipped *for that epoch*; as the
  permutation changes every epoch, different examples are skipped each time and none for good.
- ``sampling="random"`` (seed 003): each step draws ``batch_size`` distinct examples at random,
  independently of the other steps; an "epoch" is ``steps_per_epoch`` steps (default
  ``n // batch_size``).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import checkpoint as ckpt
from jaxnn import data as data_lib
from jaxnn import losses
from jaxnn.backprop import value_and_grad
from jaxnn.layers import model as M
from jaxnn.layers.model import Params

GRADIENTS = {"hand": value_and_grad, "autodiff": jax.value_and_grad(M.loss, argnums=1)}
"""The two backward passes ``fit`` can train with: hand-derived (BP1–BP4) or ``jax.grad``; each
``(model, params, x, y) -> (cost, grads)``."""
BACKWARDS = tuple(GRADIENTS)


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite. ``params``/``history`` hold the last good state."""

    def __init__(self, message: str, params: Params, history: dict):
        super().__init__(message)
        self.params, self.history = params, history


def prepare(net, x, y, dtype, name: str = "data") -> tuple[jax.Array, jax.Array]:
    """Validate ``(x, y)`` and put them on the device: ``x`` as ``dtype`` (flat images reshaped to
    the model's input shape); integer labels stay labels for ``cross_entropy`` and become one-hot
    targets for the other losses."""
    out_shape = M.output_shape(net)
    n_outputs = out_shape[-1]
    x, y = data_lib.check_arrays(x, y, input_shape=net.input_shape, output_shape=out_shape,
                                 n_classes=n_outputs if M.is_classifier(net) else None, name=name)
    labels = y.ndim == len(out_shape)                 # (n,) or, for sequences, (n, T)
    if labels and not losses.get(net.loss).labels:
        y = np.eye(n_outputs, dtype=np.float32)[y] if n_outputs > 1 else y[..., None]
        labels = False
    if not labels and y.shape[-1] != n_outputs:
        raise data_lib.DataError(f"{name}: y has {y.shape[-1]} columns but the network has "
                                 f"{n_outputs} outputs")
    y = jnp.asarray(y, jnp.int32) if labels else jnp.asarray(y, dtype)
    return jnp.asarray(x, dtype), y


def gradient_descent(net, params: Params, x, y, *, lr: float, steps: int) -> Params:
    """Plain full-batch gradient descent, the course's first training loop: ``steps`` times
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
    total_loss, correct = 0.0, 0.0
    for part in data_lib.chunks(len(x), batch_size):
        l_sum, c_sum = _eval_chunk(net, params, x[part], y[part])
        total_loss, correct = total_loss + float(l_sum), correct + float(c_sum)
    positions = len(x) * math.prod(M.output_shape(net)[:-1])   # examples (× time steps)
    acc = correct / positions if M.is_classifier(net) else math.nan
    return {"loss": total_loss / len(x), "accuracy": acc}


@functools.partial(jax.jit, static_argnums=0)
def _eval_chunk(net, params, x, y):
    z_out, a_out = M.output(net, params, x)
    labels = y if y.ndim == a_out.ndim - 1 else jnp.argmax(y, axis=-1)
    return M.cost(net, z_out, a_out, y) * x.shape[0], jnp.sum(M.to_classes(a_out) == labels)


def _dtype(params):
    return jnp.result_type(*jax.tree.leaves(params)[:1])


def make_epoch(net, optimizer: optax.GradientTransformation, *, batch_size: int,
               sampling: str = "shuffle", steps: int | None = None, backward: str = "hand",
               batch_sharding=None, augment: Callable | None = None,
               loop: str = "scan") -> Callable:
    """Build the epoch ``(params, opt_state, key, x, y) -> (params, opt_state, mean_loss)``.

    ``loop="scan"``: the whole epoch is one compiled call (``lax.scan`` over the mini-batches).
    ``loop="python"``: the same steps, each one compiled call from a Python loop — on CPU,
    convolutions inside a compiled loop body run several times slower (jax-ml/jax#12868), so
    ``fit`` picks this for convolutional models there. Both give the same batches and updates.

    ``batch_sharding`` (a ``jax.sharding.Sharding``) splits each mini-batch across devices; the
    gradient all-reduce is then inserted by XLA (see :mod:`jaxnn.parallel`). ``augment(key, xb)``
    transforms each mini-batch inside the compiled step (e.g. :func:`jaxnn.augment.random_affine`).
    """
    grad_fn = GRADIENTS[backward]

    def step(carry, idx, key, x, y):
        params, opt_state = carry
        xb, yb = x[idx], y[idx]
        if augment is not None:
            xb = augment(key, xb)
        if batch_sharding is not None:
            xb = jax.lax.with_sharding_constraint(xb, batch_sharding)
            yb = jax.lax.with_sharding_constraint(yb, batch_sharding)
        value, grads = grad_fn(net, params, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    def plan(key, n):
        """The epoch's mini-batch index rows and one PRNG key per step."""
        key_rows, key_steps = jax.random.split(key)
        if sampling == "shuffle":
            rows = data_lib.shuffled_batches(key_rows, n, batch_size)
        else:
            rows = jax.vmap(lambda k: data_lib.random_batch(k, n, batch_size))(
                jax.random.split(key_rows, steps or n // batch_size))
        return rows, jax.random.split(key_steps, rows.shape[0])

    if loop == "python":
        plan_jit, step_jit = jax.jit(plan, static_argnums=1), jax.jit(step)

        def epoch(params, opt_state, key, x, y):
            rows, keys = plan_jit(key, x.shape[0])
            carry, losses = (params, opt_state), []
            for idx, k in zip(list(rows), list(keys)):
                carry, value = step_jit(carry, idx, k, x, y)
                losses.append(value)
            return *carry, jnp.mean(jnp.stack(losses))

        return epoch

    @jax.jit
    def epoch(params, opt_state, key, x, y):
        rows, keys = plan(key, x.shape[0])
        body = lambda carry, r: step(carry, r[0], r[1], x, y)  # noqa: E731
        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (rows, keys))
        return params, opt_state, jnp.mean(losses)

    return epoch


def default_loop(net) -> str:
    """``"python"`` if a layer prefers it on this backend (``loop_preference``, see
    :mod:`jaxnn.layers.base`; Conv2D on CPU, jax-ml/jax#12868), else ``"scan"``."""
    backend = jax.default_backend()
    wants = {getattr(layer, "loop_preference", {}).get(backend) for layer in net.layers}
    return "python" if "python" in wants else "scan"


@contextlib.contextmanager
def _progress(epochs: int, start: int, enabled: bool | None):
    """A tqdm bar over epochs (``None``: only on a terminal), as a hook updating it per epoch."""
    if enabled is False:        # tqdm.auto not even imported (it warns in a notebook without widgets)
        yield lambda *args: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, initial=start, unit="epoch", disable=None if enabled is None else False,
               dynamic_ncols=True, leave=False)

    def hook(record, params, opt_state, history):
        bar.set_postfix(loss=f"{record['train_loss']:.4f}", acc=f"{record['eval_accuracy']:.4f}")
        bar.update(1)

    try:
        yield hook
    finally:
        bar.close()


def fit(net, params: Params, train, *, optimizer: optax.GradientTransformation,
        epochs: int, batch_size: int, key: jax.Array, eval_data=None, sampling: str = "shuffle",
        steps_per_epoch: int | None = None, backward: str = "hand", checkpoint=None,
        checkpoint_every: int = 1, resume: bool = False, progress: bool | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        devices: int | list | None = None, eval_train: bool = False,
        augment: Callable | None = None, loop: str = "auto") -> tuple[Params, dict[str, list]]:
    """Train ``net`` from ``params`` on ``train = (x, y)``; return ``(params, history)``.

    ``net`` is a :class:`jaxnn.Network` or a :class:`jaxnn.layers.Model`.

    Args:
        train: ``(x (n, n_0), y)`` with ``y`` integer labels ``(n,)`` or targets ``(n, n_L)``
            (a :class:`jaxnn.data.Dataset` works too). Labels become one-hot targets for losses
            other than ``cross_entropy``.
        optimizer: :func:`jaxnn.optim.sgd` or any ``optax.GradientTransformation``.
        epochs: total number of epochs (a resumed run trains the remaining ones).
        batch_size: mini-batch size ``m``.
        key: PRNG key for the mini-batch order.
        eval_data: optional ``(x, y)`` evaluated after every epoch (loss and accuracy).
        sampling: ``"shuffle"`` (Nielsen) or ``"random"`` (seed 003); see the module docstring.
        steps_per_epoch: for ``sampling="random"``; default ``n // batch_size``.
        backward: ``"hand"`` (BP1–BP4) or ``"autodiff"`` (``jax.grad``), for honest comparisons.
        checkpoint: path of a checkpoint written every ``checkpoint_every`` epochs and at the end.
        resume: continue from ``checkpoint`` if it exists (params, optimiser state, key, history).
        progress: a progress bar over epochs: ``True`` always, ``None`` only on a terminal,
            ``False`` never.
        on_epoch: called with each epoch's record ``{"epoch", "train_loss", "train_accuracy",
            "eval_loss", "eval_accuracy", "seconds"}`` (the CLI prints its table with it).
        devices: train data-parallel on this many local devices (or these devices); ``None`` = 1.
        eval_train: also measure accuracy on the whole training set after every epoch
            (``history["train_accuracy"]``; ``nan`` when off).
        augment: ``(key, x_batch) -> x_batch``, applied to every mini-batch inside the compiled
            epoch (e.g. ``functools.partial(jaxnn.augment.random_affine, image_shape=(28, 28, 1))``).
        loop: ``"scan"`` (the epoch is one compiled call), ``"python"`` (one compiled call per
            step) or ``"auto"`` (scan, except for convolutional models on CPU; see
            :func:`make_epoch`).

    Returns:
        ``(params, history)``; ``history`` maps each record field to a list, one entry per epoch.

    Raises:
        TrainingDiverged: the training loss became NaN/inf (the message names the epoch; the last
            checkpoint written stays on disk untouched).

    Example:
        >>> params, hist = fit(net, params, (x, y), optimizer=jaxnn.sgd(3.0), epochs=30,
        ...                    batch_size=10, key=jax.random.key(0), eval_data=(x_test, y_test))
    """
    M.check_params(net, params)
    if checkpoint is not None:
        net.to_dict()      # a layer checkpoints cannot rebuild (not registered) fails before training
    epochs, batch_size, checkpoint_every = _check_args(epochs, batch_size, checkpoint_every, key,
                                                       sampling, loop, backward)
    dtype = _dtype(params)
    x, y = prepare(net, train[0], train[1], dtype, name="train")
    if batch_size > len(x):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x)} training examples")
    evals = prepare(net, eval_data[0], eval_data[1], dtype, "eval data") if eval_data else None

    params = jax.tree.map(jnp.asarray, params)
    opt_state = optimizer.init(params)
    history: dict[str, list] = {k: [] for k in RECORD_FIELDS}
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        params, opt_state, key, history, start = _resume(checkpoint, net, optimizer, dtype)
    batch_sharding, (params, opt_state, x, y) = _place(devices, batch_size, (params, opt_state, x, y))
    epoch_fn = make_epoch(net, optimizer, batch_size=batch_size, sampling=sampling,
                          steps=steps_per_epoch, backward=backward, batch_sharding=batch_sharding,
                          augment=augment, loop=default_loop(net) if loop == "auto" else loop)

    hooks = ([_checkpointer(checkpoint, checkpoint_every, epochs, net, key)]
             if checkpoint is not None else [])
    with _progress(epochs, start, progress) as bar_hook:
        for epoch in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            new_params, new_state, train_loss = epoch_fn(params, opt_state,
                                                         jax.random.fold_in(key, epoch), x, y)
            _check_finite(float(train_loss), epoch, checkpoint, params, history)
            params, opt_state = new_params, new_state
            record = _epoch_record(net, params, epoch, float(train_loss), (x, y) if eval_train
                                   else None, evals)
            record["seconds"] = time.perf_counter() - t0
            for k, v in record.items():
                history[k].append(v)
            for hook in (*hooks, bar_hook):
                hook(record, params, opt_state, history)
            if on_epoch is not None:
                on_epoch(record)
    return params, history


RECORD_FIELDS = ("epoch", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "seconds")


def _check_args(epochs, batch_size, checkpoint_every, key, sampling, loop, backward):
    """fit's arguments checked, the counts as ``int``s; ``ValueError`` naming the argument."""
    counts = tuple(_count(name, value, minimum) for name, value, minimum in
                   (("epochs", epochs, 0), ("batch_size", batch_size, 1),
                    ("checkpoint_every", checkpoint_every, 1)))
    if not (isinstance(key, jax.Array) or isinstance(key, np.ndarray) and key.dtype == np.uint32):
        raise ValueError(f"key must be a PRNG key such as jax.random.key(0), got {key!r}")
    if sampling not in ("shuffle", "random"):
        raise ValueError(f"sampling must be 'shuffle' or 'random', got {sampling!r}")
    if loop not in ("auto", "scan", "python"):
        raise ValueError(f"loop must be 'auto', 'scan' or 'python', got {loop!r}")
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {', '.join(BACKWARDS)}, got {backward!r}")
    return counts


def _place(devices, batch_size: int, tree):
    """``(batch_sharding, tree)``: with ``devices``, ``tree`` replicated on a data mesh and the
    sharding that splits each mini-batch across it; else ``(None, tree)``."""
    if devices is None:
        return None, tree
    from jaxnn import parallel

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


def _epoch_record(net, params, epoch: int, train_loss: float, train, evals) -> dict[str, Any]:
    """One epoch's record (without ``seconds``): accuracy on ``train``/``evals`` where given."""
    record = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": math.nan,
              "eval_loss": math.nan, "eval_accuracy": math.nan}
    if train is not None:
        record["train_accuracy"] = _evaluate(net, params, *train)["accuracy"]
    if evals is not None:
        metrics = _evaluate(net, params, *evals)
        record.update(eval_loss=metrics["loss"], eval_accuracy=metrics["accuracy"])
    return record


def _checkpointer(path, every: int, epochs: int, net, key):
    """A hook writing the checkpoint every ``every`` epochs and after the last one."""
    def hook(record, params, opt_state, history):
        if record["epoch"] % every == 0 or record["epoch"] == epochs:
            ckpt.save(path, net, params, opt_state, key=key,
                      meta={"epoch": record["epoch"], "history": history})

    return hook


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
