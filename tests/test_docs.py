"""The docs: every figure is rendered from a results file (never typed by hand), the README is a
front page whose test command is CI's, and every public name has a docstring (the built site is
checked in test_site.py)."""

import inspect
import json
import re
import sys
from pathlib import Path

import jaxnn

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import report  # noqa: E402

# What a measured figure looks like: a percentage or seconds with decimals, milliseconds, a ratio.
FIGURE = re.compile(r"\d\.\d+\s?%|\b\d+(\.\d+)?\s?(ms|µs)\b|\b\d+\.\d+\s?s\b|\b\d+\.\d+×")


def test_every_generated_part_matches_its_results_file():
    assert report.stale() == [], "run: python experiments/report.py"


def test_no_figure_is_typed_outside_a_generated_part():
    for page in report.pages():
        text = report.BLOCK.sub("", page.read_text())
        typed = [m.group(0) for m in FIGURE.finditer(text)]
        assert not typed, f"{page.relative_to(ROOT)} types figures by hand: {typed}; render them " \
                          "from a results file (experiments/report.py)"


def test_every_page_renders_parts_and_a_stale_part_is_found(tmp_path, monkeypatch):
    assert sum(len(report.BLOCK.findall(p.read_text())) for p in report.pages()) >= 15
    page = tmp_path / "page.md"
    page.write_text("before\n<!-- report:bench-population -->\nstale\n<!-- /report -->\nafter\n")
    monkeypatch.setattr(report, "pages", lambda: [page])
    monkeypatch.setattr(report, "ROOT", tmp_path)
    assert report.stale() == ["page.md: bench-population"]
    assert report.main([]) == 0 and "stale" not in page.read_text() and report.stale() == []
    assert page.read_text().startswith("before\n") and page.read_text().endswith("after\n")


def test_every_results_file_says_how_it_was_measured():
    for path in report.RESULTS.glob("*.json"):
        r = json.loads(path.read_text())
        assert {"command", "machine", "date", "versions"} <= set(r), path.name
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", r["date"]) and "/work/" not in path.read_text(), path.name


def test_the_readme_is_a_front_page_and_its_test_command_is_cis():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    assert commands[0].endswith("&& jaxnn train")
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_every_public_name_has_a_docstring():
    """What jaxnn exports, and what its submodules export, is documented (the API pages are built
    from these docstrings); a function that takes arrays says their shapes."""
    for module in (jaxnn, jaxnn.layers, jaxnn.data):
        for name in module.__all__:
            obj = getattr(module, name)
            doc = inspect.getdoc(obj) or ""
            assert len(doc) > 20, f"{module.__name__}.{name} has no docstring"
            if inspect.isfunction(obj) and {"x", "y"} & set(inspect.signature(obj).parameters):
                assert re.search(r"\((m|n|batch)\b|shape", doc), f"{module.__name__}.{name}: no shapes"
