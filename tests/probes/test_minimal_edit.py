"""Minimal failing edit: one-edit neighbours, the beam search's radius, censoring and time bounds."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_books import TITLES, book_frame, trigram_encode

from harness.evaluate.compare import estimate
from harness.probes.minimal_edit import EditSearchConfig, minimal_edit_probe, single_edits
from harness.probes.scoring import CatalogueScores, text_to_cover_ranks
from harness.settings import StatSettings


def damerau_one(a: str, b: str) -> bool:
    """True when b is one deletion, insertion, substitution or adjacent swap away from a."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=25), seed=st.integers(0, 100), limit=st.integers(1, 30))
def test_single_edits_are_one_edit_away_distinct_and_seeded(title: str, seed: int, limit: int) -> None:
    edits = single_edits(title, random.Random(seed), limit)
    assert len(edits) <= limit and len(set(edits)) == len(edits)
    assert all(damerau_one(title, e) for e in edits)
    assert edits == single_edits(title, random.Random(seed), limit)
    if title or limit:
        assert edits  # a title always has one-edit neighbours


def scores_for(titles) -> CatalogueScores:  # noqa: ANN001
    texts = trigram_encode(titles)
    return CatalogueScores(texts.copy(), texts, book_frame(titles))  # each cover is its title's point


def test_radius_is_found_and_the_edited_title_really_loses_the_cover() -> None:
    titles = ["Quiet", "Quilt", "Atomic Habits", "Milk and Honey", "Ikigai", "The Secret"]
    scores = scores_for(titles)
    result = minimal_edit_probe(
        scores, range(len(titles)), trigram_encode, EditSearchConfig(k=1, max_edits=3, time_budget_s=30, seed=1)
    )
    assert result.not_retrieved == 0 and len(result.outcomes) == len(titles)
    by_title = {o.title: o for o in result.outcomes}
    assert by_title["Quiet"].status == "found" and by_title["Quiet"].radius == 1  # "Quiet" -> "Quilt" side
    for o in result.outcomes:
        if o.status == "found":
            row = titles.index(o.title)
            rank = text_to_cover_ranks(trigram_encode([o.edited]), [scores.groups[row]], scores.covers, scores.groups)
            assert rank[0] > 1
    hist = result.histogram()
    assert sum(hist.values()) == len(titles) and hist["1"] >= 1
    metrics = {
        k: estimate(f"probes/minimal_edit/{k}", s.values, StatSettings(100)) for k, s in result.samples().items()
    }
    assert metrics["fragile_rate"].value == hist["1"] / len(titles)
    assert result.worst(1)[0]["radius"] == 1


def test_items_that_miss_are_counted_and_search_is_censored_at_max_edits() -> None:
    scores = scores_for(TITLES)
    result = minimal_edit_probe(scores, range(len(TITLES)), trigram_encode, EditSearchConfig(k=1, max_edits=1, seed=0))
    assert result.not_retrieved + len(result.outcomes) == len(TITLES)
    ids, radii = result.radii()
    assert set(radii) <= {1.0, 2.0}  # censored at max_edits + 1
    assert sum(o.status == "censored" for o in result.outcomes) == result.histogram()[">1"]


def test_search_is_deterministic_and_bounded_in_time() -> None:
    scores = scores_for(TITLES)
    config = EditSearchConfig(k=1, max_edits=2, seed=4)
    a = minimal_edit_probe(scores, range(len(TITLES)), trigram_encode, config)
    b = minimal_edit_probe(scores, list(range(len(TITLES)))[::-1], trigram_encode, config)
    assert a.outcomes == b.outcomes
    out_of_time = minimal_edit_probe(
        scores, range(len(TITLES)), trigram_encode, EditSearchConfig(k=1, max_edits=2, time_budget_s=0.0)
    )
    assert all(o.status == "timeout" for o in out_of_time.outcomes)
    assert out_of_time.histogram()["timeout"] == len(out_of_time.outcomes)
    assert len(out_of_time.radii()[1]) == 0
    assert np.isnan(estimate("probes/minimal_edit/radius_mean", out_of_time.samples()["radius_mean"].values).value)
