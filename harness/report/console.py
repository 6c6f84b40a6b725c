"""Rich tables for the terminal: a run's metrics and gates, a regression report, saved runs.

User data (titles, names, gate messages) goes in as `Text`, never as markup, so a title
holding `[bold]` or `[/]` prints as written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

from rich.console import Console, JustifyMethod
from rich.table import Table

from harness.evaluate.metrics import RESAMPLED_INTERVALS, arrow, arrow_of, lookup, metric_name
from harness.plain_text import plain
from harness.report.history import StoredRun
from harness.report.model import RunReport
from harness.report.regress import RegressionResult

_STATUS_STYLE = {
    "regression": "bold red",
    "warn": "yellow",
    "improved": "green",
    "unchanged": "dim",
    "new": "cyan",
    "unknown": "magenta",
}
_OUTCOME_STYLE = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "UNDECIDED": "magenta"}


def make_console(**kwargs: Any) -> Console:
    """A console that keeps wide tables readable in CI logs and pipes (no 80-column wrap)."""
    console = Console(**kwargs)
    if not console.is_terminal and "width" not in kwargs and not os.environ.get("COLUMNS"):
        console = Console(width=140, **kwargs)
    return console


def fmt(value: Any, signed: bool = False) -> str:
    """A metric value for a table: 3 decimals below 10, 1 above; '-' when missing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "-"
    digits = 1 if abs(value) >= 10 else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_ci(low: Any, high: Any, signed: bool = True) -> str:
    """'[low, high]'; signed for differences, plain for values; '' when missing."""
    if low is None or high is None:
        return ""
    return f"[{fmt(low, signed)}, {fmt(high, signed)}]"


# -- one run ---------------------------------------------------------------------------------


def metrics_table(report: RunReport) -> Table:
    """Every metric key: each role's value with its CI, then each compared role's difference against
    the reference with its CI and p-value (the test named in the JSON)."""
    roles = report.roles
    compared = report.compared_roles
    table = Table(title=plain(f"{report.kind} run {report.name or report.run_id}"), title_justify="left")
    table.add_column("metric", no_wrap=True)
    for role in roles:
        table.add_column(plain(role), justify="right")
    for role in compared:
        suffix = f" {role}" if len(compared) > 1 else ""
        table.add_column(plain(f"delta{suffix} [CI]"), justify="right")
        table.add_column(plain(f"p{suffix}"), justify="right")
    keys = sorted(
        {k for values in report.metrics.values() for k in values}
        | {k for values in report.comparisons.values() for k in values}
    )
    for key in keys:
        cells: list[Any] = [plain(f"{key} {arrow(key)}".strip())]
        for role in roles:
            m = report.metrics.get(role, {}).get(key)
            cells.append(f"{fmt(m.value)} {fmt_ci(m.ci_low, m.ci_high, False)}" if m else "-")
        for role in compared:
            c = report.comparison(key, role)
            if c is None:
                cells += ["", ""]
                continue
            style = {"better": "green", "worse": "red"}.get(c.significant, "")
            cells.append(plain(f"{fmt(c.delta, True)} {fmt_ci(c.ci_low, c.ci_high)}", style=style))
            cells.append(
                f"{c.p_value:.3g}"
                if isinstance(c.p_value, (int, float)) and math.isfinite(c.p_value)
                else "point estimates"
                if c.test == "point"
                else ""
            )
        table.add_row(*cells)
    return table


def gates_table(report: RunReport) -> Table:
    table = Table(title="gates", title_justify="left")
    table.add_column("gate", no_wrap=True)  # the name -k and --fail-on refer to: never broken
    for name in ("metric", "rule", "tier", "outcome", "why"):
        table.add_column(name, overflow="fold")
    for g in report.gates:
        table.add_row(
            plain(g.name),
            plain(g.metric),
            plain(g.rule),
            plain(g.tier),
            plain(g.outcome, style=_OUTCOME_STYLE.get(g.outcome, "")),
            plain(g.message),
        )
    return table


def intervals_line(report: RunReport) -> str:
    """How the run's intervals were made, as each estimate and difference records it (the metric registry's
    declaration): e.g. '95% two-sided CIs: clopper-pearson (recall@K, accuracy); bca, 1000 bootstrap resamples
    (mrr, median_rank); differences against baseline paired over the same queries: tango (recall@K)'."""
    resamples = report.settings.get("resamples")

    def grouped(items: Iterable[tuple[str, str]]) -> str:
        by_interval: dict[str, dict[str, None]] = {}
        for key, interval in items:
            found = lookup(key)
            by_interval.setdefault(interval, {})[found.metric.name if found else metric_name(key)] = None
        return "; ".join(
            interval
            + (f", {resamples} bootstrap resamples" if interval in RESAMPLED_INTERVALS else "")
            + f" ({', '.join(names)})"
            for interval, names in by_interval.items()
        )

    confidence = report.settings.get("confidence", 0.95)
    estimates = [(key, e.interval) for metrics in report.metrics.values() for key, e in metrics.items()]
    line = f"{confidence:.0%} two-sided CIs: {grouped(estimates) or 'none'}"
    differences = [(key, d.interval) for compared in report.comparisons.values() for key, d in compared.items()]
    if differences:
        line += f"; differences against {report.reference} paired over the same queries: {grouped(differences)}"
    return line


