"""Where is the candidate worse? Every slice of every registered slicing, compared with false-discovery control.

Per view (held-out and cross-category books by default), direction, metric and slice with at least
`min_n` queries: the comparison engine's paired difference of the two models over the slice's queries
(`compare_values`: the metric's registered test, CI and p-value), and the smallest effect those queries
can decide (harness.evaluate.power, the gates' power arithmetic). Benjamini-Hochberg q-values are taken
across every slice tried; a slice is a discovery when its q-value is at most `level`.

A non-inferiority rule over slices (`worse_beyond`) asks, per slice, whether the candidate is worse
than the reference by more than a margin (the registered test's one-sided p-value against the
margin), again with Benjamini-Hochberg across the slices it covers.

Queries are the per-query ranks of a run report (`per_query`), aligned to catalogue rows by book id;
a query whose book the catalogue lacks is counted, not guessed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from harness.errors import ConfigError, EvaluationError
from harness.evaluate.compare import Difference, compare_values
from harness.evaluate.metrics import DIRECTIONS, resolve, values_from_ranks
from harness.evaluate.power import detectable_effect
from harness.evaluate.slices import SliceTable
from harness.evaluate.stats import benjamini_hochberg
from harness.settings import DEFAULT_STAT_SETTINGS, StatSettings, false_discovery_level

DEFAULT_LEVEL = 0.05
DEFAULT_MIN_N = 30
DEFAULT_METRICS = ("recall@5", "mrr")
DEFAULT_VIEWS = ("heldout", "cross")


def default_views(prefixes: Sequence[str]) -> tuple[str, ...]:
    """The views to slice when none are named: held-out and cross-category books where a run has them,
    else every whole view but the training one (`all` of an evaluation without categories)."""
    present = list(dict.fromkeys(p.split("/", 1)[0] for p in prefixes))
    chosen = [v for v in DEFAULT_VIEWS if v in present]
    return tuple(chosen or [v for v in present if ":" not in v and v != "train"])


@dataclass(frozen=True)
class SliceResult:
    """One slice of one slicing, compared on one metric of one view and direction."""

    view: str
    direction: str
    slicing: str
    label: str
    difference: Difference  # the candidate minus the reference over the slice's queries
    q_value: float = math.nan
    detectable: float = math.nan  # smallest change the slice's queries decide (one-sided, the gates' level)
    discovery: bool = False

    @property
    def metric(self) -> str:
        return self.difference.key.rsplit("/", 1)[-1]

    @property
    def n(self) -> int:
        return self.difference.n

    @property
    def name(self) -> str:
        return f"{self.view}/{self.direction}/{self.metric} {self.slicing}={self.label}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "direction": self.direction,
            "slicing": self.slicing,
            "label": self.label,
            "difference": self.difference.to_dict(),
            "q_value": self.q_value,
            "detectable": self.detectable,
            "discovery": self.discovery,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SliceResult:
        def num(x: Any) -> float:
            return math.nan if x is None else float(x)

        return cls(
            str(d["view"]),
            str(d["direction"]),
            str(d["slicing"]),
            str(d["label"]),
            Difference.from_dict(d["difference"]),
            num(d.get("q_value")),
            num(d.get("detectable")),
            bool(d.get("discovery", False)),
        )


@dataclass(frozen=True)
class SliceAnalysis:
    """Every slice tried, its comparison, and what was not tried and why."""

    level: float
    min_n: int
    metrics: tuple[str, ...]
    views: tuple[str, ...]
    results: tuple[SliceResult, ...]  # worse discoveries first, then by q-value
    too_small: dict[str, int] = field(default_factory=dict)  # slicing -> (view, slice) pairs below min_n
    skipped: dict[str, str] = field(default_factory=dict)  # slicing -> why it was not applied
    unusable: dict[str, int] = field(default_factory=dict)  # slicing -> queries without a usable value
    unmatched: int = 0  # queries whose book the catalogue lacks
    whole: dict[str, int] = field(default_factory=dict)  # slicing -> slices holding every query of a view

    @property
    def tried(self) -> int:
        return len(self.results)

    @property
    def discoveries(self) -> list[SliceResult]:
        return [r for r in self.results if r.discovery]

    def sizes(self) -> dict[str, dict[str, int]]:
        """slicing -> slice -> queries, the largest view's count (the slices tried, with their sizes)."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            one = out.setdefault(r.slicing, {})
            one[r.label] = max(one.get(r.label, 0), r.n)
        return {name: dict(sorted(one.items(), key=lambda kv: (-kv[1], kv[0]))) for name, one in sorted(out.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "min_n": self.min_n,
            "metrics": list(self.metrics),
            "views": list(self.views),
            "tried": self.tried,
            "discoveries": len(self.discoveries),
            "results": [r.to_dict() for r in self.results],
            "too_small": dict(self.too_small),
            "skipped": dict(self.skipped),
            "unusable": dict(self.unusable),
            "unmatched": self.unmatched,
            "whole": dict(self.whole),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SliceAnalysis:
        return cls(
            float(d["level"]),
            int(d["min_n"]),
            tuple(str(m) for m in d.get("metrics", ())),
            tuple(str(v) for v in d.get("views", ())),
            tuple(SliceResult.from_dict(r) for r in d.get("results", ())),
            {str(k): int(v) for k, v in d.get("too_small", {}).items()},
            {str(k): str(v) for k, v in d.get("skipped", {}).items()},
            {str(k): int(v) for k, v in d.get("unusable", {}).items()},
            int(d.get("unmatched", 0)),
            {str(k): int(v) for k, v in d.get("whole", {}).items()},
        )

    def worse_beyond(
        self, margin: float, *, direction: str | None = None, metric: str | None = None
    ) -> list[SliceResult]:
        """The slices (of `direction` and `metric`, when given) where the candidate is worse than the
        reference by more than `margin` after Benjamini-Hochberg at `level`: the registered test's
        one-sided p-value of 'not worse by more than the margin'. Needs the comparison engine's
        bootstrap samples for bootstrap metrics (an analysis read back from JSON has none: recompute it)."""
        chosen = [
            r
            for r in self.results
            if (direction is None or r.direction == direction) and (metric is None or r.metric == metric)
        ]
        p = [_p_worse(r.difference, margin) for r in chosen]
        q = benjamini_hochberg(p)
        return [r for r, qv in zip(chosen, q.tolist(), strict=True) if math.isfinite(qv) and qv <= self.level]

    def against_gate(self, key: str, margin: float) -> tuple[int, list[SliceResult]]:
        """For the slice gate `key` ("slices/<direction>/<metric>"): how many slices it covers, and those worse
        than the reference by more than `margin` after Benjamini-Hochberg (worse_beyond)."""
        _, direction, metric = key.split("/")
        covered = sum(r.direction == direction and r.metric == metric for r in self.results)
        return covered, self.worse_beyond(margin, direction=direction, metric=metric)


def _p_worse(d: Difference, margin: float) -> float:
    """One-sided p-value of 'the candidate is not worse than the reference by more than `margin`':
    the engine's one-sided test with the direction turned round."""
    if d.higher_is_better is None or d.n == 0:
        return math.nan
    return replace(d, higher_is_better=not d.higher_is_better).one_sided_p(margin)


# --------------------------------------------------------------------------- the analysis


def check_metrics(metrics: Sequence[str]) -> None:
    """Slices compare retrieval metrics that have a direction (from per-query ranks)."""
    for metric in metrics:
        found = resolve(metric, "retrieval")
        if found is None or found.higher_is_better is None:
            raise ConfigError(
                f"slices: {metric!r} is not a retrieval metric with a direction; use e.g. recall@5 or mrr"
            )


def discover(
    per_query: Mapping[str, Mapping[str, Any]],
    table: SliceTable,
    *,
    reference: str = "baseline",
    role: str = "candidate",
    metrics: Sequence[str] = DEFAULT_METRICS,
    views: Sequence[str] | None = None,
    settings: StatSettings = DEFAULT_STAT_SETTINGS,
    level: float = DEFAULT_LEVEL,
    min_n: int = DEFAULT_MIN_N,
) -> SliceAnalysis:
    """Every slice of `table` with at least `min_n` queries in a view, compared `role` minus `reference`
    (views: by default `default_views`)."""
    level = false_discovery_level(level, "level")
    check_metrics(metrics)
    views = tuple(views) if views else default_views(list(per_query))
    index = {book: i for i, book in enumerate(table.book_ids)}
    alpha = (1.0 - settings.confidence) / 2.0  # the gates' one-sided level
    results: list[SliceResult] = []
    too_small: dict[str, set[tuple[str, str]]] = {name: set() for name in table.labels}
    whole: dict[str, set[tuple[str, str]]] = {name: set() for name in table.labels}
    unusable: dict[str, set[str]] = {name: set() for name in table.labels}
    unmatched: set[str] = set()
    for prefix, entry in per_query.items():
        view, _, direction = prefix.partition("/")
        if view not in views or direction not in DIRECTIONS:
            continue
        ranks = entry.get("ranks", {})
        if reference not in ranks or role not in ranks:
            continue
        items = [str(i) for i in entry["item_ids"]]
        a, b = np.asarray(ranks[reference], dtype=np.float64), np.asarray(ranks[role], dtype=np.float64)
        if not (len(a) == len(b) == len(items)):
            raise EvaluationError(f"per-query ranks of {prefix}: {len(items)} items, {len(a)} and {len(b)} ranks")
        rows = np.array([index.get(i, -1) for i in items], dtype=np.int64)
        unmatched.update(i for i, r in zip(items, rows.tolist(), strict=True) if r < 0)
        for slicing, labels in table.labels.items():
            per_item = [labels[r] if r >= 0 else None for r in rows.tolist()]
            unusable[slicing].update(
                i for i, x, r in zip(items, per_item, rows.tolist(), strict=True) if x is None and r >= 0
            )
            for label, count in sorted(Counter(x for x in per_item if x is not None).items()):
                if count < min_n:
                    too_small[slicing].add((view, label))
                    continue
                if count == len(items):  # the view itself: its comparison is the run's, not a slice's
                    whole[slicing].add((view, label))
                    continue
                mask = np.array([x == label for x in per_item])
                for metric in metrics:
                    key = f"{view}/{direction}/{metric}"
                    d = compare_values(
                        key, values_from_ranks(a[mask], metric), values_from_ranks(b[mask], metric), settings
                    )
                    results.append(
                        SliceResult(view, direction, slicing, label, d, detectable=detectable_effect(d, alpha))
                    )
    q = benjamini_hochberg([r.difference.p_value for r in results])
    ranked = sorted(
        (
            replace(r, q_value=qv, discovery=math.isfinite(qv) and qv <= level)
            for r, qv in zip(results, q.tolist(), strict=True)
        ),
        key=lambda r: (
            not (r.discovery and r.difference.significant == "worse"),
            _nan_last(r.q_value),
            _nan_last(r.difference.p_value),
            r.name,
        ),
    )
    return SliceAnalysis(
        level,
        min_n,
        tuple(metrics),
        tuple(views),
        tuple(ranked),
        {k: len(v) for k, v in too_small.items() if v},
        dict(table.skipped),
        {k: len(v) for k, v in unusable.items() if v},
        len(unmatched),
        {k: len(v) for k, v in whole.items() if v},
    )


def _nan_last(x: float) -> float:
    return x if math.isfinite(x) else math.inf
