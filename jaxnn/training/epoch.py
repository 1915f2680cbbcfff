"""One epoch of training, compiled: the mini-batch samplers, the optimiser step, the epoch loop.

- ``sampling="shuffle"``: each epoch a fresh permutation, cut into ``n // batch_size`` batches.
  The ``n % batch_size`` examples left over are skipped *for that epoch*; as the permutation changes
  every epoch, different examples are skipped each time and none for good.
- ``sampling="random"``: each step draws ``batch_size`` distinct examples at random, independently
  of the other steps; an "epoch" is ``steps`` steps (default ``n // batch_size``).
- ``sampling="windows"``: the training data is one token stream ``(n,)`` (a language model's text);
  each step draws ``batch_size`` windows of ``T = input_shape[0]`` tokens at random positions and
  the next tokens as their labels; an "epoch" is ``steps`` steps (default: as many as hold about
  ``n`` tokens, ``n // (batch_size · T)``).

The training set lives on the device; the epoch's index rows are drawn from the PRNG key inside the
compiled program, and each step gathers its batch, runs the backward pass and the optimiser update.
The same step serves ``fit`` and the data-parallel steps of [`jaxnn.training.parallel`][].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import jax
import jax.numpy as jnp
import optax

from jaxnn import model as M
from jaxnn.backprop import autodiff, value_grad_and_state
from jaxnn.data.text import window_starts, windows_at

Backward = Literal["hand", "autodiff"]
Sampling = Literal["shuffle", "random", "windows"]
Loop = Literal["auto", "scan", "python"]


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of the ``Literal`` ``choices``; else ``ValueError`` naming them."""
    if value not in get_args(choices):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, get_args(choices)))}, "
                         f"got {value!r}")
    return value


# ------------------------------------------------------------------------------------ samplers
def shuffled_batches(key: jax.Array, n: int, batch_size: int) -> jax.Array:
    """A random permutation of ``range(n)`` cut into ``(n // batch_size, batch_size)`` index rows;
    the remainder (``n % batch_size`` examples) is dropped for this epoch."""
    n_batches = n // batch_size
    if n_batches == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the {n} training examples")
    return jax.random.permutation(key, n)[: n_batches * batch_size].reshape(n_batches, batch_size)


def random_batch(key: jax.Array, n: int, batch_size: int) -> jax.Array:
    """``batch_size`` distinct indices drawn at random (Python's ``random.sample``).

    Every set of ``batch_size`` indices is equally likely (their order within the batch is not
    uniformly random, which a mean gradient does not see). Small batches use Floyd's algorithm,
    ``O(batch_size²)``, instead of a permutation of all ``n`` per step.
    """
    if batch_size * batch_size > n:
        return jax.random.choice(key, n, (batch_size,), replace=False)
    # Floyd: for j = n − k, …, n − 1 draw t from {0, …, j}; take t, or j if t is taken already
    # (j itself cannot be: everything taken so far is < j)
    draws = jax.random.randint(key, (batch_size,), 0, jnp.arange(n - batch_size + 1, n + 1))

    def take(chosen, i):
        t = draws[i]
        pick = jnp.where(jnp.any(chosen == t), n - batch_size + i, t)
        return chosen.at[i].set(pick), None

    return jax.lax.scan(take, jnp.full(batch_size, -1, draws.dtype), jnp.arange(batch_size))[0]


