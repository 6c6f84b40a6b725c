"""Building blocks for the report's example books: cover thumbnails and which books to show."""
from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
from PIL import Image


def thumbnail_b64(image: Image.Image, *, size: int = 96, quality: int = 80) -> str:
    """A small base64 JPEG of a cover (longest side `size` px), for `sections['examples']`."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=quality, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def select_examples(baseline_ranks: Sequence[int], candidate_ranks: Sequence[int], *,
                    count: int = 6) -> tuple[list[int], list[int]]:
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


def example_books(evaluations: dict, models: dict, catalogue: object, view: object, *, template: str,
                  count: int = 6, prefix: str = "heldout/image_to_text") -> list[dict]:
    """Covers of `view`'s books that moved most between baseline and candidate, with each model's top-5
    titles among the view (`evaluations`, `models`: role -> Evaluation / ClipModel)."""
    from harness.errors import BookclipError
    from harness.evaluate.embed import embed

    base_rank = evaluations["baseline"].rankings.get(prefix)
    cand_rank = evaluations["candidate"].rankings.get(prefix)
    if base_rank is None or cand_rank is None:
        return []
    worst, best = select_examples(base_rank.ranks, cand_rank.ranks, count=count)
    frame = view.frame.reset_index(drop=True)  # type: ignore[attr-defined]
    row_of = {b: i for i, b in enumerate(frame["book_id"].astype(str))}
    embedded = {role: embed(model, catalogue, template=template).select(frame["book_id"].astype(str).tolist())
                for role, model in models.items()}
    examples = []
    for kind, indices in (("regressed", worst), ("improved", best)):
        for i in indices:
            row = row_of[base_rank.book_ids[i]]
            item = {"kind": kind, "book_id": base_rank.book_ids[i], "title": str(frame.at[row, "title"]),
                    "author": str(frame.at[row, "author"]), "category": str(frame.at[row, "category"]),
                    "rank": {"baseline": int(base_rank.ranks[i]), "candidate": int(cand_rank.ranks[i])},
                    "top5": {}}
            try:
                item["thumbnail"] = thumbnail_b64(view.open_image(row))  # type: ignore[attr-defined]
            except BookclipError:
                item["thumbnail"] = None
            group = frame.at[row, "group_id"]
            for role, emb in embedded.items():
                sims = emb.texts @ emb.images[row]
                top = np.argsort(-sims, kind="stable")[:5]
                item["top5"][role] = [{"title": str(frame.at[int(j), "title"]), "similarity": float(sims[j]),
                                       "correct": bool(frame.at[int(j), "group_id"] == group)} for j in top]
            examples.append(item)
    return examples
