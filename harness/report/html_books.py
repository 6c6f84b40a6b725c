"""The HTML report's book sections: example covers with each model's top-5 titles, and flip lists."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from harness.report.console import fmt
from harness.report.html_base import _e, _img, _is_number, _NoData, _table, _td
from harness.report.model import RunReport

_MAX_FLIPS_SHOWN = 15


def _thumbnail_uri(raw: Any) -> str | None:
    """A data URI for a stored base64 JPEG/PNG thumbnail, or None when it is not one."""
    if not isinstance(raw, str) or not raw:
        return None
    data = raw.split(",", 1)[1] if raw.startswith("data:") else raw
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if decoded.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    elif decoded.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    else:
        return None
    return f"data:{mime};base64,{base64.b64encode(decoded).decode('ascii')}"


def _examples(report: RunReport) -> str:
    examples = [e for e in report.sections.get("examples") or [] if isinstance(e, dict)]
    if not examples:
        raise _NoData("No example books in this run.")

    def change(example: dict[str, Any]) -> float:
        rank = example.get("rank") or {}
        b, c = rank.get("baseline"), rank.get("candidate")
        return float(c) - float(b) if _is_number(b) and _is_number(c) else 0.0

    worse = sorted((e for e in examples if change(e) > 0), key=change, reverse=True)
    better = sorted((e for e in examples if change(e) < 0), key=change)
    same = [e for e in examples if change(e) == 0]
    parts = []
    for heading, group in (("Worst regressions", worse), ("Best improvements", better), ("Unchanged", same)):
        if group:
            parts.append(f"<h3>{_e(heading)} ({len(group)})</h3><div class=\"cards\">"
                         + "".join(_card(e) for e in group) + "</div>")
    return "".join(parts) + ('<p class="note">Top-5 titles the model retrieves for the cover, with cosine '
                             "similarity; the correct title is highlighted.</p>")


def _card(example: dict[str, Any]) -> str:
    uri = _thumbnail_uri(example.get("thumbnail"))
    title = str(example.get("title", ""))
    cover = _img(uri, f"cover of {title}", "cover") if uri else '<div class="nocover">no cover</div>'
    rank = example.get("rank") or {}
    ranks = " &rarr; ".join(f'<span class="role-{_e(r)}">{_e(r)}</span> rank {_e(v)}' for r, v in rank.items())
    author = example.get("author") or ""
    meta = " &middot; ".join(_e(x) for x in (author, example.get("category", "")) if x)
    tables = []
    for role, rows in (example.get("top5") or {}).items():
        body = "".join(
            f'<tr class="{"correct" if row.get("correct") else ""}"><td class="num">{i}</td>'
            f'<td>{_e(row.get("title", ""))}</td><td class="num">{_e(fmt(row.get("similarity")))}</td></tr>'
            for i, row in enumerate(rows or [], 1) if isinstance(row, dict))
        tables.append(f'<div><div class="role-{_e(role)}">{_e(role)}</div>'
                      f"<table><tbody>{body}</tbody></table></div>")
    return (f'<div class="card">{cover}<div><div class="title">{_e(title)}</div><div class="by">{meta}</div>'
            f'<div class="ranks">{ranks}</div><div class="meta">{_e(example.get("book_id", ""))}</div></div>'
            f'<div class="top5">{"".join(tables)}</div></div>')


def _flips(report: RunReport) -> str:
    lists = _flip_lists(report)
    if not lists:
        raise _NoData("No per-query flips in this run.")
    parts = []
    rows = [[_td(key, "key"), _td(v.get("improved_total", len(v.get("improved") or [])), "num"),
             _td(v.get("regressed_total", len(v.get("regressed") or [])), "num")]
            for key, v in sorted(lists.items())]
    parts.append(_table(["metric", "improved", "regressed"], rows, num_from=1))
    for key, v in sorted(_flip_lists(report).items()):
        for kind in ("regressed", "improved"):
            items = [i for i in v.get(kind) or [] if isinstance(i, dict)]
            if not items:
                continue
            shown = [[_td(i.get("title", "")), _td(i.get("book_id", ""), "key"),
                      _td(i.get("reference_rank", ""), "num"), _td(i.get("rank", ""), "num")]
                     for i in items[:_MAX_FLIPS_SHOWN]]
            more = f" (first {_MAX_FLIPS_SHOWN} of {len(items)})" if len(items) > _MAX_FLIPS_SHOWN else ""
            parts.append(f"<details><summary>{_e(key)}: {_e(kind)} {len(items)}{_e(more)}</summary>"
                         + _table(["title", "book id", f"{report.reference or 'reference'} rank", "rank"], shown,
                                  num_from=2)
                         + "</details>")
    return "".join(parts)


def _flip_lists(report: RunReport) -> dict[str, dict[str, Any]]:
    """'<key>' (one compared role) or '<role>: <key>' (several) -> improved / regressed lists."""
    roles = [r for r in report.compared_roles if r in report.flips] or list(report.flips)
    return {(key if len(roles) == 1 else f"{role}: {key}"): v for role in roles
            for key, v in (report.flips.get(role) or {}).items() if isinstance(v, dict)}
