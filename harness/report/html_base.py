"""Building blocks of the HTML report: the stylesheet and the escaping, table and image helpers.

Every string from a run goes through `_e` (HTML-escaped, quotes too), including class names."""
from __future__ import annotations

import html
import math
from typing import Any, Callable, Iterable

from harness.report.model import RunReport

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
:root { --fg:#1d232a; --muted:#5d6b78; --line:#dde3e9; --bg:#f6f8fa; --pass:#1e7d3c; --fail:#c0392b;
        --warn:#b7791f; --und:#7d3c98; --base:#6b7b8c; --cand:#e0711c; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); background: #fff; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
header { border-bottom: 2px solid var(--line); margin-bottom: 18px; padding-bottom: 10px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
.meta { color: var(--muted); font-size: 13px; }
.meta code { font-size: 12px; }
.note { color: var(--muted); font-style: italic; margin: 4px 0; }
.pills { display: flex; gap: 10px; flex-wrap: wrap; margin: 10px 0 14px; }
.pill { border-radius: 999px; padding: 4px 12px; font-weight: 600; font-size: 13px; background: var(--bg);
        border: 1px solid var(--line); }
.verdict { font-size: 15px; padding: 6px 16px; }
.PASS, .improved { color: var(--pass); } .FAIL, .regression { color: var(--fail); }
.WARN, .warn { color: var(--warn); } .UNDECIDED { color: var(--und); }
.verdict.PASS { background: #e7f5ec; border-color: #b6e0c4; }
.verdict.FAIL { background: #fbeaea; border-color: #efc0bb; }
.verdict.WARN { background: #fdf4e3; border-color: #f0d9a8; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 10px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: nowrap; }
.better { color: var(--pass); font-weight: 600; } .worse { color: var(--fail); font-weight: 600; }
img.plot { max-width: 100%; height: auto; display: block; margin: 6px 0; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.plots img.plot { max-width: calc(50% - 6px); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px; display: grid;
        grid-template-columns: 104px 1fr; gap: 12px; background: #fff; }
.card img.cover, .card .nocover { width: 96px; height: auto; border-radius: 4px; border: 1px solid var(--line); }
.card .nocover { height: 128px; display: flex; align-items: center; justify-content: center;
                 color: var(--muted); font-size: 11px; background: var(--bg); }
.card .title { font-weight: 600; font-size: 14px; overflow-wrap: anywhere; }
.card .by { color: var(--muted); font-size: 12px; }
.card .ranks { font-size: 12px; margin: 4px 0; }
.top5 { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; grid-column: 1 / -1; }
.top5 table { font-size: 12px; margin: 0; }
.top5 td { padding: 2px 5px; overflow-wrap: anywhere; }
.top5 tr.correct td { background: #e7f5ec; font-weight: 600; }
.role-baseline { color: var(--base); font-weight: 600; } .role-candidate { color: var(--cand); font-weight: 600; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""



class _NoData(Exception):
    """A section has nothing to show; the message is the note put in its place."""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _safely(render: Callable[[RunReport], str], report: RunReport) -> str:
    try:
        return render(report)
    except _NoData as note:
        return f'<p class="note">{_e(note)}</p>'
    except Exception as exc:  # a malformed section of a stored run must not take the page down
        return f'<p class="note">This section could not be drawn from the run data ({_e(type(exc).__name__)}: {_e(exc)}).</p>'


def _img(uri: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" src="{_e(uri)}" alt="{_e(alt)}">'


def _roles(report: RunReport) -> list[str]:
    return [r for r in report.roles if r in report.metrics]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], num_from: int = 99) -> str:
    head = "".join(f'<th class="{"num" if i >= num_from else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(text: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(text)}</td>' if cls else f"<td>{_e(text)}</td>"
