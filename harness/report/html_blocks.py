"""Building blocks of the HTML page, and the Jinja2 environment that draws them.

A section is a list of blocks (plain data: a table, a note, an inline SVG chart, an image, a
collapsed <details>, cards of books). Only `templates/page.html.j2` turns them into HTML, with
Jinja2's autoescape on, so every string from a run is escaped wherever it lands; no Python code
here writes markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report.model import GateResult, RunReport

if TYPE_CHECKING:
    import jinja2

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
TEMPLATES = Path(__file__).with_name("templates")


class Block(dict):
    """One piece of a section: `kind` names the template macro that draws it; the rest is its data."""

    def __init__(self, kind: str, **fields: Any) -> None:
        super().__init__(kind=kind, **fields)


class NoData(Exception):
    """A section has nothing to show; the message is the note put in its place."""


def note(text: str) -> Block:
    return Block("note", text=str(text))


def heading(text: str) -> Block:
    return Block("h3", text=str(text))


def details(summary: str, blocks: list[Block], *, open: bool = False) -> Block:
    return Block("details", summary=str(summary), blocks=blocks, open=open)


def group(blocks: list[Block]) -> Block:
    return Block("group", blocks=blocks)


def image(uri: str, alt: str, cls: str = "plot") -> Block:
    return Block("img", uri=uri, alt=str(alt), cls=cls)


def cell(text: Any, cls: str = "", title: str = "") -> dict[str, str]:
    return {"text": str(text), "cls": cls, "title": str(title)}


def table(headers: Iterable[str], rows: Iterable[Iterable[dict[str, str] | Any]], num_from: int = 99) -> Block:
    rows = [[c if isinstance(c, dict) else cell(c) for c in row] for row in rows]
    return Block("table", headers=[str(h) for h in headers], rows=rows, num_from=num_from)


def pills(outcome: str, label: str, counts: list[tuple[str, int]], who: str) -> Block:
    return Block("pills", outcome=outcome, label=label, counts=counts, who=who)


def gate_table(gates: Iterable[GateResult]) -> Block:
    order = {"FAIL": 0, "UNDECIDED": 1, "WARN": 2, "PASS": 3}
    rows = [
        [
            cell(g.role, "key"),
            cell(g.metric, "key"),
            cell(g.rule),
            cell(g.tier),
            cell(g.outcome, g.outcome),
            cell(g.message),
        ]
        for g in sorted(gates, key=lambda g: (order.get(g.outcome, 9), g.role, g.name))
    ]
    return table(["model", "metric", "rule", "tier", "outcome", "why"], rows)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def roles_with_metrics(report: RunReport) -> list[str]:
    return [r for r in report.roles if r in report.metrics]


def safely(render: Callable[[RunReport], list[Block]], report: RunReport) -> list[Block]:
    try:
        return render(report)
    except NoData as why:
        return [note(str(why))]
    except Exception as exc:  # a malformed section of a stored run must not take the page down
        return [note(f"This section could not be drawn from the run data ({type(exc).__name__}: {exc}).")]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def stylesheet() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")
