"""`bookclip data validate`: load catalogue CSVs and show what was kept, skipped and why."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from harness.errors import DataError
from harness.plain_text import plain, strip_control

if TYPE_CHECKING:
    from harness.data.catalogue_summary import CatalogueSummary
    from harness.data.load_report import LoadReport


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect and validate book-cover catalogues")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    validate = data_sub.add_parser(
        "validate",
        help="load catalogue CSVs and report rows kept, skips by reason, editions and overlaps",
        description="Load Book Depository-style CSVs (files, globs, or a directory of "
        "<Category>/<Category>.csv) and report what would be used.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="CSV file, glob, or catalogue directory")
    validate.add_argument(
        "--image-root",
        metavar="DIR",
        help="folder the img_paths resolve under (default: the parent of each CSV's folder)",
    )
    validate.add_argument(
        "--strict", action="store_true", help="decode every cover in full, and exit 1 when any row is skipped"
    )
    validate.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    validate.set_defaults(func=run_validate)
    export = data_sub.add_parser(
        "export",
        help="write a catalogue as Parquet (covers included), partitioned by category",
        description="Load a catalogue (CSVs or a Parquet folder) and write it with --parquet DIR: book_id, cover "
        "bytes and every fingerprinted column, partitioned by category; every command reads DIR as --data.",
    )
    export.add_argument("paths", nargs="+", metavar="PATH", help="CSV file, glob, or catalogue directory")
    export.add_argument("--image-root", metavar="DIR", help="folder the img_paths resolve under")
    export.add_argument("--parquet", required=True, metavar="DIR", help="the folder to write (replaced if it exists)")
    export.add_argument("--strict", action="store_true", help="fail when any row would be skipped")
    export.set_defaults(func=run_export)


def run_validate(args: argparse.Namespace) -> int:
    from harness.data.catalogue_summary import summarise
    from harness.data.parquet import load_any

    # --strict decodes every cover, so what evaluation would reject is caught here, not mid-run
    catalogue, report = load_any(args.paths, image_root=args.image_root, strict=False, decode=args.strict)
    summary = summarise(catalogue, report)
    if args.json:
        print(json.dumps({"report": report.to_dict(), "summary": summary.to_dict()}, indent=2, ensure_ascii=False))
    else:
        _print_tables(report, summary)
    if report.kept_rows == 0:
        message = DataError("no usable rows in " + ", ".join(args.paths) + "; see the skips above")
        print(f"bookclip: error: {strip_control(message)}", file=sys.stderr)
        return 1
    if args.strict and report.skipped_rows:
        print(f"bookclip: error: strict: {strip_control(report.summary_line())}", file=sys.stderr)
        return 1
    return 0


def run_export(args: argparse.Namespace) -> int:
    from harness.data.parquet import export_parquet, load_any

    catalogue, report = load_any(args.paths, image_root=args.image_root, strict=args.strict)
    if len(catalogue) == 0:
        raise DataError(f"no usable rows in {', '.join(args.paths)}; run `bookclip data validate` to see why")
    out = export_parquet(catalogue, args.parquet)
    print(
        f"wrote {len(catalogue):,} rows ({report.skipped_rows:,} skipped) in {len(catalogue.categories)} categories "
        f"to {out}; fingerprint {catalogue.fingerprint[:16]}"
    )
    return 0


def _print_tables(report: LoadReport, summary: CatalogueSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    table = Table(title="Catalogue", title_justify="left")
    for column in ("category", "rows", "kept", "skipped", "duplicate groups (rows)", "also in other categories"):
        if column == "category":
            table.add_column(column, no_wrap=True, min_width=30)
        else:
            table.add_column(column, justify="right")
    for c in summary.categories:
        table.add_row(
            plain(c.category),
            f"{c.rows:,}",
            f"{c.kept:,}",
            f"{sum(c.skipped.values()):,}",
            f"{c.duplicate_groups:,} ({c.duplicate_rows:,})",
            f"{c.shared_groups:,}",
        )
    table.add_row(
        "[bold]total",
        f"[bold]{report.total_rows:,}",
        f"[bold]{report.kept_rows:,}",
        f"[bold]{report.skipped_rows:,}",
        f"{summary.groups:,} books",
        "",
    )
    console.print(table)

    reasons = Table(title="Skipped and flagged rows", title_justify="left")
    for column in ("reason", "kind", "rows", "examples"):
        reasons.add_column(column, justify="right" if column == "rows" else "left")
    for kind, counts in (("skipped", report.skipped), ("flagged", report.flagged)):
        for reason, n in counts.items():
            reasons.add_row(reason, kind, f"{n:,}", plain("; ".join(report.examples.get(reason, ()))))
    if not report.skipped and not report.flagged:
        reasons.add_row("none", "", "0", "")
    console.print(reasons)

    overlaps = Table(title="Cross-category overlaps (same book in two categories)", title_justify="left")
    for column in ("categories", "books", "examples"):
        overlaps.add_column(column, justify="right" if column == "books" else "left")
    for o in summary.overlaps:
        overlaps.add_row(plain(" + ".join(o.categories)), f"{o.groups:,}", plain("; ".join(o.examples)))
    if not summary.overlaps:
        overlaps.add_row("none", "0", "")
    console.print(overlaps)
    console.print(
        plain(
            f"{len(summary.categories)} categories, {report.kept_rows:,} of {report.total_rows:,} rows "
            f"kept, {report.skipped.get('missing image', 0):,} missing images; "
            f"fingerprint {summary.fingerprint[:16]}"
        )
    )
