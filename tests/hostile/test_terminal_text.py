"""Item 9: titles, categories and paths are printed as plain text: no rich markup, no raw ESC sequences."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EVIL_CATEGORY = "Med[/]ical [link=http://evil.example]Click[/link]"
EVIL_TITLE = "Evil \x1b]8;;http://evil.example\x1b\\title\x1b[31m red [/] [bold]"
EVIL_PATH = "dataset/Medical/[/]missing\x1b[2J.jpg"


@pytest.fixture
def evil_catalogue(tmp_path: Path, real_bookcovers: Path, hostile) -> Path:
    rows = hostile.real_rows(real_bookcovers, "Medical", 16)
    folder = tmp_path / "cat" / "Medical"
    folder.mkdir(parents=True)
    for i, r in enumerate(rows):
        name = Path(r["img_paths"]).name
        shutil.copy(real_bookcovers / "Medical" / name, folder / name)
        r["category"] = EVIL_CATEGORY
        if i == 0:
            r["name"] = EVIL_TITLE
    rows[1]["img_paths"] = EVIL_PATH
    hostile.write_csv(folder / "Medical.csv", rows)
    return tmp_path / "cat"


def _assert_plain(output: str) -> None:
    assert "\x1b]8;;http://evil" not in output and "\x1b[31m" not in output and "\x1b[2J" not in output
    assert "Traceback" not in output and "MarkupError" not in output


def test_data_validate_prints_user_text_literally(evil_catalogue, hostile) -> None:
    result = hostile.run_cli("data", "validate", str(evil_catalogue), env={"COLUMNS": "250"}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    _assert_plain(result.stdout + result.stderr)
    assert "Med[/]ical [link=http://evil.example]Click[/link]" in result.stdout  # shown, not interpreted
    assert "\\x1b[2J" in result.stdout  # the skipped path's ESC shown as an escape


def test_data_validate_strict_error_line_has_no_control_characters(evil_catalogue, hostile) -> None:
    result = hostile.run_cli("data", "validate", str(evil_catalogue), "--strict", timeout=120)
    assert result.returncode == 1
    _assert_plain(result.stderr)


def test_eval_prints_user_categories_literally(evil_catalogue, hostile, fresh_cache) -> None:
    result = hostile.run_cli(
        "eval",
        "--model",
        "tiny:vit-xs",
        "--data",
        str(evil_catalogue),
        "--resamples",
        "100",
        env={"BOOKCLIP_CACHE_DIR": str(fresh_cache), "COLUMNS": "250"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _assert_plain(result.stdout + result.stderr)
    assert "[link=http://evil.example]" in result.stdout


def test_one_line_errors_escape_control_characters(tmp_path, hostile) -> None:
    missing = tmp_path / "no\x1b[2Jsuch.csv"
    result = hostile.run_cli("data", "validate", str(missing), timeout=120)
    hostile.assert_one_line_error(result, 2, "\\x1b[2J")
    _assert_plain(result.stderr)


def test_plain_helper() -> None:
    from harness.plain_text import plain, strip_control

    assert strip_control("a\x1b[31mb\x07\u202ec\td") == "a\\x1b[31mb\\x07\\u202ec\td"
    assert plain("[/]").plain == "[/]"


EVIL = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J \x9b31m \u202eabc [link=https://x]y[/link]"


def test_report_prints_crafted_report_text_as_plain_text(tmp_path, capsys, monkeypatch) -> None:
    """A crafted report's names, rules, tiers and messages reach the terminal with control characters
    escaped and no markup: no hyperlink, no clear-screen, no C1 CSI, no reversed text."""
    monkeypatch.setenv("COLUMNS", "200")  # the rule on its line whatever width the runner's environment sets
    from harness.cli import main
    from harness.report.model import GateResult, RunReport

    report = RunReport(kind="suites", name=f"run {EVIL}")
    report.gates = [
        GateResult(
            name=f"gate {EVIL}",
            metric=f"heldout/{EVIL}",
            rule=f"rule {EVIL}",
            tier="fail",
            outcome="FAIL",
            message=f"message {EVIL}",
        )
    ]
    path = report.write(tmp_path / "crafted.json")
    for extra, shown in (([], "rule"), (["--full"], "gates")):
        assert main(["report", str(path), *extra]) in (0, 1)
        out = capsys.readouterr().out
        assert shown in out
        for raw in ("\x1b", "\x9b", "\u202e", "\x07"):
            assert raw not in out
        assert "\\x1b]8;;" in out.replace("\n", "")  # shown as a visible escape instead


def test_html_page_shows_crafted_text_visibly_and_always_encodes(tmp_path) -> None:
    """U+202E in a run id once reversed the page header; ESC, BEL and C1 reached the page raw; a lone
    surrogate made `--html` fail with a UnicodeEncodeError traceback."""
    import json

    from harness.cli import main
    from harness.report.model import GateResult, RunReport

    report = RunReport(kind="suites", name="evil \x1b[2J\x07\x9b", run_id="\u202eabc123")
    report.gates = [
        GateResult(
            name="g",
            metric="heldout/m",
            rule="r",
            tier="fail",
            outcome="FAIL",
            message="lone \ud800 surrogate \u2066isolate",
        )
    ]
    path = tmp_path / "crafted.json"
    path.write_text(json.dumps(report.to_dict(), ensure_ascii=True))  # JSON carries the surrogate as \ud800
    page = tmp_path / "page.html"
    assert main(["report", str(path), "--html", str(page)]) in (0, 1)
    text = page.read_bytes().decode("utf-8")  # valid UTF-8
    for raw in ("\u202e", "\x1b", "\x07", "\x9b", "\u2066"):
        assert raw not in text
    assert "\\u202eabc123" in text and "\\ud800" in text


def test_plot_labels_show_crafted_text_visibly_and_warn_nothing(fresh_cache) -> None:
    """Category names reach the HTML report's plots: an ESC in one made matplotlib warn "Glyph 27 (\\x1b)
    missing from font", echoing the ESC to the terminal; a title in another script warned the same way
    though the page's browser draws it (the SVG keeps text as text). An empty cache: the plot is drawn."""
    import base64
    import warnings

    from harness.report.plots import grouped_bars

    groups = {f"cat {EVIL}": {"baseline": 0.4, "candidate": 0.5}, "書籍 كتب": {"baseline": 0.3, "candidate": 0.2}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uri = grouped_bars(groups, title=f"t {EVIL}", xlabel="recall@5")
    assert [str(w.message) for w in caught] == []
    svg = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")
    for raw in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert raw not in svg
    assert "\\x1b" in svg and "書籍" in svg
