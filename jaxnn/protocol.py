"""What training, evaluation and checkpoints need from a model: one adapter for a
:class:`jaxnn.Network` (the MLP with its BP1–BP4 function) and a :class:`jaxnn.layers.Model`
(layers with their own backward methods), so ``fit``/``evaluate``/``save`` take either."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax

from jaxnn.backprop import value_and_grad
from jaxnn.network import Network, check_params, cost, forward, loss


class ModelOps(NamedTuple):
    """What ``fit`` needs from a model, for a :class:`jaxnn.Network` or a
    :class:`jaxnn.layers.Model` alike."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]    # per example: (n_L,), or (T, k) for sequence outputs
    n_outputs: int
    classifier: bool
    gradients: dict[str, Callable]   # backward name -> (net, params, x, y) -> (cost, grads)
    output: Callable                 # (net, params, x) -> (z^L, a^L)
    cost: Callable                   # (net, z^L, a^L, y) -> cost
    check_params: Callable           # (net, params) -> None or ValueError


@functools.cache
def model_ops(net) -> ModelOps:
    """The :class:`ModelOps` of ``net``."""
    if isinstance(net, Network):
        def output(net, params, x):
            a, cache = forward(net, params, x)
            return cache.zs[-1], a

        return ModelOps((net.sizes[0],), (net.sizes[-1],), net.sizes[-1],
                        net.sizes[-1] > 1 or net.loss == "binary_cross_entropy",
                        {"hand": value_and_grad, "autodiff": jax.value_and_grad(loss, argnums=1)},
                        output, cost, check_params)
    from jaxnn import layers
    from jaxnn.layers import model as model_lib

    if not isinstance(net, layers.Model):
        raise TypeError(f"expected a jaxnn.Network or jaxnn.layers.Model, got {type(net).__name__}")

    def output(net, params, x):
        a, caches = layers.forward(net, params, x)
        return model_lib._output_z(net, a, caches), a

    n_out = net.output_shape[-1]
    return ModelOps(net.input_shape, net.output_shape, n_out, n_out > 1 or net.loss == "binary_cross_entropy",
                    {"hand": layers.value_and_grad,
                     "autodiff": jax.value_and_grad(layers.loss, argnums=1)},
                    output, layers.cost, model_lib.check_params)




def to_dict(net) -> dict:
    """A JSON-friendly description from which :func:`from_dict` rebuilds ``net``."""
    if isinstance(net, Network):
        return net.to_dict()
    return {"kind": "Model", "input_shape": list(net.input_shape), "loss": net.loss,
            "layers": [{"type": type(layer).__name__, **dataclasses.asdict(layer)}
                       for layer in net.layers]}


def from_dict(d: dict):
    """Inverse of :func:`to_dict`."""
    if d.get("kind") != "Model":
        return Network(**d)
    from jaxnn import layers

    built = []
    for spec in d["layers"]:
        spec = dict(spec)
        cls = getattr(layers, spec.pop("type"))
        built.append(cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}))
    return layers.Model(tuple(built), tuple(d["input_shape"]), d["loss"])
