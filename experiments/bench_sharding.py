"""What sharding the parameters saves: the compiled training step's memory per device, parameters
and optimiser state replicated on every device against sharded over them (``fit(shard_params=True)``,
FSDP-style), from XLA's memory analysis (no timing: the same on every run). Forces ``--devices`` CPU
devices, so run it as its own process.

    python experiments/bench_sharding.py [--devices 4]

Keeps ``experiments/results/bench_sharding.json``, which ``experiments/report.py`` renders into
``docs/accelerators.md``.
"""

from __future__ import annotations

import argparse
import os
import sys

MODELS = ("mlp-B", "gpt-small", "gpt-large")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--devices", type=int, default=4, help="forced CPU devices to shard over")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {', '.join(MODELS)}")
    p.add_argument("--no-keep", action="store_true", help="do not write the results file (tests)")
    args = p.parse_args(argv)
    if "jax" not in sys.modules:                 # the device count is fixed when JAX starts
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + f" --xla_force_host_platform_device_count={args.devices}")
    import jax
    import numpy as np
    from bench_peers import BATCH, fixed_batch, jax_setup
    from common import RESULTS, provenance, write_json

    import jaxnn
    from jaxnn.training import parallel

    mesh = parallel.data_mesh(args.devices)
    rows = {}
    for name in args.models.split(","):
        model, opt = jax_setup(name, "hand")
        params = jaxnn.init(jax.random.key(0), model)
        x, y = (parallel.shard_batch(np.asarray(a), mesh) for a in fixed_batch(name))
        mib = {}
        for way, shard in (("replicated", False), ("sharded", True)):
            state = parallel.place_state((params, opt.init(params)), mesh, shard)
            step = jaxnn.epoch.make_step(model, opt, batch_sharding=parallel.batch_sharding(mesh),
                                         state_sharding=jax.tree.map(lambda a: a.sharding, state))
            memory = jax.jit(step).lower(*state, x, y).compile().memory_analysis()
            batch = sum(a.addressable_shards[0].data.nbytes for a in (x, y))
            mib[way] = {"state": (memory.argument_size_in_bytes - batch) / 2**20,
                        "temporaries": memory.temp_size_in_bytes / 2**20}
        rows[name] = {"parameters": sum(a.size for a in jax.tree.leaves(params)), "batch": BATCH[name],
                      **mib}
        print(f"{name}: parameters + optimiser state per device {mib['replicated']['state']:.2f} MiB "
              f"replicated, {mib['sharded']['state']:.2f} MiB sharded", flush=True)
    results = {**provenance(), "devices": args.devices, "models": rows}
    if not args.no_keep:
        write_json(RESULTS, "bench_sharding", results)
    print(render(results))
    return results


def render(r: dict) -> str:
    """The docs' table (markdown) from a results dict."""
    from common import measured_line, table

    rows = [[name, f"{m['parameters']:,}", f"{rep['state']:.2f} MiB", f"{sh['state']:.2f} MiB",
             f"**{sh['state'] / rep['state']:.2f}**",
             f"{rep['temporaries']:.1f} → {sh['temporaries']:.1f} MiB"]
            for name, m in r["models"].items() for rep, sh in [(m["replicated"], m["sharded"])]]
    return "\n".join([
        f"Parameters and Adam's state per device in the compiled training step (XLA's memory "
        f"analysis), on {r['devices']} devices:", "",
        table(["model", "parameters", "per device, replicated", "per device, sharded", "sharded ÷ replicated",
               "the step's temporaries (replicated → sharded)"], rows), "",
        "Sharded, each device keeps its quarter and gathers the rest for the step's products, so the "
        "step's transient memory grows while the kept memory shrinks: at these sizes the "
        "temporaries dominate; sharding pays where the parameters and optimiser state do.", "",
        measured_line(r)])


if __name__ == "__main__":
    main()
