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
