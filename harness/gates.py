"""Quality gates: parse them from `[tool.bookclip.gates]`, judge them on evidence.

A gate names a metric key and one rule:

    min / max        the candidate's value is at least / at most a threshold
                     (on the point estimate; with `confidence`, on the CI bound)
    delta            the candidate beats the baseline by more than `delta`, judged on the
                     paired bootstrap of the difference at `confidence` (default 0.95)
    non_inferior     the candidate is worse than the baseline by less than the margin,
                     judged the same way

Directions are known per metric (higher is better for recall, lower for ranks and flip
rates), so a rule is always read as "better" or "worse", never as "+" or "-". A paired rule
that is not shown at the stated confidence while its point estimate is on the passing side
is UNDECIDED, with a power note (roughly how many queries would decide it), rather than
passing. `tier = "warn"` reports without failing. Holm's step-down correction can be applied
across the paired gates of a run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import settings
from harness.errors import ConfigError
from harness.evaluate.compare import Difference
from harness.evaluate.metrics import better_sign, higher_is_better, knows_direction, parse_key
from harness.evaluate.power import queries_to_decide
from harness.evaluate.stats import Estimate
from harness.report.model import TIERS, GateResult, Outcome, Tier, one_of

RULES = ("min", "max", "delta", "non_inferior")
PAIRED_RULES = ("delta", "non_inferior")
_OPTIONS = {"confidence", "tier", "role", "suite", "min_n"}


def suite_of(key: str) -> str | None:
    """The suite whose gates may name `key` (from the metric registry), or None for an unknown key."""
    if key == "interpolation/best_alpha":
        return "interpolation"
    parsed = parse_key(key)
    return None if parsed is None else parsed.suite


class GateFailure(AssertionError):
    """A gate that did not pass; its message is the one line a user reads."""


@dataclass(frozen=True)
class Gate:
    metric: str
    rule: str
    threshold: float
    confidence: float = 0.95
    tier: Tier = "fail"
    role: str = "candidate"
    suite: str = ""
    min_n: int = 30
    ci_based: bool = False  # min/max judged on the CI bound rather than the point estimate
    max_discoveries: int | None = None  # a slice gate: how many slices may be worse beyond the margin

    @property
    def paired(self) -> bool:
        return self.rule in PAIRED_RULES

    @property
    def name(self) -> str:
        return f"{self.metric} {self.describe()}"

    def describe(self) -> str:
        pct = f"{self.confidence:.0%}"
        if self.rule == "min":
            return f"≥ {self.threshold:g}" + (f" at {pct}" if self.ci_based else "")
        if self.rule == "max":
            return f"≤ {self.threshold:g}" + (f" at {pct}" if self.ci_based else "")
        if self.max_discoveries is not None:
            return f"at most {self.max_discoveries} slice(s) worse by > {self.threshold:g}"
        if self.rule == "delta":
            return f"better by > {self.threshold:g} at {pct}"
        return f"non-inferior by {self.threshold:g} at {pct}"


def parse_gates(
    table: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None, categories: Sequence[str] | None = None
) -> list[Gate]:
    """Gates from a `[tool.bookclip.gates]` table: key -> rule table, or a list of them. With the
    fine-tuning `categories`, a gate that a constant predictor could pass is refused (see
    `null_proof`)."""
    defaults = dict(defaults or {})
    if not isinstance(table, Mapping):
        raise ConfigError("[tool.bookclip.gates] must be a table of metric = { rule = value } entries")
    gates: list[Gate] = []
    for key, spec in table.items():
        specs = spec if isinstance(spec, list) else [spec]
        for one in specs:
            gates.append(_parse_gate(str(key), one, defaults))
    if categories is not None:
        for gate in gates:
            null_proof(gate.metric, categories)
    return gates


def null_proof(key: str, categories: Sequence[str]) -> None:
    """Refuse a zero-shot gate that a constant predictor passes: per-category recall (predict that
    category for everything), and any zero-shot metric on a view of one category (`cross:<C>`, or
    train/heldout when one category is fine-tuned). Those are reported, not gated."""
    parsed = parse_key(key)
    if parsed is None or parsed.kind != "zero_shot":
        return
    where = f'gate "{key}"'
    if parsed.resolved.metric.name == "recall[C]":
        raise ConfigError(
            f"{where}: per-category zero-shot recall is 1 for a model that predicts that category "
            "for every cover; gate <view>/zero_shot/balanced_accuracy on a view of several categories"
        )
    view = parsed.view
    single = view.startswith("cross:") or (view in ("train", "heldout") and len(set(categories)) == 1)
    if single:
        raise ConfigError(
            f"{where}: the {view} view holds one category, so predicting it for every cover is "
            "perfect; gate zero-shot quality on cross (several categories) with balanced_accuracy"
        )


def _tier(spec: Mapping[str, Any], where: str) -> Tier:
    try:
        return one_of(spec.get("tier", "fail"), TIERS, "tier")
    except ValueError:
        raise ConfigError(f"{where}: tier must be one of {list(TIERS)}, got {spec.get('tier')!r}") from None


def _parse_gate(key: str, spec: Any, defaults: Mapping[str, Any]) -> Gate:
    where = f'gate "{key}"'
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a table like {{ delta = 0 }} or {{ min = 0.3 }}, got {spec!r}")
    if key.startswith(SLICE_PREFIX):
        return _parse_slice_gate(key, spec, defaults)
    suite = suite_of(key)
    if suite is None:
        raise ConfigError(
            f"{where}: unknown metric; keys look like heldout/image_to_text/recall@5, "
            "cross/text_to_image/mrr, heldout/zero_shot/accuracy, probes/<family>/flip_rate"
        )
    if key != "interpolation/best_alpha" and not knows_direction(key):
        raise ConfigError(
            f"{where}: this metric has no direction (it describes, it does not rate), so no "
            "gate can say better or worse"
        )
    unknown = set(spec) - set(RULES) - _OPTIONS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {sorted(unknown)}; rules are {list(RULES)}, options are {sorted(_OPTIONS)}"
        )
    rules = [r for r in RULES if r in spec]
    if len(rules) != 1:
        raise ConfigError(f"{where}: needs exactly one rule of {list(RULES)}, found {rules or 'none'}")
    rule = rules[0]
    threshold = settings.number(spec[rule], f"{where}: {rule}")
    if rule == "non_inferior":
        threshold = settings.margin(threshold, f"{where}: non_inferior margin")
    confidence = settings.confidence(spec.get("confidence", defaults.get("confidence", 0.95)), f"{where}: confidence")
    tier = _tier(spec, where)
    role = str(spec.get("role", "candidate"))
    if role not in ("candidate", "baseline"):
        raise ConfigError(f"{where}: role must be 'candidate' or 'baseline', got {role!r}")
    if rule in PAIRED_RULES and "role" in spec:
        raise ConfigError(f"{where}: {rule} compares candidate with baseline; it takes no role")
    min_n = settings.min_n(spec.get("min_n", defaults.get("min_n", 30)), f"{where}: min_n")
    return Gate(
        metric=key,
        rule=rule,
        threshold=threshold,
        confidence=confidence,
        tier=tier,
        role=role,
        suite=str(spec.get("suite", suite)),
        min_n=min_n,
        ci_based=rule in ("min", "max") and "confidence" in spec,
    )


# -- judging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What a gate is judged on: the metric of its role, and for paired rules the comparison
    engine's difference of candidate minus baseline (with its bootstrap samples)."""

    estimate: Estimate
    difference: Difference | None = None


