"""Probe metrics as per-item samples; their estimates and comparisons come from the comparison engine.

A probe keeps, for each metric key, the per-item values keyed by book_id. Items are put in
book_id order first, so neither a value nor its interval depends on the order items were probed
in, and two checkpoints are paired on the items both were measured on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def metric_dict(metric: object) -> dict[str, float | int | str | None]:
    """JSON-ready estimate; an undefined value (no items) becomes null rather than NaN."""
    raw = metric.to_dict()  # type: ignore[attr-defined]
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in raw.items()}


@dataclass(frozen=True, eq=False)
class MetricSample:
    """Per-item values behind one metric, keyed by book_id (the statistic is the metric's, registered)."""

    book_ids: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.book_ids, dtype=str)
        order = np.argsort(ids, kind="stable")  # canonical order
        object.__setattr__(self, "book_ids", ids[order])
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64)[order])

    def __len__(self) -> int:
        return len(self.values)
