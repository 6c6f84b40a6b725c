"""What a reviewer reads first, for the console and the HTML page alike: the verdict, each gate's
evidence (read from the report, never recomputed) and the worst regressions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.evaluate.compare import Difference
from harness.evaluate.metrics import scale_of
from harness.evaluate.stats import Estimate
from harness.report.model import GateResult, RunReport

FAILING = ("FAIL", "UNDECIDED")  # an UNDECIDED gate fails its test, as a FAIL does
UNIT_FAMILIES = {
    "rate": "rates (0 to 1)",
    "rank": "ranks (log scale)",
    "similarity": "cosine similarity",
    "other": "other units",
}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # 'PASS', 'WARN', 'FAIL' or '' (no gates)
    label: str  # one line
    counts: dict[str, int]


def verdict(report: RunReport) -> Verdict:
    counts: dict[str, int] = {}
    for gate in report.gates:
        counts[gate.outcome] = counts.get(gate.outcome, 0) + 1
    total = len(report.gates)
    failing = sum(counts.get(o, 0) for o in FAILING)
    if not total:
        return Verdict("", "no gates in this run", counts)
    if failing:
        return Verdict("FAIL", f"{failing} of {total} gates failed", counts)
    if counts.get("WARN"):
        return Verdict("WARN", f"all {total} gates passed or warned ({counts['WARN']} warned)", counts)
    return Verdict("PASS", f"all {total} gates passed", counts)


@dataclass(frozen=True)
class GateEvidence:
    """A gate with the number it was judged on: the difference against the reference (paired rules)
    or the model's own estimate (min/max), and the rule's line on the same axis."""

    gate: GateResult
    paired: bool
    value: float | None
    low: float | None
    high: float | None
    bound: float | None
    interval: str

    @property
    def family(self) -> str:
        return scale_of(self.gate.metric)  # which axis it can share: rates in [0, 1], ranks (log), ...


def gate_evidence(report: RunReport, gate: GateResult) -> GateEvidence:
    absolute, est, d = _judged_on(report, gate)
    if d is not None:
        return GateEvidence(
            gate,
            True,
            _num(d.delta),
            _num(d.ci_low),
            _num(d.ci_high),
            _num(gate.bound),
            f"{d.test} test; paired CI over n={d.n}",
        )
    if est is None:
        return GateEvidence(gate, not absolute, None, None, None, _num(gate.bound), "")
    return GateEvidence(
        gate,
        False,
        _num(est.value),
        _num(est.ci_low),
        _num(est.ci_high),
        _num(gate.bound),
        f"{est.interval} CI over n={est.n}",
    )


Number = str | float | int


def gate_numbers(
    gate: GateResult, estimate: Estimate | None, difference: Difference | None, reference: str | None = None
) -> dict[str, Number]:
    """A gate's numbers, flat, for CI tools (JUnit properties, Markdown, MLflow): the paired difference
    it was judged on (value and reference value, delta and its CI, test) or, for min/max rules, the
    role's estimate and its CI; then its rule and outcome. A number that is not finite is left out,
    as the run report writes it as null."""
    numbers: dict[str, Number | None] = {"metric": gate.metric, "role": gate.role}
    if difference is not None:
        numbers |= {
            "reference": reference or "baseline",
            "reference_value": difference.reference,
            "value": difference.value,
            "delta": difference.delta,
            "ci_of": "delta",
            "ci_low": difference.ci_low,
            "ci_high": difference.ci_high,
            "p_value": gate.p_value,
            "test": difference.test,
            "interval": difference.interval,
            "n": difference.n,
        }
    elif estimate is not None:
        numbers |= {
            "value": estimate.value,
            "ci_of": "value",
            "ci_low": estimate.ci_low,
            "ci_high": estimate.ci_high,
            "interval": estimate.interval,
            "n": estimate.n,
        }
    numbers |= {"rule": gate.rule, "tier": gate.tier, "outcome": gate.outcome}
    return {k: v for k, v in numbers.items() if v is not None and not (isinstance(v, float) and not math.isfinite(v))}


def report_gate_numbers(report: RunReport, gate: GateResult) -> dict[str, Number]:
    """`gate_numbers` of a gate in a written run report."""
    _absolute, est, d = _judged_on(report, gate)
    return gate_numbers(gate, est, d, report.reference)


def _judged_on(report: RunReport, gate: GateResult) -> tuple[bool, Estimate | None, Difference | None]:
    """Whether the gate's rule is absolute (min/max), its role's estimate, and for a paired rule the
    difference against the reference."""
    absolute = gate.rule_kind in ("min", "max") or (not gate.rule_kind and gate.rule.lstrip()[:1] in "≥≤")
    d = None if absolute else (report.comparison(gate.metric, gate.role) or report.comparison(gate.metric))
    return absolute, report.metrics.get(gate.role, {}).get(gate.metric), d


def worst_regressions(report: RunReport, count: int = 5) -> list[tuple[str, Any]]:
    """(role, Difference) of the differences whose whole CI lies on the worse side, the clearest first:
    by the change in units of its own CI width, so rates and ranks can be ordered together."""
    found = [
        (role, d)
        for role in report.compared_roles
        for d in report.comparisons[role].values()
        if d.significant == "worse"
    ]

    def clarity(item: tuple[str, Any]) -> float:
        d = item[1]
        width = abs(d.ci_high - d.ci_low)
        return abs(d.delta) / width if width > 1e-12 else math.inf

    return sorted(found, key=lambda item: (-clarity(item), item[0], item[1].key))[:count]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None
