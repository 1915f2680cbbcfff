"""Checkpoints written by jaxnn 0.1 (before layers and networks became one system) still load and
give identical outputs. The fixtures were saved with that code and must never be regenerated."""

from pathlib import Path

import numpy as np

import jaxnn
from jaxnn import layers

FIXTURES = Path(__file__).parent / "fixtures"


def test_old_mlp_and_cnn_checkpoints_load_and_give_the_same_outputs():
    expected = np.load(FIXTURES / "outputs-v0.1.npz")
    mlp = jaxnn.load(FIXTURES / "mlp-v0.1.npz")
    assert isinstance(mlp.model, layers.Model) and mlp.model.sizes == (64, 16, 10)
    assert mlp.meta["epoch"] == 1 and mlp.opt_state is not None and mlp.key is not None
    out = jaxnn.forward(mlp.model, mlp.params, expected["x"])[0]
    np.testing.assert_allclose(out, expected["mlp"], rtol=1e-6)
    cnn = jaxnn.load(FIXTURES / "cnn-v0.1.npz")
    assert isinstance(cnn.model, layers.Model) and cnn.meta["epoch"] == 2
    out = jaxnn.forward(cnn.model, cnn.params, expected["x"].reshape(5, 8, 8, 1))[0]
    np.testing.assert_allclose(out, expected["cnn"], rtol=1e-5, atol=1e-7)
