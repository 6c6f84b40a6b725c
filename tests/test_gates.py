from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.evaluate.compare import Difference
from harness.evaluate.stats import Estimate
from harness.gates import Evidence, higher_is_better, judge, parse_gates, suite_of


def paired_evidence(
    base_hits: np.ndarray, cand_hits: np.ndarray, *, seed: int = 0, b: int = 2000, higher_is_better: bool = True
) -> Evidence:
    """Bootstrap evidence from real per-query values (independent of harness.evaluate)."""
    rng = np.random.default_rng(seed)
    n = base_hits.size
    idx = rng.integers(0, n, size=(b, n))
    diffs = (cand_hits[idx] - base_hits[idx]).mean(axis=1)
    boot_c = cand_hits[idx].mean(axis=1)
    estimate = Estimate(
        float(cand_hits.mean()), float(np.quantile(boot_c, 0.025)), float(np.quantile(boot_c, 0.975)), n
    )
    difference = Difference(
        "k",
        float(base_hits.mean()),
        float(cand_hits.mean()),
        float(cand_hits.mean() - base_hits.mean()),
        float(np.quantile(diffs, 0.025)),
        float(np.quantile(diffs, 0.975)),
        n,
        1.0,
        "bootstrap",
        higher_is_better,
        samples=diffs,
    )
    return Evidence(estimate, difference)


def test_parse_all_rules_and_options():
    gates = parse_gates(
        {
            "heldout/image_to_text/recall@5": {"delta": 0},
            "cross/image_to_text/recall@5": [{"non_inferior": 0.02, "confidence": 0.9}, {"min": 0.1, "tier": "warn"}],
            "heldout/text_to_image/median_rank": {"max": 10, "confidence": 0.95},
            "heldout/zero_shot/accuracy": {"min": 0.2, "role": "baseline"},
            "probes/repeated_letters/flip_rate": {"max": 0.5},
        }
    )
    assert [g.rule for g in gates] == ["delta", "non_inferior", "min", "max", "min", "max"]
    assert gates[1].confidence == 0.9 and gates[2].tier == "warn"
    assert gates[3].ci_based and not gates[2].ci_based
    assert [g.suite for g in gates] == [
        "retrieval",
        "cross_category",
        "cross_category",
        "retrieval",
        "zero_shot",
        "probes",
    ]
    assert gates[0].name == "heldout/image_to_text/recall@5 better by > 0 at 95%"


@pytest.mark.parametrize(
    "table, needle",
    [
        ({"heldout/image_to_text/recal@5": {"delta": 0}}, "unknown metric"),
        ({"heldout/image_to_text/recall@5": {"delta": 0, "min": 0.1}}, "exactly one rule"),
        ({"heldout/image_to_text/recall@5": {}}, "exactly one rule"),
        ({"heldout/image_to_text/recall@5": {"delta": "big"}}, "finite number"),
        ({"heldout/image_to_text/recall@5": {"delta": 0, "tier": "maybe"}}, "tier"),
        ({"heldout/image_to_text/recall@5": {"delta": 0, "confidence": 95}}, "confidence"),
        ({"heldout/image_to_text/recall@5": {"delta": 0, "colour": 1}}, "unknown field"),
        ({"heldout/image_to_text/recall@5": {"non_inferior": -0.1}}, "margin"),
        ({"heldout/image_to_text/recall@5": {"delta": 0, "role": "baseline"}}, "takes no role"),
        ({"heldout/image_to_text/recall@5": 0.3}, "expected a table"),
    ],
)
def test_malformed_gates_raise_one_line(table, needle):
    with pytest.raises(ConfigError) as info:
        parse_gates(table)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_directions_and_suites():
    assert higher_is_better("heldout/image_to_text/recall@5")
    assert higher_is_better("cross/text_to_image/mrr")
    assert not higher_is_better("heldout/image_to_text/median_rank")
    assert not higher_is_better("probes/typo/flip_rate")
    assert suite_of("cross:Medical/image_to_text/recall@1") == "cross_category"
    assert suite_of("probes/keyboard_typo/similarity_drop_p90") == "probes"
    assert not higher_is_better("probes/keyboard_typo/similarity_drop_p90")
    assert suite_of("probes/keyboard_typo/similarity_drop_p99") is None  # only the percentiles probes report
    assert suite_of("nonsense") is None


def test_delta_gate_passes_on_real_improvement_and_fails_on_none():
    rng = np.random.default_rng(1)
    base = (rng.random(400) < 0.3).astype(float)
    better = np.where(rng.random(400) < 0.25, 1.0, base)  # flips ~25% misses to hits
    [gate] = parse_gates({"heldout/image_to_text/recall@5": {"delta": 0}})
    [ok] = judge([gate], {gate: paired_evidence(base, better)})
    assert ok.outcome == "PASS" and "delta +" in ok.message and "PASS" in ok.message
    worse = np.where(rng.random(400) < 0.25, 0.0, base)
    [bad] = judge([gate], {gate: paired_evidence(base, worse)})
    assert bad.outcome == "FAIL"


