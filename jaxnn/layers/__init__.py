"""Layers — Dense, Activation, Flatten, Dropout, Conv2D, MaxPool2D, AvgPool2D, BatchNorm, GroupNorm,
LayerNorm, SimpleRNN, LSTM, Embedding, SelfAttention, and the layers made of layers, Sequential,
Residual and Remat — each an init/forward/backward triple with a hand-derived backward (the contract:
[`jaxnn.layers.base`][]), registered where it is defined. A [`jaxnn.model.Model`][] (also
``jaxnn.layers.Model``) is a body of layers plus a loss."""

from jaxnn.layers.attention import Embedding, SelfAttention
from jaxnn.layers.base import Layer, register
from jaxnn.layers.conv import AvgPool2D, Conv2D, MaxPool2D
from jaxnn.layers.dense import Activation, ActivationCache, Dense, DenseCache, Dropout, Flatten
from jaxnn.layers.lstm import LSTM
from jaxnn.layers.norm import BatchNorm, GroupNorm, LayerNorm
from jaxnn.layers.rnn import SimpleRNN
from jaxnn.layers.sequential import Remat, Residual, Sequential, SequentialCache

__all__ = ["LSTM", "Activation", "ActivationCache", "AvgPool2D", "BatchNorm", "Conv2D", "Dense",
           "DenseCache", "Dropout", "Embedding", "Flatten", "GroupNorm", "Layer", "LayerNorm", "MaxPool2D",
           "Model", "Remat", "Residual", "SelfAttention", "Sequential", "SequentialCache", "SimpleRNN",
           "register"]
