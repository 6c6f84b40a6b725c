"""split(): disjoint by edition group, deterministic for a seed, every kept row accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data import Catalogue, load_catalogue, split
from harness.errors import ConfigError, DataError

CATEGORIES = ("A", "B", "C", "D")


def make_catalogue(rows: list[tuple[str, int]]) -> Catalogue:
    """Rows of (category, group number); every row its own edition."""
    frame = pd.DataFrame(
        {
            "book_id": [f"b{i}" for i in range(len(rows))],
            "title": [f"Book {g}" for _, g in rows],
            "author": "",
            "category": [c for c, _ in rows],
            "image_path": [f"/covers/{i}.jpg" for i in range(len(rows))],
            "isbn": "",
            "group_id": [f"g{g}" for _, g in rows],
            "title_key": [f"book {g}" for _, g in rows],
        }
    )
    return Catalogue(frame, tuple(f"d{i}" for i in range(len(rows))))


catalogues = st.lists(st.tuples(st.sampled_from(CATEGORIES), st.integers(0, 40)), min_size=1, max_size=120)
train_sets = st.sets(st.sampled_from(CATEGORIES), min_size=1)
fractions = st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.9])


def _ids(catalogue: Catalogue) -> set[str]:
    return set(catalogue.frame["book_id"])


def _groups(catalogue: Catalogue) -> set[str]:
    return set(catalogue.frame["group_id"])


@settings(max_examples=100, deadline=None)
@given(catalogues, train_sets, fractions, st.integers(0, 2**32))
def test_views_are_disjoint_by_group_and_cover_every_row(rows, train, fraction, seed):
    catalogue = make_catalogue(rows)
    present = set(catalogue.categories) & train
    if not present:
        with pytest.raises(DataError):
            split(catalogue, train_categories=train, heldout_fraction=fraction, seed=seed)
        return
    views = split(catalogue, train_categories=sorted(present), heldout_fraction=fraction, seed=seed)
    assert not _groups(views.train) & _groups(views.heldout)
    assert not _groups(views.train) & _groups(views.cross)
    ids = [_ids(views.train), _ids(views.heldout), _ids(views.cross)]
    assert sum(map(len, ids)) + views.withheld == len(catalogue)
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert set(views.train.categories) | set(views.heldout.categories) <= present
    assert not set(views.cross.categories) & present
    train_groups = {g for c, g in rows if c in present}
    assert len(_groups(views.heldout)) == int(round(fraction * len(train_groups)))


@settings(max_examples=60, deadline=None)
@given(catalogues, fractions, st.integers(0, 2**32), st.randoms(use_true_random=False))
def test_same_seed_same_views_whatever_the_row_order(rows, fraction, seed, rnd):
    catalogue = make_catalogue(rows)
    train = catalogue.categories[:1]
    order = list(range(len(catalogue)))
    rnd.shuffle(order)
    one = split(catalogue, train_categories=train, heldout_fraction=fraction, seed=seed)
    again = split(catalogue, train_categories=train, heldout_fraction=fraction, seed=seed)
    shuffled = split(catalogue.subset(np.array(order)), train_categories=train, heldout_fraction=fraction, seed=seed)
    for view in ("train", "heldout", "cross"):
        assert getattr(one, view).frame["book_id"].tolist() == getattr(again, view).frame["book_id"].tolist()
        assert _ids(getattr(one, view)) == _ids(getattr(shuffled, view))
    assert one.withheld == shuffled.withheld


@settings(max_examples=100, deadline=None)
@given(catalogues, fractions, st.sampled_from([0.0, 0.25, 0.5, 0.9]), st.integers(0, 2**32))
def test_replay_books_are_outside_cross_and_heldout(rows, fraction, replay, seed):
    catalogue = make_catalogue(rows)
    train = catalogue.categories[:1]
    plain = split(catalogue, train_categories=train, heldout_fraction=fraction, seed=seed)
    views = split(catalogue, train_categories=train, heldout_fraction=fraction, seed=seed, replay_fraction=replay)
    # the tuned categories' views do not move; replay is carved out of cross, whole groups at a time
    assert _ids(views.train) == _ids(plain.train) and _ids(views.heldout) == _ids(plain.heldout)
    replayed = set() if views.replay is None else _ids(views.replay)
    assert replayed | _ids(views.cross) == _ids(plain.cross) and not replayed & _ids(views.cross)
    replay_groups = set() if views.replay is None else _groups(views.replay)
    assert not replay_groups & (_groups(views.cross) | _groups(views.heldout) | _groups(views.train))
    assert views.withheld == plain.withheld and views.replay_rows == len(replayed)
    assert (views.replay is None) == (replay == 0.0)


def test_replay_draw_is_per_book_and_near_its_fraction():
    catalogue = make_catalogue([("A", g) for g in range(100)] + [("B", g) for g in range(100, 2100)])
    views = split(catalogue, train_categories="A", seed=3, replay_fraction=0.25)
    assert 0.22 < views.replay_rows / 2000 < 0.28
    # adding books elsewhere does not change which of these books are rehearsed
    bigger = make_catalogue(
        [("A", g) for g in range(100)] + [("B", g) for g in range(100, 2100)] + [("C", g) for g in range(5000, 5500)]
    )
    again = split(bigger, train_categories="A", seed=3, replay_fraction=0.25)
    assert _groups(views.replay) == {g for g in _groups(again.replay) if int(g[1:]) < 2100}
    with pytest.raises(ConfigError, match="replay_fraction"):
        split(catalogue, train_categories="A", replay_fraction=1.0)


def test_seeds_pick_different_heldout_books():
    catalogue = make_catalogue([("A", g) for g in range(200)])
    picks = {frozenset(_ids(split(catalogue, train_categories="A", seed=s).heldout)) for s in range(5)}
    assert len(picks) == 5 and all(len(p) == 40 for p in picks)


def test_bad_arguments_are_one_line_errors():
    catalogue = make_catalogue([("A", 1), ("B", 2)])
    with pytest.raises(DataError, match="unknown train category 'Z'"):
        split(catalogue, train_categories=["Z"])
    with pytest.raises(ConfigError, match="heldout_fraction"):
        split(catalogue, train_categories="A", heldout_fraction=1.0)
    with pytest.raises(ConfigError, match="empty"):
        split(catalogue, train_categories=[])


def test_real_book_in_two_categories_never_straddles_the_split(real_bookcovers):
    catalogue, _ = load_catalogue(real_bookcovers)
    views = split(catalogue, train_categories=["Mind-Body-Spirit"], seed=0)
    power = set(catalogue.frame.loc[catalogue.frame["title"] == "The Power of Now", "group_id"])
    in_train = bool(power & _groups(views.train))
    assert in_train != bool(power & _groups(views.heldout))
    assert not (power & _groups(views.cross)) if in_train else True
    assert views.withheld > 0
    assert len(views.train) + len(views.heldout) == (catalogue.frame["category"] == "Mind-Body-Spirit").sum()
    assert views.to_dict()["withheld"] == views.withheld


@settings(max_examples=80, deadline=None)
@given(catalogues, st.sets(st.integers(0, 40)), fractions, st.integers(0, 2**32))
def test_excluded_books_leave_cross_only(rows, excluded, replay, seed):
    catalogue = make_catalogue([("A", 0), *rows])
    groups = {f"g{g}" for g in excluded}
    plain = split(catalogue, train_categories=["A"], seed=seed, replay_fraction=replay)
    views = split(catalogue, train_categories=["A"], seed=seed, replay_fraction=replay, exclude_groups=groups)
    assert _ids(views.train) == _ids(plain.train)  # what a fine-tune trains on does not move
    assert (views.replay is None) == (plain.replay is None)
    if views.replay is not None:
        assert _ids(views.replay) == _ids(plain.replay)
    assert _ids(views.heldout) == _ids(plain.heldout)  # a model trained on held-out books is warned about
    assert not _groups(views.cross) & groups
    plain_cross = plain.cross.frame
    assert _ids(views.cross) == {
        b for b, g in zip(plain_cross["book_id"], plain_cross["group_id"], strict=True) if g not in groups
    }
    assert views.pretrained == len(plain.cross) - len(views.cross)
