"""Slice gates: `"slices/<direction>/<metric>" = { max_discoveries = N, non_inferior = margin }`."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.gates import judge_slices, parse_gates


def test_a_slice_gate_parses_with_its_margin_and_allowance() -> None:
    (gate,) = parse_gates({"slices/image_to_text/recall@5": {"max_discoveries": 1, "non_inferior": 0.05}})
    assert gate.suite == "slices" and gate.rule == "non_inferior"
    assert gate.threshold == 0.05 and gate.max_discoveries == 1
    assert gate.describe() == "at most 1 slice(s) worse by > 0.05"
    (default,) = parse_gates({"slices/text_to_image/mrr": {"non_inferior": 0.02}})
    assert default.max_discoveries == 0


@pytest.mark.parametrize(
    ("key", "spec", "needle"),
    [
        ("slices/sideways/recall@5", {"non_inferior": 0.05}, "slices/image_to_text/recall@5"),
        ("slices/image_to_text/accuracy", {"non_inferior": 0.05}, "retrieval metric"),
        ("slices/image_to_text", {"non_inferior": 0.05}, "slices/image_to_text/recall@5"),
        ("slices/image_to_text/recall@5", {"max_discoveries": 0}, "non_inferior"),
        ("slices/image_to_text/recall@5", {"non_inferior": 0.05, "delta": 0}, "non_inferior"),
        ("slices/image_to_text/recall@5", {"non_inferior": -0.1}, ">= 0"),
        ("slices/image_to_text/recall@5", {"non_inferior": 0.05, "max_discoveries": -1}, "at least 0"),
        ("slices/image_to_text/recall@5", {"non_inferior": 0.05, "max_discoveries": 1.5}, "integer"),
        ("slices/image_to_text/recall@5", {"non_inferior": 0.05, "tier": "loud"}, "tier"),
    ],
)
def test_bad_slice_gates_are_one_line_errors(key: str, spec: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match="gate") as info:
        parse_gates({key: spec})
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_judging_counts_the_slices_worse_beyond_the_margin() -> None:
    (gate,) = parse_gates({"slices/image_to_text/recall@5": {"max_discoveries": 1, "non_inferior": 0.05}})
    assert judge_slices(gate, [], 40, 0.05).outcome == "PASS"
    assert judge_slices(gate, ["a"], 40, 0.05).outcome == "PASS"
    failed = judge_slices(gate, ["a", "b"], 40, 0.05)
    assert failed.outcome == "FAIL" and "2 of 40 slices" in failed.message
    (warn,) = parse_gates({"slices/image_to_text/recall@5": {"non_inferior": 0.05, "tier": "warn"}})
    assert judge_slices(warn, ["a"], 40, 0.05).outcome == "WARN"
