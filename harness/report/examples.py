"""Building blocks for the report's example books: cover thumbnails and which books to show."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def thumbnail_b64(image: Image.Image, *, size: int = 96, quality: int = 80) -> str:
    """A small base64 JPEG of a cover (longest side `size` px), for `sections['examples']`."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=quality, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def select_examples(
    baseline_ranks: Sequence[int], candidate_ranks: Sequence[int], *, count: int = 6
) -> tuple[list[int], list[int]]:
    """Indices of the `count` worst regressions and `count` best improvements by rank change.

    Ties break by position, so the choice is deterministic; unchanged items are never chosen.
    """
    base = np.asarray(baseline_ranks, dtype=np.float64)
    cand = np.asarray(candidate_ranks, dtype=np.float64)
    if base.shape != cand.shape:
        raise ValueError(f"rank arrays differ in shape: {base.shape} and {cand.shape}")
    change = cand - base
    worst = [int(i) for i in np.argsort(-change, kind="stable") if change[i] > 0][:count]
    best = [int(i) for i in np.argsort(change, kind="stable") if change[i] < 0][:count]
    return worst, best


def example_books(
    evaluations: dict,
    models: dict,
    catalogue: object,
    views: dict,
    *,
    template: str,
    count: int = 6,
    direction: str = "image_to_text",
) -> list[dict]:
    """Covers of the books whose correct title moved most between baseline and candidate, in every view
    of `views` (name -> view: the tuned categories' held-out books, the other categories), the
    largest losses first wherever they are, at least the worst of each view that has one; each with
    its view and each model's top-5 titles among that view's books (`evaluations`, `models`: role ->
    Evaluation / ClipModel)."""
    moved: list[tuple[float, str, int]] = []  # (rank change, view, query index)
    gains: list[tuple[float, str, int]] = []
    rankings = {}
    for name in views:
        base = evaluations["baseline"].rankings.get(f"{name}/{direction}")
        cand = evaluations["candidate"].rankings.get(f"{name}/{direction}")
        if base is None or cand is None:
            continue
        rankings[name] = (base, cand)
        worst, best = select_examples(base.ranks, cand.ranks, count=count)
        moved += [(float(cand.ranks[i]) - float(base.ranks[i]), name, i) for i in worst]
        gains += [(float(cand.ranks[i]) - float(base.ranks[i]), name, i) for i in best]
    moved.sort(key=lambda m: (-m[0], m[1], m[2]))
    gains.sort(key=lambda m: (m[0], m[1], m[2]))
    chosen = moved[:count] + [
        next(m for m in moved if m[1] == v)
        for v in dict.fromkeys(m[1] for m in moved)
        if not any(c[1] == v for c in moved[:count])
    ]
    from harness.evaluate.embed import embed

    embedded: dict[str, dict] = {}  # view -> role -> embeddings of the view's books, each computed once
    examples = []
    for kind, picked in (("regressed", chosen), ("improved", gains[:count])):
        for _, name, i in picked:
            if name not in embedded:
                ids = views[name].frame["book_id"].astype(str).tolist()
                embedded[name] = {
                    role: embed(model, catalogue, template=template).select(ids) for role, model in models.items()
                }
            base, cand = rankings[name]
            examples.append(_example(kind, name, views[name], i, base, cand, embedded[name]))
    return examples


def _example(kind: str, name: str, view: object, i: int, base: object, cand: object, embedded: dict) -> dict:
    from harness.errors import BookclipError

    frame = view.frame.reset_index(drop=True)  # type: ignore[attr-defined]
    ids = frame["book_id"].astype(str).tolist()
    row = ids.index(base.book_ids[i])  # type: ignore[attr-defined]
    item = {
        "kind": kind,
        "view": name,
        "book_id": base.book_ids[i],  # type: ignore[attr-defined]
        "title": str(frame.at[row, "title"]),
        "author": str(frame.at[row, "author"]),
        "category": str(frame.at[row, "category"]),
        "rank": {"baseline": int(base.ranks[i]), "candidate": int(cand.ranks[i])},  # type: ignore[attr-defined]
        "top5": {},
    }
    try:
        item["thumbnail"] = thumbnail_b64(view.open_image(row))  # type: ignore[attr-defined]
    except BookclipError:
        item["thumbnail"] = None
    group = frame.at[row, "group_id"]
    for role, emb in embedded.items():
        sims = emb.texts @ emb.images[row]
        top = np.argsort(-sims, kind="stable")[:5]
        item["top5"][role] = [
            {
                "title": str(frame.at[int(j), "title"]),
                "similarity": float(sims[j]),
                "correct": bool(frame.at[int(j), "group_id"] == group),
            }
            for j in top
        ]
    return item
