"""The commands the docs show parse as written: every `bookclip ...` line of every page under docs/ and of
the README through the real argument parser, every `--bookclip-*` option of a `pytest suites/` line against
the plugin's options; the README stays what a visitor reads first and links the pages."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]
SHELL_FENCES = {"", "bash", "sh", "shell", "console", "text"}


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def code_lines(page: Path) -> list[str]:
    """The page's shell code: indented lines outside fences and the lines of shell-like fenced blocks,
    with `\\` continuations joined."""
    lines: list[str] = []
    fence: str | None = None  # the language of the open fenced block
    for line in page.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].split()[0] if stripped[3:].strip() else ""
            continue
        if fence is not None:
            if fence in SHELL_FENCES:
                lines.append(line)
        elif line.startswith("    "):
            lines.append(line)
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    return joined


def commands(page: Path, program: str) -> list[list[str]]:
    """Each command line of `program` in the page's code (indented lines, shell blocks and workflow
    `run:` steps), cut at the first shell operator; `[...]` marks an optional part and is left out."""
    found = []
    for line in code_lines(page):
        text = re.sub(r"^\s*(- )?(run: )?", "", line)
        for part in re.split(r"&&|\|\||;", text):
            part = part.strip()
            if part.startswith(program + " "):
                part = re.sub(r"\s\[[^\]]*\]", "", part.split(" >", 1)[0].split(" |", 1)[0])
                tokens = shlex.split(part, comments=True)
                found.append([t for t in tokens if "${{" not in t])
    return found


def test_the_docs_pages_exist_and_the_readme_links_them():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES if DOCS in p.parents}
    assert {"ci.md", "mlflow.md", "index.md"} <= names
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("ci.md", "mlflow.md", "tutorial/first-run.md", "how-to/add-metric.md", "reference/cli.md"):
        assert f"docs/{name}" in readme


def test_the_readme_is_what_a_visitor_reads_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    setup = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.14.1 torchvision==0.29.1 "
        "&& pip install -e '.[test]' && pytest suites/"
    )
    assert f"\n    {setup}\n" in readme
    assert "\n    . .venv/bin/activate && python -m pytest tests/\n" in readme


def test_every_readme_link_names_a_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if "://" not in target:
            assert (ROOT / target).is_file(), f"README links {target}, which does not exist"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_documented_bookclip_command_parses(page):
    lines = commands(page, "bookclip")
    for tokens in lines:
        try:
            build_parser().parse_args(tokens[1:])
        except SystemExit as exc:
            pytest.fail(f"{page_id(page)}: `{' '.join(tokens)}` does not parse (exit {exc.code})")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_documented_suites_option_exists(page):
    from harness import plugin

    known = {flag for flag, _key, _help in plugin._OPTIONS} | {"--bookclip-mlflow"}
    for tokens in commands(page, "pytest"):
        for token in tokens:
            flag = token.split("=", 1)[0]
            if flag.startswith("--bookclip-"):
                assert flag in known, f"{page_id(page)}: {flag} is not a plugin option"


def test_the_commands_are_found():
    """The extraction sees indented lines, fenced shell blocks, continuations and workflow steps."""
    total = sum(len(commands(page, "bookclip")) for page in PAGES)
    assert total >= 40
    joined = [t for page in PAGES for t in commands(page, "bookclip") if t[1:2] == ["interpolate"]]
    assert any("--save-alpha" in tokens for tokens in joined)  # a command continued over two lines
