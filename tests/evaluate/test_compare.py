from __future__ import annotations

import numpy as np
import pytest

from harness.errors import EvaluationError
from harness.evaluate.compare import compare_evaluations, compare_many, compare_values, estimate
from harness.evaluate.evaluation import EvalConfig, evaluate
from harness.settings import StatSettings

CONFIG = EvalConfig(resamples=200)
SETTINGS = StatSettings(200)


@pytest.fixture(scope="module")
def pair(tiny_model, small_catalogue):
    from harness.models import load

    base = evaluate(tiny_model, small_catalogue, categories=["Medical"], config=CONFIG)
    other = evaluate(load("tiny:vit-xs@1"), small_catalogue, categories=["Medical"], config=CONFIG)
    return base, other


def test_a_model_against_itself_changes_nothing(pair):
    base, _ = pair
    c = compare_evaluations(base, base)
    for d in c.differences.values():
        assert d.delta == 0 and d.p_value == 1.0
        if d.test == "mcnemar":  # no discordant pair in n: the score interval still says what n can exclude
            assert d.interval == "tango" and d.ci_low == pytest.approx(-d.ci_high) and d.ci_high > 0
        else:
            assert d.ci_low == 0 and d.ci_high == 0
    assert all(not f.improved and not f.regressed for f in c.flips.values())


def test_deltas_hits_and_flips_follow_the_ranks(pair):
    base, other = pair
    c = compare_evaluations(base, other)
    key = "heldout/image_to_text"
    ra, rb = base.rankings[key].ranks, other.rankings[key].ranks
    d = c.differences[f"{key}/recall@5"]
    assert d.delta == pytest.approx(np.mean(rb <= 5) - np.mean(ra <= 5))
    assert (d.gained, d.lost) == (int(np.sum((ra > 5) & (rb <= 5))), int(np.sum((ra <= 5) & (rb > 5))))
    assert d.test == "mcnemar" and 0 < d.p_value <= 1
    assert c.differences[f"{key}/mrr"].test == "bootstrap"
    assert c.differences[f"{key}/median_rank"].higher_is_better is False
    flips = c.flips[key]
    assert len(flips.improved) == d.gained and len(flips.regressed) == d.lost
    titles = dict(zip(base.rankings[key].book_ids, base.rankings[key].titles, strict=True))
    assert all(titles[f.book_id] == f.title and f.rank_a > 5 >= f.rank_b for f in flips.improved)
    z = c.differences["heldout/zero_shot/accuracy"]
    assert z.test == "mcnemar"
    assert z.delta == pytest.approx(
        other.metrics["heldout/zero_shot/accuracy"].value - base.metrics["heldout/zero_shot/accuracy"].value
    )


def test_the_engine_gives_the_evaluations_own_numbers(pair):
    """An estimate recomputed from the per-query values is the evaluation's, bit for bit."""
    base, other = pair
    for key in ("heldout/image_to_text/recall@5", "cross/text_to_image/median_rank", "heldout/zero_shot/accuracy"):
        assert estimate(key, base.per_query(key)[1], SETTINGS) == base.metrics[key]
        d = compare_values(key, base.per_query(key)[1], other.per_query(key)[1], SETTINGS)
        assert d == compare_evaluations(base, other, SETTINGS).differences[key]


def test_pairing_by_ids_uses_only_shared_items():
    a, b = np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0])
    d = compare_values("probes/keyboard_typo/lost@5", a, b, SETTINGS, ids_a=["x", "y", "z"], ids_b=["z", "y"])
    assert d.n == 2 and d.reference == 0.5 and d.value == 0.5  # y: 0 -> 1, z: 1 -> 0
    assert (d.gained, d.lost) == (1, 1) and d.higher_is_better is False


def test_different_data_cannot_be_paired(pair, tiny_model, small_catalogue):
    base, _ = pair
    elsewhere = evaluate(tiny_model, small_catalogue.subset(np.arange(60)), config=EvalConfig(resamples=100))
    with pytest.raises(EvaluationError, match="different catalogues"):
        compare_evaluations(base, elsewhere)
    with pytest.raises(EvaluationError, match="at least two"):
        compare_many([base])
