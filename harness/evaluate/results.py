"""Evaluation results: metrics with CIs under `<view>/<direction>/<metric>` keys, plus per-query data.

Per-query ranks (and zero-shot hits) are kept so two evaluations of the same items can be
compared query by query (paired bootstrap, McNemar, flip lists) long after they were computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import EvaluationError
from harness.evaluate.stats import Estimate
from harness.io import atomic_write_json


@dataclass(frozen=True, eq=False)
class QueryRanks:
    """Per-query ranks of one view and direction, with the items' ids and titles."""

    view: str
    direction: str
    ranks: np.ndarray
    book_ids: tuple[str, ...]
    titles: tuple[str, ...]
    pool_size: int

    @property
    def key(self) -> str:
        return f"{self.view}/{self.direction}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "direction": self.direction,
            "pool_size": self.pool_size,
            "book_ids": list(self.book_ids),
            "titles": list(self.titles),
            "ranks": [int(r) for r in self.ranks],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QueryRanks:
        return cls(
            str(d["view"]),
            str(d["direction"]),
            np.asarray(d["ranks"], dtype=np.int64),
            tuple(d["book_ids"]),
            tuple(d["titles"]),
            int(d["pool_size"]),
        )


@dataclass(frozen=True, eq=False)
class ZeroShotResult:
    """Zero-shot category classification of one view's covers.

    `correct` is duplicate-aware: a cover listed in several categories is right for any of them.
    `confusion[i, j]` counts covers of categories[i] predicted as categories[j].
    """

    view: str
    categories: tuple[str, ...]
    book_ids: tuple[str, ...]
    titles: tuple[str, ...]
    labels: np.ndarray  # index into categories
    predictions: np.ndarray
    correct: np.ndarray  # bool
    prompt: str

    @property
    def confusion(self) -> np.ndarray:
        c = len(self.categories)
        return np.bincount(self.labels * c + self.predictions, minlength=c * c).reshape(c, c)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "categories": list(self.categories),
            "prompt": self.prompt,
            "book_ids": list(self.book_ids),
            "titles": list(self.titles),
            "labels": self.labels.tolist(),
            "predictions": self.predictions.tolist(),
            "correct": self.correct.astype(int).tolist(),
            "confusion": self.confusion.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZeroShotResult:
        return cls(
            str(d["view"]),
            tuple(d["categories"]),
            tuple(d["book_ids"]),
            tuple(d["titles"]),
            np.asarray(d["labels"], dtype=np.int64),
            np.asarray(d["predictions"], dtype=np.int64),
            np.asarray(d["correct"], dtype=bool),
            str(d["prompt"]),
        )


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One model evaluated on one catalogue's views."""

    model: Mapping[str, Any]  # spec, fingerprint
    data: Mapping[str, Any]  # catalogue fingerprint, view sizes, source
    settings: Mapping[str, Any]  # template, ks, seed, resamples, confidence, pool
    metrics: Mapping[str, Estimate]
    rankings: Mapping[str, QueryRanks] = field(default_factory=dict)  # "<view>/<direction>"
    zero_shot: Mapping[str, ZeroShotResult] = field(default_factory=dict)  # view

    def per_query(self, key: str) -> tuple[tuple[str, ...], np.ndarray]:
        """The ids of the view's queries and the per-query values whose registered statistic is `key`."""
        from harness.evaluate.metrics import metric_key

        parsed = metric_key(key)
        if parsed.kind == "retrieval":
            ranking = self.rankings.get(f"{parsed.view}/{parsed.direction}")
            if ranking is None:
                raise EvaluationError(
                    f"no {parsed.direction} retrieval for view {parsed.view!r}; views here: "
                    f"{', '.join(sorted({k.split('/')[0] for k in self.rankings})) or 'none'}"
                )
            return ranking.book_ids, parsed.resolved.from_ranks(ranking.ranks)
        if parsed.kind == "zero_shot":
            result = self.zero_shot.get(parsed.view)
            if result is None:
                raise EvaluationError(f"no zero-shot result for view {parsed.view!r}")
            values = parsed.resolved.metric.from_zero_shot(result, **parsed.resolved.params)  # type: ignore[misc]
            return result.book_ids, np.asarray(values, dtype=np.float64)
        raise EvaluationError(f"{key} is a probe metric; run the probes (bookclip probe) for it")

    def metric(self, key: str) -> Estimate:
        try:
            return self.metrics[key]
        except KeyError:
            raise EvaluationError(
                f"no metric {key!r} in this evaluation; it has e.g. {', '.join(list(self.metrics)[:4])}"
            ) from None

    @property
    def views(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.split("/", 1)[0] for k in self.metrics))

    def to_dict(self, *, per_query: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": dict(self.model),
            "data": dict(self.data),
            "settings": dict(self.settings),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }
        if per_query:
            out["per_query"] = {k: r.to_dict() for k, r in self.rankings.items()}
            out["zero_shot"] = {k: z.to_dict() for k, z in self.zero_shot.items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "evaluation") -> Evaluation:
        try:
            return cls(
                model=dict(d["model"]),
                data=dict(d["data"]),
                settings=dict(d["settings"]),
                metrics={k: Estimate.from_dict(v) for k, v in d["metrics"].items()},
                rankings={k: QueryRanks.from_dict(v) for k, v in d.get("per_query", {}).items()},
                zero_shot={k: ZeroShotResult.from_dict(v) for k, v in d.get("zero_shot", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EvaluationError(
                f"{source} is not a bookclip evaluation ({type(exc).__name__}: {exc}); "
                "write it with `bookclip eval --out`"
            ) from None

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_json(path, self.to_dict())
        return path
