"""The "Slices" section of a run report: where the candidate is worse (or better), slice by slice.

The section keeps what redoes the analysis without the catalogue: each queried book's label under every
slicing (compact codes), beside the analysis itself (harness.evaluate.slice_discovery) and a section
version. `analysis_of(report)` recomputes it from the report's per-query ranks with any level, metric
or view; a report written before the section existed is sliced from its catalogue (`--data`, or the
sources the run recorded). Console, Markdown and HTML read the section from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.evaluate.metrics import better_sign, scale_of
from harness.evaluate.slice_discovery import (
    DEFAULT_LEVEL,
    DEFAULT_METRICS,
    DEFAULT_MIN_N,
    SliceAnalysis,
    SliceResult,
    default_views,
    discover,
)
from harness.evaluate.slices import SliceTable, cut
from harness.report.model import RunReport
from harness.settings import StatSettings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from harness.data.catalogue import Catalogue
    from harness.report.html_blocks import Block
    from harness.report.svg import Chart

SECTION = "slices"
SECTION_VERSION = 1
SHOWN = 25  # rows of the ranked table and chart


def slice_table(report: RunReport, catalogue: Catalogue, views: Sequence[str] | None = None) -> SliceTable:
    """The labels of the books the report's views queried."""
    views = views or default_views(list(report.per_query))
    items = [
        str(i)
        for prefix, entry in report.per_query.items()
        if prefix.split("/", 1)[0] in views
        for i in entry.get("item_ids", ())
    ]
    return cut(catalogue).restricted(items)


def add_slices(
    report: RunReport,
    catalogue: Catalogue,
    *,
    level: float = DEFAULT_LEVEL,
    min_n: int = DEFAULT_MIN_N,
    metrics: Sequence[str] = DEFAULT_METRICS,
    views: Sequence[str] | None = None,
    reference: str = "baseline",
    role: str = "candidate",
) -> SliceAnalysis | None:
    """Put the Slices section into `report` (None, and no section, when it lacks either model's ranks)."""
    if not any(reference in e.get("ranks", {}) and role in e.get("ranks", {}) for e in report.per_query.values()):
        return None
    views = tuple(views or default_views(list(report.per_query)))
    table = slice_table(report, catalogue, views)
    analysis = _discover(report, table, level, min_n, metrics, views, reference, role)
    store_section(report, analysis, table, reference=reference, role=role)
    return analysis


def store_section(
    report: RunReport,
    analysis: SliceAnalysis,
    table: SliceTable,
    *,
    reference: str = "baseline",
    role: str = "candidate",
) -> None:
    """Write the Slices section (the analysis and the labels that redo it) into `report`."""
    report.sections[SECTION] = {
        "version": SECTION_VERSION,
        "reference": reference,
        "role": role,
        "analysis": analysis.to_dict(),
        "labels": table.to_dict(),
    }


def analysis_of(
    report: RunReport,
    *,
    catalogue: Catalogue | None = None,
    level: float | None = None,
    min_n: int | None = None,
    metrics: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    reference: str | None = None,
    role: str | None = None,
) -> tuple[SliceAnalysis, SliceTable]:
    """The slice analysis of a run, recomputed from its per-query ranks (with the engine's bootstrap
    samples, which a gate on slices needs). Labels come from `catalogue` when given, else from the
    report's Slices section, else from the catalogue the run recorded as its sources."""
    stored = section_of(report)
    before = SliceAnalysis.from_dict(stored["analysis"]) if stored else None
    views = tuple(views or (before.views if before else default_views(list(report.per_query))))
    if catalogue is not None:
        table = slice_table(report, catalogue, views)
    elif stored and "labels" in stored:
        table = SliceTable.from_dict(stored["labels"])
    else:
        table = slice_table(report, _recorded_catalogue(report), views)
    analysis = _discover(
        report,
        table,
        level if level is not None else (before.level if before else DEFAULT_LEVEL),
        min_n if min_n is not None else (before.min_n if before else DEFAULT_MIN_N),
        tuple(metrics or (before.metrics if before else DEFAULT_METRICS)),
        views,
        reference or str((stored or {}).get("reference", report.reference or "baseline")),
        role or str((stored or {}).get("role", "candidate")),
    )
    return analysis, table


