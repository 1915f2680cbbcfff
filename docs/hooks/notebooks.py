"""The notebook pages as the rest of the site: their table of contents from the headings as drawn
(a heading's inline code kept in its name and anchor), and no script fetched from elsewhere
(nbconvert's MathJax loader and Mermaid import; the site draws its math as MathML)."""

import re

from bs4 import BeautifulSoup
from mkdocs.structure.toc import get_toc

MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
MERMAID = re.compile(r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded".*?</script>',
                     re.S)


def headings(content: str) -> list[dict]:
    """The notebook's markdown headings as mkdocs' table-of-contents tokens, nested by level."""
    tokens, open_ = [], []
    for h in BeautifulSoup(content, "html.parser").select(".jp-RenderedMarkdown :is(h1,h2,h3,h4,h5,h6)"):
        for link in h.select("a.anchor-link"):
            link.decompose()
        token = {"level": int(h.name[1]), "id": h["id"], "name": h.get_text(" ", strip=True), "children": []}
        while open_ and open_[-1]["level"] >= token["level"]:
            open_.pop()
        (open_[-1]["children"] if open_ else tokens).append(token)
        open_.append(token)
    return tokens


def on_page_content(content, page, config, files):
    if page.file.src_uri.endswith(".ipynb"):
        page.toc = get_toc(headings(content))
    return content


def on_post_page(output, page, config):
    if page.file.src_uri.endswith(".ipynb"):
        output = MATHJAX.sub("", output)
        if "class=\"jp-Mermaid" not in output:   # no diagram: no need for the Mermaid script
            output = MERMAID.sub("", output)
    return output
