"""Speed ratios measured in one run (not absolute seconds). Run by hand: pytest -m bench."""

import statistics
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
def test_hand_derived_matmul_conv_epoch_beats_jax_grad_and_pytorch():
    import bench_conv

    # the fast recipe's batch 32; each variant at its better loop (im2col: scan, lax.conv: python)
    med = bench_conv.main(["--rounds", "5", "--n", "3200", "--batch", "32",
                           "--variants", "hand matmul,jax.grad lax.conv"])["seconds_per_epoch"]
    hand = min(v for k, v in med.items() if k.startswith("hand matmul"))
    grad = min(v for k, v in med.items() if k.startswith("jax.grad"))
    assert hand <= 0.85 * grad                   # measured 0.61-0.68x (AVX-512), 0.80x (AVX2 only)
    torch_col = [v for k, v in med.items() if k.startswith("PyTorch")]
    assert all(hand <= v for v in torch_col)     # measured 0.67x (time-to-accuracy bench)


@pytest.mark.bench
def test_a_users_step_over_custom_vjp_is_as_fast_as_jaxnns_own():
    import bench_vjp

    res = bench_vjp.main(["--rounds", "7", "--steps", "30", "--no-keep"])
    assert res["gpt_small"]["ratio_median"] <= 1.1      # measured 1.01 (rounds 0.80-1.05), 2026-12-06


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    """One run of bench_peers (each implementation in its own process, 2 alternated rounds)."""
    import bench_peers

    return bench_peers.main(["--models", "mlp-B,cnn,lstm,gpt-small", "--rounds", "2",
                             "--out", str(tmp_path_factory.mktemp("peers") / "peers.json")])["step_ms"]


@pytest.mark.bench
def test_hand_derived_steps_against_jax_grad(peers):
    def ratio(model):
        return peers[model]["jaxnn"]["ms"] / peers[model]["jax.grad"]["ms"]

    # margins for noise: rounds on the 2-core machine differ by up to 30% (measured 2026-12-02, AVX2)
    assert ratio("gpt-small") <= 0.9     # measured 0.64-0.74x
    assert ratio("cnn") <= 0.85          # im2col vs lax.conv; measured 0.67-0.76x
    assert ratio("lstm") <= 1.0          # the backward's precomputed factors; measured 0.79x (2026-12-03)
    assert ratio("mlp-B") <= 1.15


@pytest.mark.bench
def test_hand_derived_steps_against_pytorch(peers):
    pytest.importorskip("torch", reason="PyTorch is an optional peer: pip install torch")

    import bench_peers

    def ratio(model, impl="jaxnn"):              # as the README gives it: the median round's
        return statistics.median(bench_peers.round_ratios(peers[model], impl))

    # regression guards with margins for noise; the README's speed table has one measured run
    # gpt-small (1.52x when issue 29 was filed): medians of paired rounds measured 0.86-1.17x a call
    # and 0.94-1.02x as fit runs it, single rounds 0.79-1.74x (2026-12-03); target 0.9 not met
    assert ratio("gpt-small") <= 1.2 and ratio("gpt-small", "jaxnn-scanned") <= 1.2
    assert ratio("cnn") <= 1.0 and ratio("mlp-B") <= 0.9   # measured 0.62-0.91x, 0.56-0.73x
    assert ratio("lstm") <= 1.7          # target 1.0 missed (oneDNN's fused LSTM); measured 1.10-1.42x
