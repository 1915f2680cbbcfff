"""Layers — Dense, Activation, Flatten, Conv2D, MaxPool2D, AvgPool2D, SimpleRNN, LSTM — each an
init/forward/backward triple with a hand-derived backward (the contract: :mod:`jaxnn.layers.base`),
composed by :class:`Model` and trained by :func:`jaxnn.fit`. A :class:`jaxnn.Network` is a stack of
:class:`Dense` layers."""

from jaxnn.backprop import value_and_grad  # the one backward sweep, for every model
from jaxnn.layers.base import Layer, register
from jaxnn.layers.conv import AvgPool2D, Conv2D, MaxPool2D
from jaxnn.layers.dense import Activation, Dense, Flatten
from jaxnn.layers.lstm import LSTM
from jaxnn.layers.model import Model, cost, forward, init, loss, predict, small_cnn
from jaxnn.layers.rnn import SimpleRNN

for _cls in (Activation, AvgPool2D, Conv2D, Dense, Flatten, LSTM, MaxPool2D, SimpleRNN):
    register(_cls)


__all__ = ["LSTM", "Activation", "AvgPool2D", "Conv2D", "Dense", "Flatten", "Layer", "MaxPool2D", "Model",
           "SimpleRNN", "cost", "forward", "init", "loss", "predict", "register", "small_cnn",
           "value_and_grad"]
