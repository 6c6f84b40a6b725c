"""`bookclip fixtures`: generate the fixture catalogue, rebuild the embedded baseline checkpoint."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness.errors import ConfigError

DEFAULT_BASELINE = Path("fixtures") / "tiny-baseline.safetensors"


def register(sub: argparse._SubParsersAction) -> None:
    from harness.data.fixtures import BOOKS_PER_CATEGORY

    fixtures = sub.add_parser("fixtures", help="generate the fixture catalogue and the embedded baseline")
    fixtures_sub = fixtures.add_subparsers(dest="fixtures_command", metavar="SUBCOMMAND", required=True)
    make = fixtures_sub.add_parser(
        "make", help="write the generated fixture catalogue (CSV + JPEG covers) into DIR",
        description="Write the deterministic synthetic catalogue: <Category>/<Category>.csv and covers. "
                    "The same seed gives byte-identical files.")
    make.add_argument("dir", metavar="DIR", help="new or empty directory (an earlier fixture there is replaced)")
    make.add_argument("--seed", type=int, default=0, help="seed for titles, authors and quirks (default 0)")
    make.add_argument("--books-per-category", type=int, default=BOOKS_PER_CATEGORY, metavar="N",
                      help="distinct books per category before editions and cross-listings (default %(default)s)")
    make.set_defaults(func=run_make)
    baseline = fixtures_sub.add_parser(
        "build-baseline", help="pretrain the embedded tiny baseline on the fixture's general categories")
    baseline.add_argument("--out", type=Path, default=DEFAULT_BASELINE, help=f"checkpoint path (default {DEFAULT_BASELINE})")
    baseline.add_argument("--seed", type=int, default=0, help="seed of the fixture and of training (default 0)")
    baseline.set_defaults(func=run_build_baseline)


def run_make(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.data.fixtures import MARKER, make_fixture_catalogue

    start = time.perf_counter()
    dest = make_fixture_catalogue(args.dir, seed=args.seed, books_per_category=args.books_per_category)
    rows = json.loads((dest / MARKER).read_text(encoding="utf-8"))["rows"]
    Console().print(f"wrote {sum(rows.values()):,} books in {len(rows)} categories to {dest} "
                    f"in {time.perf_counter() - start:.1f} s (seed {args.seed}); "
                    f"check it with: bookclip data validate {dest}")
    return 0


def run_build_baseline(args: argparse.Namespace) -> int:
    try:
        from harness.finetune.baseline import build_baseline
    except ImportError as exc:
        raise ConfigError(f"the baseline builder is unavailable ({exc}); "
                          "install bookclip-harness with its fine-tuning module") from None
    build_baseline(args.out, seed=args.seed)
    print(f"wrote {args.out}")
    return 0
