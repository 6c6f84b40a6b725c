from __future__ import annotations

import numpy as np
import pytest

from harness.errors import EvaluationError
from harness.evaluate.compare import compare, compare_many
from harness.evaluate.cross_category import cross_category_rows
from harness.evaluate.evaluation import EvalConfig, evaluate

CONFIG = EvalConfig(resamples=200)


@pytest.fixture(scope="module")
def pair(tiny_model, small_catalogue):
    from harness.models import load

    base = evaluate(tiny_model, small_catalogue, categories=["Medical"], config=CONFIG)
    other = evaluate(load("tiny:vit-xs@1"), small_catalogue, categories=["Medical"], config=CONFIG)
    return base, other


def test_a_model_against_itself_changes_nothing(pair):
    base, _ = pair
    c = compare(base, base)
    for d in c.deltas.values():
        assert d.delta == 0 and d.ci_low == 0 and d.ci_high == 0 and d.p_value == 1.0
    assert all(not f.improved and not f.regressed for f in c.flips.values())


def test_deltas_hits_and_flips_follow_the_ranks(pair):
    base, other = pair
    c = compare(base, other)
    key = "heldout/image_to_text"
    ra, rb = base.rankings[key].ranks, other.rankings[key].ranks
    d = c.deltas[f"{key}/recall@5"]
    assert d.delta == pytest.approx(np.mean(rb <= 5) - np.mean(ra <= 5))
    assert (d.gained, d.lost) == (int(np.sum((ra > 5) & (rb <= 5))), int(np.sum((ra <= 5) & (rb > 5))))
    assert d.test == "mcnemar" and 0 < d.p_value <= 1
    assert c.deltas[f"{key}/mrr"].test == "bootstrap"
    flips = c.flips[key]
    assert len(flips.improved) == d.gained and len(flips.regressed) == d.lost
    titles = dict(zip(base.rankings[key].book_ids, base.rankings[key].titles))
    assert all(titles[f.book_id] == f.title and f.rank_a > 5 >= f.rank_b for f in flips.improved)
    z = c.deltas["heldout/zero_shot/accuracy"]
    assert z.delta == pytest.approx(other.metrics["heldout/zero_shot/accuracy"].value
                                    - base.metrics["heldout/zero_shot/accuracy"].value)
    assert set(c.to_dict()) == {"baseline", "candidate", "deltas", "flips"}


def test_cross_category_rows_read_both_checkpoints(pair):
    base, other = pair
    rows = cross_category_rows(base, other, "image_to_text/recall@5", compare(base, other))
    for row in rows:
        assert row.delta == pytest.approx(row.candidate - row.baseline)


def test_different_data_cannot_be_paired(pair, tiny_model, small_catalogue):
    base, _ = pair
    elsewhere = evaluate(tiny_model, small_catalogue.subset(np.arange(60)), config=EvalConfig(resamples=20))
    with pytest.raises(EvaluationError, match="different catalogues"):
        compare(base, elsewhere)
    with pytest.raises(EvaluationError, match="at least two"):
        compare_many([base])
