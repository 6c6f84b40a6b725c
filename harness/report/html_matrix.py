"""Matrix pictures: where the candidate differs from the reference, and how the probe families fare.

- Delta heatmap: views (and per-category views) x retrieval metrics, one per compared model; each
  cell is the model minus the reference, green when better, red when worse (the direction is the
  registry's, recorded on each Difference), intensity relative to the column; a cell whose CI
  excludes zero has a dark border and a dot.
- Probe matrix: families x {flip_rate, lost@5, similarity_drop_p90}, each model's value beside its
  title-hidden control (`<family>@title_hidden`); darker is worse.
Tooltips carry the numbers with their CI, test and interval method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.evaluate.metrics import better_sign, direction_of
from harness.report.console import fmt, fmt_ci
from harness.report.html_blocks import Block, NoData, is_number, note, roles_with_metrics
from harness.report.model import RunReport
from harness.report.svg import MUTED, Chart, mix

if TYPE_CHECKING:
    from harness.evaluate.compare import Difference
    from harness.evaluate.stats import Estimate

BETTER, WORSE, NEUTRAL = "#1e7d3c", "#c0392b", "#2a7ab0"
PROBE_METRICS = ("flip_rate", "lost@5", "similarity_drop_p90")
HIDDEN = "@title_hidden"
_VIEW_ORDER = {"train": 0, "heldout": 1, "cross": 2, "all": 3}


def view_order(row: str) -> tuple[int, str, str]:
    view, _, direction = row.partition("/")
    base, _, category = view.partition(":")
    return (_VIEW_ORDER.get(base, 9) + (0.5 if category else 0), category, direction)  # type: ignore[return-value]


def _metric_order(name: str) -> tuple[int, int, str]:
    if name.startswith("recall@") and name[7:].isdigit():
        return 0, int(name[7:]), name
    order = {"mrr": 1, "median_rank": 2, "mean_rank": 3, "accuracy": 4}
    return order.get(name, 5), 0, name


def heatmap_blocks(report: RunReport) -> list[Block]:
    blocks = []
    for role in report.compared_roles:
        chart = delta_heatmap(report, role)
        if chart is not None:
            blocks.append(Block("svg", chart=chart))
    if not blocks:
        raise NoData("No differences against a reference in this run.")
    reference = report.reference or "the reference"
    blocks.append(
        note(
            f"Each cell: the model minus {reference} on the same queries. Green is better, red worse "
            "(by the metric's direction), the shade relative to the column's largest change; a bordered "
            "cell with a dot has a CI that excludes zero. Hover a cell for the CI, test and p-value."
        )
    )
    return blocks


def delta_heatmap(report: RunReport, role: str) -> Chart | None:
    cells: dict[tuple[str, str], Difference] = {}
    for key, difference in report.comparisons.get(role, {}).items():
        parts = key.split("/")
        if len(parts) != 3 or parts[0] in ("probes", "interpolation") or "[" in parts[2]:
            continue
        cells[(f"{parts[0]}/{parts[1]}", parts[2])] = difference
    if not cells:
        return None
    rows = sorted({r for r, _ in cells}, key=view_order)
    cols = sorted({c for _, c in cells}, key=_metric_order)
    scale = {
        c: max((abs(d.delta) for (_, cc), d in cells.items() if cc == c and is_number(d.delta)), default=0.0)
        for c in cols
    }
    label_w, cell_w, cell_h, top = 300, 84, 20, 46
    chart = Chart(
        label_w + cell_w * len(cols) + 8,
        top + cell_h * len(rows) + 8,
        f"heatmap of {role} minus {report.reference or 'reference'}",
        kind="heatmap",
    )
    chart.text(0, 16, f"{role} minus {report.reference or 'reference'}", bold=True, size=13)
    for j, col in enumerate(cols):
        chart.text(label_w + cell_w * (j + 0.5), top - 8, col, anchor="middle", size=11, bold=True)
    for i, row in enumerate(rows):
        y = top + cell_h * i
        chart.text(label_w - 8, y + 14, row, anchor="end", size=11)
        for j, col in enumerate(cols):
            d = cells.get((row, col))
            x = label_w + cell_w * j
            if d is None or not is_number(d.delta):
                chart.add("rect", x=x + 1, y=y + 1, width=cell_w - 2, height=cell_h - 2, fill="#f6f8fa")
                continue
            _delta_cell(
                chart,
                x,
                y,
                cell_w,
                cell_h,
                d,
                scale[col],
                report.reference or "reference",
                report.metrics.get(role, {}).get(d.key),
            )
    return chart


def _delta_cell(
    chart: Chart, x: float, y: float, w: float, h: float, d: Any, top: float, reference: str, est: Any
) -> None:
    if d.higher_is_better is None or top <= 0:
        color, strength = NEUTRAL, 0.15
    else:
        better = better_sign(d.higher_is_better) * d.delta > 0
        color, strength = (BETTER if better else WORSE), 0.12 + 0.78 * abs(d.delta) / top
    marked = bool(d.significant)
    p = f", p={d.p_value:.3g} ({d.test})" if is_number(d.p_value) else f" ({d.test})"
    interval = f"; the value's interval: {est.interval}" if est is not None else ""
    tip = (
        f"{d.key}: {fmt(d.value)} vs {reference} {fmt(d.reference)}, delta {fmt(d.delta, True)} "
        f"{fmt_ci(d.ci_low, d.ci_high)} (n={d.n}){p}{interval}" + (f"; significantly {d.significant}" if marked else "")
    )
    chart.add(
        "rect",
        title=tip,
        x=x + 1,
        y=y + 1,
        width=w - 2,
        height=h - 2,
        fill=mix(color, strength),
        stroke="#1d232a" if marked else "none",
        stroke_width=1.5 if marked else 0,
    )
    text = fmt(d.delta, True) + (" •" if marked else "")
    chart.text(
        x + w / 2,
        y + 14,
        text,
        anchor="middle",
        size=11,
        bold=marked,
        color="#ffffff" if strength > 0.6 else "#1d232a",
        title=tip,
    )


def probe_blocks(report: RunReport) -> list[Block]:
    chart = probe_matrix(report)
    if chart is None:
        raise NoData("No probe results in this run.")
    return [
        Block("svg", chart=chart),
        note(
            "Each family's rate for every model, beside the same probe with the cover's title region hidden "
            "(the control: a model that reads the cover loses more there). Darker is worse; a bordered cell "
            "differs from the reference with a CI that excludes zero. Hover for the CI and its method."
        ),
    ]


def probe_matrix(report: RunReport) -> Chart | None:
    roles = roles_with_metrics(report)
    values: dict[tuple[str, str, str], Estimate] = {}  # (family, metric, role) -> estimate
    for role in roles:
        for key, estimate in report.metrics[role].items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "probes" and parts[2] in PROBE_METRICS:
                values[(parts[1], parts[2], role)] = estimate
    if not values:
        return None
    families = sorted({f.removesuffix(HIDDEN) for f, _, _ in values})
    hidden = any(f.endswith(HIDDEN) for f, _, _ in values)
    metrics = [m for m in PROBE_METRICS if any(k[1] == m for k in values)]
    columns = [(m, role, suffix) for m in metrics for role in roles for suffix in ("", HIDDEN)[: 2 if hidden else 1]]
    top_of = {
        m: max((e.value for (_, mm, _), e in values.items() if mm == m and is_number(e.value)), default=0.0)
        for m in metrics
    }
    label_w, cell_w, cell_h, top = 180, 64 if hidden else 80, 20, 62
    chart = Chart(label_w + cell_w * len(columns) + 8, top + cell_h * len(families) + 8, "probe matrix", kind="probes")
    for i, metric in enumerate(metrics):
        span = len(columns) // len(metrics)
        x0 = label_w + cell_w * span * i
        chart.text(x0 + cell_w * span / 2, 16, metric, anchor="middle", size=12, bold=True)
        chart.line(x0 + 2, 22, x0 + cell_w * span - 2, 22, color=MUTED)
    for j, (_metric, role, suffix) in enumerate(columns):
        x = label_w + cell_w * (j + 0.5)
        chart.text(x, 38, role if len(role) <= 10 else role[:9] + "…", anchor="middle", size=10, title=role)
        chart.text(x, 52, "title hidden" if suffix else "as is", anchor="middle", size=10, color=MUTED)
    for i, family in enumerate(families):
        y = top + cell_h * i
        chart.text(label_w - 8, y + 14, family, anchor="end", size=11)
        for j, (metric, role, suffix) in enumerate(columns):
            est = values.get((family + suffix, metric, role))
            x = label_w + cell_w * j
            if est is None or not is_number(est.value):
                chart.add("rect", x=x + 1, y=y + 1, width=cell_w - 2, height=cell_h - 2, fill="#f6f8fa")
                continue
            key = f"probes/{family}{suffix}/{metric}"
            _probe_cell(chart, x, y, cell_w, cell_h, key, est, top_of[metric], report.comparison(key, role))
    return chart


def _probe_cell(chart: Chart, x: float, y: float, w: float, h: float, key: str, est: Any, top: float, d: Any) -> None:
    share = est.value / top if top > 0 else 0.0
    higher = direction_of(key)
    badness = 0.3 if higher is None else 1 - share if higher else share
    strength = 0.08 + 0.8 * max(0.0, min(1.0, badness))
    marked = d is not None and bool(d.significant)
    tip = f"{key}: {fmt(est.value)} {fmt_ci(est.ci_low, est.ci_high, False)} (n={est.n}; interval: {est.interval})"
    if d is not None:
        tip += f"; against the reference {fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}"
    chart.add(
        "rect",
        title=tip,
        x=x + 1,
        y=y + 1,
        width=w - 2,
        height=h - 2,
        fill=mix(WORSE, strength),
        stroke="#1d232a" if marked else "none",
        stroke_width=1.5 if marked else 0,
    )
    chart.text(
        x + w / 2,
        y + 14,
        fmt(est.value) + (" •" if marked else ""),
        anchor="middle",
        size=11,
        color="#ffffff" if strength > 0.6 else "#1d232a",
        bold=marked,
        title=tip,
    )
