"""Screenshots of the built docs site as a reader sees it, for a person to look at (the math drawn
as MathML, the notebooks' first screen, the wide tables): headless Chromium, 1,280 px wide, offline.

    mkdocs build --strict --site-dir site
    python experiments/site_screenshots.py --site site --out out/screenshots [PAGE ...]

Pages are paths under the site (default: the pages with math, a notebook, the speed tables). Needs
a Chromium (Debian: ``apt install chromium``) on the PATH or in ``$CHROMIUM``.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PAGES = ["getting-started", "layers", "attention", "speed", "api", "notebooks/06_attention",
         "notebooks/jaxnn_tour"]
# Chromium without its background connections (this machine's network is closed) and first-run work.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    raise SystemExit("site_screenshots: no Chromium found; install one (Debian: apt install chromium) "
                     "or set CHROMIUM to its path")


def shoot(browser: str, page: Path, png: Path, height: int) -> None:
    """One screenshot of ``page`` (an ``index.html``), ``1280 × height`` pixels, to ``png``."""
    with tempfile.TemporaryDirectory() as profile:
        try:
            subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}",
                            f"--screenshot={png}", page.resolve().as_uri()],
                           check=True, capture_output=True, text=True, timeout=120)
        except subprocess.CalledProcessError as error:
            last = (error.stderr or "").strip().splitlines()[-1:] or ["no message"]
            raise SystemExit(f"site_screenshots: {browser} failed on {page} ({last[0]})") from None
        except subprocess.TimeoutExpired:
            raise SystemExit(f"site_screenshots: {browser} took over 120 s on {page}") from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pages", nargs="*", default=PAGES, help="paths under the site (default: %(default)s)")
    p.add_argument("--site", type=Path, default=Path("site"), help="the built site (mkdocs build)")
    p.add_argument("--out", type=Path, default=Path("out/screenshots"), help="folder for the PNGs")
    p.add_argument("--height", type=int, default=2400, help="pixels from the top of each page")
    args = p.parse_args(argv)
    missing = [name for name in args.pages if not (args.site / name / "index.html").is_file()]
    if missing:
        raise SystemExit(f"site_screenshots: no page {', '.join(missing)} in {args.site}; build the site "
                         f"first (mkdocs build --strict --site-dir {args.site})")
    browser = chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.pages:
        png = args.out / (name.replace("/", "-") + ".png")
        shoot(browser, args.site / name / "index.html", png, args.height)
        print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
