from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from harness.report.examples import select_examples, thumbnail_b64


def test_thumbnail_is_a_small_jpeg_of_the_cover(decode_image, real_bookcovers):
    cover = Image.open(sorted((real_bookcovers / "Medical").glob("*.jpg"))[0])  # greyscale in the real data
    thumb = decode_image(thumbnail_b64(cover, size=64))
    assert thumb.format == "JPEG" and thumb.mode == "RGB"
    assert max(thumb.size) == 64
    assert thumb.size[0] / thumb.size[1] == pytest.approx(cover.size[0] / cover.size[1], rel=0.05)


@given(st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300)), min_size=1, max_size=80), st.integers(1, 10))
def test_select_examples_picks_the_largest_rank_changes(pairs, count):
    base, cand = np.array(pairs).T
    worst, best = select_examples(base, cand, count=count)
    change = cand - base
    assert len(worst) <= count and len(best) <= count
    assert all(change[i] > 0 for i in worst) and all(change[i] < 0 for i in best)
    assert list(change[worst]) == sorted(change[worst], reverse=True)
    if worst:
        others = [c for i, c in enumerate(change) if i not in worst and c > 0]
        assert all(c <= change[worst[-1]] for c in others)
    assert len(worst) == min(count, int(np.sum(change > 0)))
    assert len(best) == min(count, int(np.sum(change < 0)))


class _Ranking:
    def __init__(self, ids, ranks):
        self.book_ids, self.ranks = ids, np.asarray(ranks)


class _Evaluation:
    def __init__(self, rankings):
        self.rankings = rankings


class _View:
    def __init__(self, name, n, category):
        import pandas as pd

        self.frame = pd.DataFrame(
            {
                "book_id": [f"{name}{i}" for i in range(n)],
                "title": [f"{name} book {i}" for i in range(n)],
                "author": ["A"] * n,
                "category": [category] * n,
                "group_id": list(range(n)),
            }
        )

    def open_image(self, row):
        return Image.new("RGB", (30, 40), (200, 100, 50))


class _Embedded:
    def __init__(self, n):
        rng = np.random.default_rng(n)
        self.texts, self.images = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))


def test_books_that_matter_include_cross_category_losses(monkeypatch):
    """The tuned view barely moves, the cross view regresses: the cross books come first."""
    import importlib

    from harness.report.examples import example_books

    embed_module = importlib.import_module("harness.evaluate.embed")  # the module, not the function it exports

    monkeypatch.setattr(
        embed_module,
        "embed",
        lambda model, catalogue, template: type("E", (), {"select": lambda self, ids: _Embedded(len(ids))})(),
    )
    views = {"heldout": _View("h", 20, "Mind-Body-Spirit"), "cross": _View("c", 50, "Medical")}
    ids = {v: view.frame["book_id"].tolist() for v, view in views.items()}
    base = {"heldout": [1 + i % 3 for i in range(20)], "cross": [1 + i % 4 for i in range(50)]}
    cand = {
        "heldout": [r + (1 if i == 0 else 0) for i, r in enumerate(base["heldout"])],
        "cross": [r + 5 * i for i, r in enumerate(base["cross"])],
    }
    evaluations = {
        role: _Evaluation({f"{v}/image_to_text": _Ranking(ids[v], ranks[v]) for v in views})
        for role, ranks in (("baseline", base), ("candidate", cand))
    }
    examples = example_books(
        evaluations, {"baseline": None, "candidate": None}, None, views, template="{title}", count=4
    )
    losses = [e for e in examples if e["kind"] == "regressed"]
    assert [e["view"] for e in losses[:4]] == ["cross"] * 4
    assert {e["view"] for e in losses} == {"cross", "heldout"}  # each view's worst loss is kept
    changes = [e["rank"]["candidate"] - e["rank"]["baseline"] for e in losses[:4]]
    assert changes == sorted(changes, reverse=True)
    assert all(e["category"] == "Medical" for e in losses if e["view"] == "cross")
    assert all(len(e["top5"]["candidate"]) == 5 and e["thumbnail"] for e in examples)
