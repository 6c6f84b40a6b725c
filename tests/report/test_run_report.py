"""The run report's closed sets: typed as Literal aliases, checked against the same aliases when a file is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from harness.errors import ConfigError
from harness.report.model import KINDS, OUTCOMES, TIERS, Kind, Outcome, RunReport, Tier, one_of


def test_the_checked_sets_are_the_typed_ones() -> None:
    assert (KINDS, OUTCOMES, TIERS) == (get_args(Kind), get_args(Outcome), get_args(Tier))
    assert one_of("probe", KINDS, "kind") == "probe"
    with pytest.raises(ValueError, match="^tier 'error' is not one of fail, warn$"):
        one_of("error", TIERS, "tier")


def test_a_report_of_an_unknown_kind_is_a_one_line_error(tmp_path: Path) -> None:
    path = RunReport(kind="eval").write(tmp_path / "run.json")
    assert RunReport.read(path).kind == "eval"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "kind": "benchmark"}))
    with pytest.raises(ConfigError, match="malformed run report: kind 'benchmark' is not one of suites, eval,") as info:
        RunReport.read(path)
    assert "\n" not in str(info.value)
