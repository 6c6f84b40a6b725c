"""`bookclip report --format markdown` and the GitHub Actions output: read back as GitHub renders them."""

from __future__ import annotations

import dataclasses

import pytest
from markdown_it import MarkdownIt

from harness.cli import main
from harness.plain_text import strip_control
from harness.report.console import fmt
from harness.report.github import publish, workflow_annotations, workflow_command
from harness.report.glance import report_gate_numbers, worst_regressions
from harness.report.markdown import run_markdown


def tables(markdown: str) -> list[list[list[str]]]:
    """Every table's body rows as lists of cell texts, parsed with GitHub's table rules."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    found: list[list[list[str]]] = []
    row: list[str] | None = None
    in_body = False
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            found.append([])
        elif tok.type == "tbody_open":
            in_body = True
        elif tok.type == "tbody_close":
            in_body = False
        elif tok.type == "tr_open" and in_body:
            row = []
        elif tok.type == "tr_close" and in_body and row is not None:
            found[-1].append(row)
        elif tok.type == "inline" and in_body and row is not None and tokens[i - 1].type == "td_open":
            row.append("".join(child.content for child in tok.children or [] if child.type in ("text", "code_inline")))
    return found


def html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_holds_every_gate_with_the_reports_numbers(make_run, tmp_path, capsys):
    report = make_run("degraded", seed=2)
    path = report.write(tmp_path / "run.json")
    assert main(["report", str(path), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("### ❌ bookclip: FAIL")
    gate_rows, regression_rows = tables(markdown)[:2]  # then the Slices tables
    assert [r[0] for r in gate_rows] == [g.metric for g in report.gates]
    for row, gate in zip(gate_rows, report.gates, strict=True):
        numbers = report_gate_numbers(report, gate)
        assert row[1].split(" ")[0] == fmt(numbers["value"])
        if numbers["ci_of"] == "delta":
            assert row[2] == (
                f"{fmt(numbers['delta'], True)} [{fmt(numbers['ci_low'], True)}, {fmt(numbers['ci_high'], True)}]"
            )
        assert row[4] == gate.rule and row[5].endswith(gate.outcome)
    worst = worst_regressions(report, 5)
    assert len(worst) == 5 and [r[0] for r in regression_rows] == [d.key for _, d in worst]
    # the five clearest: whole CI on the worse side, ordered by change over CI width, none clearer left out
    worse = [d for d in report.comparisons["candidate"].values() if d.significant == "worse"]
    clarity = sorted((abs(d.delta) / (d.ci_high - d.ci_low) for d in worse), reverse=True)
    shown = [report.comparisons["candidate"][row[0]] for row in regression_rows]
    assert [abs(d.delta) / (d.ci_high - d.ci_low) for d in shown] == clarity[:5]
    for row, d in zip(regression_rows, shown, strict=True):
        assert row[1:] == [
            "candidate",
            fmt(d.value),
            f"{fmt(d.delta, True)} [{fmt(d.ci_low, True)}, {fmt(d.ci_high, True)}]",
            d.test,
            str(d.n),
        ]


@pytest.mark.parametrize(
    "evil",
    [
        "a | b",
        "line\nbreak",
        "x::error title=owned::pwned",
        "%0A::warning::x",
        "[click](javascript:alert(1)) <script>alert(1)</script> @everyone #1 *bold*",
    ],
)
def test_data_cannot_break_the_table_or_inject_markup_or_commands(make_run, evil):
    report = make_run("degraded", seed=2)
    # the metric key too: a category name in it comes from the catalogue
    metric = f"cross:{evil}/image_to_text/recall@5"
    report.gates = [dataclasses.replace(g, name=evil, metric=metric, rule=evil, message=evil) for g in report.gates]
    report.models["candidate"]["spec"] = evil
    markdown = run_markdown(report)
    gate_rows = tables(markdown)[0]
    assert len(gate_rows) == len(report.gates) and all(len(r) == 6 for r in gate_rows)
    assert all(r[4] == strip_control(evil) for r in gate_rows)  # shown as written (a line break as "\n")
    assert all(r[0] == strip_control(metric) for r in gate_rows)
    rendered = html(markdown)
    assert "<script" not in rendered and "<a " not in rendered and "<em>" not in rendered

    lines = workflow_annotations(report)
    assert len(lines) == sum(g.outcome != "PASS" for g in report.gates)
    failing = [g for g in report.gates if g.outcome != "PASS"]
    for line, gate in zip(lines, failing, strict=True):
        # the runner reads `::command props::message`: exactly one command per line, and escaping round-trips
        assert "\n" not in line and "\r" not in line and line.startswith("::")
        head, message = line[2:].split("::", 1)  # the properties escape ':', so the first '::' ends them
        command, props = head.split(" ", 1)
        assert command in ("error", "warning") and props.startswith("title=")
        assert unescape(props.removeprefix("title=")) == strip_control(f"bookclip {evil}")
        assert unescape(message) == strip_control(f"{gate.metric}: {evil}")


def unescape(text: str) -> str:
    """As the Actions runner does for a workflow command."""
    for escaped, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, char)
    return text


def test_a_crafted_message_round_trips_through_the_workflow_escape():
    line = workflow_command("error", "50% worse\r\nlost: a, b", title="t:1,2")
    assert line == "::error title=t%3A1%2C2::50%25 worse\\n\\nlost: a, b"


def test_publish_appends_the_summary_and_annotates_only_on_actions(make_run, tmp_path):
    report = make_run("degraded", seed=2)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert publish(report, {"GITHUB_STEP_SUMMARY": str(summary)}) == []
    text = summary.read_text()
    assert text.startswith("earlier step\n") and len(tables(text)[0]) == len(report.gates)
    lines = publish(report, {"GITHUB_ACTIONS": "true"})
    assert lines and all(line.startswith(("::error title=bookclip ", "::warning title=bookclip ")) for line in lines)
    from harness.errors import WriteError

    with pytest.raises(WriteError, match="GITHUB_STEP_SUMMARY"):
        publish(report, {"GITHUB_STEP_SUMMARY": str(tmp_path)})  # a directory, not a file


def test_markdown_with_against_is_one_line_error(make_run, tmp_path, capsys):
    path = make_run("good", seed=1).write(tmp_path / "run.json")
    assert main(["report", str(path), "--against", str(path), "--format", "markdown"]) == 2
    assert "--format markdown shows one run" in capsys.readouterr().err