def print_run(report: RunReport, console: Console | None = None) -> None:
    console = console or make_console()
    models = ", ".join(f"{role}={m.get('spec', '?')}" for role, m in report.models.items())
    console.print(
        plain(f"{report.kind} run {report.run_id} ({report.name or 'unnamed'}) {report.created_at}  {models}")
    )
    if report.settings:
        console.print(plain(intervals_line(report), style="dim"))
    console.print(metrics_table(report))
    if isinstance(report.sections.get("interpolation"), dict):
        console.print(sweep_table(report.sections["interpolation"]))
    if report.gates:
        console.print(gates_table(report))
    from harness.report.slices import print_slices, stored_analysis

    analysis = stored_analysis(report)
    if analysis is not None:
        print_slices(analysis, console)


def sweep_table(sweep: dict[str, Any]) -> Table:
    """The interpolation sweep: each alpha's in- and cross-category metric, frontier, constraint."""
    table = Table(
        title=plain(
            f"WiSE-FT sweep: {sweep.get('metric', '')}; best alpha "
            f"{sweep.get('best_alpha') if sweep.get('best_alpha') is not None else 'none'} "
            f"({sweep.get('constraint', '')})"
        ),
        title_justify="left",
    )
    for column in ("alpha", "in-category", "cross-category", "frontier", "meets constraint"):
        table.add_column(column, justify="right")
    # the first metric's values, one per alpha (null where a value was not finite)
    inside: list[float | None] = next(iter((sweep.get("in_category") or {}).values()), [])
    cross: list[float | None] = next(iter((sweep.get("cross_category") or {}).values()), [])
    feasible = sweep.get("feasible") or []
    for i, alpha in enumerate(sweep.get("alphas") or []):
        table.add_row(
            f"{alpha:g}",
            fmt(inside[i] if i < len(inside) else None),
            fmt(cross[i] if i < len(cross) else None),
            "yes" if alpha in (sweep.get("frontier") or []) else "",
            ("yes" if feasible[i] else "no") if i < len(feasible) else "",
        )
    return table


# -- regression report -----------------------------------------------------------------------


