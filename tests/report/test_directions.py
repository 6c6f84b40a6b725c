from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.report.directions import higher_is_better, is_worse, knows_direction, metric_name

VIEWS = st.sampled_from(["train", "heldout", "cross"])
DIRECTIONS = st.sampled_from(["image_to_text", "text_to_image"])


@pytest.mark.parametrize("key, expected", [
    ("heldout/image_to_text/recall@1", True), ("cross/text_to_image/recall@10", True),
    ("train/image_to_text/mrr", True), ("zero_shot/cross/accuracy", True), ("probes/typo/radius", True),
    ("heldout/image_to_text/median_rank", False), ("cross/image_to_text/mean_rank", False),
    ("probes/typo/flip_rate", False), ("probes/case/mean_rank_change", False),
    ("probes/typo/failure_rate", False), ("cross/recall@5_drop", False),
])
def test_direction_of_known_metrics(key, expected):
    assert higher_is_better(key) is expected
    assert knows_direction(key)


@pytest.mark.parametrize("key", ["heldout/image_to_text/latency", "probes/typo/n", "size"])
def test_unknown_metric_direction_is_an_error_not_a_guess(key):
    with pytest.raises(ConfigError, match="no known direction") as info:
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
    assert not (is_worse(recall, delta) and is_worse(recall, -delta))
