"""`bookclip slices RUN.json`: which kinds of books got worse (or better), with false-discovery control."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slices",
        help="compare two models of a run slice by slice (format, author, stars, price, title length, greyscale "
        "covers, ...), with Benjamini-Hochberg false-discovery control",
        description="Every slice of every registered slicing with at least --min-n queries in a view gets the "
        "comparison engine's paired difference (the metric's registered test, CI and p-value) and the smallest "
        "effect its queries can decide; Benjamini-Hochberg q-values across every slice tried decide the "
        "discoveries. The run's per-query ranks are used; labels come from its Slices section, --data, or the "
        "catalogue the run recorded. Slice gates of [tool.bookclip.gates] (slices/<direction>/<metric> = "
        "{ max_discoveries = 0, non_inferior = 0.05 }) are judged: exit 1 when one fails.",
        epilog="examples:  bookclip slices reports/run.json  |  "
        "bookclip slices old.json --data books/ --out new.json  |  "
        "bookclip slices reports/run.json --level 0.1 --metric recall@1 --format markdown",
    )
    p.add_argument("run", metavar="RUN.json", help="a run report with two models' per-query ranks")
    p.add_argument("--data", nargs="+", metavar="PATH", help="the run's catalogue (CSV files or folders)")
    p.add_argument("--image-root", help="with --data: the folder img_paths are resolved under")
    p.add_argument("--level", type=float, help="false-discovery rate (default: the run's, else 0.05)")
    p.add_argument("--min-n", type=int, help="fewest queries a slice needs to be tested (default: the run's, else 30)")
    p.add_argument("--metric", action="append", help="a retrieval metric to compare (repeat; default recall@5, mrr)")
    p.add_argument("--view", action="append", help="a view to slice (repeat; default heldout, cross)")
    p.add_argument("--reference", help="the reference role (default: the run's reference)")
    p.add_argument("--role", help="the compared role (default candidate)")
    p.add_argument("--show", type=int, default=25, help="rows of the ranked table (default 25)")
    p.add_argument("--format", choices=("console", "json", "markdown"), default="console", help="output format")
    p.add_argument("--out", metavar="FILE.json", help="write the run report with this Slices section")
    p.add_argument(
        "--root", default=".", help="the project whose [tool.bookclip.gates] slice gates are judged (default: .)"
    )
    p.set_defaults(func=run, uses_cache=False)


def run(args: argparse.Namespace) -> int:
    from harness import settings
    from harness.config import load_config
    from harness.gates import judge_slices
    from harness.report.model import RunReport
    from harness.report.slices import analysis_of, print_slices, slices_markdown, store_section

    if args.level is not None:
        settings.false_discovery_level(args.level, "--level")
    if args.min_n is not None:
        settings.min_n(args.min_n, "--min-n")
    if args.metric:
        from harness.evaluate.slice_discovery import check_metrics

        check_metrics(args.metric)
    if args.show < 0:
        raise ConfigError(f"--show must be at least 0, got {args.show}")
    root = Path(args.root)
    if not root.is_dir():
        raise ConfigError(f"--root {args.root}: not an existing directory; give the project folder")
    config = load_config(rootdir=root)
    report = RunReport.read(args.run)
    catalogue = None
    if args.data:
        from harness.data.loader import load_catalogue

        catalogue, _ = load_catalogue(args.data, image_root=args.image_root)
    analysis, table = analysis_of(
        report,
        catalogue=catalogue,
        level=args.level,
        min_n=args.min_n,
        metrics=args.metric,
        views=args.view,
        reference=args.reference,
        role=args.role,
    )
    results = []
    for gate in (g for g in config.gates if g.suite == "slices"):
        covered, worse = analysis.against_gate(gate.metric, gate.threshold)
        results.append(judge_slices(gate, worse, covered, analysis.level))
    if args.out:
        store_section(report, analysis, table, reference=args.reference or "baseline", role=args.role or "candidate")
        report.write(args.out)
    if args.format == "json":
        from dataclasses import asdict

        from harness.report.model import _finite

        payload: dict[str, Any] = {**analysis.to_dict(), "gates": [asdict(r) for r in results]}
        print(json.dumps(_finite(payload), indent=2))
    elif args.format == "markdown":
        print("\n".join(slices_markdown(analysis, args.show)))
        for r in results:
            print(f"- {r.outcome}: {r.name}: {r.message}")
    else:
        from harness.plain_text import plain
        from harness.report.console import make_console

        console = make_console()
        print_slices(analysis, console, args.show)
        for r in results:
            style = "green" if r.outcome == "PASS" else "red" if r.outcome == "FAIL" else "yellow"
            console.print(plain(f"{r.outcome}: {r.name}: {r.message}", style=style), soft_wrap=True)
    return 1 if any(r.outcome == "FAIL" for r in results) else 0
