"""`bookclip report`: show a run, compare it against a stored run, write its HTML, manage saved runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import ConfigError
from harness.plain_text import plain


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="show a run report, compare it against a stored run, write HTML, list saved runs",
        description=(
            "Show a run report (a JSON file, a saved run's name, a run number or 'latest'); with --against, "
            "report regressions against another run and exit 1 when one is found (see --fail-on)."
        ),
        epilog=(
            "examples:  bookclip report reports/run.json --against reports/main.json  |  "
            "bookclip report latest --against main --fail-on warn  |  bookclip report latest --html out.html  |  "
            'bookclip report reports/run.json --format markdown >> "$GITHUB_STEP_SUMMARY"  |  '
            "bookclip report --list"
        ),
    )
    parser.add_argument(
        "run",
        nargs="*",
        metavar="RUN",
        help="run report: a file, 'latest', a saved name (its newest run), a run number or id; "
        "several: one column per checkpoint against the first file's reference",
    )
    parser.add_argument(
        "--against",
        metavar="MAIN",
        help="reference run to compare against (same forms as RUN, or mlflow:<run id> for the run "
        "report logged with an MLflow run)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("regression", "warn", "never"),
        default="regression",
        help="exit 1 on regressions (default), also on warnings, or never",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=0.0,
        help="a change counts as a regression only when worse than this, in metric units (default 0)",
    )
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="confidence of the paired bootstrap CI (default 0.95)"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the run's seed)")
    parser.add_argument("--role", default="candidate", help="which model of each run to compare (default candidate)")
    parser.add_argument("--out", metavar="FILE.json", help="write the regression result (with --against) as JSON")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the run report (or, with --against, the regression result) as JSON (the same as --format json)",
    )
    parser.add_argument(
        "--format",
        choices=("console", "json", "markdown"),
        default="console",
        help="console tables (default); json; or markdown: the verdict, the gate table and the "
        "five clearest regressions as GitHub-flavoured Markdown, for a pull-request comment "
        "or $GITHUB_STEP_SUMMARY",
    )
    parser.add_argument("--html", metavar="OUT", help="write the run's self-contained HTML report")
    parser.add_argument(
        "--full",
        action="store_true",
        help="print every metric with its CI and test (default for a run with gates: the verdict, "
        "the gates and the five worst regressions)",
    )
    parser.add_argument("--save", metavar="NAME", help="store the run in the run history under NAME")
    parser.add_argument("--list", action="store_true", help="list the saved runs")
    parser.add_argument(
        "--runs-dir",
        metavar="DIR",
        default=None,
        help="run history directory (default $BOOKCLIP_RUNS_DIR or reports/runs)",
    )
    parser.set_defaults(func=run_report, uses_cache=False)


def run_report(args: argparse.Namespace) -> int:
    from harness.report.console import make_console, print_regression, print_run, runs_table
    from harness.report.console_glance import print_glance
    from harness.report.history import history_root, list_runs, resolve_run, save_run
    from harness.report.model import RunReport

    console = make_console()
    args.json = args.json or args.format == "json"
    if args.format == "markdown" and (args.against or args.json):
        raise ConfigError(
            "--format markdown shows one run (its gates and regressions against its own reference); "
            "it does not combine with --against or --json"
        )
    if args.list:
        runs = list_runs(args.runs_dir)
        if runs:
            console.print(runs_table(runs))
        else:
            console.print(f"no runs saved under {history_root(args.runs_dir)}")
        if not args.run:
            return 0
    if not args.run:
        raise ConfigError("bookclip report needs a RUN (a report file, a saved name or 'latest'), or --list")
    if args.out and not args.against:
        raise ConfigError("--out writes the regression result: add --against MAIN")

    if len(args.run) > 1:
        if args.against or args.save:
            raise ConfigError("--against and --save take one RUN; several RUNs are shown side by side")
        from harness.report.combine import combine_reports

        paths = [resolve_run(r, args.runs_dir) for r in args.run]
        report = combine_reports([RunReport.read(p) for p in paths], [str(p) for p in paths])
        run_path = paths[0]
    else:
        run_path = resolve_run(args.run[0], args.runs_dir)
        report = RunReport.read(run_path)
    if args.save:
        console.print(plain(f"saved {run_path} as {save_run(report, args.save, args.runs_dir)}"))
    if args.html:
        from harness.report.html import write_html

        console.print(plain(f"wrote {write_html(report, args.html)}"))
    if not args.against:
        if args.format == "markdown":
            from harness.report.markdown import run_markdown

            print(run_markdown(report))
        elif args.json:
            import json

            print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
        elif args.full or not report.gates:  # without gates there is no verdict to lead with
            print_run(report, console)
        elif not (args.html or args.save or args.list):
            print_glance(report, console)
        return 0

    from harness.io import atomic_write_json
    from harness.report.regress import compare_runs, json_ready

    if args.against.startswith("mlflow:"):  # the run report logged with an MLflow run
        import tempfile

        from harness.tracking import fetch_report

        with tempfile.TemporaryDirectory(prefix="bookclip-mlflow-") as tmp:
            main = RunReport.read(fetch_report(args.against, Path(tmp)))
        main_path: Path | str = args.against
    else:
        main_path = resolve_run(args.against, args.runs_dir)
        main = RunReport.read(main_path)
    result = compare_runs(
        report,
        main,
        role=args.role,
        margin=args.margin,
        confidence=args.confidence,
        resamples=args.resamples,
        seed=report.seed if args.seed is None else args.seed,
        run_source=str(run_path),
        main_source=str(main_path),
    )
    document = json_ready(result.to_dict() | {"exit_code": result.exit_code(args.fail_on)})
    if args.json:
        import json

        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print_regression(result, console, fail_on=args.fail_on)
    if args.out:
        atomic_write_json(Path(args.out), document)
        if not args.json:
            console.print(plain(f"wrote {args.out}"))
    return result.exit_code(args.fail_on)
