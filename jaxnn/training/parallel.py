"""Batching with ``vmap`` and data parallelism across devices and hosts. The math is not forked:
every path calls the same hand-derived [`jaxnn.value_and_grad`][].

- [`per_example_grads`][jaxnn.training.parallel.per_example_grads]: the backward pass ``vmap``-ed over
  examples (Nielsen's per-example ``backprop(x, y)``, all at once); its mean is the mini-batch gradient.
- Data-parallel training, the default path (used by ``fit(..., devices=N)``): a 1-D device mesh
  with axis ``"data"``, parameters and optimiser state replicated, each mini-batch sharded along its
  first axis with ``NamedSharding``; ``jax.jit`` partitions the step and inserts the gradient
  all-reduce itself.
- [`shard_map_step`][jaxnn.training.parallel.shard_map_step]: the same step written explicitly with
  ``jax.shard_map``, each device running the hand-derived backward on its shard and averaging with
  ``lax.pmean``. (The hand backward returns per-shard *means*, so exactly one ``pmean`` is right; ``jax.grad``
  inside ``shard_map`` would already sum the gradients of replicated parameters across devices, which is
  why the autodiff variant differentiates a ``pmean``-ed loss instead of averaging gradients.)
  With labels ``losses.IGNORE`` it is the mean of the shards' means, not the batch's (as DDP).
  ``jax.pmap`` is in maintenance mode (now built on ``shard_map``) and is not offered.
- Multi-host (TPU pod slices, multi-node GPU): start every host with
  ``jax.distributed.initialize()``, let each host load only its slice of each global batch
  ([`process_slice`][jaxnn.training.parallel.process_slice]) and assemble the global array with
  [`global_batch`][jaxnn.training.parallel.global_batch].
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn import losses
from jaxnn import model as M
from jaxnn.backprop import value_and_grad, value_grad_and_state
from jaxnn.model import Params
from jaxnn.training.epoch import Backward, autodiff, check_choice, make_step

AXIS = "data"


# ------------------------------------------------------------------------------------- vmap
def per_example_grads(model, params: Params, x: jax.Array, y: jax.Array, key: jax.Array | None = None, *,
                      training: bool = True) -> Params:
    """Gradients of each example's own cost: a pytree like ``params`` with a leading axis ``m``.

    Any model (a Network, a CNN, an RNN). ``per_example_grads(...)[l]["W"][i]`` is
    ``∂C_{x_i}/∂W^{l+1}``; the mean over the leading axis equals [`jaxnn.value_and_grad`][]'s
    gradient (with a key: each example's own draw, ``split(key, m)[i]``).

    Args:
        x: ``(m, *input_shape)``; y: targets ``(m, *output_shape)`` or integer labels.
        key: a PRNG key, needed by a model with ``Dropout`` in training (each example draws its own
            mask from ``jax.random.split(key, m)``).
        training: ``False``: the model's layers in evaluation (``Dropout`` off, ``BatchNorm`` by
            its running statistics), no key needed.

    Raises:
        ValueError: a model with ``Dropout``/``BatchNorm`` in training without a key; ``BatchNorm``
            in training (its batch statistics couple the examples, so no example has a gradient of
            its own); a loss over the batch.
    """
    return _per_example(model, params, x, y, _check_key(model, key, training))[1]


def per_example_losses(model, params: Params, x, y, key=None, *, training: bool = True) -> jax.Array:
    """Each example's cost ``C_x``: ``(m,)`` (``key``, ``training``: as
    [`per_example_grads`][jaxnn.training.parallel.per_example_grads])."""
    return _per_example(model, params, x, y, _check_key(model, key, training))[0]


def _check_key(model, key, training):
    """The key to use (``None`` in evaluation), or ``ValueError`` naming the fix."""
    if losses.get(model.loss).batch:
        raise ValueError(f"loss {model.loss!r} is a loss over the batch (it couples the examples), "
                         "so an example has no gradient of its own; use a per-example loss")
    if not training or not M.body(model).stochastic:
        return None
    if jax.tree.leaves(M.split_state(M.param_shapes(model))[1]):
        raise ValueError("BatchNorm in training normalises by the batch's statistics, which couple "
                         "the examples: per-example gradients are not defined; pass training=False "
                         "(running statistics) or use GroupNorm/LayerNorm")
    if key is None:
        raise ValueError("the model has Dropout, which acts differently in training: pass key= (a "
                         "PRNG key; each example draws its own mask) or training=False (Dropout off)")
    return key


@functools.partial(jax.jit, static_argnums=0)
def _per_example(model, params, x, y, key=None):
    one = lambda xi, yi, k: value_and_grad(model, params, xi[None], yi[None], k)  # noqa: E731
    keys = None if key is None else jax.random.split(key, x.shape[0])
    return jax.vmap(one)(x, y, keys)


def grad_norms(per_example: Params) -> jax.Array:
    """The L2 norm of each example's whole gradient (all layers): ``(m,)``."""
    squares = [jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in jax.tree.leaves(per_example)]
    return jnp.sqrt(sum(squares))


