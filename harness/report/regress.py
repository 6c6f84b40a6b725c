"""Regression report: one run against a stored reference run (e.g. main), metric by metric.

The role compared is the same in both runs (by default the candidate). Where both runs hold
per-query ranks over the same items and the same data, each retrieval metric gets a paired
bootstrap CI of the difference and counts as a regression only when the whole interval is
worse than `-margin`. Elsewhere only point estimates (and the runs' own CIs) are available,
and every such row says so. Gates are compared too: a gate that passed before and fails now
is a regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness import settings as check
from harness.errors import ConfigError
from harness.evaluate.compare import compare_values
from harness.evaluate.metrics import better_sign, direction_of, metric_name, parse_key
from harness.evaluate.stats import Estimate
from harness.report.model import RunReport
from harness.report.paired import pair_ranks
from harness.settings import StatSettings

FAIL_ON = ("regression", "warn", "never")

# Row statuses, worst first; 'regression' and 'warn' decide the exit code.
REGRESSION, WARN, IMPROVED, UNCHANGED, NEW, UNKNOWN = ("regression", "warn", "improved", "unchanged", "new", "unknown")


@dataclass(frozen=True)
class MetricChange:
    """One metric of one role: RUN against MAIN."""

    key: str
    new: float | None
    old: float | None
    delta: float | None
    ci_low: float | None  # CI of the delta; only on the paired basis
    ci_high: float | None
    n: int | None
    basis: str  # 'paired', 'unpaired' (runs' own CIs), 'point', 'missing'
    higher_is_better: bool | None
    status: str
    reason: str  # one line: why this status


@dataclass(frozen=True)
class GateChange:
    name: str
    metric: str
    old: str | None  # outcome in MAIN, None when MAIN has no such gate
    new: str | None
    status: str
    reason: str


@dataclass(frozen=True)
class ItemChange:
    book_id: str
    title: str
    old_rank: int
    new_rank: int


@dataclass(frozen=True)
class RegressionResult:
    run: dict[str, Any]  # name, run_id, created_at, source
    main: dict[str, Any]
    role: str
    margin: float
    confidence: float
    resamples: int
    seed: int
    warnings: tuple[str, ...]  # what is not comparable between the two runs
    metrics: tuple[MetricChange, ...]
    gates: tuple[GateChange, ...]
    worst_items: dict[str, tuple[ItemChange, ...]] = field(default_factory=dict)  # per view/direction

    @property
    def regressions(self) -> list[str]:
        """Names of regressed metrics and gates."""
        return [m.key for m in self.metrics if m.status == REGRESSION] + [
            f"gate {g.name}" for g in self.gates if g.status == REGRESSION
        ]

    @property
    def warned(self) -> list[str]:
        return [m.key for m in self.metrics if m.status == WARN] + [
            f"gate {g.name}" for g in self.gates if g.status == WARN
        ]

    @property
    def verdict(self) -> str:
        """'regression', 'warn' (worse but not significant, or not fully comparable) or 'clean'."""
        if self.regressions:
            return "regression"
        if self.warned or self.warnings:
            return "warn"
        return "clean"

    def exit_code(self, fail_on: str = "regression") -> int:
        """1 when the verdict reaches the `fail_on` level, else 0."""
        if fail_on not in FAIL_ON:
            raise ConfigError(f"--fail-on {fail_on!r} is not one of {', '.join(FAIL_ON)}")
        if fail_on == "never":
            return 0
        if fail_on == "warn":
            return int(self.verdict != "clean")
        return int(self.verdict == "regression")

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["verdict"] = self.verdict
        raw["regressions"] = self.regressions
        raw["warned"] = self.warned
        return raw


def compare_runs(
    run: RunReport,
    main: RunReport,
    *,
    role: str = "candidate",
    margin: float = 0.0,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    run_source: str = "RUN",
    main_source: str = "MAIN",
) -> RegressionResult:
    """Compare `run` against `main` for one role; see the module docstring for the rules."""
    stats = StatSettings(check.resamples(resamples, "--resamples"), check.confidence(confidence, "--confidence"), seed)
    margin = check.margin(margin, "--margin")
    for report, source in ((run, run_source), (main, main_source)):
        if role not in report.metrics:
            have = ", ".join(sorted(report.metrics)) or "none"
            raise ConfigError(f"{source} has no metrics for role {role!r} (roles: {have}); pass --role")

    warnings = _comparability_warnings(run, main)
    same_data = not any(w.startswith("data fingerprints differ") for w in warnings)
    pairs = _paired_views(run, main, role) if same_data else {}

    rows = []
    new_metrics, old_metrics = run.metrics[role], main.metrics[role]
    for key in sorted(set(new_metrics) | set(old_metrics)):
        new, old = new_metrics.get(key), old_metrics.get(key)
        view = key.rsplit("/", 1)[0]
        pair = pairs.get(view)
        rows.append(_compare_metric(key, new, old, pair, same_data=same_data, margin=margin, stats=stats))

    worst = {view: _worst_items(*pair) for view, pair in sorted(pairs.items()) if isinstance(pair, tuple)}
    return RegressionResult(
        run=_describe(run, run_source),
        main=_describe(main, main_source),
        role=role,
        margin=margin,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        warnings=tuple(warnings),
        metrics=tuple(rows),
        gates=tuple(_compare_gates(run, main)),
        worst_items=worst,
    )


# -- metrics -------------------------------------------------------------------------------------


def _compare_metric(
    key: str,
    new: Estimate | None,
    old: Estimate | None,
    pair: tuple[Any, ...] | str | None,
    *,
    same_data: bool,
    margin: float,
    stats: StatSettings,
) -> MetricChange:
    hib = direction_of(key)
    new_v, old_v = _value(new), _value(old)
    if new_v is None or old_v is None:
        missing = "RUN" if new_v is None else "MAIN"
        status = NEW if old_v is None and new_v is not None else WARN
        what = "new in RUN" if status == NEW else f"no value in {missing}"
        return MetricChange(key, new_v, old_v, None, None, None, None, "missing", hib, status, what)
    if hib is None:
        return MetricChange(
            key,
            new_v,
            old_v,
            new_v - old_v,
            None,
            None,
            None,
            "point",
            None,
            UNKNOWN,
            f"direction of {metric_name(key)!r} unknown: not judged",
        )
    sign = better_sign(hib)

    parsed = parse_key(key)
    if isinstance(pair, tuple) and parsed is not None and parsed.kind == "retrieval":
        ids, _titles, new_ranks, old_ranks = pair
        diff = compare_values(key, parsed.resolved.from_ranks(old_ranks), parsed.resolved.from_ranks(new_ranks), stats)
        better_lo, better_hi = sorted((sign * diff.ci_low, sign * diff.ci_high))
        at = f"at {stats.confidence:.0%} (paired CI, n={diff.n})"
        if better_hi < -margin:
            status, reason = REGRESSION, f"worse beyond margin {margin:g} {at}"
        elif sign * diff.delta < -margin:
            status, reason = WARN, f"worse, not significant {at}"
        elif better_lo > 0:
            status, reason = IMPROVED, f"better {at}"
        else:
            status, reason = UNCHANGED, f"no significant change {at}"
        return MetricChange(
            key,
            diff.value,
            diff.reference,
            diff.delta,
            diff.ci_low,
            diff.ci_high,
            diff.n,
            "paired",
            hib,
            status,
            reason,
        )

    why_unpaired = (
        pair
        if isinstance(pair, str)
        else "data differs"
        if not same_data
        else "not a per-query retrieval metric"
        if pair is not None
        else "no per-query ranks"
    )
    delta = new_v - old_v
    better = sign * delta
    intervals = _finite(new.ci_low, new.ci_high, old.ci_low, old.ci_high)  # type: ignore[union-attr]
    if intervals:
        # Separate CIs that do not overlap beyond the margin: conservative without pairing.
        new_lo, new_hi = sorted((sign * new.ci_low, sign * new.ci_high))  # type: ignore[union-attr]
        old_lo, old_hi = sorted((sign * old.ci_low, sign * old.ci_high))  # type: ignore[union-attr]
        separated_worse = new_hi < old_lo - margin
        separated_better = new_lo > old_hi
        basis = "unpaired"
        note = f"runs' own CIs, unpaired: {why_unpaired}"
    else:
        separated_worse = separated_better = False
        basis = "point"
        note = f"point estimates only: {why_unpaired}, no CIs"
    if separated_worse:
        status, reason = REGRESSION, f"worse beyond margin {margin:g}, CIs apart ({note})"
    elif better < -margin:
        status, reason = WARN, f"worse, significance unknown ({note})"
    elif separated_better:
        status, reason = IMPROVED, f"better, CIs apart ({note})"
    else:
        status, reason = UNCHANGED, f"within margin ({note})"
    return MetricChange(key, new_v, old_v, delta, None, None, _n(new, old), basis, hib, status, reason)


def _paired_views(run: RunReport, main: RunReport, role: str) -> dict[str, tuple[Any, ...] | str]:
    """view/direction -> (ids, titles, new_ranks, old_ranks) aligned by item id, or why not."""
    views: dict[str, tuple[Any, ...] | str] = {}
    for view in set(run.per_query) & set(main.per_query):
        pair = pair_ranks(run.per_query[view], main.per_query[view], role, role)
        views[view] = pair if isinstance(pair, str) else (pair.ids, pair.titles, pair.first, pair.second)
    for view in set(run.per_query) ^ set(main.per_query):
        views[view] = f"per-query ranks only in {'RUN' if view in run.per_query else 'MAIN'}"
    return views


def _worst_items(
    ids: list[str], titles: list[str], new: np.ndarray, old: np.ndarray, count: int = 5
) -> tuple[ItemChange, ...]:
    change = new - old
    order = np.argsort(-change, kind="stable")[:count]
    return tuple(
        ItemChange(ids[i], str(titles[i]) if i < len(titles) else "", int(old[i]), int(new[i]))
        for i in order
        if change[i] > 0
    )


# -- gates ---------------------------------------------------------------------------------------


def _compare_gates(run: RunReport, main: RunReport) -> list[GateChange]:
    new = {(g.name, g.metric): g for g in run.gates}
    old = {(g.name, g.metric): g for g in main.gates}
    changes = []
    for key in sorted(set(new) | set(old)):
        n, o = new.get(key), old.get(key)
        n_out, o_out = (n.outcome if n else None), (o.outcome if o else None)
        if n_out == o_out:
            status, reason = (WARN, "fails in both runs") if n_out == "FAIL" else (UNCHANGED, "same outcome")
        elif n_out is None:
            status, reason = WARN, "gate in MAIN is missing from RUN"
        elif o_out is None:
            status, reason = (WARN, "new gate, fails") if n_out == "FAIL" else (NEW, "new gate")
        elif o_out == "PASS" and n_out == "FAIL":
            status, reason = REGRESSION, "passed in MAIN, fails in RUN"
        elif n_out == "PASS":
            status, reason = IMPROVED, f"{o_out} in MAIN, passes in RUN"
        elif n_out == "FAIL":
            status, reason = REGRESSION, f"{o_out} in MAIN, fails in RUN"
        else:
            status, reason = WARN, f"{o_out} in MAIN, {n_out} in RUN"
        if n is not None and n.message and status in (REGRESSION, WARN):
            reason = f"{reason}: {n.message}"
        changes.append(GateChange(key[0], key[1], o_out, n_out, status, reason))
    return changes


# -- comparability -------------------------------------------------------------------------------


def _comparability_warnings(run: RunReport, main: RunReport) -> list[str]:
    warnings = []
    if run.schema_version != main.schema_version:
        warnings.append(
            f"schema versions differ (RUN v{run.schema_version}, MAIN v{main.schema_version}): "
            "only fields both versions hold are compared"
        )
    new_fp, old_fp = run.data.get("fingerprint"), main.data.get("fingerprint")
    if new_fp and old_fp and new_fp != old_fp:
        warnings.append(
            f"data fingerprints differ (RUN {str(new_fp)[:12]}, MAIN {str(old_fp)[:12]}): "
            "metrics come from different catalogues; no paired comparison, point estimates only"
        )
    elif not (new_fp and old_fp):
        warnings.append(
            "data fingerprint missing in "
            + ("both runs" if not (new_fp or old_fp) else "RUN" if not new_fp else "MAIN")
            + ": cannot confirm both runs used the same data"
        )
    return warnings


def _describe(report: RunReport, source: str) -> dict[str, Any]:
    git = report.environment.get("git", {}) if isinstance(report.environment, dict) else {}
    return {
        "source": source,
        "name": report.name,
        "run_id": report.run_id,
        "created_at": report.created_at,
        "schema_version": report.schema_version,
        "commit": (git or {}).get("commit"),
        "models": {role: dict(m) for role, m in report.models.items()},
    }


def _value(metric: Estimate | None) -> float | None:
    if metric is None or metric.value is None:
        return None
    value = float(metric.value)
    return value if math.isfinite(value) else None


def _finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _n(*metrics: Estimate | None) -> int | None:
    ns = [m.n for m in metrics if m is not None and isinstance(m.n, int)]
    return min(ns) if ns else None


def json_ready(obj: object) -> object:
    """NaN/inf become null (JSON has neither); tuples become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj
