"""The HTML report opened from disk in a real headless Chromium: loads clean, images decode,
hostile titles stay text, nothing is fetched from the network."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from harness.report.html import write_html

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    path = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not path:
        pytest.fail("headless Chromium not found at /usr/bin/chromium: install Debian's package "
                    "(`apt-get install chromium`, as .ci/run does) to run the HTML report's browser test")
    return str(path)


def _real_covers(root: Path, count: int = 6) -> list[Image.Image]:
    paths = sorted((root / "Biography").glob("*.jpg"))[:count // 2] + sorted((root / "Medical").glob("*.jpg"))[:count // 2]
    return [Image.open(p).convert("RGB") for p in paths]


@pytest.mark.slow
def test_report_opens_in_chromium_clean(tmp_path, make_run, hostile_title, real_bookcovers):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `pip install -e '.[test]'` installs it for the browser test")
    report = make_run("good", covers=_real_covers(real_bookcovers))
    page_path = write_html(report, tmp_path / "report.html")

    console_errors: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
                " w: i.naturalWidth}))")
            text = page.inner_text("body")
            scripts = page.evaluate("() => document.scripts.length")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert console_errors == []
    assert dialogs == []
    assert scripts == 0
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []
    broken = [i["alt"] for i in images if not i["ok"]]
    assert broken == [], f"images that did not decode: {broken}"
    plots = [i for i in images if not i["alt"].startswith("cover of")]
    covers = [i for i in images if i["alt"].startswith("cover of")]
    assert len(plots) >= 6 and len(covers) == len(report.sections["examples"])
    assert hostile_title in text
    assert "A. <b>Writer</b>" in text
    assert (tmp_path / "report.png").stat().st_size > 10_000
