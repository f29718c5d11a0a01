"""Screenshots for the README: the site of a running service and one fairness report, in headless Chromium.

    python scripts/screenshots.py --site "http://127.0.0.1:3000/site/#token=..." --report PATH/report.html

Run it while `loopbaan demo` serves; it writes docs/img/site.png and docs/img/report.png.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
OUT = Path(__file__).resolve().parent.parent / "docs" / "img"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True, help="the site's address with the demo token (as `loopbaan demo` prints it)")
    parser.add_argument("--report", type=Path, required=True, help="a report.html of `loopbaan assess`")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1500})
        page.goto(args.site)
        page.wait_for_selector("#suggestions li.suggestion", timeout=120_000)
        page.click("#suggestions li.suggestion details summary")  # one explanation opened in full
        page.locator("#suggestions-title").scroll_into_view_if_needed()
        page.screenshot(path=str(OUT / "site.png"))
        page.goto(args.report.resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(OUT / "report.png"))
        browser.close()
    print(f"wrote {OUT / 'site.png'} and {OUT / 'report.png'}")


if __name__ == "__main__":
    main()