def regression_table(result: RegressionResult, *, show_unchanged: bool = True) -> Table:
    run, main = result.run, result.main
    table = Table(
        title=plain(
            f"{result.role}: RUN {run.get('name') or run.get('run_id')} vs "
            f"MAIN {main.get('name') or main.get('run_id')}"
        ),
        title_justify="left",
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("metric", "left"),
        ("MAIN", "right"),
        ("RUN", "right"),
        ("delta", "right"),
        ("CI", "right"),
        ("basis", "left"),
        ("status", "left"),
        ("why", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold", no_wrap=name == "metric")
    order = {"regression": 0, "warn": 1, "improved": 2, "new": 3, "unknown": 4, "unchanged": 5}
    for m in sorted(result.metrics, key=lambda m: (order.get(m.status, 9), m.key)):
        if not show_unchanged and m.status == "unchanged":
            continue
        direction = f" {arrow_of(m.higher_is_better)}" if m.higher_is_better is not None else ""
        table.add_row(
            plain(m.key + direction),
            fmt(m.old),
            fmt(m.new),
            fmt(m.delta, True),
            fmt_ci(m.ci_low, m.ci_high),
            plain(m.basis),
            plain(m.status, style=_STATUS_STYLE.get(m.status, "")),
            plain(m.reason),
        )
    return table


def print_regression(result: RegressionResult, console: Console | None = None, *, fail_on: str = "regression") -> None:
    console = console or make_console()
    for warning in result.warnings:
        console.print(plain("warning: ", style="yellow").append(plain(warning)))
    console.print(regression_table(result))
    if result.gates:
        table = Table(title="gates: RUN vs MAIN", title_justify="left")
        table.add_column("gate", no_wrap=True)
        for name in ("metric", "MAIN", "RUN", "status", "why"):
            table.add_column(name, overflow="fold")
        for g in result.gates:
            table.add_row(
                plain(g.name),
                plain(g.metric),
                plain(g.old or "-"),
                plain(g.new or "-"),
                plain(g.status, style=_STATUS_STYLE.get(g.status, "")),
                plain(g.reason),
            )
        console.print(table)
    for view, items in result.worst_items.items():
        if items:
            worst = "; ".join(f"{i.title or i.book_id} {i.old_rank}->{i.new_rank}" for i in items[:3])
            console.print(plain(f"{view}: largest rank losses: {worst}", style="dim"))
    verdict = result.verdict
    style = {"regression": "bold red", "warn": "yellow", "clean": "bold green"}[verdict]
    line = plain(f"verdict: {verdict.upper()}", style=style)
    if result.regressions:
        line.append(plain(f" - regressed: {', '.join(result.regressions)}"))
    elif result.warned:
        line.append(plain(f" - worse but not significant / incomplete: {', '.join(result.warned)}"))
    line.append(
        plain(
            f"  (margin {result.margin:g}, {result.confidence:.0%} confidence, "
            f"--fail-on {fail_on}: exit {result.exit_code(fail_on)})",
            style="dim",
        )
    )
    console.print(line, soft_wrap=True)  # one line a log search finds whole


# -- saved runs ------------------------------------------------------------------------------


def runs_table(runs: Iterable[StoredRun]) -> Table:
    """Saved runs with time, commit, models and gate outcomes (read from each file).

    The file name (number, name, run id) is what `report NAME` and `--against` resolve, so it is
    never wrapped; the models column folds instead.
    """
    table = Table(title="saved runs", title_justify="left")
    table.add_column("file", no_wrap=True)
    for name in ("created", "commit", "models", "gates"):
        table.add_column(name, overflow="fold")
    for run in runs:
        info = _summary(run)
        table.add_row(
            plain(run.path.name),
            plain(info["created"]),
            plain(info["commit"]),
            plain(info["models"]),
            plain(info["gates"]),
        )
    return table


def _summary(run: StoredRun) -> dict[str, str]:
    try:
        raw = json.loads(run.path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"created": "?", "commit": "?", "models": f"unreadable: {exc}", "gates": "?"}
    git = (raw.get("environment") or {}).get("git") or {}
    commit = (git.get("commit") or "")[:10] + ("+dirty" if git.get("dirty") else "")
    models = ", ".join(f"{role}={(m or {}).get('spec', '?')}" for role, m in (raw.get("models") or {}).items())
    outcomes: dict[str, int] = {}
    for gate in raw.get("gates") or []:
        outcomes[gate.get("outcome", "?")] = outcomes.get(gate.get("outcome", "?"), 0) + 1
    gates = " ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "-"
    return {"created": str(raw.get("created_at", "?")), "commit": commit or "-", "models": models, "gates": gates}


# -- the suites' summary -------------------------------------------------------------------------


def suite_summary(report: RunReport, *, markup: bool) -> str:
    """One rich table per suite: metric, baseline, candidate, delta with CI, gate, outcome."""
    import io

    from harness.gates import suite_of

    buffer = io.StringIO()
    console = make_console(file=buffer, force_terminal=markup)
    by_suite: dict[str, list[Any]] = {}
    for result in report.gates:
        by_suite.setdefault(suite_of(result.metric) or "other", []).append(result)
    for suite, rows in sorted(by_suite.items()):
        table = Table(title=f"bookclip · {suite}", title_justify="left")
        for column in ("metric", "baseline", "candidate", "delta [CI]", "gate", "outcome"):
            table.add_column(column, justify="right" if column in ("baseline", "candidate") else "left")
        for result in rows:
            base = report.metrics.get("baseline", {}).get(result.metric)
            cand = report.metrics.get("candidate", {}).get(result.metric)
            c = report.comparison(result.metric)
            delta = f"{fmt(c.delta, True)} {fmt_ci(c.ci_low, c.ci_high)}" if c else ""
            table.add_row(
                plain(result.metric),
                fmt(base.value) if base else "-",
                fmt(cand.value) if cand else "-",
                delta,
                plain(result.rule),
                plain(result.outcome, style=_OUTCOME_STYLE.get(result.outcome, "")),
            )
        console.print(table)
    if report.gates:  # each gate's whole message, once, as one line a log search finds
        console.print(plain("bookclip gates:", style="bold"))
        order = {"FAIL": 0, "UNDECIDED": 1, "WARN": 2, "PASS": 3}
        for result in sorted(report.gates, key=lambda g: (order.get(g.outcome, 9), g.metric)):
            console.print(
                plain(f"{result.outcome} ", style=_OUTCOME_STYLE.get(result.outcome, "")).append(
                    plain(f"{result.metric}: {result.message}")
                ),
                soft_wrap=True,
            )
    return buffer.getvalue()
