"""jaxnn: feedforward neural networks from first principles in JAX.

Pure functions over plain pytrees, and a backward pass derived by hand from the four
backpropagation equations (BP1–BP4), proven equal to ``jax.grad``::

    import jax, jaxnn
    net = jaxnn.Network(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
    params = jaxnn.init(jax.random.key(0), net, scheme="normal")
    value, grads = jaxnn.value_and_grad(net, params, x, y)

and the same backward inside any JAX code: ``jax.grad`` through ``jaxnn.custom_vjp(model)``.
"""

from jaxnn import (  # submodules
    augment,
    data,
    layers,
    losses,
    memory,
    models,
    optim,
    parallel,
    population,
    precision,
)
from jaxnn.backprop import value_and_grad
from jaxnn.checkpoint import load, save
from jaxnn.generate import generate
from jaxnn.gradient_check import check_layer, gradcheck
from jaxnn.layers.model import accuracy, forward, init, loss, predict
from jaxnn.network import Network
from jaxnn.optim import nielsen_l2, sgd
from jaxnn.parallel import per_example_grads
from jaxnn.population import fit as fit_population
from jaxnn.train import Epoch, TrainingDiverged, evaluate, fit, gradient_descent
from jaxnn.vjp import custom_vjp

__all__ = [
    "augment",
    "data",
    "layers",
    "losses",
    "memory",
    "models",
    "optim",
    "parallel",
    "population",
    "precision",
    "Epoch",
    "Network",
    "TrainingDiverged",
    "accuracy",
    "check_layer",
    "custom_vjp",
    "evaluate",
    "fit",
    "fit_population",
    "forward",
    "generate",
    "gradcheck",
    "gradient_descent",
    "init",
    "load",
    "loss",
    "nielsen_l2",
    "per_example_grads",
    "predict",
    "save",
    "sgd",
    "value_and_grad",
]
__version__ = "0.1.0"
__jaxnn_course__ = True   # tells this package from the unrelated "jaxnn" on PyPI (notebooks check it)
