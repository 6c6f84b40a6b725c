"""N checkpoints side by side: `bookclip report A.json B.json C.json` against A's reference."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from harness.cli import main
from harness.errors import ConfigError
from harness.report.combine import POINT, combine_reports
from harness.report.console import print_run
from harness.report.html import render_html
from harness.report.html_verdict import forest_plot
from harness.report.model import RunReport


def single(report: RunReport, role: str, *, per_query: bool = True) -> RunReport:
    """An eval-style file: one model, no comparison, no gates."""
    out = RunReport(kind="eval", name=role, seed=report.seed, data=dict(report.data), settings={"resamples": 200})
    out.models = {role: report.models[role]}
    out.metrics = {role: report.metrics[role]}
    if per_query:
        out.per_query = {v: {**e, "ranks": {role: e["ranks"][role]}} for v, e in report.per_query.items()}
    return out


@pytest.fixture(scope="module")
def three(make_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("three")
    good, bad = make_run("good", seed=1), make_run("degraded", seed=2)
    files = {
        "A": single(good, "baseline"),
        "B": single(good, "candidate"),
        "C": single(bad, "candidate", per_query=False),
    }
    return [str(r.write(root / f"{name}.json")) for name, r in files.items()]


def test_each_file_is_a_column_paired_where_ranks_allow(three):
    report = combine_reports([RunReport.read(p) for p in three], three)
    assert report.roles == ["baseline", "B", "C"] and report.reference == "baseline"
    assert report.compared_roles == ["B", "C"]
    paired = report.comparisons["B"]["heldout/image_to_text/recall@5"]
    assert paired.test == "mcnemar" and paired.ci_low < paired.ci_high
    point = report.comparisons["C"]["heldout/image_to_text/recall@5"]  # C has no per-query ranks
    assert point.test == POINT and point.delta == pytest.approx(point.value - point.reference)
    assert point.significant == ""


def test_console_and_html_show_three_columns(three, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the header on one line whatever width the runner's environment sets
    assert main(["report", *three, "--full"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "metric" in line and "baseline" in line)
    assert re.search(r"baseline ┃ +B ┃ +C ┃.*p B ┃.*p C ┃", header)  # a value column per model, a delta per other
    report = combine_reports([RunReport.read(p) for p in three], three)
    page = render_html(report)
    assert page.count('class="chart heatmap"') == 2  # one per checkpoint against the reference
    assert "B minus baseline" in page and "C minus baseline" in page
    assert "point estimates only: no paired CI" in page  # C's rows say what they compare
    assert (
        '<th class="num">baseline</th><th class="num">B</th><th class="num">C</th>'
        '<th class="num">delta B [CI]</th><th class="num">p</th><th class="num">delta C [CI]</th>'
    ) in page


def test_three_files_in_html_and_default_view(three, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the header on one line whatever width the runner's environment sets
    out_html = tmp_path / "three.html"
    assert main(["report", *three, "--html", str(out_html)]) == 0
    assert "B minus baseline" in out_html.read_text()
    assert main(["report", *three]) == 0  # no gates, no verdict: the full tables
    assert re.search(r"baseline ┃ +B ┃ +C ┃.*p B ┃.*p C ┃", capsys.readouterr().out)


def test_forest_plot_gains_a_row_group_per_checkpoint(make_run, tmp_path):
    a, b = make_run("good", seed=1), make_run("degraded", seed=2)
    paths = [str(a.write(tmp_path / "A.json")), str(b.write(tmp_path / "B.json"))]
    report = combine_reports([RunReport.read(p) for p in paths], paths)
    assert {g.role for g in report.gates} == {"candidate", "B"}
    groups = [s.text for s in forest_plot(report).shapes if s.tag == "text" and s.attrs.get("x") == 4]
    assert "candidate" in groups and "B" in groups


def test_different_data_is_a_one_line_error(make_run, tmp_path, capsys):
    a, b = make_run("good", seed=1), make_run("good", seed=2, fingerprint="other-data")
    paths = [str(a.write(tmp_path / "A.json")), str(b.write(tmp_path / "B.json"))]
    with pytest.raises(ConfigError, match="other data"):
        combine_reports([RunReport.read(p) for p in paths], paths)
    assert main(["report", *paths]) == 2
    err = capsys.readouterr().err.strip()
    assert "other data" in err and "\n" not in err


def test_print_run_of_n_models_has_a_delta_column_per_model(three):
    report = combine_reports([RunReport.read(p) for p in three], three)
    console = Console(file=io.StringIO(), width=240, record=True)
    print_run(report, console)
    text = console.export_text()
    assert "delta B [CI]" in text and "delta C [CI]" in text and "point estimates" in text


def test_default_view_of_many_checkpoints_stays_within_forty_lines(make_run, tmp_path):
    from harness.report.console_glance import print_glance

    runs = [make_run(kind, seed=i) for i, kind in enumerate(["good", "degraded", "good", "degraded", "same"] * 2)]
    paths = [str(r.write(tmp_path / f"run{i}.json")) for i, r in enumerate(runs)]
    report = combine_reports([RunReport.read(p) for p in paths], paths)
    assert len(report.gates) > 30
    console = Console(file=io.StringIO(), width=80, record=True)
    print_glance(report, console)
    lines = console.export_text().rstrip("\n").splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 80
    assert "more gates: --full shows them all" in "\n".join(lines)


@pytest.mark.parametrize("tamper", [lambda r: -r, lambda r: 0 * r, lambda r: r + 0.5, lambda r: r[:-1]])
def test_tampered_ranks_are_not_paired(make_run, tmp_path, tamper):
    """Ranks that `report --against` refuses (negative, zero, fractional, the wrong length) give no paired
    result in `report A B` either: the metric is compared as point estimates, without an invented CI."""
    import numpy as np

    from harness.report.paired import pair_ranks

    good = make_run("good", seed=1)
    first, second = single(good, "baseline"), single(good, "candidate")
    view = "heldout/image_to_text"
    ranks = second.per_query[view]["ranks"]
    ranks["candidate"] = tamper(np.array(ranks["candidate"])).tolist()
    assert isinstance(pair_ranks(second.per_query[view], first.per_query[view], "candidate", "baseline"), str)
    paths = [str(first.write(tmp_path / "a.json")), str(second.write(tmp_path / "b.json"))]
    report = combine_reports([RunReport.read(p) for p in paths], paths)
    [other] = report.compared_roles
    diff = report.comparisons[other][f"{view}/recall@5"]
    assert diff.test == POINT and not diff.significant
    assert diff.delta == pytest.approx(diff.value - diff.reference)
    assert report.comparisons[other]["heldout/text_to_image/recall@5"].test != POINT  # untouched: still paired
