from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import EvaluationError
from harness.evaluate.embed import embed
from harness.evaluate.evaluation import EvalConfig, build_views, evaluate, evaluate_views
from harness.evaluate.results import Evaluation

FAST = EvalConfig(resamples=200)


@pytest.fixture(scope="module")
def evaluation(tiny_model, small_catalogue) -> Evaluation:
    return evaluate(tiny_model, small_catalogue, categories=["Medical"], config=FAST)


def test_metric_keys_follow_view_direction_metric(evaluation):
    for view in ("train", "heldout", "cross"):
        for direction in ("image_to_text", "text_to_image"):
            for metric in ("recall@1", "recall@5", "recall@10", "mrr", "median_rank", "mean_rank"):
                est = evaluation.metrics[f"{view}/{direction}/{metric}"]
                assert est.n == len(evaluation.rankings[f"{view}/{direction}"].ranks)
                if metric != "median_rank":
                    assert est.ci_low <= est.value <= est.ci_high
        assert f"{view}/zero_shot/accuracy" in evaluation.metrics
    stored = evaluation.to_dict()["metrics"]["heldout/image_to_text/recall@5"]
    assert set(stored) == {"value", "ci_low", "ci_high", "n", "interval"}


def test_numbers_agree_with_an_independent_implementation(evaluation, tiny_model, small_catalogue):
    """Recompute heldout ranks from the cached embeddings with a plain numpy loop."""
    emb = embed(tiny_model, small_catalogue)
    heldout = build_views(small_catalogue, categories=["Medical"], seed=0)["heldout"]
    ids = heldout.frame["book_id"].tolist()
    pos = [emb.book_ids.tolist().index(b) for b in ids]
    img, txt, grp = emb.images[pos], emb.texts[pos], emb.group_ids[pos]
    scores = img.astype(np.float64) @ txt.astype(np.float64).T
    ranks = []
    for i in range(len(ids)):
        best = scores[i, grp == grp[i]].max()
        ranks.append(1 + np.sum((grp != grp[i]) & (scores[i] >= best)))
    ranks = np.array(ranks)
    got = evaluation.rankings["heldout/image_to_text"]
    assert list(got.book_ids) == ids
    assert np.array_equal(got.ranks, ranks)
    assert evaluation.metrics["heldout/image_to_text/recall@5"].value == pytest.approx(np.mean(ranks <= 5))
    assert evaluation.metrics["heldout/image_to_text/mrr"].value == pytest.approx(np.mean(1 / ranks))
    assert evaluation.metrics["heldout/image_to_text/median_rank"].value == pytest.approx(np.median(ranks))


def test_whole_catalogue_pool_only_adds_candidates(tiny_model, small_catalogue, evaluation):
    wide = evaluate(
        tiny_model,
        small_catalogue,
        categories=["Medical"],
        views=["heldout"],
        config=EvalConfig(resamples=100, pool="catalogue", zero_shot=False),
    )
    narrow = evaluation.rankings["heldout/text_to_image"]
    broad = wide.rankings["heldout/text_to_image"]
    assert broad.pool_size == len(small_catalogue) > narrow.pool_size
    assert np.all(broad.ranks >= narrow.ranks)


def test_evaluation_round_trips_through_json(evaluation, tmp_path):
    path = evaluation.write(tmp_path / "run.json")
    again = Evaluation.from_dict(json.loads(path.read_text()))
    assert again.metrics == evaluation.metrics
    key = "heldout/image_to_text"
    assert np.array_equal(again.rankings[key].ranks, evaluation.rankings[key].ranks)
    assert again.rankings[key].titles == evaluation.rankings[key].titles
    assert np.array_equal(again.zero_shot["heldout"].confusion, evaluation.zero_shot["heldout"].confusion)


def test_same_seed_same_numbers(tiny_model, small_catalogue, evaluation):
    again = evaluate(tiny_model, small_catalogue, categories=["Medical"], config=FAST)
    assert again.metrics == evaluation.metrics


