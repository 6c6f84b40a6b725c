"""The verdict section: the overall outcome, and a forest plot of every gate.

Each gate is a row: its difference against the reference with the CI (paired rules) or its estimate
with the CI (min/max rules), the rule's margin or threshold as a dashed tick, the outcome as the
colour. One panel per kind of number and unit family, so units never share an axis: rates in [0, 1],
ranks on a signed log scale, similarities, other units. With several checkpoints, each panel holds
one row group per checkpoint.
"""

from __future__ import annotations

from harness.report.console import fmt, fmt_ci
from harness.report.glance import UNIT_FAMILIES, GateEvidence, gate_evidence, verdict
from harness.report.html_blocks import Block, details, gate_table, note, pills
from harness.report.model import RunReport
from harness.report.svg import MUTED, OUTCOME_COLORS, Chart, Scale, domain, tick_label

WIDTH, LABEL_W, PLOT_L, PLOT_R = 1120, 420, 430, 850
ROW, HEAD, AXIS = 22, 24, 28


def verdict_blocks(report: RunReport) -> list[Block]:
    v = verdict(report)
    counts = [(o, n) for o, n in sorted(v.counts.items())]
    reference = report.reference or (report.roles[0] if report.roles else "")
    spec = (report.models.get(reference) or {}).get("spec", "")
    others = [r for r in report.roles if r != reference]
    who = f"reference {reference} ({spec})" + (f" against {', '.join(others)}" if others else "") if reference else ""
    blocks: list[Block] = [pills(v.outcome, v.label, counts, who)]
    if not report.gates:
        blocks.append(note("No gates in this run: nothing was judged. The pictures below show the evidence."))
        return blocks
    blocks.append(Block("svg", chart=forest_plot(report)))
    blocks.append(
        note(
            "Each row is a gate: the point is the difference against the reference (or the value, for "
            "min/max rules), the bar its CI, the dashed tick the rule's margin or threshold; green passed, "
            "red failed, amber warned, purple undecided. Hover a row for the gate's message."
        )
    )
    blocks.append(details(f"Every gate's message ({len(report.gates)})", [gate_table(report.gates)]))
    return blocks


def _panels(report: RunReport) -> dict[tuple[bool, str], list[GateEvidence]]:
    panels: dict[tuple[bool, str], list[GateEvidence]] = {}
    order = {role: i for i, role in enumerate(report.roles)}
    for gate in report.gates:
        ev = gate_evidence(report, gate)
        panels.setdefault((ev.paired, ev.family), []).append(ev)
    families = list(UNIT_FAMILIES)
    ordered = sorted(panels, key=lambda k: (not k[0], families.index(k[1])))
    outcome = {"FAIL": 0, "UNDECIDED": 1, "WARN": 2, "PASS": 3}  # failures on top of each group
    return {
        k: sorted(panels[k], key=lambda e: (order.get(e.gate.role, 99), outcome.get(e.gate.outcome, 9)))
        for k in ordered
    }


def forest_plot(report: RunReport) -> Chart:
    panels = _panels(report)
    roles = list(dict.fromkeys(e.gate.role for rows in panels.values() for e in rows))
    grouped = len(roles) > 1
    height = (
        sum(
            HEAD + AXIS + ROW * (len(rows) + (len({e.gate.role for e in rows}) if grouped else 0))
            for rows in panels.values()
        )
        + 8
    )
    chart = Chart(WIDTH, height, "forest plot of every gate", kind="forest")
    y = 0.0
    for (paired, family), rows in panels.items():
        y = _panel(chart, y, paired, family, rows, grouped)
    return chart


def _panel(chart: Chart, top: float, paired: bool, family: str, rows: list[GateEvidence], grouped: bool) -> float:
    log = family == "rank"
    what = "model minus reference" if paired else "value"
    chart.text(0, top + 16, f"{what}: {UNIT_FAMILIES[family]}", bold=True, size=13)
    if family == "rate" and not paired:
        low, high = 0.0, 1.0
    else:
        low, high = domain(
            [x for e in rows for x in (e.low, e.high, e.value, e.bound)], include=[0.0] if paired else []
        )
    if log and not paired:
        low = max(low, 0.0)
    scale = Scale(low, high, PLOT_L, PLOT_R, log=log)
    n_rows = len(rows) + (len({e.gate.role for e in rows}) if grouped else 0)
    body_top, body_bottom = top + HEAD, top + HEAD + ROW * n_rows
    for tick in scale.ticks():
        x = scale(tick)
        chart.line(x, body_top, x, body_bottom)
        chart.text(x, body_bottom + 14, tick_label(tick, log), anchor="middle", size=10, color=MUTED)
    if paired and low <= 0 <= high:
        chart.line(scale(0), body_top, scale(0), body_bottom, color="#1d232a", width=1)
    y, role = body_top, None
    for ev in rows:
        if grouped and ev.gate.role != role:
            role = ev.gate.role
            chart.text(4, y + 15, role, bold=True, size=12, color=MUTED)
            y += ROW
        _row(chart, y, ev, scale)
        y += ROW
    return body_bottom + AXIS


def _row(chart: Chart, y: float, ev: GateEvidence, scale: Scale) -> None:
    g = ev.gate
    color = OUTCOME_COLORS.get(g.outcome, MUTED)
    mid = y + ROW / 2
    tip = f"{g.name}: {g.outcome} ({g.tier} tier). {g.message}" + (f" Interval: {ev.interval}." if ev.interval else "")
    label = g.metric if len(g.metric) <= 44 else "…" + g.metric[-43:]
    chart.text(12, mid + 4, label, size=12, title=tip)
    chart.text(LABEL_W - 6, mid + 4, g.rule, anchor="end", size=11, color=MUTED, title=tip)
    if ev.bound is not None:
        x = scale(ev.bound)
        chart.line(
            x,
            y + 2,
            x,
            y + ROW - 2,
            color="#1d232a",
            width=1.5,
            dash="3 2",
            title=f"{'threshold' if not ev.paired else 'margin'} {ev.bound:g}",
        )
    if ev.value is None:
        chart.text(PLOT_L + 4, mid + 4, "no number recorded for this gate", size=11, color=MUTED, title=tip)
    else:
        if ev.low is not None and ev.high is not None:
            chart.line(scale(ev.low), mid, scale(ev.high), mid, color=color, width=3, title=tip)
        chart.add("circle", title=tip, cx=scale(ev.value), cy=mid, r=5, fill=color)
    shown = f"{fmt(ev.value, ev.paired)} {fmt_ci(ev.low, ev.high, ev.paired)}"
    chart.text(PLOT_R + 12, mid + 4, shown, size=11, title=tip)
    chart.text(WIDTH - 4, mid + 4, g.outcome, anchor="end", size=12, bold=True, color=color, title=tip)