def one_sided_p(gate: Gate, ev: Evidence) -> float:
    """P-value of 'the candidate is not better than the bound', from the metric's declared test (the
    comparison engine); the bound is +delta for a `delta` rule and -margin for `non_inferior`."""
    assert ev.difference is not None
    return ev.difference.one_sided_p(gate.threshold if gate.rule == "delta" else -gate.threshold)


def judge(gates: Sequence[Gate], evidence: Mapping[Gate, Evidence], *, holm: bool = False) -> list[GateResult]:
    """Outcome of every gate. Paired gates pass when their one-sided p-value is below
    (1 - confidence) / 2 -- the two-sided CI excludes the bound -- Holm-adjusted if asked."""
    alphas = {g: (1 - g.confidence) / 2 for g in gates}
    p_values = {
        g: one_sided_p(g, evidence[g])
        for g in gates
        if g.paired and (d := evidence[g].difference) is not None and d.n >= g.min_n
    }
    blocked: set[Gate] = set()
    if holm:
        alphas, blocked = _holm(p_values, alphas)
    return [_judge_one(g, evidence[g], p_values.get(g), alphas[g], g in blocked) for g in gates]


def _holm(p_values: Mapping[Gate, float], alphas: Mapping[Gate, float]) -> tuple[dict[Gate, float], set[Gate]]:
    """Holm step-down: the i-th smallest p (0-based) of m is tested at alpha / (m - i); after the
    first that is not rejected, no later one is (they are 'blocked')."""
    levels = dict(alphas)
    blocked: set[Gate] = set()
    ordered = sorted(p_values, key=lambda g: p_values[g])
    for i, gate in enumerate(ordered):
        levels[gate] = alphas[gate] / (len(ordered) - i)
        if blocked or p_values[gate] >= levels[gate]:
            blocked.add(gate)
    return levels, blocked


