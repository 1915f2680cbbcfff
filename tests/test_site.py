"""The docs site as a reader meets it, checked on the built HTML (``mkdocs build --strict``): every
internal link and anchor resolves, the table of contents names each heading as drawn, no raw Sphinx
role, cross-reference or TeX reaches a page, math is MathML, and no page needs anything from
elsewhere (a script, a stylesheet, a font) to be read."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

bs4 = pytest.importorskip("bs4", reason="the docs extra: pip install -e '.[docs]'")
pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")

ROOT = Path(__file__).parents[1]
ROLE = re.compile(r":(class|func|mod|meth|attr|data|exc|obj):")
TEX = re.compile(r"\\[(\[]|\\(begin|frac|sqrt|partial|delta|sigma|odot|mathrm|text)\b|\$\$")
UNRESOLVED = re.compile(r"\]\[[\w.]*\]")  # [title][identifier] that autorefs left as text
FETCHED = re.compile(r"(?:import\s*\(?|src\s*=|fetch\s*\()\s*[\"'`](https?://[^\"'`]+)")  # in a script
MATH_PAGES = ["getting-started", "layers", "attention"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def read(site: Path) -> dict[str, "bs4.BeautifulSoup"]:
    """Every page but the 404 (its links are absolute to the server's root), by its path."""
    return {str(p.relative_to(site)): bs4.BeautifulSoup(p.read_text(), "html.parser")
            for p in sorted(site.rglob("*.html")) if p.name != "404.html"}


@pytest.fixture(scope="module")
def pages(site) -> dict[str, "bs4.BeautifulSoup"]:
    return read(site)


def prose(soup) -> str:
    """The page's readable text outside code, scripts, styles and math."""
    soup = bs4.BeautifulSoup(str(soup.select_one("article") or soup), "html.parser")
    for tag in soup.select("code, pre, script, style, math, .highlight, .jp-InputArea, .jp-OutputArea"):
        tag.decompose()
    return soup.get_text(" ")


def ids(soup) -> set[str]:
    named = soup.find_all("a", attrs={"name": True})
    return {t["id"] for t in soup.find_all(id=True)} | {t["name"] for t in named}


def dead_links(site: Path, pages: dict) -> list[str]:
    """Internal links, images, stylesheets and scripts whose file or anchor is missing."""
    anchors = {path: ids(soup) for path, soup in pages.items()}
    dead = []
    for path, soup in pages.items():
        for tag, attr in [("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")]:
            for el in soup.find_all(tag, attrs={attr: True}):
                url = el[attr]
                if urlsplit(url).scheme in ("http", "https", "mailto", "data"):
                    continue
                if not url:
                    dead.append(f"{path}: <{tag} {attr}=\"\">")
                    continue
                target = urlsplit(urljoin("/" + path, url))
                file = site / unquote(target.path).lstrip("/")
                if target.path.endswith("/"):
                    file = file / "index.html"
                if not file.is_file():
                    dead.append(f"{path}: {url} (no file)")
                elif target.fragment and file.suffix == ".html":
                    if unquote(target.fragment) not in anchors.get(str(file.relative_to(site)), set()):
                        dead.append(f"{path}: {url} (no anchor)")
    return sorted(set(dead))


def misnamed_headings(pages: dict) -> list[str]:
    """Table-of-contents entries whose text is not their heading's (inline code lost, say)."""
    wrong = []
    for path, soup in pages.items():
        for link in soup.select("nav.md-nav--secondary a.md-nav__link"):
            heading = soup.find(id=link["href"].lstrip("#"))
            if heading is None or "doc-heading" in heading.get("class", []):
                continue   # not a heading, or an API entry (its signature beside its name)
            for anchor in heading.select("a.headerlink, a.anchor-link"):
                anchor.decompose()
            drawn, listed = (" ".join(t.get_text().split()) for t in (heading, link))
            if drawn != listed:
                wrong.append(f"{path}: the contents say {listed!r}, the heading {drawn!r}")
        if path.startswith("notebooks/") and (h1 := soup.select_one("article h1")):
            for anchor in h1.select("a.headerlink, a.anchor-link"):   # a notebook's title is its h1
                anchor.decompose()
            title = " ".join(h1.get_text().split())
            for label in soup.select("nav.md-nav--primary a.md-nav__link--active, head title"):
                if not " ".join(label.get_text().split()).startswith(title):
                    wrong.append(f"{path}: the site calls it {label.get_text().strip()!r}, its h1 {title!r}")
    return wrong


def raw_markup(pages: dict) -> list[str]:
    """Sphinx roles, unresolved cross-references and TeX in a page's prose."""
    raw = []
    for path, soup in pages.items():
        text = prose(soup)
        for pattern in (ROLE, TEX, UNRESOLVED):
            raw += [f"{path}: …{text[max(0, m.start() - 40):m.end() + 40]}…"
                    for m in pattern.finditer(text)]
    return raw


def from_elsewhere(pages: dict) -> list[str]:
    """Scripts, stylesheets, fonts and images a page loads from another site."""
    outside = []
    for path, soup in pages.items():
        for tag, attr in [("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")]:
            for el in soup.find_all(tag, attrs={attr: True}):
                if urlsplit(el[attr]).scheme in ("http", "https") and (tag != "link" or {
                        "stylesheet", "preconnect", "preload"} & set(el.get("rel", []))):
                    outside.append(f"{path}: <{tag} {attr}={el[attr]}>")
        for script in soup.find_all("script", src=False):
            outside += [f"{path}: a script loads {url}" for url in FETCHED.findall(script.get_text())]
    return outside


def test_the_site_has_every_page(pages):
    assert "api/index.html" in pages and "notebooks/02_backpropagation/index.html" in pages
    assert len(pages) >= 20


def test_every_internal_link_and_anchor_resolves(site, pages):
    assert not (dead := dead_links(site, pages)), "\n".join(dead)


def test_the_table_of_contents_names_each_heading_as_drawn(pages):
    assert not (wrong := misnamed_headings(pages)), "\n".join(wrong)


def test_no_raw_role_cross_reference_or_tex_reaches_a_page(pages):
    assert not (raw := raw_markup(pages)), "\n".join(raw)


def test_no_page_needs_a_script_stylesheet_or_font_from_elsewhere(pages):
    assert not (outside := from_elsewhere(pages)), "\n".join(outside)


def test_math_is_mathml(pages):
    for name in MATH_PAGES:
        soup = pages[f"{name}/index.html"]
        assert soup.find("math", attrs={"display": "block"}), f"{name}: no displayed formula"
        assert not soup.select(".arithmatex"), f"{name}: a formula left for a script to draw"


def test_notebooks_show_no_install_cell(pages):
    for path, soup in pages.items():
        if path.startswith("notebooks/"):
            assert "def install_jaxnn" not in soup.get_text(), f"{path}: the Colab install cell is shown"


def test_each_check_finds_its_defect(tmp_path):
    """A two-page site with one defect of each kind: every check names it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text(
        '<html><head><script src="https://cdn.example/mathjax.js"></script></head><body>'
        '<nav class="md-nav--secondary"><a class="md-nav__link" href="#h">hand vs  vs FD</a></nav>'
        '<article><h2 id="h">hand vs <code>jax.grad</code> vs FD</h2>'
        '<p>see :func:<code>fit</code> and [<code>fit</code>][jaxnn.fit], $$\\frac{a}{b}$$</p>'
        '<a href="../b/#gone">b</a> <a href="../c/">c</a> <code>\\frac{ok}{in code}</code>'
        '</article></body></html>')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "index.html").write_text('<html><body><h1 id="here">b</h1></body></html>')
    pages = read(tmp_path)
    assert dead_links(tmp_path, pages) == ["a/index.html: ../b/#gone (no anchor)",
                                           "a/index.html: ../c/ (no file)"]
    assert len(misnamed_headings(pages)) == 1
    raw = "\n".join(raw_markup(pages))
    assert ":func:" in raw and "][jaxnn.fit]" in raw and "$$" in raw and "in code" not in raw
    assert from_elsewhere(pages) == ["a/index.html: <script src=https://cdn.example/mathjax.js>"]


def hook(name: str):
    """A module of docs/hooks/, imported from its file."""
    spec = importlib.util.spec_from_file_location(f"{name}_hook", ROOT / "docs" / "hooks" / f"{name}.py")
    spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
    return module


def test_a_formula_is_mathml_or_stops_the_build():
    mathml = hook("mathml").mathml
    assert "<mtable" in mathml(r"\begin{aligned} a &= b\\ c &= d \end{aligned}", display=True)
    assert mathml(r"\frac{\partial C}{\partial b} = \delta", display=False).startswith("<math")
    for misread in [r"\foo x", r"a & b", r"\mathrel{+}="]:
        with pytest.raises(ValueError, match="misread"):
            mathml(misread, display=False)


def test_notebook_pages_link_their_download_and_colab_where_the_repository_is_named(pages):
    hooks = hook("notebooks")
    assert hooks.colab(None, "06_attention") is None
    assert hooks.colab("https://github.com/someone/jaxnn.git", "06_attention") == (
        "https://colab.research.google.com/github/someone/jaxnn/blob/main/experiments/notebooks/"
        "06_attention.ipynb")
    assert "Open in Colab" in hooks.links("06_attention", "https://github.com/someone/jaxnn")
    for path, soup in pages.items():
        if path.startswith("notebooks/"):
            assert soup.select_one('p.notebook-links a[download][href$=".ipynb"]'), path


def test_screenshots_of_the_site_for_a_person_to_look_at(site, tmp_path):
    run = [sys.executable, str(ROOT / "experiments" / "site_screenshots.py"), "--site", str(site),
           "--out", str(tmp_path), "--height", "900"]
    done = subprocess.run([*run, "no/such/page"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stderr.strip().startswith("site_screenshots: no page no/such/page")
    broken = subprocess.run([*run, "layers"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CHROMIUM": shutil.which("false")})
    assert broken.returncode != 0 and broken.stderr.startswith("site_screenshots: ") and "Traceback" not in (
        broken.stderr), broken.stderr
    env = {**os.environ, "CHROMIUM": ""}
    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        done = subprocess.run([*run, "layers"], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode != 0 and "no Chromium found" in done.stderr
        pytest.skip("no Chromium here: the screenshot itself is not taken")
    done = subprocess.run([*run, "layers"], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    png = (tmp_path / "layers.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280


def test_no_source_writes_a_sphinx_role():
    """Docstrings cross-reference in mkdocstrings' syntax: [`fit`][jaxnn.fit], not :func:`fit`."""
    sources = [*ROOT.glob("jaxnn/**/*.py"), *ROOT.glob("experiments/*.py")]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sources
             for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(ROLE.pattern + "`", line)]
    assert not found, "\n".join(found)
