"""Layers beyond the MLP — Dense, Activation, Flatten, Conv2D, MaxPool2D, AvgPool2D, SimpleRNN —
each an init/forward/backward triple with a hand-derived backward, composed by :class:`Model` and
trained by :func:`jaxnn.fit` like a :class:`jaxnn.Network`."""

from jaxnn.layers.conv import AvgPool2D, Conv2D, MaxPool2D
from jaxnn.layers.dense import Activation, Dense, Flatten
from jaxnn.layers.model import Model, cost, forward, init, loss, predict, small_cnn, value_and_grad
from jaxnn.layers.rnn import SimpleRNN

__all__ = ["Activation", "AvgPool2D", "Conv2D", "Dense", "Flatten", "MaxPool2D", "Model",
           "SimpleRNN", "cost", "forward", "init", "loss", "predict", "small_cnn", "value_and_grad"]
