"""The HTML report opened from disk in a real headless Chromium: the verdict on the first screen, at
most eight screens with details closed, loads clean, images and covers decode, hostile titles stay
text, nothing is fetched from the network. Screenshots (first screen, whole page) go to tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from harness.report.html import write_html

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    path = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not path:
        pytest.fail(
            "headless Chromium not found at /usr/bin/chromium: install Debian's package "
            "(`apt-get install chromium`, as .ci/run does) to run the HTML report's browser test"
        )
    return str(path)


def _real_covers(root: Path, count: int = 6) -> list[Image.Image]:
    paths = (
        sorted((root / "Biography").glob("*.jpg"))[: count // 2]
        + sorted((root / "Medical").glob("*.jpg"))[: count // 2]
    )
    return [Image.open(p).convert("RGB") for p in paths]


VIEWPORT = {"width": 1400, "height": 900}
COVERS_DECODE = """async () => {
  const out = [];
  for (const el of document.querySelectorAll('.cover')) {
    const url = getComputedStyle(el).backgroundImage.slice(5, -2);
    const img = new Image();
    img.src = url;
    let ok = true;
    try { await img.decode(); } catch (e) { ok = false; }
    const box = el.getBoundingClientRect();
    out.push({label: el.getAttribute('aria-label'), ok: ok && img.naturalWidth > 0, w: box.width, h: box.height,
              hidden: el.closest('details:not([open])') !== null});
  }
  return out;
}"""


@pytest.mark.slow
def test_report_opens_in_chromium_clean(tmp_path, make_run, hostile_title, real_bookcovers):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `pip install -e '.[test]'` installs it for the browser test")
    # the embedded default's shape: every view, per-category views, twenty probe families with controls
    report = make_run("degraded", realistic=True, covers=_real_covers(real_bookcovers))
    page_path = write_html(report, tmp_path / "report.html")

    console_errors: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
                " w: i.naturalWidth}))"
            )
            covers = page.evaluate(COVERS_DECODE)
            forest = page.evaluate(
                "() => { const r = document.querySelector('#verdict svg.forest')"
                ".getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; }"
            )
            first_table = page.evaluate("() => document.querySelector('table').getBoundingClientRect().top")
            open_details = page.evaluate("() => document.querySelectorAll('details[open]').length")
            height = page.evaluate("() => document.documentElement.scrollHeight")
            text = page.text_content("body")  # closed <details> included
            scripts = page.evaluate("() => document.scripts.length")
            page.screenshot(path=str(tmp_path / "first-screen.png"))
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert console_errors == []
    assert dialogs == []
    assert scripts == 0
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []
    broken = [i["alt"] for i in images if not i["ok"]]
    assert broken == [], f"images that did not decode: {broken}"
    assert len(images) >= 5
    assert covers and [c for c in covers if not c["ok"]] == []  # every cover's data URI decodes
    assert [c for c in covers if not c["hidden"] and not (c["w"] > 0 and c["h"] > 0)] == []  # and shows
    assert any(not c["hidden"] for c in covers)
    assert len(covers) <= len(report.sections["examples"])
    # the verdict's forest plot is on the first screen, before any table
    assert 0 < forest["top"] < forest["bottom"] <= VIEWPORT["height"]
    assert first_table > forest["bottom"]
    # details on demand: with every <details> closed the page is at most 8 screens
    assert open_details == 0
    assert height <= 8 * VIEWPORT["height"], f"page is {height} px tall"
    assert hostile_title in text
    assert "A. <b>Writer</b>" in text
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert (tmp_path / "first-screen.png").stat().st_size > 10_000
