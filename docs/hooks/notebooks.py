"""The notebook pages as the rest of the site: their title and table of contents from the headings
as drawn (a heading's inline code kept in its name and anchor), no script fetched from elsewhere
(nbconvert's MathJax loader and Mermaid import; the site draws its math as MathML), and links to
take the notebook away: its download, and Colab where the site names its GitHub repository
(``repo_url`` in mkdocs.yml)."""

import re

from bs4 import BeautifulSoup
from mkdocs.structure.toc import get_toc

MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
MERMAID = re.compile(r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded".*?</script>',
                     re.S)


def colab(repo_url: str | None, name: str) -> str | None:
    """Colab's address of notebook ``name``'s source in the GitHub repository at ``repo_url``."""
    if m := re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?", repo_url or ""):
        return f"https://colab.research.google.com/github/{m[1]}/blob/main/experiments/notebooks/{name}.ipynb"
    return None


def links(name: str, repo_url: str | None) -> str:
    """The line above a notebook: its download (the copy beside the page), and Colab if known."""
    out = [f'<a href="{name}.ipynb" download>Download the notebook</a>']
    if url := colab(repo_url, name):
        out.append(f'<a href="{url}">Open in Colab</a>')
    return f'<p class="notebook-links">{" · ".join(out)}</p>'


def headings(content: str) -> list[dict]:
    """The notebook's markdown headings as mkdocs' table-of-contents tokens, nested by level."""
    tokens, open_ = [], []
    for h in BeautifulSoup(content, "html.parser").select(".jp-RenderedMarkdown :is(h1,h2,h3,h4,h5,h6)"):
        for link in h.select("a.anchor-link"):
            link.decompose()
        name = " ".join(h.get_text().split())
        token = {"level": int(h.name[1]), "id": h["id"], "name": name, "children": []}
        while open_ and open_[-1]["level"] >= token["level"]:
            open_.pop()
        (open_[-1]["children"] if open_ else tokens).append(token)
        open_.append(token)
    return tokens


def on_page_content(content, page, config, files):
    if page.file.src_uri.endswith(".ipynb"):
        tokens = headings(content)
        page.toc = get_toc(tokens)
        page.title = next((t["name"] for t in tokens if t["level"] == 1), page.title)
        content = links(page.file.name, config.get("repo_url")) + content
    return content


def on_post_page(output, page, config):
    if page.file.src_uri.endswith(".ipynb"):
        output = MATHJAX.sub("", output)
        if "class=\"jp-Mermaid" not in output:   # no diagram: no need for the Mermaid script
            output = MERMAID.sub("", output)
    return output
