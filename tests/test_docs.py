"""The commands the docs show parse as written: every `bookclip ...` line through the real argument
parser, every `--bookclip-*` option of a `pytest suites/` line against the plugin's options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))


def commands(page: Path, program: str) -> list[list[str]]:
    """Each command line of `program` in the page's code (indented lines and workflow `run:` steps),
    cut at the first shell operator."""
    found = []
    for line in page.read_text(encoding="utf-8").splitlines():
        text = re.sub(r"^\s*(- )?(run: )?", "", line) if line.startswith("    ") else ""
        for part in re.split(r"&&|\|\||;", text):
            part = part.strip()
            if part.startswith(program + " "):
                tokens = shlex.split(part.split(" >", 1)[0].split(" |", 1)[0], comments=True)
                found.append([t for t in tokens if "${{" not in t])
    return found


def test_the_docs_pages_exist_and_the_readme_links_them():
    names = {p.name for p in PAGES}
    assert {"ci.md", "mlflow.md"} <= names
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("ci.md", "mlflow.md"):
        assert f"docs/{name}" in readme


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_documented_bookclip_command_parses(page):
    lines = commands(page, "bookclip")
    for tokens in lines:
        try:
            build_parser().parse_args(tokens[1:])
        except SystemExit as exc:
            pytest.fail(f"{page.name}: `{' '.join(tokens)}` does not parse (exit {exc.code})")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_documented_suites_option_exists(page):
    from harness import plugin

    known = {flag for flag, _key, _help in plugin._OPTIONS} | {"--bookclip-mlflow"}
    for tokens in commands(page, "pytest"):
        for token in tokens:
            flag = token.split("=", 1)[0]
            if flag.startswith("--bookclip-"):
                assert flag in known, f"{page.name}: {flag} is not a plugin option"
