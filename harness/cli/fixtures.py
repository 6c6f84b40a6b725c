"""`bookclip fixtures`: generate the fixture catalogue, rebuild the embedded baseline checkpoint."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness.errors import ConfigError

DEFAULT_BASELINE = Path("fixtures") / "tiny-baseline.safetensors"
DEFAULT_RUN = Path("fixtures") / "default-run.json"


def register(sub: argparse._SubParsersAction) -> None:
    from harness.data.fixtures import BOOKS_PER_CATEGORY

    fixtures = sub.add_parser("fixtures", help="generate the fixture catalogue and the embedded baseline")
    fixtures_sub = fixtures.add_subparsers(dest="fixtures_command", metavar="SUBCOMMAND", required=True)
    make = fixtures_sub.add_parser(
        "make",
        help="write the generated fixture catalogue (CSV + JPEG covers) into DIR",
        description="Write the deterministic synthetic catalogue: <Category>/<Category>.csv and covers. "
        "The same seed gives byte-identical files.",
    )
    make.add_argument("dir", metavar="DIR", help="new or empty directory (an earlier fixture there is replaced)")
    make.add_argument("--seed", type=int, default=0, help="seed for titles, authors and quirks (default 0)")
    make.add_argument(
        "--books-per-category",
        type=int,
        default=BOOKS_PER_CATEGORY,
        metavar="N",
        help="distinct books per category before editions and cross-listings (default %(default)s)",
    )
    make.set_defaults(func=run_make)
    baseline = fixtures_sub.add_parser(
        "build-baseline", help="pretrain the embedded tiny baseline on the fixture's general categories"
    )
    baseline.add_argument(
        "--out", type=Path, default=DEFAULT_BASELINE, help=f"checkpoint path (default {DEFAULT_BASELINE})"
    )
    baseline.add_argument("--seed", type=int, default=0, help="seed of the fixture and of training (default 0)")
    baseline.set_defaults(func=run_build_baseline)
    stored = fixtures_sub.add_parser(
        "store-run",
        help="run the embedded default's suites and store the run as the regression suite's reference",
        description="Run `pytest suites/` on the embedded default (every gate must pass) and store its run report "
        f"as {DEFAULT_RUN}, which `compare_to` in pyproject.toml names: on a fresh clone the "
        "regression suite compares the run against it. Rebuild it after changing the baseline, the "
        "fixture catalogue, the fine-tuning recipe or the gates.",
    )
    stored.add_argument("--out", type=Path, default=DEFAULT_RUN, help=f"where the run goes (default {DEFAULT_RUN})")
    stored.set_defaults(func=run_store_run)


def run_make(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.data.fixtures import MARKER, make_fixture_catalogue

    start = time.perf_counter()
    dest = make_fixture_catalogue(args.dir, seed=args.seed, books_per_category=args.books_per_category)
    rows = json.loads((dest / MARKER).read_text(encoding="utf-8"))["rows"]
    Console().print(
        f"wrote {sum(rows.values()):,} books in {len(rows)} categories to {dest} "
        f"in {time.perf_counter() - start:.1f} s (seed {args.seed}); "
        f"check it with: bookclip data validate {dest}"
    )
    return 0


def run_build_baseline(args: argparse.Namespace) -> int:
    try:
        from harness.finetune.baseline import build_baseline
    except ImportError as exc:
        raise ConfigError(
            f"the baseline builder is unavailable ({exc}); install bookclip-harness with its fine-tuning module"
        ) from None
    build_baseline(args.out, seed=args.seed)
    print(f"wrote {args.out}")
    return 0


def run_store_run(args: argparse.Namespace) -> int:
    import subprocess
    import sys
    import tempfile

    from harness.report.model import RunReport

    with tempfile.TemporaryDirectory(prefix="bookclip-store-run-") as tmp:
        # the regression test is left out: it would compare this run with the run it replaces
        command = [
            sys.executable,
            "-m",
            "pytest",
            "suites/",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not regression",
            "--bookclip-report-dir",
            tmp,
        ]
        print("running: " + " ".join(command[2:]))
        proc = subprocess.run(command)
        if proc.returncode != 0:
            raise ConfigError(
                f"the embedded default's suites exited {proc.returncode}; a run whose gates fail "
                "is not stored as the reference"
            )
        report = RunReport.read(Path(tmp) / "run.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report.write(args.out)
    print(f"wrote {args.out}: {len(report.gates)} gates, {sum(len(v) for v in report.metrics.values())} metrics")
    return 0
