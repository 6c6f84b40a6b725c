"""Slice discovery: the engine's paired difference per slice, Benjamini-Hochberg across slices, detectable effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.evaluate.compare import compare_values
from harness.evaluate.metrics import values_from_ranks
from harness.evaluate.power import detectable_effect, queries_to_decide
from harness.evaluate.slice_discovery import SliceAnalysis, default_views, discover
from harness.evaluate.slices import SliceTable
from harness.evaluate.stats import benjamini_hochberg
from harness.settings import StatSettings

SETTINGS = StatSettings(400, 0.95, 0)


def _world(n: int = 1200, *, planted: float = 0.0, seed: int = 0) -> tuple[dict, SliceTable]:
    """Per-query ranks of two models over n books with three independent slicings; the candidate loses
    a `planted` share of its hits on the books of slice colour=greyscale, and is the reference otherwise
    up to seeded noise of the same size everywhere."""
    rng = np.random.default_rng(seed)
    books = tuple(f"b{i}" for i in range(n))
    colour = np.where(rng.random(n) < 0.2, "greyscale", "colour")
    fmt = rng.choice(["Paperback", "Hardback", "Board book"], size=n, p=[0.45, 0.45, 0.1])
    tokens = rng.choice(["1-4 tokens", "5-8 tokens", "9-16 tokens"], size=n)
    base = rng.geometric(0.25, size=n)
    cand = base.copy()
    swap = rng.random(n) < 0.15  # the same recipe, another seed: some queries move either way
    cand[swap] = rng.geometric(0.25, size=int(swap.sum()))
    hurt = (colour == "greyscale") & (cand <= 5) & (rng.random(n) < planted)
    cand[hurt] = 50
    table = SliceTable(
        books,
        {"colour": tuple(colour.tolist()), "format": tuple(fmt.tolist()), "title_tokens": tuple(tokens.tolist())},
    )
    per_query = {
        "cross/image_to_text": {
            "item_ids": list(books),
            "titles": list(books),
            "ranks": {"baseline": base.tolist(), "candidate": cand.tolist()},
        }
    }
    return per_query, table


def test_the_planted_slice_is_found_with_its_ci() -> None:
    per_query, table = _world(planted=0.5)
    analysis = discover(per_query, table, settings=SETTINGS, metrics=("recall@5",))
    found = [r for r in analysis.discoveries if (r.slicing, r.label) == ("colour", "greyscale")]
    assert len(found) == 1
    hit = found[0]
    assert hit.difference.delta < 0 and hit.difference.ci_high < 0 and hit.q_value <= 0.05
    assert hit.difference.test == "mcnemar" and hit.difference.interval == "tango"
    # the same number as the engine gives for the slice's queries on their own
    mask = np.array([x == "greyscale" for x in table.labels["colour"]])
    ranks = per_query["cross/image_to_text"]["ranks"]
    direct = compare_values(
        "cross/image_to_text/recall@5",
        values_from_ranks(np.asarray(ranks["baseline"])[mask], "recall@5"),
        values_from_ranks(np.asarray(ranks["candidate"])[mask], "recall@5"),
        SETTINGS,
    )
    assert (hit.difference.delta, hit.difference.ci_low, hit.difference.p_value) == (
        direct.delta,
        direct.ci_low,
        direct.p_value,
    )
    # the clearest discovery; slices that hold many greyscale covers inherit part of the effect
    assert analysis.discoveries[0] == hit
    assert not [r for r in analysis.discoveries if (r.slicing, r.label) == ("colour", "colour")]
    assert analysis.worse_beyond(0.05, direction="image_to_text", metric="recall@5")[0] == hit
    assert analysis.worse_beyond(0.5) == []


def test_without_a_planted_effect_nothing_is_found_at_the_nominal_rate() -> None:
    found = 0
    for seed in range(8):
        per_query, table = _world(seed=seed)
        found += len(discover(per_query, table, settings=SETTINGS, metrics=("recall@5", "mrr")).discoveries)
    assert found <= 2  # 8 x 16 slices tried, all null: at level 0.05 the family-wise share stays near 0.05


def test_small_slices_are_counted_not_tested_and_unknown_books_are_counted() -> None:
    per_query, table = _world(n=200)
    per_query["cross/image_to_text"]["item_ids"][0] = "not-in-the-catalogue"
    analysis = discover(per_query, table, settings=SETTINGS, metrics=("recall@5",), min_n=60)
    assert analysis.unmatched == 1
    assert analysis.too_small["format"] >= 1  # Board book: about 20 of 200
    assert all(r.n >= 60 for r in analysis.results)
    assert analysis.tried == len(analysis.results) > 0


def test_an_analysis_round_trips_through_json() -> None:
    per_query, table = _world(planted=0.5)
    analysis = discover(per_query, table, settings=SETTINGS, metrics=("recall@5", "mrr"))
    again = SliceAnalysis.from_dict(analysis.to_dict())
    assert [r.name for r in again.results] == [r.name for r in analysis.results]
    assert [r.q_value for r in again.results] == [r.q_value for r in analysis.results]
    assert again.discoveries and again.level == 0.05


def test_bad_settings_are_one_line_errors() -> None:
    per_query, table = _world(n=100)
    with pytest.raises(ConfigError, match="level"):
        discover(per_query, table, level=0.9)
    with pytest.raises(ConfigError, match="not a retrieval metric"):
        discover(per_query, table, metrics=("accuracy",))


def test_benjamini_hochberg_matches_the_step_up_rule() -> None:
    p = [0.01, 0.04, 0.03, 0.005, float("nan"), 0.5]
    q = benjamini_hochberg(p)
    # m = 5 tests: sorted 0.005, 0.01, 0.03, 0.04, 0.5 -> 0.025, 0.025, 0.05, 0.05, 0.5
    assert np.allclose(q[[3, 0, 2, 1, 5]], [0.025, 0.025, 0.05, 0.05, 0.5])
    assert math.isnan(q[4])
    assert benjamini_hochberg([]).size == 0


def test_the_detectable_effect_is_what_the_gates_power_arithmetic_decides() -> None:
    rng = np.random.default_rng(3)
    a = (rng.random(400) < 0.5).astype(float)
    b = a.copy()
    flip = rng.random(400) < 0.2
    b[flip] = 1 - b[flip]
    d = compare_values("cross/image_to_text/recall@5", a, b, SETTINGS)
    effect = detectable_effect(d, 0.025)
    assert 0 < effect < 0.2
    # an observed effect just above it is decided on these n queries; just below, more queries are needed
    for shift, decided in ((1.05, True), (0.8, False)):
        moved = effect * shift * d.n
        pairs = max(d.gained + d.lost, moved)  # type: ignore[operator]
        better = type(d)(**{**d.__dict__, "gained": round((pairs + moved) / 2), "lost": round((pairs - moved) / 2)})
        assert (queries_to_decide(better, 0.0, 0.025) <= d.n) is decided
    # smaller slices detect only larger effects
    small = compare_values("cross/image_to_text/recall@5", a[:100], b[:100], SETTINGS)
    assert detectable_effect(small, 0.025) > effect
    ranks = rng.geometric(0.3, size=300).astype(float)
    mrr = compare_values("cross/image_to_text/mrr", 1 / ranks, 1 / np.roll(ranks, 1), SETTINGS)
    assert detectable_effect(mrr, 0.025) == pytest.approx(1.959964 * float(np.std(mrr.samples)), rel=1e-4)


def test_default_views_are_the_unseen_books_else_every_whole_view_but_training() -> None:
    assert default_views(["train/image_to_text", "heldout/image_to_text", "cross:Health/image_to_text"]) == ("heldout",)
    assert default_views(["cross/text_to_image", "heldout/image_to_text"]) == ("heldout", "cross")
    assert default_views(["all/image_to_text", "all/text_to_image"]) == ("all",)
    per_query, table = _world(n=300)
    per_query["all/image_to_text"] = per_query.pop("cross/image_to_text")
    assert discover(per_query, table, settings=SETTINGS, metrics=("recall@5",)).views == ("all",)


def test_a_bootstrap_p_value_is_never_below_what_its_resamples_can_show() -> None:
    a = np.linspace(0.0, 0.2, 300)
    d = compare_values("cross/image_to_text/mrr", a, a + 0.5, SETTINGS)  # every resample on one side
    assert d.test == "bootstrap" and d.p_value == pytest.approx(2 / (SETTINGS.resamples + 1))
    same = compare_values("cross/image_to_text/mrr", a, a, SETTINGS)
    assert same.p_value == 1.0
