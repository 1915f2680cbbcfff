"""Speed ratios measured in one run (not absolute seconds). Run by hand: pytest -m bench."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))


@pytest.mark.bench
def test_hand_derived_epoch_is_as_fast_as_jax_grad_and_10x_nielsen():
    import bench_training

    res = bench_training.main(["--rounds", "5", "--configs", "A", "--skip-full-run"])
    med = res["A"]["median_s_per_epoch"]
    assert med["hand (scan epoch)"] <= 1.1 * med["jax.grad (scan epoch)"]   # 10% noise margin
    assert med["Nielsen network.py (NumPy, scaled)"] >= 10 * med["hand (scan epoch)"]


@pytest.mark.bench
def test_hand_derived_conv_step_is_within_10_percent_of_jax_grad():
    import bench_conv

    med = bench_conv.main(["--rounds", "5"])
    assert med["hand"] <= 1.1 * med["autodiff"]
