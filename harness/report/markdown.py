"""A run as GitHub-flavoured Markdown, for a pull-request comment or a job summary: the verdict, the
gate table and the clearest regressions, with the same numbers as the console (read from the report).

Every string that comes from data (gate names, metric keys, model specs) goes through `md_text`:
a title like `a | b` or `[x](javascript:...)` or `@team` is shown as written, never as table
structure, a link, HTML or a mention.
"""

from __future__ import annotations

import re

from harness.plain_text import strip_control, visible_page
from harness.report.console import fmt, fmt_ci
from harness.report.glance import report_gate_numbers, verdict, worst_regressions
from harness.report.model import RunReport

_ICON = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "UNDECIDED": "❔", "": "➖"}
# CommonMark lets a backslash escape any ASCII punctuation. Data never starts a line here (lines start
# with '#', '|' or our own words), so only what is read mid-line needs it: emphasis, code, links, HTML,
# entities, table pipes, strikethrough, math ($), autolinks (:), mentions (@) and references (#).
_PUNCTUATION = re.compile(r"""([\\`*_\[\]<>&|~!#@:$])""")


def md_text(value: object) -> str:
    """`value` as inline Markdown text that renders exactly as written, on one line."""
    one_line = strip_control(visible_page(str(value)))  # line breaks and control characters as visible escapes
    return _PUNCTUATION.sub(r"\\\1", one_line).replace("\t", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def run_markdown(report: RunReport, *, regressions: int = 5) -> str:
    """The verdict line, the gate table and the `regressions` clearest regressions."""
    v = verdict(report)
    title = f"{report.kind} run {report.name or report.run_id}"
    lines = [
        f"### {_ICON.get(v.outcome, '')} bookclip: {v.outcome or 'no gates'} · {md_text(v.label)}",
        "",
        f"{md_text(title)} · "
        + ", ".join(f"{md_text(role)} {md_text(m.get('spec', '?'))}" for role, m in report.models.items()),
        "",
    ]
    reference = report.reference or "the reference"
    if report.gates:
        lines += [
            _row(["gate", "value", f"delta vs {md_text(reference)} [CI]", "p", "rule", "outcome"]),
            _row(["---", "---:", "---", "---:", "---", "---"]),
        ]
        for gate in report.gates:
            n = report_gate_numbers(report, gate)
            paired = n.get("ci_of") == "delta"
            value = fmt(n.get("value")) + ("" if paired else f" {fmt_ci(n.get('ci_low'), n.get('ci_high'), False)}")
            delta = f"{fmt(n.get('delta'), True)} {fmt_ci(n.get('ci_low'), n.get('ci_high'))}" if paired else ""
            p = f"{gate.p_value:.3g}" if gate.p_value is not None else ""
            lines.append(
                _row(
                    [
                        md_text(gate.metric),
                        value.strip(),
                        delta,
                        p,
                        md_text(gate.rule),
                        f"{_ICON.get(gate.outcome, '')} {md_text(gate.outcome)}",
                    ]
                )
            )
        lines.append("")
    worst = worst_regressions(report, regressions)
    if worst:
        lines += [
            f"**Clearest regressions** (whole CI on the worse side of {md_text(reference)}):",
            "",
            _row(["metric", "role", "value", "delta [CI]", "test", "n"]),
            _row(["---", "---", "---:", "---", "---", "---:"]),
        ]
        for role, d in worst:
            lines.append(
                _row(
                    [
                        md_text(d.key),
                        md_text(role),
                        fmt(d.value),
                        f"{fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}",
                        md_text(d.test),
                        str(d.n),
                    ]
                )
            )
        lines.append("")
    elif report.compared_roles:
        lines += [f"No metric is significantly worse than {md_text(reference)}.", ""]
    from harness.report.slices import slices_markdown, stored_analysis

    analysis = stored_analysis(report)
    if analysis is not None:
        lines += slices_markdown(analysis)
    return "\n".join(lines)
