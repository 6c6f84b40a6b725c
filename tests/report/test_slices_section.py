"""The Slices section on the embedded default's own run: a planted slice effect is found with its CI,
the section round-trips through the run report, and console, Markdown, HTML and the CLI show it."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data.fixtures import fixture_catalogue
from harness.data.loader import load_catalogue
from harness.report.model import RunReport
from harness.report.slices import SECTION, add_slices, analysis_of, section_of, slice_blocks, stored_analysis

ROOT = Path(__file__).resolve().parents[2]
STORED = ROOT / "fixtures" / "default-run.json"
PLANTED = ("format", "Spiral bound")  # the candidate loses most of its top-5 hits on these books


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(fixture_catalogue())[0]


def planted(catalogue, share: float = 0.8) -> RunReport:
    """The default run with the candidate's rank of `share` of its top-5 hits on spiral-bound books (every
    view, both directions) pushed to 50: a slice effect the whole view's numbers barely show."""
    report = RunReport.read(STORED)
    report.per_query = copy.deepcopy(report.per_query)
    spiral = set(catalogue.frame.loc[catalogue.frame["format"] == PLANTED[1], "book_id"])
    for entry in report.per_query.values():
        ranks = entry["ranks"]["candidate"]
        hits = [
            i for i, (item, r) in enumerate(zip(entry["item_ids"], ranks, strict=True)) if item in spiral and r <= 5
        ]
        for i in hits[: int(round(share * len(hits)))]:
            ranks[i] = 50
    return report


def test_the_planted_slice_is_found_with_its_ci(catalogue) -> None:
    report = planted(catalogue)
    analysis = add_slices(report, catalogue)
    assert analysis is not None
    found = [
        r
        for r in analysis.discoveries
        if (r.slicing, r.label) == PLANTED and r.view == "cross" and r.metric == "recall@5"
    ]
    assert {r.direction for r in found} == {"image_to_text", "text_to_image"}
    for r in found:
        d = r.difference
        assert d.delta < -0.2 and d.ci_high < 0 and r.q_value <= 0.05 and d.test == "mcnemar"
        assert 0 < r.detectable < abs(d.delta)
    assert analysis.worse_beyond(0.05, direction="image_to_text", metric="recall@5")
    # the same run without the plant finds no worse spiral-bound slice
    clean = analysis_of(RunReport.read(STORED), catalogue=catalogue)[0]
    assert not [r for r in clean.discoveries if (r.slicing, r.label) == PLANTED and r.difference.significant == "worse"]


def test_the_section_round_trips_and_redoes_itself_without_the_catalogue(tmp_path: Path, catalogue) -> None:
    report = planted(catalogue)
    first = add_slices(report, catalogue)
    assert first is not None
    path = report.write(tmp_path / "run.json")
    again = RunReport.read(path)
    assert section_of(again) is not None
    stored = stored_analysis(again)
    assert stored is not None and [r.name for r in stored.results] == [r.name for r in first.results]
    redone, _ = analysis_of(again)  # labels from the section: no catalogue read
    assert [(r.name, r.q_value) for r in redone.results] == [(r.name, r.q_value) for r in first.results]
    stricter, _ = analysis_of(again, level=0.01)
    assert len(stricter.discoveries) <= len(first.discoveries)


def test_an_older_run_without_the_section_still_loads_and_slices(catalogue) -> None:
    report = RunReport.read(STORED)
    assert stored_analysis(report) is None
    analysis, table = analysis_of(report, catalogue=catalogue)
    assert analysis.tried > 0 and "format" in table.labels


def test_console_markdown_and_html_show_the_section(catalogue) -> None:
    from rich.console import Console

    from harness.report.console import print_run
    from harness.report.markdown import run_markdown

    report = planted(catalogue)
    add_slices(report, catalogue)
    console = Console(record=True, width=200)
    print_run(report, console)
    text = console.export_text()
    assert "slice comparisons tried" in text and "format=Spiral bound" in text
    markdown = run_markdown(report)
    assert "**Slices**" in markdown and "format=Spiral bound" in markdown
    blocks = slice_blocks(report)
    charts = [b for b in blocks if b["kind"] == "svg"]
    assert charts and any("Spiral bound" in s.text for s in charts[0]["chart"].shapes)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BOOKCLIP_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "slices", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_cli_slices_and_its_gate(tmp_path: Path, catalogue) -> None:
    report = planted(catalogue)
    add_slices(report, catalogue)
    run = report.write(tmp_path / "run.json")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bookclip.gates]\n"slices/image_to_text/recall@5" = { max_discoveries = 0, non_inferior = 0.05 }\n'
    )
    failing = _cli(str(run), "--format", "json", "--out", str(tmp_path / "again.json"), cwd=tmp_path)
    assert failing.returncode == 1, failing.stderr
    payload = json.loads(failing.stdout)
    assert payload["gates"][0]["outcome"] == "FAIL" and "Spiral bound" in payload["gates"][0]["message"]
    assert SECTION in json.loads((tmp_path / "again.json").read_text())["sections"]
    # a margin wider than the planted loss passes
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bookclip.gates]\n"slices/image_to_text/recall@5" = { max_discoveries = 0, non_inferior = 0.5 }\n'
    )
    passing = _cli(str(run), cwd=tmp_path)
    assert passing.returncode == 0, passing.stderr
    assert "PASS" in passing.stdout and "slices tried, with their sizes" in passing.stdout
