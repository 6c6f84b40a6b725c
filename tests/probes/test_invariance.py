"""Invariance probe: per-item outcomes, metrics, and independence from query order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_books import TITLES, book_frame, covers_for, trigram_encode

from harness.evaluate.compare import estimate
from harness.probes.families import FamilyRegistry, Severity, TitleContext, default_registry, register_family
from harness.probes.intervals import MetricSample
from harness.probes.invariance import exact_samples, invariance_probe, perturb_rows
from harness.probes.scoring import CatalogueScores, sample_rows
from harness.settings import StatSettings

FAMILIES = default_registry()


def scores_for(titles=TITLES, order=None, seed=0) -> CatalogueScores:  # noqa: ANN001
    frame = book_frame(titles)
    covers, texts = covers_for(titles, seed), trigram_encode(titles)
    if order is not None:
        frame, covers, texts = frame.iloc[order].reset_index(drop=True), covers[order], texts[order]
    return CatalogueScores(covers, texts, frame)


def all_metrics(result, k=3) -> dict:  # noqa: ANN001
    return {
        name: estimate(f"probes/x/{name}", sample.values, StatSettings(200))
        for name, sample in result.samples(k=k).items()
    }


def test_a_perturbation_the_encoder_cannot_see_changes_nothing() -> None:
    # the trigram encoder lowercases, so the case family must give no flips and no drop
    scores = scores_for()
    result = invariance_probe(FAMILIES.get("case"), scores, range(len(scores)), trigram_encode)
    assert len(result) == len(TITLES) and result.unchanged == 0
    assert not result.flipped.any()
    np.testing.assert_allclose(result.similarity_drop, 0.0, atol=1e-5)
    np.testing.assert_array_equal(result.perturbed_rank, result.exact_rank)
    assert all_metrics(result)["flip_rate"].value == 0.0


def test_swapping_in_another_books_title_flips_every_answer() -> None:
    registry = FamilyRegistry()
    titles = {t: TITLES[(i + 1) % len(TITLES)] for i, t in enumerate(TITLES)}

    @register_family("other_book", severity=Severity.DESTRUCTIVE, registry=registry)
    def other_book(title, rng, context):  # noqa: ANN001
        return titles[title]

    scores = scores_for()
    assert (scores.exact_rank == 1).mean() > 0.8  # the covers sit near their own titles
    result = invariance_probe(registry.get("other_book"), scores, range(len(scores)), trigram_encode)
    ok = scores.exact_rank[np.argsort(scores.book_ids)] == 1
    assert result.flipped[ok].all()
    assert (result.perturbed_rank[ok] > 1).all() and (result.similarity_drop[ok] > 0).all()
    metrics = all_metrics(result, k=1)
    assert metrics["lost@1"].value == 1.0 and metrics["lost@1"].n == ok.sum()
    assert metrics["mean_rank_change"].value > 0


def test_unchanged_titles_are_counted_not_probed() -> None:
    scores = scores_for()
    perturbed = perturb_rows(FAMILIES.get("ampersand_and"), scores, range(len(scores)), seed=0, context_length=77)
    with_and = [i for i, t in enumerate(TITLES) if " and " in f" {t.lower()} " or "&" in t]
    assert list(perturbed.rows) == with_and and perturbed.unchanged == len(TITLES) - len(with_and)
    result = invariance_probe(FAMILIES.get("ampersand_and"), scores, range(len(scores)), trigram_encode)
    assert len(result) == len(with_and) and result.unchanged == perturbed.unchanged
    assert all("&" in p or " and " in p for p in result.perturbed)


def test_similarity_drop_is_the_cosine_difference() -> None:
    scores = scores_for()
    result = invariance_probe(FAMILIES.get("word_dropped"), scores, range(len(scores)), trigram_encode, seed=3)
    by_id = {b: i for i, b in enumerate(scores.book_ids)}
    for book_id, perturbed, drop in zip(result.book_ids, result.perturbed, result.similarity_drop, strict=True):
        i = by_id[book_id]
        expected = scores.covers[i] @ scores.texts[i] - scores.covers[i] @ trigram_encode([perturbed])[0]
        assert drop == pytest.approx(float(expected), abs=1e-5)
        assert perturbed == FAMILIES.get("word_dropped").apply(
            scores.titles[i], 3, TitleContext(author=scores.authors[i], category=scores.categories[i])
        )


@settings(max_examples=25, deadline=None)
@given(
    order=st.permutations(list(range(len(TITLES)))),
    seed=st.integers(0, 5),
    family=st.sampled_from(["repeated_letters", "word_dropped", "keyboard_typo", "subtitle"]),
)
def test_probe_metrics_do_not_depend_on_query_order(order: list[int], seed: int, family: str) -> None:
    base, shuffled = scores_for(), scores_for(order=order)
    fam = FAMILIES.get(family)
    rows = sample_rows(base.book_ids, 12, seed)
    rows_shuffled = sample_rows(shuffled.book_ids, 12, seed)
    assert sorted(base.book_ids[rows]) == sorted(shuffled.book_ids[rows_shuffled])
    a = invariance_probe(fam, base, rows, trigram_encode, seed=seed)
    b = invariance_probe(fam, shuffled, rows_shuffled[::-1], trigram_encode, seed=seed)
    assert all_metrics(a) == all_metrics(b)
    exact_a = {
        k: estimate(f"probes/exact/{k}", s.values, StatSettings(seed=seed))
        for k, s in exact_samples(base, rows, k=3).items()
    }
    exact_b = {
        k: estimate(f"probes/exact/{k}", s.values, StatSettings(seed=seed))
        for k, s in exact_samples(shuffled, rows_shuffled, k=3).items()
    }
    assert exact_a == exact_b


def test_metric_sample_orders_by_book_id() -> None:
    a = MetricSample(np.array(["b2", "b1", "b3"]), np.array([1.0, 0.0, 5.0]))
    assert list(a.book_ids) == ["b1", "b2", "b3"] and list(a.values) == [0.0, 1.0, 5.0]
