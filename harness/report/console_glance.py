"""`bookclip report`'s default view: the verdict, the gates and the five worst regressions, in at
most 40 lines of 80 columns (`--full` prints every table). Numbers are read from the report."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from harness.plain_text import plain
from harness.report.console import fmt, fmt_ci, make_console
from harness.report.glance import gate_evidence, verdict, worst_regressions
from harness.report.model import RunReport

MAX_GATE_LINES = 22  # with the role headings, the other lines and 5 regressions: at most 40
_STYLE = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "UNDECIDED": "magenta"}


def _line(console: Console, text: Text) -> None:
    text.no_wrap = True
    text.overflow = "ellipsis"
    console.print(text, no_wrap=True, overflow="ellipsis", crop=True)


def print_glance(report: RunReport, console: Console | None = None) -> None:
    console = console or make_console()
    models = ", ".join(f"{role}={m.get('spec', '?')}" for role, m in report.models.items())
    _line(console, plain(f"{report.kind} run {report.name or report.run_id} · {report.created_at}"))
    _line(console, plain(f"models: {models or 'none recorded'}", style="dim"))
    v = verdict(report)
    counts = ", ".join(f"{o} {n}" for o, n in sorted(v.counts.items()))
    head = plain("verdict: ", style="bold").append(plain(v.outcome or "NO GATES", style=_STYLE.get(v.outcome, "bold")))
    _line(console, head.append(plain(f" - {v.label}" + (f" ({counts})" if counts else ""))))
    reference = report.reference or "the reference"
    if report.gates:
        _line(
            console, plain(f"gates (difference against {reference} with CI, or the value for min/max):", style="bold")
        )
        roles = list(dict.fromkeys(g.role for g in report.gates))
        order = {"FAIL": 0, "UNDECIDED": 1, "WARN": 2, "PASS": 3}
        shown = 0
        for role in roles:
            if shown >= MAX_GATE_LINES:
                break
            gates = sorted(
                (g for g in report.gates if g.role == role), key=lambda g: (order.get(g.outcome, 9), g.metric)
            )
            if len(roles) > 1:
                _line(console, plain(f" {role}", style="bold"))
            for g in gates:
                if shown == MAX_GATE_LINES:
                    break
                ev = gate_evidence(report, g)
                number = f"{fmt(ev.value, ev.paired)} {fmt_ci(ev.low, ev.high, ev.paired)}".strip()
                text = plain(f"  {g.outcome:<9}", style=_STYLE.get(g.outcome, ""))
                _line(console, text.append(plain(f"{g.metric}  {number}  ({g.rule})")))
                shown += 1
        if shown < len(report.gates):
            _line(console, plain(f"  ... {len(report.gates) - shown} more gates: --full shows them all", style="dim"))
    worst = worst_regressions(report, 5)
    compared = len(report.compared_roles) > 1
    if worst:
        _line(console, plain("five worst regressions (whole CI on the worse side):", style="bold"))
        for role, d in worst:
            who = f"{role}: " if compared else ""
            _line(console, plain(f"  {who}{d.key}  {fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}", style="red"))
    elif report.compared_roles:
        _line(console, plain(f"no metric is significantly worse than {reference}", style="green"))
    _line(console, plain("--full: every metric with CIs and tests; --html OUT: the page with pictures", style="dim"))
