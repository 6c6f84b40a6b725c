"""Hard negatives: near-miss titles chosen from the catalogue and scored against the true title."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_books import DIM, TITLES, book_frame, covers_for, trigram_encode

from harness.evaluate.compare import estimate
from harness.probes.hard_negatives import content_words, find_near_misses, hard_negative_probe
from harness.probes.scoring import CatalogueScores
from harness.settings import StatSettings


def scores_for(titles=TITLES, covers=None, groups=None, order=None) -> CatalogueScores:  # noqa: ANN001
    frame = book_frame(titles, groups=groups)
    covers = covers_for(titles) if covers is None else covers
    texts = trigram_encode(titles)
    if order is not None:
        frame, covers, texts = frame.iloc[order].reset_index(drop=True), covers[order], texts[order]
    return CatalogueScores(covers, texts, frame)


def test_near_misses_share_a_content_word_and_come_most_alike_first() -> None:
    scores = scores_for()
    near = find_near_misses(scores, [0], per_item=3)  # "The Power of Now"
    names = [scores.titles[j] for j in near.negatives[0]]
    assert names == ["The Power of Habit", "Health Power"]  # Jaccard 3/5, then 1/5
    assert content_words("the power of now") == {"power", "now"}


def test_other_editions_are_never_near_misses_and_rows_without_any_are_counted() -> None:
    titles = ["The Power of Now", "Power of Now, The:", "The Power of Habit", "Quiet"]
    scores = scores_for(titles, covers=covers_for(titles), groups=["g1", "g1", "g2", "g3"])
    near = find_near_misses(scores, range(4))
    negatives = dict(zip(near.rows.tolist(), near.negatives, strict=True))
    assert [scores.titles[j] for j in negatives[0]] == ["The Power of Habit"]
    assert 3 not in negatives and near.without == 1


def test_failure_when_a_near_miss_scores_at_least_the_true_title() -> None:
    titles = ["The Power of Now", "The Power of Habit", "Atomic Habits"]
    texts = trigram_encode(titles)
    # cover 0 sits exactly on "The Power of Habit": that near miss must win; cover 1 on its own title
    covers = np.stack([texts[1], texts[1], texts[2]])
    result = hard_negative_probe(scores_for(titles, covers=covers), range(3))
    columns = zip(result.failures, result.pairs, result.margin, result.strongest, strict=True)
    by_title = dict(zip(result.titles, columns, strict=True))
    assert by_title["The Power of Now"][0] == 1 and by_title["The Power of Now"][2] < 0
    assert by_title["The Power of Now"][3] == "The Power of Habit"
    assert by_title["The Power of Habit"][0] == 0 and by_title["The Power of Habit"][2] > 0
    metrics = {
        k: estimate(f"probes/hard_negatives/{k}", s.values, StatSettings(100)) for k, s in result.samples().items()
    }
    assert metrics["any_failure_rate"].n == 2 and result.without == 1  # "Habits" is not "Habit"
    expected = np.mean([f / p for f, p in zip(result.failures, result.pairs, strict=True)])
    assert metrics["failure_rate"].value == expected


@settings(max_examples=20, deadline=None)
@given(order=st.permutations(list(range(len(TITLES)))))
def test_hard_negative_metrics_do_not_depend_on_row_order(order: list[int]) -> None:
    a = hard_negative_probe(scores_for(), range(len(TITLES)))
    b = hard_negative_probe(scores_for(order=order), range(len(TITLES))[::-1])
    assert a.titles == b.titles and a.strongest == b.strongest
    for key, sample in a.samples().items():
        assert estimate(f"probes/hard_negatives/{key}", sample.values, StatSettings(100)) == estimate(
            f"probes/hard_negatives/{key}", b.samples()[key].values, StatSettings(100)
        )
    assert DIM == trigram_encode(["x"]).shape[1]
