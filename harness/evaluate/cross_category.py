"""Cross-category evaluation: how a checkpoint does on each category it was not trained on.

Each category of the `cross` view becomes its own view `cross:<Category>` (candidates are that
category's items), so a fine-tune that helps its own category but hurts another shows up by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.evaluate.results import Evaluation

CROSS_PREFIX = "cross:"


def per_category_views(cross: Any) -> dict[str, Any]:
    """`cross:<Category>` -> the rows of that category in the cross view."""
    return {f"{CROSS_PREFIX}{c}": cross.by_category([c]) for c in cross.categories}


@dataclass(frozen=True)
class CrossCategoryRow:
    """One category outside the training categories: baseline vs candidate on one metric."""

    category: str
    key: str
    baseline: float
    candidate: float
    delta: float
    ci_low: float | None = None  # paired CI of the delta, when a comparison was given
    ci_high: float | None = None
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def cross_category_rows(baseline: Evaluation, candidate: Evaluation, metric: str = "image_to_text/recall@5",
                        comparison: Any = None) -> list[CrossCategoryRow]:
    """Per cross category: the metric under both checkpoints and its change (paired CI if compared)."""
    rows = []
    for key, base in baseline.metrics.items():
        view, _, rest = key.partition("/")
        if not view.startswith(CROSS_PREFIX) or rest != metric or key not in candidate.metrics:
            continue
        cand = candidate.metrics[key]
        delta = comparison.deltas.get(key) if comparison is not None else None
        rows.append(CrossCategoryRow(
            category=view[len(CROSS_PREFIX):], key=key, baseline=base.value, candidate=cand.value,
            delta=cand.value - base.value, ci_low=getattr(delta, "ci_low", None),
            ci_high=getattr(delta, "ci_high", None), n=base.n))
    return rows