# ---------------------------------------------------------------------------------- the step
def make_step(model, optimizer: optax.GradientTransformation, *, backward: Backward | Callable = "hand",
              augment: Callable | None = None, batch_sharding=None, state_sharding=None) -> Callable:
    """One optimiser step ``(params, opt_state, x, y, key=None) -> (params, opt_state, cost)``.

    ``backward``: ``"hand"`` ([`jaxnn.backprop.value_grad_and_state`][]), ``"autodiff"``
    ([`jaxnn.backprop.autodiff`][]) or a function ``(model, params, x, y[, key]) -> (cost, grads,
    state)`` like them (the key for models with ``Dropout`` or ``BatchNorm``). The optimiser sees the
    params without their state ([`jaxnn.model.split_state`][]); the step puts the new state back.
    ``augment(key, x)`` transforms the batch first (e.g. [`jaxnn.training.augment.random_affine`][]);
    ``batch_sharding`` (a ``jax.sharding.Sharding``) splits it across devices, and XLA then
    inserts the gradient all-reduce (see [`jaxnn.training.parallel`][]); ``state_sharding`` (the
    shardings of ``(params, opt_state)``) keeps the updated ones where they were (sharded
    parameters, FSDP-style). Jitted and called once per step
    from Python, each call takes the step's temporary memory afresh (see [`jaxnn.training.memory`][]);
    ``fit`` runs an epoch's steps in one ``lax.scan`` instead, and so does
    [`make_steps`][jaxnn.training.epoch.make_steps].
    """
    if not callable(backward):
        check_choice("backward", backward, Backward)
    stochastic = M.body(model).stochastic

    def step(params, opt_state, x, y, key=None):
        if (augment is not None or stochastic) and key is None:
            raise ValueError("this step trains a model that acts differently in training "
                             "(augmentation, BatchNorm or Dropout): pass a key")
        if augment is not None:
            x = augment(key, x)
        if batch_sharding is not None:
            x = jax.lax.with_sharding_constraint(x, batch_sharding)
            y = jax.lax.with_sharding_constraint(y, batch_sharding)
        # Dropout's key: derived from the step's key without changing augmentation's draws
        keys = [jax.random.fold_in(key, 1)] if stochastic else []
        if callable(backward):
            value, grads, state = backward(model, params, x, y, *keys)
        elif backward == "hand":
            value, grads, state = value_grad_and_state(model, params, x, y, *keys)   # BP1-BP4
        else:
            value, grads, state = autodiff(model, params, x, y, *keys)
        trainable, grads = M.split_state(params)[0], M.split_state(grads)[0]
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        params = M.merge_state(optax.apply_updates(trainable, updates), state)
        if state_sharding is not None:
            params, opt_state = jax.lax.with_sharding_constraint((params, opt_state), state_sharding)
        return params, opt_state, value

    return step


def make_steps(model, optimizer: optax.GradientTransformation, **step_options) -> Callable:
    """``k`` optimiser steps as one compiled call, for a loop of one's own:
    ``(params, opt_state, xs, ys, keys=None) -> (params, opt_state, costs)`` with the ``k``
    mini-batches stacked, ``xs (k, m, *input_shape)``, ``ys (k, m, …)``, ``keys (k,)`` (for a step
    that needs one) and ``costs (k,)``. The same updates as ``k`` calls of
    [`make_step`][jaxnn.training.epoch.make_step] (whose ``step_options`` it takes), but the step's temporary
    memory is taken once per call, not once per step (see [`jaxnn.training.memory`][])."""
    step = make_step(model, optimizer, **step_options)

    @jax.jit
    def steps(params, opt_state, xs, ys, keys=None):
        def body(carry, batch):
            params, opt_state, cost = step(*carry, *batch)
            return (params, opt_state), cost

        batches = (xs, ys) if keys is None else (xs, ys, keys)
        (params, opt_state), costs = jax.lax.scan(body, (params, opt_state), batches)
        return params, opt_state, costs

    return steps


# --------------------------------------------------------------------------------- the epoch
def make_epoch(model, optimizer: optax.GradientTransformation, *, batch_size: int,
               sampling: Sampling = "shuffle", steps: int | None = None, loop: Loop = "auto",
               members: bool = False, **step_options) -> Callable:
    """The epoch ``(params, opt_state, key, x, y) -> (params, opt_state, mean_cost)``.

    ``loop="scan"``: the whole epoch is one compiled call (``lax.scan`` over the mini-batches).
    ``loop="python"``: the same steps, each one compiled call from a Python loop (on CPU XLA runs
    convolutions inside a compiled loop slower, jax-ml/jax#12868). ``"auto"``: `default_loop`.
    Both give the same batches and updates. ``step_options`` go to
    [`make_step`][jaxnn.training.epoch.make_step].

    ``members=True``: a population ([`jaxnn.training.population`][]): ``params``, ``opt_state`` and ``key``
    carry a leading member axis ``N``, and so does ``mean_cost`` ``(N,)``; every member draws its
    own batches from its own key, exactly as a separate epoch would (``jax.vmap`` over members
    inside each step), and all share the device-resident ``x, y``.
    """
    plan, run = make_chunks(model, optimizer, batch_size=batch_size, sampling=sampling, steps=steps,
                            loop=loop, members=members, **step_options)

    def epoch(params, opt_state, key, x, y):
        rows, keys = plan(key, x.shape[0])
        params, opt_state, costs = run(params, opt_state, rows, keys, x, y)
        return params, opt_state, jnp.mean(costs, axis=0)

    python = (default_loop(model) if loop == "auto" else loop) == "python"
    return epoch if python else jax.jit(epoch)      # scan: the whole epoch one compiled call