def section_of(report: RunReport) -> Mapping[str, Any] | None:
    """The report's Slices section, or None; a section of a newer layout is a one-line error."""
    stored = report.sections.get(SECTION)
    if stored is None:
        return None
    if not isinstance(stored, Mapping) or not isinstance(stored.get("analysis"), Mapping):
        raise ConfigError("the run report's slices section is malformed; rerun the command that wrote it")
    version = stored.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SECTION_VERSION:
        raise ConfigError(
            f"the run report's slices section has version {version!r}; this bookclip reads up to "
            f"{SECTION_VERSION}: upgrade bookclip"
        )
    return stored


def stored_analysis(report: RunReport) -> SliceAnalysis | None:
    """The analysis as the run wrote it (no bootstrap samples), or None."""
    stored = section_of(report)
    if stored is None:
        return None
    try:
        return SliceAnalysis.from_dict(stored["analysis"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"the run report's slices section is malformed: {exc}") from None


def _discover(
    report: RunReport,
    table: SliceTable,
    level: float,
    min_n: int,
    metrics: Sequence[str],
    views: Sequence[str],
    reference: str,
    role: str,
) -> SliceAnalysis:
    settings = StatSettings.from_dict(report.settings) if report.settings else StatSettings()
    return discover(
        report.per_query,
        table,
        reference=reference,
        role=role,
        metrics=metrics,
        views=views,
        settings=settings,
        level=level,
        min_n=min_n,
    )


def _recorded_catalogue(report: RunReport) -> Catalogue:
    from harness.data.loader import load_catalogue

    sources = report.data.get("sources")
    if not sources:
        raise ConfigError(
            "the run report has no slices section and records no catalogue sources; give the catalogue with --data"
        )
    catalogue, _ = load_catalogue([str(s) for s in sources])
    fingerprint = report.data.get("fingerprint")
    if fingerprint and catalogue.fingerprint != fingerprint:
        raise ConfigError(
            f"the catalogue at {', '.join(map(str, sources))} changed since the run (fingerprint "
            f"{catalogue.fingerprint[:12]}, the run's {str(fingerprint)[:12]}); give the run's catalogue with --data"
        )
    return catalogue


# --------------------------------------------------------------------------- words and numbers


def headline(analysis: SliceAnalysis) -> str:
    slicings = sorted({r.slicing for r in analysis.results})
    worse = sum(r.difference.significant == "worse" for r in analysis.discoveries)
    return (
        f"{analysis.tried} slice comparisons tried across {len(slicings)} slicings "
        f"({', '.join(analysis.metrics)} on {', '.join(analysis.views)}, at least {analysis.min_n} queries each); "
        f"{len(analysis.discoveries)} discoveries at false-discovery rate {analysis.level:g} "
        f"(Benjamini-Hochberg), {worse} of them worse"
    )


def not_tried(analysis: SliceAnalysis) -> list[str]:
    """One line per slicing that was skipped, had slices too small, or values that could not be used."""
    lines = [f"{name}: skipped, {why}" for name, why in sorted(analysis.skipped.items())]
    lines += [
        f"{name}: {count} slice(s) below {analysis.min_n} queries not tested"
        for name, count in sorted(analysis.too_small.items())
    ]
    lines += [
        f"{name}: {count} queried book(s) without a usable value" for name, count in sorted(analysis.unusable.items())
    ]
    lines += [
        f"{name}: {count} slice(s) holding every query of a view (the view's own comparison) not tested"
        for name, count in sorted(analysis.whole.items())
    ]
    if analysis.unmatched:
        lines.append(f"{analysis.unmatched} queried book(s) not in the catalogue")
    return lines


def _q(x: float) -> str:
    return "-" if not math.isfinite(x) else "<0.001" if x < 0.001 else f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def _verdict(r: SliceResult) -> str:
    return (r.difference.significant or "found") if r.discovery else ""


# --------------------------------------------------------------------------- console


def slices_table(analysis: SliceAnalysis, shown: int = SHOWN) -> Table:
    from rich.table import Table

    from harness.plain_text import plain
    from harness.report.console import fmt, fmt_ci

    table = Table(title=f"slices: worse discoveries first, then by q-value (top {shown})", title_justify="left")
    for name in ("where", "slice", "n", "delta [CI]", "p", "q", "MDE", "finding"):
        table.add_column(
            name,
            justify="right" if name in ("n", "p", "q", "MDE") else "left",
            no_wrap=name in ("where", "slice", "delta [CI]"),
        )
    for r in analysis.results[:shown]:
        d = r.difference
        style = {"worse": "red", "better": "green"}.get(d.significant, "") if r.discovery else ""
        table.add_row(
            plain(f"{r.view}/{r.direction}/{r.metric}"),
            plain(f"{r.slicing}={r.label}"),
            str(r.n),
            plain(f"{fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}", style=style),
            _q(d.p_value),
            _q(r.q_value),
            fmt(r.detectable),
            plain(_verdict(r), style=style),
        )
    return table


def sizes_table(analysis: SliceAnalysis) -> Table:
    from rich.table import Table

    from harness.plain_text import plain

    table = Table(title="slices tried, with their sizes (queries, largest view)", title_justify="left")
    table.add_column("slicing")
    table.add_column("slices")
    for name, sizes in sorted(analysis.sizes().items()):
        table.add_row(plain(name), plain(", ".join(f"{label} {n}" for label, n in sizes.items())))
    return table


def print_slices(analysis: SliceAnalysis, console: Console, shown: int = SHOWN) -> None:
    from harness.plain_text import plain

    console.print(plain(headline(analysis)), soft_wrap=True)
    if analysis.results:
        console.print(slices_table(analysis, shown))
    console.print(sizes_table(analysis))
    for line in not_tried(analysis):
        console.print(plain(line, style="dim"), soft_wrap=True)


# --------------------------------------------------------------------------- markdown


def slices_markdown(analysis: SliceAnalysis, shown: int = 10) -> list[str]:
    from harness.report.console import fmt, fmt_ci
    from harness.report.markdown import md_text

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = ["**Slices**: " + md_text(headline(analysis)), ""]
    if analysis.results:
        lines += [
            row(["where", "slice", "n", "delta [CI]", "p", "q", "detectable", "finding"]),
            row(["---", "---", "---:", "---", "---:", "---:", "---:", "---"]),
        ]
        for r in analysis.results[:shown]:
            d = r.difference
            lines.append(
                row(
                    [
                        md_text(f"{r.view}/{r.direction}/{r.metric}"),
                        md_text(f"{r.slicing}={r.label}"),
                        str(r.n),
                        f"{fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}",
                        _q(d.p_value),
                        _q(r.q_value),
                        fmt(r.detectable),
                        md_text(_verdict(r)),
                    ]
                )
            )
        lines.append("")
    lines += [row(["slicing", "slices tried (queries)"]), row(["---", "---"])]
    for name, sizes in sorted(analysis.sizes().items()):
        lines.append(row([md_text(name), md_text(", ".join(f"{label} {n}" for label, n in sizes.items()))]))
    lines.append("")
    lines += [f"- {md_text(line)}" for line in not_tried(analysis)]
    return [*lines, ""] if not_tried(analysis) else lines


# --------------------------------------------------------------------------- HTML


def slice_blocks(report: RunReport) -> list[Block]:
    from harness.report.html_blocks import Block, NoData, details, note, table

    analysis = stored_analysis(report)
    if analysis is None:
        raise NoData("No slices in this run: `bookclip slices RUN.json --out RUN.json` slices a run of two models.")
    blocks: list[Block] = [note(headline(analysis))]
    if analysis.results:
        blocks.append(Block("svg", chart=ranked_chart(analysis)))
        blocks.append(
            note(
                "Each row is a slice, worse discoveries first, then by q-value: the point is the candidate minus "
                "the reference over the slice's queries, the bar its CI (the metric's registered interval), the "
                "dashed tick the smallest worsening those queries can decide. Red: a worse discovery after "
                "false-discovery control; green: a better one; grey: not a discovery."
            )
        )
    sizes = sorted(analysis.sizes().items())
    blocks.append(
        details(
            f"Slices tried, with their sizes ({sum(len(s) for _, s in sizes)} slices of {len(sizes)} slicings)",
            [
                table(
                    ["slicing", "slices (queries)"],
                    [[n, ", ".join(f"{k} {v}" for k, v in s.items())] for n, s in sizes],
                )
            ]
            + [note(line) for line in not_tried(analysis)],
        )
    )
    return blocks


def ranked_chart(analysis: SliceAnalysis, shown: int = SHOWN) -> Chart:
    from harness.report.console import fmt, fmt_ci
    from harness.report.svg import MUTED, OUTCOME_COLORS, Chart, Scale, domain, tick_label

    width, left, right, row_h, top, axis = 1120, 480, 880, 22, 24, 28
    rows = list(analysis.results[:shown])
    families = list(dict.fromkeys(scale_of(r.difference.key) for r in rows))
    chart = Chart(
        width,
        sum(top + axis + row_h * sum(scale_of(r.difference.key) == f for r in rows) for f in families) + 8,
        "slices ranked by q-value with CIs",
        kind="forest",
    )
    y0 = 0.0
    for family in families:
        mine = [r for r in rows if scale_of(r.difference.key) == family]
        chart.text(0, y0 + 16, f"candidate minus reference per slice: {family}", bold=True, size=13)
        low, high = domain(
            [
                x
                for r in mine
                for x in (r.difference.ci_low, r.difference.ci_high, r.difference.delta, _worse_by_detectable(r))
                if math.isfinite(x)
            ],
            include=[0.0],
        )
        scale = Scale(low, high, left, right, log=family == "rank")
        body_top, body_bottom = y0 + top, y0 + top + row_h * len(mine)
        for tick in scale.ticks():
            chart.line(scale(tick), body_top, scale(tick), body_bottom)
            chart.text(
                scale(tick), body_bottom + 14, tick_label(tick, family == "rank"), anchor="middle", size=10, color=MUTED
            )
        if low <= 0 <= high:
            chart.line(scale(0), body_top, scale(0), body_bottom, color="#1d232a", width=1)
        for i, r in enumerate(mine):
            d = r.difference
            mid = body_top + i * row_h + row_h / 2
            colour = (
                (OUTCOME_COLORS["FAIL"] if d.significant == "worse" else OUTCOME_COLORS["PASS"])
                if r.discovery
                else MUTED
            )
            tip = (
                f"{r.name}: n={r.n}, delta {fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}, "
                f"p={_q(d.p_value)}, q={_q(r.q_value)}, detectable {fmt(r.detectable)}"
            )
            name = f"{r.view}/{r.direction}/{r.metric} · {r.slicing}={r.label} (n={r.n})"
            chart.text(4, mid + 4, name if len(name) <= 74 else name[:73] + "…", size=11, title=tip)
            if math.isfinite(_worse_by_detectable(r)):
                x = scale(_worse_by_detectable(r))
                chart.line(x, mid - 7, x, mid + 7, color="#1d232a", width=1.5, dash="3 2", title=tip)
            if math.isfinite(d.ci_low) and math.isfinite(d.ci_high):
                chart.line(scale(d.ci_low), mid, scale(d.ci_high), mid, color=colour, width=3, title=tip)
            if math.isfinite(d.delta):
                chart.add("circle", title=tip, cx=scale(d.delta), cy=mid, r=5, fill=colour)
            chart.text(right + 12, mid + 4, f"{fmt(d.delta, True)} {fmt_ci(d.ci_low, d.ci_high)}", size=11, title=tip)
            chart.text(
                width - 4,
                mid + 4,
                f"q {_q(r.q_value)}",
                anchor="end",
                size=11,
                bold=r.discovery,
                color=colour,
                title=tip,
            )
        y0 = body_bottom + axis
    return chart


def _worse_by_detectable(r: SliceResult) -> float:
    """Where 'worse by the detectable effect' sits on the candidate-minus-reference axis (NaN if unknown)."""
    return -better_sign(r.difference.higher_is_better) * r.detectable