# --------------------------------------------------------------------------- devices and meshes
def data_mesh(devices: int | Sequence | None = None) -> Mesh:
    """A 1-D mesh with axis ``"data"``: over all local devices (``None``), the first ``n`` (int),
    or the given devices."""
    available = jax.local_devices()
    if devices is None:
        devs = available
    elif isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise ValueError(f"asked for {devices} devices but {len(available)} are available "
                             f"({available[0].platform}); pass a number from 1 to {len(available)}")
        devs = available[:devices]
    else:
        devs = list(devices)
    return Mesh(np.array(devs), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Split the leading (batch) axis across the mesh's ``"data"`` axis."""
    return NamedSharding(mesh, P(AXIS))


def replicate(tree, mesh: Mesh):
    """Put a full copy of every array of ``tree`` on every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def fsdp_sharding(mesh: Mesh, shape) -> NamedSharding:
    """A parameter's sharding when parameters are sharded over the data axis (FSDP-style): its
    largest axis that the mesh's size divides is split across the devices; a leaf with none (a
    scalar, an odd-sized bias) is replicated."""
    axes = sorted((i for i, n in enumerate(shape) if n % mesh.size == 0), key=lambda i: -shape[i])
    spec = [None] * len(shape)
    if axes:
        spec[axes[0]] = AXIS
    return NamedSharding(mesh, P(*spec))


def place_state(tree, mesh: Mesh, shard: bool = False):
    """Parameters and optimiser state on ``mesh``: replicated, or (``shard``) each leaf by
    [`fsdp_sharding`][jaxnn.training.parallel.fsdp_sharding]; a leaf that already lies sharded on these
    devices (a user's own sharding) stays as it is."""
    devices = set(mesh.devices.flat)

    def place(a):
        sharding = getattr(a, "sharding", None)
        if isinstance(sharding, NamedSharding) and set(sharding.device_set) == devices \
                and not sharding.is_fully_replicated:
            return a
        return jax.device_put(a, fsdp_sharding(mesh, np.shape(a)) if shard else NamedSharding(mesh, P()))

    return jax.tree.map(place, tree)


def shard_batch(x, mesh: Mesh) -> jax.Array:
    """Place a global batch with its first axis split across the mesh (must divide evenly)."""
    x = jnp.asarray(x)
    if x.shape[0] % mesh.size:
        raise ValueError(f"global batch of {x.shape[0]} examples cannot be split evenly across "
                         f"{mesh.size} devices; use a batch size that is a multiple of {mesh.size}")
    return jax.device_put(x, batch_sharding(mesh))


# --------------------------------------------------------------------------------- train steps
def train_step(model, optimizer: optax.GradientTransformation):
    """One optimiser step ``(params, opt_state, x, y) -> (params, opt_state, loss)``, jitted: the
    step ``fit`` takes ([`jaxnn.training.epoch.make_step`][]).

    Called with replicated params and a batch placed by [`shard_batch`][jaxnn.training.parallel.shard_batch],
    it runs data-parallel (XLA all-reduces the gradients); with ordinary arrays it runs on one device.
    """
    return jax.jit(make_step(model, optimizer))


def shard_map_step(model, optimizer: optax.GradientTransformation, mesh: Mesh,
                   backward: Backward = "hand"):
    """The data-parallel step written explicitly with ``jax.shard_map`` (see the module docstring).

    Returns a jitted ``(params, opt_state, x, y, key=None) -> (params, opt_state, loss)``;
    ``x``/``y`` are the global batch, whose size must be a multiple of the device count; ``key``
    for a model that acts differently in training (each device folds in its index). Each device's
    ``BatchNorm`` normalises by its own shard's statistics (unsynchronised, as PyTorch's
    ``BatchNorm`` under DDP); the running statistics are averaged across devices. (``fit(devices=N)``
    instead normalises by the global batch's statistics: XLA computes them across the shards.)
    """
    def mean(tree):
        return jax.lax.pmean(tree, AXIS)

    def hand(model, params, x, y, key=None):      # per-shard mean gradients: average them once
        return mean(value_grad_and_state(model, params, x, y, key))

    def differentiate_the_global_mean(model, params, x, y, key=None):
        return autodiff(model, params, x, y, key, reduce=mean)

    local = make_step(model, optimizer, backward={"hand": hand, "autodiff": differentiate_the_global_mean}[
        check_choice("backward", backward, Backward)])

    def local_keyed(params, opt_state, x, y, key):    # each device its own draws
        return local(params, opt_state, x, y, jax.random.fold_in(key, jax.lax.axis_index(AXIS)))

    specs = dict(mesh=mesh, out_specs=(P(), P(), P()))
    mapped = jax.shard_map(local, in_specs=(P(), P(), P(AXIS), P(AXIS)), **specs)
    mapped_keyed = jax.shard_map(local_keyed, in_specs=(P(), P(), P(AXIS), P(AXIS), P()), **specs)

    @jax.jit
    def step(params, opt_state, x, y, key=None):
        if x.shape[0] % mesh.size:
            raise ValueError(f"global batch of {x.shape[0]} examples cannot be split evenly across "
                             f"{mesh.size} devices; use a multiple of {mesh.size}")
        return mapped(params, opt_state, x, y) if key is None else mapped_keyed(params, opt_state, x, y, key)

    return step


# ---------------------------------------------------------------------------------- multi-host
def process_slice(global_batch_size: int, process_index: int | None = None,
                  process_count: int | None = None) -> slice:
    """The rows of each global batch that this host loads (contiguous, equal shares)."""
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if global_batch_size % count:
        raise ValueError(f"global batch size {global_batch_size} is not divisible by the "
                         f"{count} processes")
    share = global_batch_size // count
    return slice(index * share, (index + 1) * share)


def start_processes(coordinator: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None, *, heartbeat_seconds: int = 30,
                    initialization_timeout: int = 120) -> None:
    """Join a run of several processes (JAX's distributed runtime, ``jax.distributed.initialize``):
    ``coordinator`` (``HOST:PORT`` of process 0), the number of processes and this one's index; all
    ``None``: JAX's own cluster detection (TPU pod slices, SLURM, ...). On the CPU the processes'
    collectives go through gloo. A process that stops answering is noticed within
    ``heartbeat_seconds``, and the others then end instead of waiting for it. Call it first, before
    any other JAX computation.

    Raises:
        ValueError: a partial set of arguments, or no cluster to detect (the message names the flags).
    """
    given = check_process_flags(coordinator, num_processes, process_id)
    try:                       # CPU processes talk through gloo (GPUs and TPUs have their own fabric)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, KeyError, ValueError):
        pass
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id,
                                   initialization_timeout=initialization_timeout,
                                   heartbeat_timeout_seconds=heartbeat_seconds)
    except (ValueError, RuntimeError) as e:        # (XlaRuntimeError is a RuntimeError)
        if not any(given):
            raise ValueError(f"found no cluster to join ({e}); on your own machines give the "
                             "coordinator, the number of processes and this process's index") from None
        raise ValueError(f"could not join the run at {coordinator} as process {process_id} of "
                         f"{num_processes} ({str(e).splitlines()[0]}); start every process with the "
                         "same --coordinator and --num-processes, process 0 first") from None


