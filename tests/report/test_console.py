from __future__ import annotations

import copy
import io

from rich.console import Console

from harness.report.console import fmt, fmt_ci, print_regression, print_run, runs_table
from harness.report.history import list_runs, save_run
from harness.report.regress import compare_runs


def _console() -> Console:
    return Console(record=True, width=220, color_system=None)


def test_fmt():
    assert fmt(0.41234) == "0.412" and fmt(123.456) == "123.5" and fmt(-0.05, True) == "-0.050"
    assert fmt(None) == "-" and fmt(float("nan")) == "-" and fmt(True) == "-"
    assert fmt_ci(0.1, 0.2) == "[+0.100, +0.200]" and fmt_ci(0.1, 0.2, False) == "[0.100, 0.200]"
    assert fmt_ci(None, 1) == ""


def test_regression_output_names_metrics_and_keeps_markup_literal(make_run):
    good = make_run("good", seed=1)
    bad = make_run("degraded", seed=2)
    entry = bad.per_query["heldout/image_to_text"]
    worst = max(
        range(len(entry["item_ids"])),
        key=lambda i: entry["ranks"]["candidate"][i] - good.per_query["heldout/image_to_text"]["ranks"]["candidate"][i],
    )
    entry["titles"] = list(entry["titles"])
    entry["titles"][worst] = "[bold]Not Markup[/bold]"
    console = _console()
    print_regression(compare_runs(bad, good), console)
    out = console.export_text()
    assert "verdict: REGRESSION" in out and "regressed: " in out
    assert "heldout/image_to_text/recall@5" in out and "paired" in out
    assert "[bold]Not Markup[/bold]" in out
    assert "passed in MAIN, fails in RUN" in out


def test_clean_and_run_views(make_run, tmp_path):
    good = make_run("good", seed=1)
    console = _console()
    print_regression(compare_runs(good, copy.deepcopy(good)), console)
    print_run(good, console)
    save_run(good, "main", tmp_path)
    console.print(runs_table(list_runs(tmp_path)))
    out = console.export_text()
    assert "verdict: CLEAN" in out
    assert "cross/text_to_image/mrr" in out and "heldout-r5-improves" in out
    assert "0001_main_" in out and "abc1234def" in out and f"PASS {sum(g.outcome == 'PASS' for g in good.gates)}" in out


def test_default_view_fits_forty_lines_of_eighty_columns(make_run):
    from harness.report.console_glance import print_glance

    report = make_run("degraded", seed=6, realistic=True)
    console = Console(file=io.StringIO(), width=80, record=True)
    print_glance(report, console)
    lines = console.export_text().rstrip("\n").splitlines()
    assert len(lines) <= 40 and max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert text.count("verdict: FAIL") == 1 and "five worst regressions" in text
    for gate in report.gates:
        assert gate.metric in text
    worst = [
        line
        for line in lines[lines.index(next(x for x in lines if x.startswith("five worst"))) + 1 :]
        if line.startswith("  ")
    ]
    assert len(worst) == 5
