"""Data-parallel training across hosts and devices with JAX's distributed runtime.

Every host runs this same script. Each one loads only its rows of every global batch
(``jaxnn.parallel.process_slice``), the rows are assembled into one global array sharded over all
devices of all hosts (``jaxnn.parallel.global_batch``), and one jitted step (hand-derived backward,
gradients all-reduced by XLA) updates the replicated parameters.

    # one host, all local devices (or forced CPU devices):
    XLA_FLAGS=--xla_force_host_platform_device_count=4 python experiments/multihost_train.py
    # TPU pod slice: the same command on every host (gcloud ... tpu-vm ssh --worker=all --command=...)
    python experiments/multihost_train.py --distributed
    # two processes on this machine (CPU, gloo), as the tests do:
    python experiments/multihost_train.py --distributed --coordinator localhost:12355 \
        --num-processes 2 --process-id 0 &   # and --process-id 1 in a second shell
    # multi-node GPU: on host i of N
    python experiments/multihost_train.py --distributed --coordinator HOST0:1234 \\
        --num-processes N --process-id i
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
import optax

from jaxnn.cli.arguments import positive


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--distributed", action="store_true", help="call jax.distributed.initialize()")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (GPU clusters)")
    p.add_argument("--num-processes", type=positive(int), default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument("--global-batch", type=positive(int), default=256)
    p.add_argument("--epochs", type=positive(int), default=3)
    args = p.parse_args(argv)
    if args.distributed:   # must come before any other JAX call
        try:                 # CPU processes talk through gloo (GPU/TPU use their own fabric)
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        except (AttributeError, KeyError, ValueError):
            pass
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)

    import jaxnn
    from jaxnn import data
    from jaxnn.training import parallel

    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    net = jaxnn.Network([784, 128, 10], hidden="relu", output="softmax", loss="cross_entropy")
    mesh = parallel.data_mesh(jax.devices())       # every device of every host
    opt = optax.adam(1e-3)
    params = jaxnn.init(jax.random.key(0), net, "he")
    params, opt_state = parallel.replicate((params, opt.init(params)), mesh)
    step = parallel.train_step(net, opt)
    rows = parallel.process_slice(args.global_batch)     # this host's share of each batch
    n_batches = len(train.x) // args.global_batch
    for epoch in range(1, args.epochs + 1):
        order = np.random.default_rng(epoch).permutation(len(train.x))   # same on every host
        for b in range(n_batches):
            idx = order[b * args.global_batch:(b + 1) * args.global_batch][rows]
            x = parallel.global_batch(train.x[idx], mesh)
            y = parallel.global_batch(train.y[idx], mesh)
            params, opt_state, loss = step(params, opt_state, x, y)
        acc = jaxnn.evaluate(net, jax.device_get(params), test.x, test.y)["accuracy"]
        if jax.process_index() == 0:
            print(f"epoch {epoch}: loss {float(loss):.4f}, test accuracy {100 * acc:.2f}% "
                  f"({jax.process_count()} process(es), {mesh.size} devices, {train.source} data)")
    return acc


if __name__ == "__main__":
    main()
