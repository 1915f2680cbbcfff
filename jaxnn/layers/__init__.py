"""Layers — Dense, Activation, Flatten, Dropout, Conv2D, MaxPool2D, AvgPool2D, BatchNorm, GroupNorm,
SimpleRNN, LSTM, Embedding, LayerNorm, SelfAttention, and the layers made of layers, Sequential,
Residual and Remat — each an init/forward/backward triple with a hand-derived backward (the contract:
:mod:`jaxnn.layers.base`). A :class:`Model` is a body of layers plus a loss (the one model
type: :func:`jaxnn.Network` builds one of :class:`Dense` layers, :mod:`jaxnn.models` the ready-made
ones)."""

from jaxnn.layers.attention import Embedding, LayerNorm, SelfAttention
from jaxnn.layers.base import Layer, register
from jaxnn.layers.conv import AvgPool2D, Conv2D, MaxPool2D
from jaxnn.layers.dense import Activation, ActivationCache, Dense, DenseCache, Dropout, Flatten
from jaxnn.layers.lstm import LSTM
from jaxnn.layers.model import Model
from jaxnn.layers.norm import BatchNorm, GroupNorm
from jaxnn.layers.rnn import SimpleRNN
from jaxnn.layers.sequential import Remat, Residual, Sequential, SequentialCache

for _cls in (Activation, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Embedding, Flatten, GroupNorm,
             LayerNorm, LSTM, MaxPool2D, Remat, Residual, SelfAttention, Sequential, SimpleRNN):
    register(_cls)


__all__ = ["LSTM", "Activation", "ActivationCache", "AvgPool2D", "BatchNorm", "Conv2D", "Dense",
           "DenseCache", "Dropout", "Embedding", "Flatten", "GroupNorm", "Layer", "LayerNorm", "MaxPool2D",
           "Model", "Remat", "Residual", "SelfAttention", "Sequential", "SequentialCache", "SimpleRNN",
           "register"]