def _judge_one(gate: Gate, ev: Evidence, p: float | None, alpha: float, blocked: bool = False) -> GateResult:
    rule = gate.describe()
    fail: Outcome = "FAIL" if gate.tier == "fail" else "WARN"

    if gate.rule in PAIRED_RULES and knows_direction(gate.metric):
        better = better_sign(higher_is_better(gate.metric))  # the line, in candidate-minus-baseline units
        line: float | None = better * (gate.threshold if gate.rule == "delta" else -gate.threshold)
    else:
        line = gate.threshold if gate.rule in ("min", "max") else None

    def result(outcome: Outcome, why: str) -> GateResult:
        return GateResult(
            name=gate.name,
            metric=gate.metric,
            rule=rule,
            tier=gate.tier,
            outcome=outcome,
            message=why,
            rule_kind=gate.rule,
            threshold=gate.threshold,
            bound=line,
            role=gate.role,
            p_value=p,
        )

    est = ev.estimate
    if gate.rule in ("min", "max"):
        value = est.value
        if gate.ci_based:
            value = est.ci_low if gate.rule == "min" else est.ci_high
        shown = f"{gate.role} {est.value:.4g} [{est.ci_low:.4g}, {est.ci_high:.4g}] (n={est.n})"
        ok = value >= gate.threshold if gate.rule == "min" else value <= gate.threshold
        if not math.isfinite(value):
            return result(fail, f"{shown}: value is not a number")
        return result("PASS" if ok else fail, f'{shown}; gate "{rule}": {"PASS" if ok else fail}')

    d = ev.difference
    assert d is not None
    shown = (
        f"candidate {d.value:.4g} vs baseline {d.reference:.4g}, delta {d.delta:+.4g} "
        f"[{int(round(gate.confidence * 100))}% CI {d.ci_low:+.4g}, {d.ci_high:+.4g}] (n={d.n})"
    )
    if d.n < gate.min_n:
        return result(
            "UNDECIDED" if gate.tier == "fail" else "WARN",
            f'{shown}; gate "{rule}": UNDECIDED — n={d.n} is below min_n={gate.min_n}, too few queries to decide',
        )
    assert p is not None
    if p < alpha and not blocked:
        return result("PASS", f'{shown}; gate "{rule}": PASS (p={p:.3g})')
    sign = better_sign(higher_is_better(gate.metric))
    bound = gate.threshold if gate.rule == "delta" else -gate.threshold
    distance = sign * d.delta - bound
    if distance > 0:
        # The point estimate passes but the evidence is too weak: say how many queries would do.
        needed = queries_to_decide(d, bound, alpha)
        outcome: Outcome = "UNDECIDED" if gate.tier == "fail" else "WARN"
        return result(
            outcome,
            f'{shown}; gate "{rule}": UNDECIDED (p={p:.3g}) — the estimate passes but '
            f"n={d.n} is too small to show it; about {needed} queries would",
        )
    return result(fail, f'{shown}; gate "{rule}": {fail} (p={p:.3g})')


