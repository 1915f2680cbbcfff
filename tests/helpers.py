"""Small builders shared by the tests."""

import jax
import jax.numpy as jnp

import jaxnn


def make_batch(net: jaxnn.Network, m: int, seed: int = 0, dtype=jnp.float64, labels=False):
    """Random inputs ``(m, n_0)`` and targets that suit ``net.loss``."""
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (m, net.sizes[0]), dtype)
    n_out = net.sizes[-1]
    if net.loss == "cross_entropy":
        y = jax.random.randint(ky, (m,), 0, n_out)
        if not labels:
            y = jax.nn.one_hot(y, n_out, dtype=dtype)
    else:
        y = jax.random.uniform(ky, (m, n_out), dtype)
    return x, y


def make_params(net, seed=1, dtype=jnp.float64, scheme="uniform"):
    return jaxnn.init(jax.random.key(seed), net, scheme, dtype=dtype)
