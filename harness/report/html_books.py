"""The HTML report's book sections: the books that moved most in any view (cover, each model's
top-5 titles) and the flip lists. Each cover is embedded once, as a CSS class holding its data URI,
however many times it is shown."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from harness.report.console import fmt
from harness.report.html_blocks import Block, NoData, cell, details, heading, is_number, note, table
from harness.report.model import RunReport

_MAX_FLIPS_SHOWN = 15
_SHOWN_OPEN = 6
_BASE64 = re.compile(r"^[A-Za-z0-9+/=]+$")


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


def _cover_class(uri: str) -> str:
    return "cv-" + hashlib.sha1(uri.encode("ascii")).hexdigest()[:12]


def cover_rules(report: RunReport) -> str:
    """One CSS rule per distinct cover: `.cv-<hash> { background-image: url(data:...) }`. The URI is
    re-encoded base64 of a JPEG/PNG (checked by `_thumbnail_uri`), so it holds no quote or markup."""
    rules = {}
    for example in _examples(report):
        uri = _thumbnail_uri(example.get("thumbnail"))
        if uri and _BASE64.match(uri.split(",", 1)[1]):
            rules[_cover_class(uri)] = f".{_cover_class(uri)} {{ background-image: url({uri}); }}"
    return "\n".join(rules.values())


def _examples(report: RunReport) -> list[dict[str, Any]]:
    return [e for e in report.sections.get("examples") or [] if isinstance(e, dict)]


def _change(example: dict[str, Any]) -> float:
    """The rank change from the first model shown to the second (positive: the book fell)."""
    ranks = [v for v in (example.get("rank") or {}).values()]
    if len(ranks) >= 2 and is_number(ranks[0]) and is_number(ranks[1]):
        return float(ranks[1]) - float(ranks[0])
    return 0.0


def example_blocks(report: RunReport) -> list[Block]:
    examples = _examples(report)
    if not examples:
        raise NoData("No example books in this run.")
    worse = sorted((e for e in examples if _change(e) > 0), key=lambda e: -_change(e))
    better = sorted((e for e in examples if _change(e) < 0), key=_change)
    same = [e for e in examples if _change(e) == 0]
    views = sorted({_view(e) for e in examples})
    blocks: list[Block] = [
        note(
            f"Worst losses first, wherever they are: {len(examples)} books from "
            f"{', '.join(views)}. Each card shows the view, the rank of the correct title for "
            "each model and the top-5 titles each model retrieves for the cover (cosine "
            "similarity; the correct title highlighted)."
        )
    ]
    if worse:
        blocks += [
            heading(f"Largest rank losses ({len(worse)})"),
            Block("cards", examples=[_card(e) for e in worse[:_SHOWN_OPEN]]),
        ]
    rest = [("More rank losses", worse[_SHOWN_OPEN:]), ("Largest rank gains", better), ("Unchanged", same)]
    for title, items in rest:
        if items:
            blocks.append(
                details(
                    f"{title} ({len(items)})",
                    [Block("cards", examples=[_card(e) for e in items])],
                    open=not worse and title == "Largest rank gains",
                )
            )
    return blocks


def _view(example: dict[str, Any]) -> str:
    return str(example.get("view") or "heldout")


def _card(example: dict[str, Any]) -> dict[str, Any]:
    uri = _thumbnail_uri(example.get("thumbnail"))
    author, category = example.get("author") or "", example.get("category") or ""
    top5 = [
        {
            "role": str(role),
            "rows": [
                {
                    "title": str(r.get("title", "")),
                    "similarity": fmt(r.get("similarity")),
                    "correct": bool(r.get("correct")),
                }
                for r in rows or []
                if isinstance(r, dict)
            ],
        }
        for role, rows in (example.get("top5") or {}).items()
    ]
    return {
        "cover": _cover_class(uri) if uri else "",
        "title": str(example.get("title", "")),
        "by": " · ".join(str(x) for x in (author, category) if x),
        "view": _view(example),
        "ranks": [{"role": str(r), "rank": str(v)} for r, v in (example.get("rank") or {}).items()],
        "book_id": str(example.get("book_id", "")),
        "top5": top5,
    }


def flip_blocks(report: RunReport) -> list[Block]:
    lists = _flip_lists(report)
    if not lists:
        raise NoData("No per-query flips in this run.")
    rows = [
        [
            cell(key, "key"),
            cell(v.get("improved_total", len(v.get("improved") or []))),
            cell(v.get("regressed_total", len(v.get("regressed") or []))),
        ]
        for key, v in sorted(lists.items())
    ]
    inner = [table(["metric", "improved", "regressed"], rows, num_from=1)]
    for key, v in sorted(lists.items()):
        for kind in ("regressed", "improved"):
            items = [i for i in v.get(kind) or [] if isinstance(i, dict)]
            if not items:
                continue
            shown = [
                [
                    cell(i.get("title", "")),
                    cell(i.get("book_id", ""), "key"),
                    cell(i.get("reference_rank", "")),
                    cell(i.get("rank", "")),
                ]
                for i in items[:_MAX_FLIPS_SHOWN]
            ]
            more = f" (first {_MAX_FLIPS_SHOWN} of {len(items)})" if len(items) > _MAX_FLIPS_SHOWN else ""
            inner.append(
                details(
                    f"{key}: {kind} {len(items)}{more}",
                    [table(["title", "book id", f"{report.reference or 'reference'} rank", "rank"], shown, num_from=2)],
                )
            )
    return [details(f"Queries that crossed the top-5 line, per view ({len(lists)} lists)", inner)]


def _flip_lists(report: RunReport) -> dict[str, dict[str, Any]]:
    """'<key>' (one compared role) or '<role>: <key>' (several) -> improved / regressed lists."""
    roles = [r for r in report.compared_roles if r in report.flips] or list(report.flips)
    return {
        (key if len(roles) == 1 else f"{role}: {key}"): v
        for role in roles
        for key, v in (report.flips.get(role) or {}).items()
        if isinstance(v, dict)
    }
