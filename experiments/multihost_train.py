"""Data-parallel training across hosts and devices with JAX's distributed runtime.

Every host runs this same script, which is ``jaxnn.fit`` over every device of every host
(``devices=jax.devices()``): each host passes only its share of the training rows
(``jaxnn.parallel.process_slice``), each mini-batch is split across all the devices, one compiled
step (hand-derived backward, gradients all-reduced by XLA) updates the replicated parameters, and
the evaluation and history are the same on every host; process 0 prints. ``jaxnn train
--coordinator HOST:PORT --num-processes N --process-id I`` does the same for every model.

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
    import jaxnn
    from jaxnn import data
    from jaxnn.training import parallel

    if args.distributed:   # must come before any other JAX computation
        parallel.start_processes(args.coordinator, args.num_processes, args.process_id)

    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    net = jaxnn.Network([784, 128, 10], hidden="relu", output="softmax", loss="cross_entropy")

    def report(epoch):
        if jax.process_index() == 0:
            m = epoch.metrics
            print(f"epoch {m['epoch']}: loss {m['train_loss']:.4f}, test accuracy "
                  f"{100 * m['eval_accuracy']:.2f}% ({jax.process_count()} process(es), "
                  f"{jax.device_count()} devices, {train.source} data)", flush=True)

    rows = parallel.process_slice(len(train.x) - len(train.x) % jax.process_count())   # this host's
    _, history = jaxnn.fit(net, jaxnn.init(jax.random.key(0), net, "he"), (train.x[rows], train.y[rows]),
                           optimizer=optax.adam(1e-3), epochs=args.epochs,
                           batch_size=args.global_batch, key=jax.random.key(1),
                           eval_data=(test.x, test.y), devices=jax.devices(), callbacks=[report],
                           progress=False)
    acc = history["eval_accuracy"][-1]
    return acc


if __name__ == "__main__":
    main()
