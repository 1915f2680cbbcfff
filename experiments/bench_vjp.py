"""The hand backward inside a user's own JAX code (``jaxnn.custom_vjp``): what it keeps and how fast
a step through it runs.

- **Memory**: the compiled temporary memory of ``jax.grad`` of a random linear function of a
  ``SelfAttention``'s output (4 heads, T = 1,024, dim 64, batch 4, float32) three ways: autodiff
  through the plain forward, ``jax.grad`` through ``custom_vjp``, and the layer's ``forward`` +
  ``backward`` called directly (XLA's memory analysis: no timing, the same on every run).
- **Speed**: gpt-small of ``bench_peers.py`` (depth 2, dim 64, 4 heads, context 64, AdamW, batch
  32): jaxnn's own jitted step (``value_and_grad``, BP1 fused at the loss) against a user's jitted
  step that computes its own cross-entropy from the factory-made model's output with
  ``jax.value_and_grad`` and applies optax. Rounds alternate the two in one process; the ratio is
  the median of the rounds' ratios.

    python experiments/bench_vjp.py [--rounds 7] [--steps 30]

Keeps ``experiments/results/bench_vjp.json``, which ``experiments/report.py`` renders into
``docs/interop.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_peers import BATCH, fixed_batch, jax_setup
from common import RESULTS, measured_line, provenance, write_json

from jaxnn.cli.arguments import positive

ATTENTION = {"heads": 4, "T": 1024, "dim": 64, "batch": 4}


def attention_memory() -> dict:
    """MiB of compiled temporaries of the attention's gradient, three ways."""
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import layers as L

    a = ATTENTION
    layer = L.SelfAttention(a["heads"], causal=True)
    params, _ = layer.init(jax.random.key(0), (a["T"], a["dim"]))
    x = jax.random.normal(jax.random.key(1), (a["batch"], a["T"], a["dim"]))
    c = jax.random.normal(jax.random.key(2), x.shape)
    f = jaxnn.custom_vjp(layer)

    def direct(p, x):
        return layer.backward(p, layer.forward(p, x)[1], c)

    def autodiff(p, x):
        return jnp.sum(c * layer.forward(p, x)[0])

    ways = {"jax.grad through the forward (autodiff)": jax.grad(autodiff, argnums=(0, 1)),
            "jax.grad through jaxnn.custom_vjp": jax.grad(lambda p, x: jnp.sum(c * f(p, x)), argnums=(0, 1)),
            "layer.backward called directly": direct}
    return {name: jax.jit(fn).lower(params, x).compile().memory_analysis().temp_size_in_bytes / 2**20
            for name, fn in ways.items()}


def gpt_steps():
    """``{name: step() -> loss}`` for jaxnn's own step and a user's step over the factory."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnn
    from jaxnn.training.epoch import make_step

    model, opt = jax_setup("gpt-small", "hand")
    params = jaxnn.init(jax.random.key(0), model)
    x, y = map(jnp.asarray, fixed_batch("gpt-small"))
    f = jaxnn.custom_vjp(model)

    def user_loss(p):                          # a user's cross-entropy on the model's probabilities
        probs = f(p, x)
        return -jnp.mean(jnp.log(jnp.take_along_axis(probs, y[..., None], axis=-1)))

    @jax.jit
    def user_step(params, opt_state):
        loss, grads = jax.value_and_grad(user_loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    own = jax.jit(make_step(model, opt))
    states = {"jaxnn's own step (value_and_grad)": [params, opt.init(params)],
              "a user's step (jax.value_and_grad over custom_vjp)": [params, opt.init(params)]}
    calls = {"jaxnn's own step (value_and_grad)": lambda p, s: own(p, s, x, y),
             "a user's step (jax.value_and_grad over custom_vjp)": user_step}

    def stepper(name):
        def step():
            *states[name], loss = calls[name](*states[name])
            return loss
        return step

    return {name: stepper(name) for name in calls}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--rounds", type=positive(int), default=7, help="alternated rounds")
    p.add_argument("--steps", type=positive(int), default=30, help="steps per round and way")
    p.add_argument("--no-keep", action="store_true", help="do not write the results file (tests)")
    args = p.parse_args(argv)
    memory = attention_memory()
    steps, ms = gpt_steps(), {}
    for step in steps.values():                                    # compile and warm up
        step().block_until_ready()
    for _ in range(args.rounds):
        for name, step in steps.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                loss = step()
            loss.block_until_ready()
            ms.setdefault(name, []).append((time.perf_counter() - t) / args.steps * 1e3)
    own, user = ms
    ratios = [u / o for o, u in zip(ms[own], ms[user])]
    results = {**provenance(), "attention": ATTENTION, "memory_mib": memory,
               "gpt_small": {"batch": BATCH["gpt-small"], "ms": ms, "ratio_median": statistics.median(ratios),
                             "ratio_range": [min(ratios), max(ratios)]}}
    if not args.no_keep:
        write_json(RESULTS, "bench_vjp", results)
    print(render(results))
    return results


def render(r: dict) -> str:
    """The docs' two tables (markdown) from a results dict."""
    mem, a, g = r["memory_mib"], r["attention"], r["gpt_small"]
    autodiff = mem["jax.grad through the forward (autodiff)"]
    rows = [f"| {name} | {mib:.1f} | {mib / autodiff:.2f}× |" for name, mib in mem.items()]
    own, user = g["ms"]
    speed = [f"| {name} | {statistics.median(ms):.2f} |" for name, ms in g["ms"].items()]
    lo, hi = g["ratio_range"]
    return "\n".join([
        f"Compiled temporary memory of the gradient of a `SelfAttention` ({a['heads']} heads, causal, "
        f"T = {a['T']:,}, dim {a['dim']}, batch {a['batch']}, float32), XLA's memory analysis:", "",
        "| gradient | MiB | vs autodiff |", "|---|---|---|", *rows, "",
        f"gpt-small's training step, batch {g['batch']} (ms per step, median of {len(g['ms'][own])} "
        f"alternated rounds): the user's step ÷ jaxnn's own **{g['ratio_median']:.2f}×** (rounds "
        f"{lo:.2f}–{hi:.2f}).", "",
        "| step | ms |", "|---|---|", *speed, "",
        measured_line(r)])


if __name__ == "__main__":
    main()
