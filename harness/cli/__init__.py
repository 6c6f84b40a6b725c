"""The `bookclip` command. Each command group lives in its own module with a `register(sub)`."""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.errors import BookclipError

# module name -> registers these top-level commands; imported lazily so `--help` stays fast
COMMAND_MODULES = ("data", "fixtures", "models", "finetune", "evaluate", "probe", "report", "calibrate", "slices")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bookclip",
        description="Evaluate, compare and fine-tune CLIP models that match book covers to titles.",
        epilog="Run `bookclip COMMAND --help` for each command. `pytest suites/` runs the quality gates.",
    )
    parser.add_argument("--version", action="version", version=f"bookclip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"harness.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "uses_cache", True):  # an unusable cache folder fails now, not after minutes of work
            from harness.io import cache_dir

            cache_dir()
        return int(args.func(args) or 0)
    except BookclipError as exc:
        from harness.plain_text import strip_control

        print(f"bookclip: error: {strip_control(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bookclip: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m harness.cli
    sys.exit(main())