# -- slices -----------------------------------------------------------------------------------

SLICE_PREFIX = "slices/"
_SLICE_FIELDS = {"non_inferior", "max_discoveries", "tier"}


def _parse_slice_gate(key: str, spec: Mapping[str, Any], defaults: Mapping[str, Any]) -> Gate:
    """`"slices/<direction>/<metric>" = { max_discoveries = 0, non_inferior = 0.05 }`: at most that many
    slices (of any view) may be worse than the reference by more than the margin after false-discovery
    control. Judged by `bookclip slices RUN.json` on the run's Slices section."""
    from harness.evaluate.metrics import DIRECTIONS, resolve

    where = f'gate "{key}"'
    _, direction, metric = (key.split("/") + ["", ""])[:3]
    resolved = resolve(metric, "retrieval")
    if key.count("/") != 2 or direction not in DIRECTIONS or resolved is None:
        raise ConfigError(
            f"{where}: slice gates look like slices/image_to_text/recall@5 (a direction, a retrieval metric)"
        )
    if resolved.higher_is_better is None:
        raise ConfigError(f"{where}: this metric has no direction, so no slice can be worse")
    unknown = set(spec) - _SLICE_FIELDS
    if unknown or "non_inferior" not in spec:
        raise ConfigError(
            f"{where}: a slice gate takes non_inferior (the margin) and optionally max_discoveries and tier; "
            f"got {sorted(spec)}"
        )
    margin = settings.margin(settings.number(spec["non_inferior"], f"{where}: non_inferior"), f"{where}: non_inferior")
    allowed = settings.integer(spec.get("max_discoveries", 0), f"{where}: max_discoveries", minimum=0)
    tier = _tier(spec, where)
    return Gate(
        metric=key,
        rule="non_inferior",
        threshold=margin,
        confidence=float(defaults.get("confidence", 0.95)),
        tier=tier,
        suite="slices",
        max_discoveries=allowed,
    )


def judge_slices(gate: Gate, worse: Sequence[Any], tried: int, level: float) -> GateResult:
    """A slice gate's outcome from the slices found worse beyond its margin (after Benjamini-Hochberg at
    `level` across the `tried` slices it covers): more than `max_discoveries` of them fail it."""
    allowed = gate.max_discoveries or 0
    fail: Outcome = "FAIL" if gate.tier == "fail" else "WARN"
    outcome: Outcome = "PASS" if len(worse) <= allowed else fail
    named = "; ".join(getattr(r, "name", str(r)) for r in worse[:5]) + (" ..." if len(worse) > 5 else "")
    message = (
        f"{len(worse)} of {tried} slices worse by more than {gate.threshold:g} at false-discovery rate {level:g} "
        f"(at most {allowed} allowed): {outcome}" + (f" ({named})" if worse else "")
    )
    return GateResult(
        name=gate.name,
        metric=gate.metric,
        rule=f"{gate.describe()} at false-discovery rate {level:g}",
        tier=gate.tier,
        outcome=outcome,
        message=message,
        rule_kind="non_inferior",
        threshold=gate.threshold,
    )


def failed(results: Iterable[GateResult]) -> list[GateResult]:
    return [r for r in results if r.outcome in ("FAIL", "UNDECIDED")]
