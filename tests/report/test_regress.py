from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.report.model import GateResult, RunReport
from harness.report.regress import compare_runs, json_ready

RETRIEVAL = [
    f"{v}/{d}/{m}"
    for v in ("heldout", "cross")
    for d in ("image_to_text", "text_to_image")
    for m in ("recall@1", "recall@5", "recall@10", "mrr", "median_rank", "mean_rank")
]


@pytest.fixture(scope="module")
def good(make_run):
    return make_run("good", seed=1, name="main")


@pytest.fixture(scope="module")
def degraded(make_run):
    return make_run("degraded", seed=2)


def test_degraded_candidate_regresses_on_every_retrieval_metric(good, degraded):
    result = compare_runs(degraded, good)
    assert result.verdict == "regression"
    assert result.exit_code("regression") == 1 and result.exit_code("never") == 0
    assert set(RETRIEVAL) <= set(result.regressions)
    rows = {m.key: m for m in result.metrics}
    assert all(rows[k].basis == "paired" for k in RETRIEVAL)
    r5 = rows["heldout/image_to_text/recall@5"]
    assert r5.delta < 0 and r5.ci_high < 0 and r5.ci_low <= r5.delta <= r5.ci_high
    rank = rows["heldout/image_to_text/median_rank"]
    assert rank.delta > 0 and rank.status == "regression" and rank.higher_is_better is False
    # the delta is recomputed from the stored per-query ranks, and agrees with the stored metrics
    assert r5.new == pytest.approx(degraded.metrics["candidate"]["heldout/image_to_text/recall@5"].value)
    assert r5.old == pytest.approx(good.metrics["candidate"]["heldout/image_to_text/recall@5"].value)
    gates = {g.name: g for g in result.gates}
    assert gates["heldout-r5-improves"].status == "regression" and "gate heldout-r5-improves" in result.regressions
    assert gates["probe-flip-rate"].status == "warn"
    assert all(i.new_rank > i.old_rank for items in result.worst_items.values() for i in items)


def test_identical_runs_compare_clean(good):
    result = compare_runs(good, copy.deepcopy(good))
    assert result.verdict == "clean", result.warnings
    assert result.regressions == [] and result.warned == []
    assert {m.status for m in result.metrics} == {"unchanged"}
    assert all(m.delta == 0 for m in result.metrics)
    assert result.exit_code("warn") == 0


def test_better_candidate_is_an_improvement_not_a_regression(good, degraded):
    result = compare_runs(good, degraded)
    statuses = {m.key: m.status for m in result.metrics}
    assert all(statuses[k] == "improved" for k in RETRIEVAL)
    assert result.verdict == "clean"


def _nudged(report: RunReport, view: str, worse_by: int, count: int) -> RunReport:
    out = copy.deepcopy(report)
    ranks = np.array(out.per_query[view]["ranks"]["candidate"])
    ranks[:count] += worse_by
    out.per_query[view]["ranks"]["candidate"] = ranks.tolist()
    return out


def test_a_small_worsening_is_a_warning_not_a_regression(good):
    run = _nudged(good, "heldout/image_to_text", worse_by=2, count=3)
    result = compare_runs(run, good)
    mean_rank = next(m for m in result.metrics if m.key == "heldout/image_to_text/mean_rank")
    assert mean_rank.delta > 0 and mean_rank.status == "warn" and mean_rank.ci_low <= 0
    assert result.regressions == []
    assert result.verdict == "warn" and result.exit_code("regression") == 0 and result.exit_code("warn") == 1


def test_margin_absorbs_a_significant_but_small_drop(good):
    run = _nudged(good, "cross/image_to_text", worse_by=400, count=60)
    strict = {m.key: m for m in compare_runs(run, good).metrics}
    assert strict["cross/image_to_text/mrr"].status == "regression"
    drop = -strict["cross/image_to_text/mrr"].delta
    loose = {m.key: m for m in compare_runs(run, good, margin=drop * 3).metrics}
    assert loose["cross/image_to_text/mrr"].status == "unchanged"


def test_different_data_is_flagged_and_compared_on_point_estimates_only(good, degraded):
    other = copy.deepcopy(degraded)
    other.data["fingerprint"] = "fp-other-data"
    other.schema_version = 0
    result = compare_runs(other, good)
    assert any(w.startswith("data fingerprints differ") for w in result.warnings)
    assert any(w.startswith("schema versions differ") for w in result.warnings)
    assert all(m.basis in ("unpaired", "point") for m in result.metrics)
    assert all(m.ci_low is None for m in result.metrics)
    assert "different catalogues" in " ".join(result.warnings)


def test_different_items_are_not_paired_and_say_why(good, degraded):
    other = copy.deepcopy(degraded)
    entry = other.per_query["heldout/image_to_text"]
    entry["item_ids"] = entry["item_ids"][:-1] + ["bk-new"]
    rows = {m.key: m for m in compare_runs(other, good).metrics}
    assert rows["heldout/image_to_text/recall@5"].basis == "unpaired"
    assert "items differ" in rows["heldout/image_to_text/recall@5"].reason
    assert rows["heldout/text_to_image/recall@5"].basis == "paired"


def test_items_are_aligned_by_id_not_position(good):
    shuffled = copy.deepcopy(good)
    entry = shuffled.per_query["heldout/image_to_text"]
    order = np.random.default_rng(0).permutation(len(entry["item_ids"]))
    entry["item_ids"] = [entry["item_ids"][i] for i in order]
    entry["titles"] = [entry["titles"][i] for i in order]
    for role in entry["ranks"]:
        entry["ranks"][role] = [entry["ranks"][role][i] for i in order]
    assert compare_runs(shuffled, good).verdict == "clean"


def test_without_per_query_data_it_says_it_compares_point_estimates(good, degraded):
    run, main = copy.deepcopy(degraded), copy.deepcopy(good)
    run.per_query, main.per_query = {}, {}
    for report in (run, main):
        for m in list(report.metrics["candidate"]):
            v = report.metrics["candidate"][m]
            report.metrics["candidate"][m] = type(v)(v.value, None, None, v.n)
    rows = {m.key: m for m in compare_runs(run, main).metrics}
    r5 = rows["heldout/image_to_text/recall@5"]
    assert r5.basis == "point" and r5.status == "warn" and "point estimates only" in r5.reason


def test_gate_outcome_changes():
    def run(outcomes):
        r = RunReport(metrics={"candidate": {}}, data={"fingerprint": "x"})
        r.gates = [
            GateResult(name, "heldout/image_to_text/recall@5", "min 0.3", "fail", o, "why")
            for name, o in outcomes.items()
        ]
        return r

    result = compare_runs(
        run({"a": "FAIL", "b": "PASS", "c": "UNDECIDED", "e": "FAIL"}),
        run({"a": "PASS", "b": "FAIL", "c": "PASS", "d": "PASS", "e": "FAIL"}),
    )
    status = {g.name: g.status for g in result.gates}
    assert status == {"a": "regression", "b": "improved", "c": "warn", "d": "warn", "e": "warn"}
    assert result.regressions == ["gate a"]


def test_result_json_round_trips(good, degraded):
    raw = json.loads(json.dumps(json_ready(compare_runs(degraded, good).to_dict()), allow_nan=False))
    assert raw["verdict"] == "regression"
    assert "heldout/image_to_text/recall@5" in raw["regressions"]
    assert raw["confidence"] == 0.95 and raw["resamples"] == 1000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"role": "teacher"}, "no metrics for role 'teacher'"),
        ({"confidence": 1.5}, "--confidence"),
        ({"margin": -0.1}, "--margin"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(good, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        compare_runs(good, good, **kwargs)
