"""The probe runner over a real tiny CLIP model and real covers: metric keys, counts, order, comparison."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data import load_catalogue
from harness.errors import ConfigError
from harness.models import load
from harness.probes.minimal_edit import EditSearchConfig
from harness.probes.runner import ProbeConfig, compare_reports, run_probes

FAMILIES = ("repeated_letters", "case", "word_dropped", "numerals_words")
CONFIG = ProbeConfig(
    families=FAMILIES,
    k=10,
    max_items=30,
    edit_items=4,
    resamples=100,
    edit=EditSearchConfig(max_edits=2, candidates_per_title=16, beam_width=3, time_budget_s=20),
)


@pytest.fixture(scope="module")
def catalogue(real_bookcovers):  # noqa: ANN001, ANN201
    full, _ = load_catalogue(real_bookcovers / "Mind-Body-Spirit")
    return full.subset(list(range(40)))  # holds "The Power of Now" (row 1)


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    return load("tiny:vit-xs")


@pytest.fixture(scope="module")
def report(model, catalogue):  # noqa: ANN001, ANN201
    return run_probes(model, catalogue, CONFIG)


def test_report_has_every_probe_under_its_key(report) -> None:  # noqa: ANN001
    keys = set(report.metrics)
    for family in FAMILIES:
        for metric in (
            "flip_rate",
            "recall@1",
            "recall@10",
            "lost@10",
            "mean_rank_change",
            "similarity_drop_mean",
            "similarity_drop_p50",
            "similarity_drop_p90",
        ):
            assert f"probes/{family}/{metric}" in keys
            assert f"probes/{family}@title_hidden/{metric}" in keys
    for key in (
        "probes/exact/recall@1",
        "probes/exact/recall@10",
        "probes/hard_negatives/failure_rate",
        "probes/minimal_edit/radius_p50",
        "probes/cover_text/reading_gap@1",
        "probes/exact@title_hidden/recall@10",
    ):
        assert key in keys
    flip = report.metrics["probes/repeated_letters/flip_rate"]
    assert 0.0 <= flip.ci_low <= flip.value <= flip.ci_high <= 1.0 and flip.n == 30
    assert report.metrics["probes/case/flip_rate"].value == 0.0  # CLIP's tokenizer lowercases
    p90 = report.metrics["probes/repeated_letters/similarity_drop_p90"]
    assert p90.value == pytest.approx(report.to_dict()["similarity_drop"]["repeated_letters"]["p90"])
    assert p90.ci_low <= p90.value <= p90.ci_high
    # numerals_words has nothing to change in these titles: counted as unchanged, not dropped
    counts = report.counts["numerals_words"]
    assert counts["probed"] + counts["unchanged"] == 30
    assert report.writeup is not None and report.writeup.title == "The Power of Now"
    assert report.control == {"redrawn": 0, "masked": 40, "method": "upper 45% masked"}
    edits = report.counts["minimal_edit"]
    assert edits["searched"] + edits["timeout"] + edits["not_retrieved"] == 4


def test_json_view_is_plain_data(report) -> None:  # noqa: ANN001
    import json

    doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert doc["model"]["spec"] == "tiny:vit-xs" and doc["config"]["families"] == list(FAMILIES)
    assert "metrics" not in doc  # the run report holds the numbers; this is the probe run's detail
    assert set(report.metrics["probes/exact/recall@1"].to_dict()) == {"value", "ci_low", "ci_high", "n", "interval"}
    assert doc["severity"]["word_dropped"] == "destructive"


@pytest.mark.slow
def test_metrics_do_not_depend_on_catalogue_row_order(model, catalogue, report) -> None:  # noqa: ANN001
    order = np.random.default_rng(5).permutation(len(catalogue))
    shuffled = run_probes(model, catalogue.subset(order), CONFIG)
    assert shuffled.catalogue_fingerprint != report.catalogue_fingerprint  # really another row order
    for key, metric in report.metrics.items():
        other = shuffled.metrics[key]
        assert (metric.n, metric.value, metric.ci_low, metric.ci_high) == pytest.approx(
            (other.n, other.value, other.ci_low, other.ci_high), abs=1e-5, nan_ok=True
        ), key


def test_comparison_pairs_items_and_a_model_against_itself_has_zero_delta(model, catalogue, report) -> None:  # noqa: ANN001
    again = run_probes(model, catalogue, ProbeConfig(**{**CONFIG.__dict__, "cover_control": False, "edit_items": 0}))
    compared = {c.key: c for c in compare_reports(report, again)}
    assert "probes/cover_text/reading_gap@1" not in compared  # only what both hold
    for key in ("probes/repeated_letters/flip_rate", "probes/hard_negatives/failure_rate"):
        assert compared[key].delta == 0.0 and compared[key].n == report.metrics[key].n > 0
        assert compared[key].p_value == 1.0


def test_bad_configs_are_config_errors(model, catalogue) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="unknown probe family"):
        run_probes(model, catalogue, ProbeConfig(families=("nope",)))
    with pytest.raises(ConfigError, match="larger than the catalogue"):
        run_probes(model, catalogue.subset([0, 1, 2]), ProbeConfig(k=5, families=("case",), cover_control=False))
    with pytest.raises(ConfigError):
        ProbeConfig(k=0)
