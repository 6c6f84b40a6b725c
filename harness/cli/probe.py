"""`bookclip probe`: perturbed-title probes for one checkpoint, or a baseline against another."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from harness.data import Catalogue
    from harness.evaluate.compare import Difference
    from harness.evaluate.stats import Estimate
    from harness.probes.runner import ProbeReport
    from harness.report.model import RunReport


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "probe",
        help="perturbed-title probes: invariance, hard negatives, minimal failing edit, cover-text control",
        description="Probe how a model's title matching survives typos, rephrasings and near-miss titles. "
        "Metrics are keyed probes/<family>/<metric>, each with a 95% bootstrap CI.",
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="model spec: tiny:<name>, fixtures:tiny-baseline, openai:ViT-B/32, a checkpoint path",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="catalogue: a folder of <Category>/<Category>.csv, CSV files or globs "
        "(default: the generated fixture catalogue)",
    )
    parser.add_argument(
        "--categories",
        metavar="NAMES",
        default=None,
        help="comma-separated categories of the catalogue to probe (default: all)",
    )
    parser.add_argument(
        "--families",
        metavar="NAMES",
        default=None,
        help="comma-separated perturbation families (default: all; see --list-families)",
    )
    parser.add_argument(
        "--compare",
        metavar="SPEC_B",
        default=None,
        help="a second model (e.g. the fine-tuned checkpoint): side by side with paired CIs",
    )
    parser.add_argument(
        "--mlflow",
        action="store_true",
        help="log the run to MLflow (needs the mlflow extra; also on when MLFLOW_TRACKING_URI is set)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.json",
        default=None,
        help="write the run report (metrics, comparisons, probe details); `bookclip report` reads it",
    )
    parser.add_argument("--json", action="store_true", help="print the run report as JSON instead of tables")
    parser.add_argument("--k", type=int, default=5, help="top-k the true cover must stay in (default 5)")
    parser.add_argument("--items", type=int, default=300, help="books probed, a seeded sample (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="drives sampling, perturbations, search, bootstrap")
    parser.add_argument(
        "--edit-items", type=int, default=40, help="books given to the minimal-edit search (0 skips it; default 40)"
    )
    parser.add_argument("--edit-max", type=int, default=4, help="largest edit searched, in characters (default 4)")
    parser.add_argument(
        "--edit-time", type=float, default=60.0, help="seconds the minimal-edit search may take per model (default 60)"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--no-control", action="store_true", help="skip the cover-text control (title hidden)")
    parser.add_argument(
        "--control-method",
        choices=("mask", "blur"),
        default="mask",
        help="how real covers hide their title region (fixture covers are redrawn)",
    )
    parser.add_argument(
        "--writeup-case",
        action="store_true",
        help="only the original write-up's case: 'The Power of Now' against four prompts",
    )
    parser.add_argument("--list-families", action="store_true", help="list the perturbation families and exit")
    from harness.cli.evaluate import add_engine_option

    add_engine_option(parser)
    parser.set_defaults(func=run)


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(n.strip() for n in value.split(",") if n.strip())


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 160)  # logs: wide tables, no wrapping
    if args.list_families:
        _print_families(console)
        return 0
    from harness.models import load
    from harness.probes.minimal_edit import EditSearchConfig
    from harness.probes.runner import ProbeConfig, compare_reports, run_probes

    catalogue = _catalogue(args.data, _names(args.categories))
    if args.writeup_case:
        from harness.probes.writeup_case import writeup_case

        for spec in [args.model] + ([args.compare] if args.compare else []):
            case = writeup_case(load(spec), catalogue)
            console.print(f"[bold]{spec}[/bold]")
            console.print(case.render(), markup=False, highlight=False)
        return 0
    if args.items < 1 or args.edit_items < 0 or args.edit_max < 1 or args.edit_time <= 0:
        raise ConfigError("--items and --edit-max must be at least 1, --edit-items at least 0, --edit-time above 0")
    config = ProbeConfig(
        families=_names(args.families),
        k=args.k,
        seed=args.seed,
        max_items=args.items,
        edit_items=args.edit_items,
        cover_control=not args.no_control,
        control_method=args.control_method,
        resamples=args.resamples,
        edit=EditSearchConfig(max_edits=args.edit_max, time_budget_s=args.edit_time),
    )
    from harness.probes.families import families

    families(config.families)  # an unknown family fails before any model loads
    base = run_probes(load(args.model), catalogue, config)
    other = run_probes(load(args.compare), catalogue, config) if args.compare else None
    compared = compare_reports(base, other) if other is not None else None
    report = _run_report(base, other, compared, catalogue, args)
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        _print_report(console, base, other, compared)
    if args.out:
        report.write(Path(args.out))
        if not args.json:
            console.print(Text(f"wrote {args.out}"))
    from harness.cli.evaluate import say_on_stderr
    from harness.tracking import log_if_wanted

    log_if_wanted(report, [Path(args.out)] if args.out else [], say_on_stderr, enabled=args.mlflow)
    return 0


def _catalogue(data: str | None, categories: tuple[str, ...] | None) -> Catalogue:
    from harness.data.parquet import load_any

    if data is None:
        from harness.data.fixtures import fixture_catalogue

        data = str(fixture_catalogue())
    catalogue, _report = load_any(data)
    return catalogue.by_category(categories) if categories else catalogue


def _run_report(
    base: ProbeReport,
    other: ProbeReport | None,
    compared: Sequence[Difference] | None,
    catalogue: Catalogue,
    args: argparse.Namespace,
) -> RunReport:
    from harness.report.build import add_difference, add_probes, new_report

    report = new_report(
        "probe",
        settings=base.config.stat_settings,
        data={"fingerprint": base.catalogue_fingerprint, "rows": len(catalogue)},
        extra_settings={"k": base.config.k, "items": base.items},
        engine=args.engine,
    )
    report.sections["engine"] = {
        "name": args.engine,
        "probes": "driver: the probe runner embeds and ranks "
        "through the local engine; Spark runs only eval, compare and interpolate",
    }
    add_probes(report, "baseline" if other else "model", base)
    if other is not None:
        add_probes(report, "candidate", other)
        for difference in compared or ():
            add_difference(report, "candidate", difference, reference="baseline")
    return report


def _fmt(metric: Estimate | None, pct: bool = False, signed: bool = False) -> str:
    if metric is None or metric.n == 0 or metric.value != metric.value:
        return "-"
    spec = ("+" if signed else "") + (".1%" if pct else ".3g")
    return f"{metric.value:{spec}} [{metric.ci_low:{spec}}, {metric.ci_high:{spec}}]"


def _print_families(console: Console) -> None:
    from rich.table import Table

    from harness.probes.families import families

    table = Table(title="perturbation families")
    for col in ("family", "severity", "unchanged when", "what it does"):
        table.add_column(col)
    for family in families():
        table.add_row(family.name, family.severity.name.lower(), family.unchanged_doc, family.description)
    console.print(table)


def _print_report(
    console: Console, base: ProbeReport, other: ProbeReport | None, compared: Sequence[Difference] | None
) -> None:
    from rich.table import Table

    k = base.config.k
    reports = [base] + ([other] if other else [])
    if base.writeup is not None:
        for report in reports:
            console.print(f"[bold]write-up case[/bold] ({report.model_spec})")
            console.print(report.writeup.render(), markup=False, highlight=False)  # type: ignore[union-attr]
    title = f"invariance per family ({base.items} books, true cover in the top {k}; 95% CIs)"
    table = Table(title=title)
    for col in ("family", "severity", "n (unchanged)"):
        table.add_column(col, justify="right" if col.startswith("n") else "left", no_wrap=True)
    if compared is None:
        metrics: tuple[str, ...] = ("flip_rate", f"lost@{k}", "mean_rank_change", "similarity_drop_p50")
        for metric in metrics:
            table.add_column(metric, justify="right")
    else:
        metrics = ("flip_rate", f"lost@{k}")
        for metric in metrics:
            for label in ("A", "B", "B - A"):
                table.add_column(f"{metric} {label}", justify="right")
        console.print(f"A = {base.model_spec}, B = {other.model_spec}", highlight=False)  # type: ignore[union-attr]
    from harness.evaluate.stats import Estimate

    deltas = {c.key: Estimate(c.delta, c.ci_low, c.ci_high, c.n) for c in compared or ()}
    rows = [("exact", "reference")] + [(r.family, r.severity) for r in base.invariance]
    for family, severity in rows:
        counts = base.counts.get(family, {})
        n = f"{counts.get('probed', base.items)} ({counts.get('unchanged', 0)})"
        cells = []
        for metric in metrics:
            key = f"probes/{family}/{metric}"
            if family == "exact":  # the reference row shows plain recall@k in the lost@k column
                key = f"probes/exact/recall@{k}" if metric == f"lost@{k}" else key
            pct = metric in ("flip_rate", f"lost@{k}")
            for report in reports:
                cells.append(_fmt(report.metrics.get(key), pct=pct))
            if compared is not None:
                cells.append(_fmt(deltas.get(key), pct=pct, signed=True))
        table.add_row(family, severity, n, *cells)
    console.print(table)

    summary = Table(title="hard negatives, minimal failing edit, cover-text control")
    summary.add_column("metric")
    for report in reports:
        summary.add_column(report.model_spec, justify="right")
    if compared is not None:
        summary.add_column("delta", justify="right")
    keys = [
        key
        for key in base.metrics
        if key.split("/")[1] in ("hard_negatives", "minimal_edit", "cover_text", "exact@title_hidden")
    ]
    for key in keys:
        pct = any(s in key for s in ("rate", "recall", "gap"))
        cells = [_fmt(report.metrics.get(key), pct=pct) for report in reports]
        if compared is not None:
            cells.append(_fmt(deltas.get(key), pct=pct, signed=True))
        summary.add_row(key, *cells)
    console.print(summary)
    for report in reports:
        if report.minimal_edit is not None:
            hist = report.minimal_edit.histogram()
            console.print(
                f"robustness radius ({report.model_spec}): "
                + ", ".join(f"{r}: {n}" for r, n in hist.items())
                + f"; exact title missed the top-{report.minimal_edit.config.k}: "
                f"{report.minimal_edit.not_retrieved}",
                highlight=False,
            )
            for worst in report.minimal_edit.worst(3):
                console.print(
                    f"  {worst['title']!r} -> {worst['edited']!r} ({worst['radius']} edit(s))",
                    markup=False,
                    highlight=False,
                )
        if report.control is not None:
            console.print(f"cover-text control ({report.model_spec}): {report.control['method']}", highlight=False)
