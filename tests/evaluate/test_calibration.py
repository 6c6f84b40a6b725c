"""Interval methods against known values, and the calibration simulation the CI runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.cli import main
from harness.evaluate.calibration import TARGET_EXCESS, TARGET_MEAN, TARGET_WORST, Grid, misses, simulate, summary
from harness.evaluate.compare import compare_values, estimate
from harness.evaluate.intervals import clopper_pearson, paired_p_greater, tango_interval, tango_z


def test_clopper_pearson_matches_published_values():
    # 3 of 30 at 95%: (0.0211, 0.2653); 0 of 30: (0, 0.1157)
    assert clopper_pearson(3, 30, 0.95) == pytest.approx((0.02112, 0.26528), abs=1e-4)
    assert clopper_pearson(0, 30, 0.95) == pytest.approx((0.0, 0.11570), abs=1e-4)


def test_tango_reduces_to_mcnemar_at_zero_and_its_interval_inverts_the_test():
    assert tango_z(30, 12, 200, 0.0) == pytest.approx((30 - 12) / math.sqrt(42))
    low, high = tango_interval(30, 12, 200, 0.95)
    assert low < 18 / 200 < high
    assert tango_z(30, 12, 200, low) == pytest.approx(1.959964, abs=1e-4)
    assert tango_z(30, 12, 200, high) == pytest.approx(-1.959964, abs=1e-4)


def test_one_sided_p_at_zero_is_the_exact_mcnemar_tail():
    # 10 gained, 2 lost: P(X >= 10 | X ~ Bin(12, 1/2)) = 79 / 4096
    assert paired_p_greater(10, 2, 100, 0.0) == pytest.approx(79 / 4096)
    assert paired_p_greater(2, 10, 100, 0.0) > 0.99


def test_the_engine_declares_its_methods():
    hits = np.r_[np.ones(7), np.zeros(23)]
    e = estimate("heldout/image_to_text/recall@5", hits)
    assert e.interval == "clopper-pearson" and (e.ci_low, e.ci_high) == clopper_pearson(7, 30, 0.95)
    assert estimate("heldout/image_to_text/mrr", 1.0 / np.arange(1, 31)).interval == "bca"
    d = compare_values("heldout/image_to_text/recall@5", hits, np.r_[np.ones(12), np.zeros(18)])
    assert d.interval == "tango" and (d.gained, d.lost) == (5, 0)
    assert d.one_sided_p(0.0) == pytest.approx(1 / 32)


def test_the_reduced_simulation_meets_its_targets():
    cells = simulate(Grid.reduced(), seed=0)
    families = {c.family for c in cells}
    assert {"proportion", "paired proportion", "gate delta", "gate non_inferior", "mrr", "median_rank"} <= families
    exact = [c for c in cells if c.family.endswith("proportion")]
    assert min(c.rate for c in exact) >= TARGET_WORST and np.mean([c.rate for c in exact]) <= TARGET_MEAN
    gates = [c for c in cells if c.is_gate]
    assert max(c.rate - c.nominal for c in gates) <= TARGET_EXCESS + 0.01  # 400 trials: about one MC s.e.
    ranks = [c for c in cells if c.family in ("mrr", "mean_rank", "median_rank")]
    assert min(c.rate for c in ranks) >= 0.85  # BCa at n=30 on skewed ranks; see docs/explanation/statistics.md
    line = summary(cells)
    assert line.startswith("worst coverage ") and "false-alarm excess" in line
    assert all(c in cells for c in misses(cells))


def test_calibrate_command_prints_the_summary_line(capsys):
    assert main(["calibrate", "--simulate", "--reduced"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("worst coverage ") and "(target <= 0.010)" in out[-1]
