"""Math without a script: each TeX formula on the site (``pymdownx.arithmatex`` in generic mode)
becomes MathML when the site is built, which browsers draw themselves, offline too.

A formula latex2mathml cannot convert, or converts into something no browser draws as meant (a
command it does not know, an ``&`` outside a table, an operator inside an operator), stops the
build, naming the page and the formula."""

import html
import re

from latex2mathml.converter import convert

# arithmatex's generic output: <span class="arithmatex">\(…\)</span>, <div class="arithmatex">\[…\]</div>
FORMULA = re.compile(r'<(span|div) class="arithmatex">\\[(\[](.*?)\\[)\]]</\1>', re.S)
# Environments latex2mathml lays out as a table under another name.
RENAMED = {r"\begin{aligned}": r"\begin{align*}", r"\end{aligned}": r"\end{align*}"}
# What latex2mathml writes where it did not understand the TeX.
MISREAD = re.compile(r"<mi>\\|<mi>&</mi>|<mo><mrow>")


def mathml(tex: str, display: bool) -> str:
    """``tex`` (without delimiters) as a ``<math>`` element."""
    for old, new in RENAMED.items():
        tex = tex.replace(old, new)
    out = convert(tex, display="block" if display else "inline")
    if bad := MISREAD.search(out):
        raise ValueError(f"latex2mathml misread it ({bad.group()!r} in its MathML)")
    return out


def on_page_content(content, page, config, files):
    def replace(match):
        tag, tex = match.group(1), html.unescape(match.group(2))
        try:
            return mathml(tex, display=tag == "div")
        except Exception as error:
            raise ValueError(f"{page.file.src_uri}: cannot convert the formula {tex!r}: {error}") from error
    return FORMULA.sub(replace, content)