def make_chunks(model, optimizer: optax.GradientTransformation, *, batch_size: int,
                sampling: Sampling = "shuffle", steps: int | None = None, loop: Loop = "auto",
                members: bool = False, **step_options) -> tuple[Callable, Callable]:
    """An epoch in two parts, so that it can run a chunk of its steps at a time (``fit(every=N)``):
    ``plan(key, n) -> (rows, keys)``, the epoch's mini-batch index rows and one PRNG key per step
    (``rows (steps, batch)``; windows: their first tokens; a population: ``(steps, N, batch)``), and
    ``run(params, opt_state, rows, keys, x, y) -> (params, opt_state, costs)`` for any run of
    consecutive steps of that plan (``costs (k,)``; ``(k, N)``).
    [`make_epoch`][jaxnn.training.epoch.make_epoch] is ``run`` over the whole plan; the arguments are its."""
    step = make_step(model, optimizer, **step_options)
    if check_choice("sampling", sampling, Sampling) == "shuffle" and steps is not None:
        raise ValueError("steps_per_epoch applies to sampling='random' and 'windows'; a shuffled "
                         "epoch is n // batch_size steps (use sampling='random' to set the count)")
    if check_choice("loop", loop, Loop) == "auto":
        loop = default_loop(model)

    context = model.input_shape[0]

    def plan(key, n):
        key_rows, key_steps = jax.random.split(key)
        if sampling == "shuffle":
            rows = shuffled_batches(key_rows, n, batch_size)
        elif sampling == "random":
            rows = jax.vmap(lambda k: random_batch(k, n, batch_size))(
                jax.random.split(key_rows, steps or n // batch_size))
        else:
            rows = window_starts(key_rows, n, (steps or max(n // (batch_size * context), 1), batch_size),
                                 context)
        return rows, jax.random.split(key_steps, rows.shape[0])

    def indexed(carry, idx, key, x, y):
        if sampling == "windows":     # x: the token stream; the batch: windows and their next tokens
            xb, yb = windows_at(x, idx, context)
        else:
            xb, yb = x[idx], y[idx]
        params, opt_state, value = step(*carry, xb, yb, key)
        return (params, opt_state), value

    if members:   # each member's plan, stepped through together: rows (steps, N, batch)
        plan_one, indexed = plan, jax.vmap(indexed, in_axes=(0, 0, 0, None, None))

        def plan(key, n):
            return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), jax.vmap(lambda k: plan_one(k, n))(key))

    if loop == "python":
        step_jit = jax.jit(indexed)

        def run(params, opt_state, rows, keys, x, y):
            carry, costs = (params, opt_state), []
            for idx, k in zip(list(rows), list(keys)):
                carry, value = step_jit(carry, idx, k, x, y)
                costs.append(value)
            return *carry, jnp.stack(costs)
    else:
        keep = step_options.get("state_sharding")   # the loop's carry stays where it was put too

        def kept(state):
            return state if keep is None else jax.lax.with_sharding_constraint(state, keep)

        @jax.jit
        def run(params, opt_state, rows, keys, x, y):
            body = lambda carry, r: indexed(carry, r[0], r[1], x, y)  # noqa: E731
            (params, opt_state), costs = jax.lax.scan(body, kept((params, opt_state)), (rows, keys))
            return *kept((params, opt_state)), costs

    return jax.jit(plan, static_argnums=1), run


def make_stream_steps(model, optimizer: optax.GradientTransformation, *, batch_size: int,
                      steps: int, **step_options) -> Callable:
    """``steps`` optimiser steps of a language model on a token stream, as one compiled call
    ``(params, opt_state, key, tokens) -> (params, opt_state, mean_cost)``, for a loop of one's
    own: the epoch of ``sampling="windows"`` ([`make_epoch`][jaxnn.training.epoch.make_epoch]), which ``fit``
    runs, each step drawing ``batch_size`` windows of ``T = input_shape[0]`` tokens at random positions and
    the next tokens as labels. ``step_options`` go to [`make_step`][jaxnn.training.epoch.make_step]."""
    epoch = make_epoch(model, optimizer, batch_size=batch_size, sampling="windows", steps=steps,
                       loop="scan", **step_options)

    @jax.jit
    def run(params, opt_state, key, tokens):
        return epoch(params, opt_state, key, tokens, jnp.zeros(0, jnp.int32))

    return run


def default_loop(model) -> str:
    """``"python"`` if a layer prefers it on this backend (``loop_preference``, see
    [`jaxnn.layers.base`][]; Conv2D on CPU, jax-ml/jax#12868), else ``"scan"``."""
    prefers = M.body(model).loop_preference.get(jax.default_backend())
    return "python" if prefers == "python" else "scan"
