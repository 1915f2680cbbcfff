"""Small builders shared by the tests."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn


def make_batch(net: jaxnn.Network, m: int, seed: int = 0, dtype=jnp.float64, labels=False):
    """Random inputs ``(m, n_0)`` and targets that suit ``net.loss`` (drawn in NumPy: the suite is
    compile-bound, and ``jax.random`` compiles a program for each new shape)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, net.sizes[0]))
    n_out = net.sizes[-1]
    if net.loss == "cross_entropy":
        y = rng.integers(0, n_out, m)
        y = jnp.asarray(y if labels else np.eye(n_out)[y], None if labels else dtype)
    else:
        y = jnp.asarray(rng.uniform(size=(m, n_out)), dtype)
    return jnp.asarray(x, dtype), y


def make_params(net, seed=1, dtype=jnp.float64, scheme="uniform"):
    return jaxnn.init(jax.random.key(seed), net, scheme, dtype=dtype)
