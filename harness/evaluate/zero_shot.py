"""Zero-shot category classification: each cover against one text prompt per category."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import EvaluationError
from harness.evaluate.embed import cached_texts
from harness.evaluate.embedding_store import StoredMatrix
from harness.evaluate.results import ZeroShotResult
from harness.evaluate.templates import DEFAULT_CATEGORY_PROMPT, render_category_prompts


def category_prompt_embeddings(
    model: Any, categories: Sequence[str], prompt: str = DEFAULT_CATEGORY_PROMPT
) -> np.ndarray:
    """(C, d) unit embeddings of one prompt per category, through the embedding cache (keyed by the model's
    identity and every prompt): a warm run needs no model for them."""
    return cached_texts(model, render_category_prompts(prompt, list(categories)))


def classify(
    image_embeddings: np.ndarray | StoredMatrix,
    prompt_embeddings: np.ndarray,
    *,
    view: str,
    categories: Sequence[str],
    item_categories: Sequence[str],
    accepted: Sequence[frozenset[str]] | None = None,
    book_ids: Sequence[str] = (),
    titles: Sequence[str] = (),
    prompt: str = DEFAULT_CATEGORY_PROMPT,
) -> ZeroShotResult:
    """Predict argmax-score categories (ties go to the first category, deterministically).

    `accepted[i]` is the set of categories counted correct for item i (all categories its book is
    listed in); by default only its own category.
    """
    prompts = np.asarray(prompt_embeddings, dtype=np.float32)
    if len(image_embeddings) == 0:
        raise EvaluationError(f"zero-shot view {view!r} is empty; check its categories and the split")
    if not _finite(image_embeddings) or not np.isfinite(prompts).all():
        raise EvaluationError(f"zero-shot view {view!r}: NaN/inf embeddings; check the model's weights")
    index = {c: i for i, c in enumerate(categories)}
    unknown = sorted(set(item_categories) - set(index))
    if unknown:
        raise EvaluationError(
            f"zero-shot view {view!r} holds categories {unknown} with no prompt; pass every category of the catalogue"
        )
    labels = np.array([index[c] for c in item_categories], dtype=np.int64)
    predictions = _best_prompts(image_embeddings, prompts)
    if accepted is None:
        correct = predictions == labels
    else:
        correct = np.array([categories[p] in ok for p, ok in zip(predictions, accepted, strict=True)], dtype=bool)
    return ZeroShotResult(
        view,
        tuple(categories),
        tuple(str(b) for b in book_ids),
        tuple(str(t) for t in titles),
        labels,
        predictions,
        correct,
        prompt,
    )


def _finite(images: np.ndarray | StoredMatrix) -> bool:
    if isinstance(images, StoredMatrix):
        return images.store.nonfinite == 0  # counted by the store's writers
    return bool(np.isfinite(np.asarray(images, dtype=np.float32)).all())


def _best_prompts(images: np.ndarray | StoredMatrix, prompts: np.ndarray) -> np.ndarray:
    """Each cover's highest-scoring prompt (a stored matrix a chunk of rows at a time)."""
    if isinstance(images, StoredMatrix):
        out = np.empty(len(images), dtype=np.int64)  # filled in place, as retrieval's norms
        for start, rows in images.chunks():
            out[start : start + len(rows)] = np.argmax(rows @ prompts.T, axis=1)
        return out
    best: np.ndarray = np.argmax(np.asarray(images, dtype=np.float32) @ prompts.T, axis=1).astype(np.int64)
    return best


def accepted_categories(frame: Any, view_frame: Any) -> list[frozenset[str]]:
    """For each row of `view_frame`: every category its group is listed in across `frame`."""
    by_group: dict[str, set[str]] = {}
    for g, c in zip(frame["group_id"].tolist(), frame["category"].tolist(), strict=True):
        by_group.setdefault(g, set()).add(c)
    return [
        frozenset(by_group.get(g, set()) | {c})
        for g, c in zip(view_frame["group_id"].tolist(), view_frame["category"].tolist(), strict=True)
    ]