def test_lower_is_better_metric_reads_direction():
    rng = np.random.default_rng(2)
    base = rng.integers(1, 50, 300).astype(float)
    cand = np.maximum(1.0, base - 10)  # ranks improve (fall)
    [gate] = parse_gates({"heldout/image_to_text/mean_rank": {"delta": 0}})
    assert judge([gate], {gate: paired_evidence(base, cand, higher_is_better=False)})[0].outcome == "PASS"
    assert judge([gate], {gate: paired_evidence(cand, base, higher_is_better=False)})[0].outcome == "FAIL"


def test_non_inferiority_and_power_note():
    rng = np.random.default_rng(3)
    base = (rng.random(2000) < 0.5).astype(float)
    same = base.copy()
    same[:10] = 1 - same[:10]  # tiny noise around zero
    [gate] = parse_gates({"cross/image_to_text/recall@5": {"non_inferior": 0.05}})
    assert judge([gate], {gate: paired_evidence(base, same)})[0].outcome == "PASS"
    # with 40 noisy queries the same tiny difference cannot be shown non-inferior
    small_b = (rng.random(40) < 0.5).astype(float)
    small_c = np.where(rng.random(40) < 0.3, 1 - small_b, small_b)
    [gate40] = parse_gates({"cross/image_to_text/recall@5": {"non_inferior": 0.05, "min_n": 10}})
    res = judge([gate40], {gate40: paired_evidence(small_b, small_c)})[0]
    if res.outcome != "FAIL":  # point estimate on the passing side -> a power note, never a PASS
        assert res.outcome == "UNDECIDED" and "queries would" in res.message


def test_too_few_queries_is_undecided_not_pass():
    base = np.zeros(12)
    cand = np.ones(12)
    [gate] = parse_gates({"heldout/image_to_text/recall@1": {"delta": 0}})
    res = judge([gate], {gate: paired_evidence(base, cand)})[0]
    assert res.outcome == "UNDECIDED" and "min_n" in res.message


def test_warn_tier_never_fails():
    rng = np.random.default_rng(4)
    base = (rng.random(300) < 0.5).astype(float)
    worse = np.where(rng.random(300) < 0.5, 0.0, base)
    [gate] = parse_gates({"heldout/image_to_text/recall@5": {"delta": 0, "tier": "warn"}})
    assert judge([gate], {gate: paired_evidence(base, worse)})[0].outcome == "WARN"


def test_min_max_on_point_or_ci():
    ev = Evidence(Estimate(0.42, 0.30, 0.55, 200))
    g_point, g_ci = parse_gates({"heldout/image_to_text/recall@5": [{"min": 0.4}, {"min": 0.4, "confidence": 0.95}]})
    out = judge([g_point, g_ci], {g_point: ev, g_ci: ev})
    assert [r.outcome for r in out] == ["PASS", "FAIL"]


def test_holm_is_stricter_than_uncorrected():
    rng = np.random.default_rng(5)
    gates, evidence = [], {}
    for i in range(6):
        base = (rng.random(250) < 0.4).astype(float)
        cand = np.where(rng.random(250) < 0.06, 1.0, base)  # a weak improvement each
        [g] = parse_gates({f"heldout/image_to_text/recall@{i + 1}": {"delta": 0}})
        gates.append(g)
        evidence[g] = paired_evidence(base, cand, seed=i)
    plain = [r.outcome == "PASS" for r in judge(gates, evidence)]
    holm = [r.outcome == "PASS" for r in judge(gates, evidence, holm=True)]
    assert sum(holm) <= sum(plain)
    assert all(p or not h for p, h in zip(plain, holm, strict=True))  # Holm never passes what plain fails


def test_holm_step_down_levels():
    from harness.gates import _holm

    gates = parse_gates({f"heldout/image_to_text/recall@{k}": {"delta": 0} for k in (1, 2, 3)})
    alphas = {g: 0.025 for g in gates}
    # p sorted: 0.005 < 0.025/3 passes; 0.011 < 0.025/2 passes; 0.03 >= 0.025 blocked
    levels, blocked = _holm(dict(zip(gates, (0.011, 0.005, 0.03), strict=True)), alphas)
    assert blocked == {gates[2]}
    assert levels[gates[1]] == pytest.approx(0.025 / 3) and levels[gates[0]] == pytest.approx(0.025 / 2)
    # once one is not rejected, every later one is blocked even if its p is below its level
    levels, blocked = _holm(dict(zip(gates, (0.009, 0.02, 0.0249), strict=True)), alphas)
    assert blocked == set(gates)  # 0.009 >= 0.025/3 stops the step-down at once
