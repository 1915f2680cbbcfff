"""docs/interop.md as a user runs it: every code block, in a fresh process (its losses register
names of their own); the Flax NNX and Equinox recipes where those frameworks are installed."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).parents[1] / "docs" / "interop.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
FRAMEWORK = {"flax": "from flax import nnx", "equinox": "import equinox as eqx"}


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def blocks(framework=None) -> str:
    """The page's first block (the imports) and the blocks of ``framework`` (``None``: the
    blocks of no framework)."""
    def of(block):
        return next((name for name, line in FRAMEWORK.items() if line in block), None)

    return "\n".join([BLOCKS[0], *(b for b in BLOCKS[1:] if of(b) == framework)])


def test_the_pages_code_runs_and_prints_what_it_says():
    out = run(blocks())
    assert out.startswith("True\n") and "(4, 5, 6)" in out
    assert "can't apply forward-mode autodiff (jvp) to a custom_vjp function" in out
    first, last = map(float, re.search(r"focal loss ([\d.]+) → ([\d.]+)", out).groups())
    assert last < 0.5 * first


@pytest.mark.parametrize("framework", FRAMEWORK)
def test_a_framework_recipe_trains_with_the_hand_backward(framework):
    pytest.importorskip(framework, reason=f"{framework} is optional: pip install -e '.[interop]'")
    out = run(blocks(framework))
    first, last, vjps = re.search(r"loss ([\d.]+) → ([\d.]+); hand VJPs in the jaxpr: (\d+)", out).groups()
    assert float(last) < 0.2 * float(first) and int(vjps) == 2, out
