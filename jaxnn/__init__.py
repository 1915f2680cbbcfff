"""jaxnn: neural networks from first principles in JAX.

Pure functions over plain pytrees, and a backward pass derived by hand from the four
backpropagation equations (BP1–BP4), proven equal to ``jax.grad``::

    import jax, jaxnn
    net = jaxnn.Network(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", loss="quadratic")
    params = jaxnn.init(jax.random.key(0), net, scheme="normal")
    value, grads = jaxnn.value_and_grad(net, params, x, y)

and the same backward inside any JAX code: ``jax.grad`` through ``jaxnn.custom_vjp(model)``.

The package, from the ground up (``docs/layers.md`` has the table): ``activations``, ``losses``,
``initializers``; ``data/`` and ``layers/``; ``model`` (the one model type); ``models`` (the zoo)
and ``backprop`` (the backward sweep, its autodiff counterpart, ``custom_vjp``); ``training/``
(``fit`` and everything around it); the ``cli/``.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from jaxnn import data, layers, losses, model, models
from jaxnn.backprop import custom_vjp, value_and_grad
from jaxnn.generate import generate
from jaxnn.gradient_check import check_layer, gradcheck
from jaxnn.model import Model, accuracy, forward, init, loss, predict
from jaxnn.models import Network
from jaxnn.training import augment, epoch, memory, optim, parallel, plots, population, precision
from jaxnn.training.checkpoint import load, save
from jaxnn.training.optim import nielsen_l2, sgd
from jaxnn.training.parallel import per_example_grads
from jaxnn.training.population import fit as fit_population
from jaxnn.training.train import Epoch, TrainingDiverged, evaluate, fit, gradient_descent

layers.Model = Model        # the one model type, where the layers' users have always found it

# ------------------------------------------------------------------ where modules used to be
MOVED = {
    "jaxnn.layers.model": "jaxnn.model", "jaxnn.network": "jaxnn.models",
    "jaxnn.arguments": "jaxnn.cli.arguments",
    **{f"jaxnn.{name}": f"jaxnn.training.{name}" for name in (
        "train", "epoch", "population", "parallel", "checkpoint", "run_dir", "optim", "augment", "memory",
        "precision", "plots")},
}
"""Module paths of earlier releases and where the module is now: importing the old path still works
and warns (``DeprecationWarning``). The public names ``jaxnn.parallel``, ``jaxnn.optim``,
``jaxnn.population``, ``jaxnn.augment``, ``jaxnn.precision``, ``jaxnn.memory``, ``jaxnn.plots`` and
``jaxnn.epoch`` stay, as attributes of the package."""


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path of `MOVED` and hands back the module at its new one."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} is now {MOVED[spec.name]}; import it from there",
                      DeprecationWarning, stacklevel=4)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass


sys.meta_path.append(_MovedModules())

__all__ = [
    "augment",
    "data",
    "epoch",
    "layers",
    "losses",
    "memory",
    "model",
    "models",
    "optim",
    "parallel",
    "plots",
    "population",
    "precision",
    "Epoch",
    "Model",
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