def check_process_flags(coordinator, num_processes, process_id) -> list[bool]:
    """Which of [`start_processes`][jaxnn.training.parallel.start_processes]' three arguments are given;
    ``ValueError`` for some only."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError("a run of several processes needs all three: the coordinator's HOST:PORT, "
                         "the number of processes and this process's index (or none of them, for "
                         "JAX's cluster detection on a TPU pod slice or under SLURM)")
    if all(given) and not 0 <= process_id < num_processes:
        raise ValueError(f"process index {process_id} is not one of 0..{num_processes - 1}")
    return given


def spans_processes(devices) -> bool:
    """Whether ``devices`` (a list of devices, or a count of local ones) include another process's."""
    return not isinstance(devices, int) and devices is not None and \
        any(d.process_index != jax.process_index() for d in devices)


def gather_rows(*arrays):
    """Each process's rows of ``arrays`` (the same number on every process: its share, see
    [`process_slice`][jaxnn.training.parallel.process_slice]) put together in process order, on every process
    (the data set of a run whose processes each load only their part)."""
    from jax.experimental import multihost_utils

    counts = np.asarray(multihost_utils.process_allgather(np.array([len(arrays[0])]))).ravel()
    if len(set(counts.tolist())) > 1:
        raise ValueError(f"the processes hold {counts.tolist()} training rows; each must pass the "
                         "same number, its share (jaxnn.parallel.process_slice of the rows)")
    return tuple(jnp.asarray(multihost_utils.process_allgather(np.asarray(a), tiled=True))
                 for a in arrays)


def global_batch(local_rows, mesh: Mesh) -> jax.Array:
    """Assemble the global batch from each host's rows (``process_slice``), sharded over ``mesh``."""
    return jax.make_array_from_process_local_data(batch_sharding(mesh), np.asarray(local_rows))
