"""The metric registry: directions, statistics and tests come from one declaration per metric."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.evaluate.metrics import (
    Metric,
    higher_is_better,
    is_worse,
    knows_direction,
    metric_key,
    metric_name,
    parse_key,
    registered,
)

VIEWS = st.sampled_from(["train", "heldout", "cross", "cross:Health"])
DIRECTIONS = st.sampled_from(["image_to_text", "text_to_image"])


@pytest.mark.parametrize(
    "key, expected",
    [
        ("heldout/image_to_text/recall@1", True),
        ("cross/text_to_image/recall@10", True),
        ("train/image_to_text/mrr", True),
        ("cross/zero_shot/accuracy", True),
        ("probes/typo/radius_p50", True),
        ("heldout/image_to_text/median_rank", False),
        ("cross/image_to_text/mean_rank", False),
        ("probes/typo/flip_rate", False),
        ("probes/case/mean_rank_change", False),
        ("probes/typo/failure_rate", False),
        ("probes/typo@title_hidden/lost@5", False),
        ("heldout/zero_shot/recall[Health]", True),
        ("interpolation/heldout/image_to_text/median_rank", False),
    ],
)
def test_direction_of_known_metrics(key, expected):
    assert higher_is_better(key) is expected
    assert knows_direction(key)


@pytest.mark.parametrize(
    "key", ["heldout/image_to_text/latency", "probes/typo/n", "size", "probes/cover_text/reading_gap@5"]
)
def test_unknown_or_undirected_metric_is_an_error_not_a_guess(key):
    with pytest.raises(ConfigError, match="better and worse are undefined") as info:
        higher_is_better(key)
    assert "\n" not in str(info.value)
    assert not knows_direction(key)


@given(VIEWS, DIRECTIONS, st.integers(1, 1000), st.floats(-1, 1, allow_nan=False))
def test_recall_and_rank_point_opposite_ways(view, direction, k, delta):
    recall, rank = f"{view}/{direction}/recall@{k}", f"{view}/{direction}/median_rank"
    assert metric_name(recall) == f"recall@{k}"
    assert higher_is_better(recall) and not higher_is_better(rank)
    assert is_worse(recall, delta) == (delta < 0)
    assert is_worse(rank, delta) == (delta > 0)


def test_keys_know_their_suite_statistic_and_test():
    assert metric_key("cross:Health/image_to_text/recall@5").suite == "cross_category"
    assert metric_key("heldout/text_to_image/mrr").suite == "retrieval"
    assert metric_key("probes/typo/similarity_drop_p90").resolved.statistic == "p90"
    assert metric_key("heldout/image_to_text/median_rank").resolved.statistic == "median"
    assert metric_key("heldout/image_to_text/recall@5").resolved.test == "mcnemar"
    assert metric_key("probes/hard_negatives/failure_rate").resolved.test == "bootstrap"  # a per-item share
    assert metric_key("interpolation/cross/image_to_text/mrr").suite == "interpolation"
    assert parse_key("heldout/zero_shot/mrr") is None  # a retrieval metric is not a zero-shot one
    with pytest.raises(ConfigError, match="unknown metric key"):
        metric_key("heldout/image_to_text/latency")


def test_a_registered_metric_is_known_everywhere_and_gone_after():
    toy = Metric(
        "top3_share",
        "top3_share",
        higher_is_better=True,
        applies_to="retrieval",
        test="mcnemar",
        from_ranks=lambda r: (r <= 3).astype(float),
    )
    with registered(toy):
        assert metric_key("heldout/image_to_text/top3_share").resolved.from_ranks(np.array([1, 4])).tolist() == [1, 0]
    assert parse_key("heldout/image_to_text/top3_share") is None


def test_a_metric_declares_the_axis_it_shares_in_plots():
    from harness.evaluate.metrics import SCALES, Metric, scale_of

    assert scale_of("heldout/image_to_text/recall@5") == "rate"
    assert scale_of("cross:Health/text_to_image/median_rank") == "rank"
    assert scale_of("probes/keyboard_typo/similarity_drop_p90") == "similarity"
    for rate in (
        "heldout/zero_shot/balanced_accuracy",
        "probes/hard_negatives/any_failure_rate",
        "probes/minimal_edit/fragile_rate",
    ):
        assert scale_of(rate) == "rate"
    assert scale_of("interpolation/best_alpha") == "other"  # not registered
    assert set(SCALES) == {"rate", "rank", "similarity", "other"}
    with pytest.raises(ConfigError, match="scale"):
        Metric("bad", "bad", higher_is_better=True, applies_to="retrieval", from_ranks=lambda r: r, scale="percent")