def test_without_categories_one_view_all(tiny_model, small_catalogue):
    ev = evaluate(tiny_model, small_catalogue, config=EvalConfig(resamples=100, zero_shot=False))
    assert ev.views == ("all",)
    assert ev.metrics["all/image_to_text/recall@1"].n == len(small_catalogue)


def test_cross_category_gets_one_view_per_category(tiny_model, real_bookcovers):
    from harness.data import load_catalogue

    full, _ = load_catalogue([real_bookcovers / c for c in ("Medical", "Health", "Biography")])
    three = full.subset(np.flatnonzero(full.frame.groupby("category").cumcount().to_numpy() < 15))
    ev = evaluate_views(
        tiny_model,
        three,
        build_views(three, categories=["Medical"], views=["cross"]),
        config=EvalConfig(resamples=100, zero_shot=False),
    )
    for category in ("Health", "Biography"):
        est = ev.metrics[f"cross:{category}/image_to_text/recall@5"]
        assert est.n == ev.data["views"][f"cross:{category}"] > 0
    assert ev.data["views"]["cross:Health"] + ev.data["views"]["cross:Biography"] == ev.data["views"]["cross"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"categories": ["Medical", "Biography"]}, "view 'cross' is empty"),
        ({"categories": ["Medical"], "views": ["test"]}, "unknown view 'test'"),
        ({"views": ["heldout"]}, "need the training categories"),
    ],
)
def test_bad_views_are_one_line_errors(tiny_model, small_catalogue, kwargs, message):
    with pytest.raises(EvaluationError, match=message) as info:
        evaluate(tiny_model, small_catalogue, config=EvalConfig(resamples=100), **kwargs)
    assert "\n" not in str(info.value)


def test_k_larger_than_the_pool_is_an_error(tiny_model, small_catalogue):
    with pytest.raises(EvaluationError, match=r"recall@500 .* only \d+ items"):
        evaluate(tiny_model, small_catalogue, categories=["Medical"], config=EvalConfig(ks=(1, 500)))


def test_nan_embeddings_are_an_error(tiny_model, small_catalogue):
    emb = embed(tiny_model, small_catalogue)
    broken = type(emb)(images=emb.images.copy(), texts=emb.texts, book_ids=emb.book_ids, group_ids=emb.group_ids)
    broken.images[3] = np.nan
    with pytest.raises(EvaluationError, match="NaN"):
        evaluate(tiny_model, small_catalogue, config=EvalConfig(resamples=100), embeddings=broken)


def test_bad_template_fails_when_configured():
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown placeholder"):
        EvalConfig(template="{title} {publisher}")


@pytest.mark.slow
def test_every_view_of_the_real_catalogue_equals_a_float64_brute_force(tiny_model, real_bookcovers):
    """Every category of ../shared/data/bookcovers, every view (per category too), both directions: each
    query's rank is the one a float64 brute force over the same embeddings gives."""
    from harness.data import load_catalogue

    catalogue, _ = load_catalogue(sorted(p for p in real_bookcovers.iterdir() if p.is_dir()))
    config = EvalConfig(resamples=100, zero_shot=False)
    result = evaluate(tiny_model, catalogue, categories=["Mind-Body-Spirit"], config=config)
    emb = embed(tiny_model, catalogue)
    row_of = {b: i for i, b in enumerate(emb.book_ids.tolist())}
    assert len(result.rankings) >= 2 * 7  # train, heldout, cross and one view per other category
    for key, ranking in result.rankings.items():
        rows = np.array([row_of[b] for b in ranking.book_ids])
        images, texts, groups = emb.images[rows], emb.texts[rows], emb.group_ids[rows]
        queries, candidates = (images, texts) if key.endswith("image_to_text") else (texts, images)
        scores = queries.astype(np.float64) @ candidates.astype(np.float64).T
        positive = groups[:, None] == groups[None, :]
        best = np.where(positive, scores, -np.inf).max(axis=1)
        want = 1 + ((scores >= best[:, None]) & ~positive).sum(axis=1)
        np.testing.assert_array_equal(ranking.ranks, want, err_msg=key)
