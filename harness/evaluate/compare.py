"""Two checkpoints on the same queries: paired deltas with CIs, McNemar p-values, flip lists."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from harness.errors import EvaluationError
from harness.evaluate.results import Evaluation
from harness.evaluate.retrieval import metric_names, per_query_values
from harness.evaluate.stats import Flips, flips, mcnemar_exact, paired_bootstrap


@dataclass(frozen=True)
class MetricDelta:
    """candidate minus baseline on one metric key, paired over the same queries.

    `p_value` is McNemar's exact test for hit metrics (recall@k, zero-shot accuracy/recall) and the
    paired-bootstrap two-sided p-value otherwise (`test` says which); gained/lost count the queries
    that became hits / misses (hit metrics only).
    """

    key: str
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    n: int
    p_value: float
    test: str  # "mcnemar" or "bootstrap"
    gained: int | None = None
    lost: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """A candidate evaluation against a baseline evaluation of the same items."""

    baseline: Mapping[str, Any]  # model spec + fingerprint
    candidate: Mapping[str, Any]
    deltas: Mapping[str, MetricDelta]
    flips: Mapping[str, Flips]  # "<view>/<direction>" -> improved / regressed queries at k

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": dict(self.baseline), "candidate": dict(self.candidate),
                "deltas": {k: d.to_dict() for k, d in self.deltas.items()},
                "flips": {k: f.to_dict() for k, f in self.flips.items()}}


def compare(
    baseline: Evaluation,
    candidate: Evaluation,
    *,
    resamples: int | None = None,
    confidence: float | None = None,
    seed: int | None = None,
    flip_k: int | None = None,
) -> Comparison:
    """Paired comparison of every metric the two evaluations share (settings default to the baseline's)."""
    settings = baseline.settings
    resamples = int(resamples if resamples is not None else settings.get("resamples", 1000))
    confidence = float(confidence if confidence is not None else settings.get("confidence", 0.95))
    seed = int(seed if seed is not None else settings.get("seed", 0))
    ks = tuple(int(k) for k in settings.get("ks", (1, 5, 10)))
    k_flip = int(flip_k if flip_k is not None else (5 if 5 in ks else ks[0]))
    if baseline.data.get("fingerprint") != candidate.data.get("fingerprint"):
        raise EvaluationError("the two evaluations ran on different catalogues (data fingerprints differ); "
                              "evaluate both checkpoints on the same --data and --categories")
    deltas: dict[str, MetricDelta] = {}
    flip_lists: dict[str, Flips] = {}
    for key, a in baseline.rankings.items():
        b = candidate.rankings.get(key)
        if b is None:
            continue
        _same_queries(key, a.book_ids, b.book_ids)
        names = metric_names(ks)
        diffs = paired_bootstrap({m: per_query_values(a.ranks, m) for m in names},
                                 {m: per_query_values(b.ranks, m) for m in names},
                                 statistics={"median_rank": "median"}, resamples=resamples, confidence=confidence, seed=seed)
        for m in names:
            full = f"{key}/{m}"
            if m.startswith("recall@"):
                k = int(m.split("@")[1])
                test = mcnemar_exact(a.ranks <= k, b.ranks <= k)
                extra = {"p_value": test.p_value, "test": "mcnemar", "gained": test.gained, "lost": test.lost}
            else:
                extra = {"p_value": diffs[m].p_value, "test": "bootstrap"}
            deltas[full] = MetricDelta(full, baseline.metrics[full].value, candidate.metrics[full].value,
                                       diffs[m].value, diffs[m].ci_low, diffs[m].ci_high, diffs[m].n, **extra)
        flip_lists[key] = flips(a.ranks, b.ranks, k_flip, a.book_ids, a.titles)
    for view, za in baseline.zero_shot.items():
        zb = candidate.zero_shot.get(view)
        if zb is None:
            continue
        _same_queries(f"{view}/zero_shot", za.book_ids, zb.book_ids)
        groups = {"accuracy": np.ones(len(za.correct), bool)}
        groups.update({f"recall[{c}]": za.labels == i for i, c in enumerate(za.categories) if (za.labels == i).any()})
        for name, members in groups.items():
            full = f"{view}/zero_shot/{name}"
            if full not in baseline.metrics or full not in candidate.metrics:
                continue
            ha, hb = za.correct[members], zb.correct[members]
            d = paired_bootstrap({"x": ha}, {"x": hb}, resamples=resamples, confidence=confidence, seed=seed)["x"]
            test = mcnemar_exact(ha, hb)
            deltas[full] = MetricDelta(full, baseline.metrics[full].value, candidate.metrics[full].value, d.value,
                                       d.ci_low, d.ci_high, d.n, test.p_value, "mcnemar", test.gained, test.lost)
    if not deltas:
        raise EvaluationError("the two evaluations share no view; evaluate both with the same --categories/--views")
    return Comparison(dict(baseline.model), dict(candidate.model), deltas, flip_lists)


def compare_many(evaluations: Sequence[Evaluation], **options: Any) -> list[Comparison]:
    """Each evaluation after the first against the first."""
    if len(evaluations) < 2:
        raise EvaluationError("compare needs at least two checkpoints")
    return [compare(evaluations[0], other, **options) for other in evaluations[1:]]


def _same_queries(key: str, ids_a: Sequence[str], ids_b: Sequence[str]) -> None:
    if tuple(ids_a) != tuple(ids_b):
        raise EvaluationError(f"{key}: the two evaluations ranked different queries; a paired comparison "
                              "needs the same items in the same order (same data, categories, seed)")
