"""Speed ratios measured in one run (not absolute seconds). Run by hand: pytest -m bench."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
pytestmark = pytest.mark.usefixtures("optimized")   # measure what users run


@pytest.mark.bench
def test_hand_derived_epoch_is_as_fast_as_jax_grad_and_10x_nielsen():
    import bench_training

    res = bench_training.main(["--rounds", "5", "--configs", "A", "--skip-full-run"])
    med = res["A"]["median_s_per_epoch"]
    assert med["hand (scan epoch)"] <= 1.1 * med["jax.grad (scan epoch)"]   # 10% noise margin
    assert med["Nielsen network.py (NumPy, scaled)"] >= 10 * med["hand (scan epoch)"]


@pytest.mark.bench
def test_hand_derived_matmul_conv_step_beats_jax_grad_and_pytorch():
    import bench_conv

    med = bench_conv.main(["--rounds", "5", "--n", "3200", "--loops", "python"])
    assert med["hand matmul (python)"] <= 0.7 * med["jax.grad lax.conv (python)"]  # 0.6x + noise
    torch_col = [v for k, v in med.items() if k.startswith("PyTorch")]
    assert all(med["hand matmul (python)"] <= v for v in torch_col)   # measured 0.57-0.91x
