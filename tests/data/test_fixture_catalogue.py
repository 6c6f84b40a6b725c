"""The generated fixture catalogue: deterministic bytes, the real catalogue's quirks, cached by recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from harness.data import (
    FIXTURE_CATEGORIES,
    FIXTURE_FINETUNE_CATEGORY,
    fixture_catalogue,
    fixture_recipe,
    load_catalogue,
    make_fixture_catalogue,
    split,
    title_key,
)
from harness.data.fixture_vocabulary import CATEGORY_WORDS, SHARED_WORDS
from harness.data.fixtures import MARKER, generate_books, moved_article
from harness.errors import DataError


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = make_fixture_catalogue(tmp_path / "a", seed=3, books_per_category=12)
    b = make_fixture_catalogue(tmp_path / "b", seed=3, books_per_category=12)
    files = _files(a)
    assert files == _files(b)
    assert sum(name.endswith(".csv") for name in files) == len(FIXTURE_CATEGORIES)
    c = make_fixture_catalogue(tmp_path / "c", seed=4, books_per_category=12)
    assert _files(c)["Health/Health.csv"] != files["Health/Health.csv"]


def test_remaking_replaces_an_earlier_fixture_but_not_other_folders(tmp_path):
    dest = make_fixture_catalogue(tmp_path / "fx", seed=0, books_per_category=10)
    before = _files(dest)
    (dest / "Health" / "stray.txt").write_text("x")
    assert _files(make_fixture_catalogue(dest, seed=0, books_per_category=10)) == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not an empty directory"):
        make_fixture_catalogue(tmp_path / "mine", books_per_category=10)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_titles_are_compositions_of_the_vocabulary():
    books = generate_books(seed=0, books_per_category=40)
    vocabulary = {w.casefold() for ws in CATEGORY_WORDS.values() for w in ws} | {w.casefold() for w in SHARED_WORDS}
    function_words = {"the", "of", "and", "a", "guide", "to"}
    for category, rows in books.items():
        own = {w.casefold() for w in CATEGORY_WORDS[category]}
        for book in rows:
            words = title_key(book.cover_title).split()
            content = [w for w in words if w not in function_words]
            assert 2 <= len(content) <= 4 and set(content) <= vocabulary, book.cover_title
            if book.cover_category == category:
                assert set(content) <= own | {w.casefold() for w in SHARED_WORDS}


def test_moved_article_round_trips_through_title_key():
    assert moved_article("The Power of Karma") == "Power of Karma, The:"
    assert moved_article("The Art of Zen: A Guide to Yoga") == "Art of Zen, The: A Guide to Yoga"
    for title in ("The Power of Karma", "The Art of Zen: A Guide to Yoga"):
        assert title_key(moved_article(title)) == title_key(title)


@pytest.mark.slow
def test_default_fixture_has_the_real_quirks_and_loads_cleanly():
    root = fixture_catalogue()
    assert root == fixture_catalogue() and (root / MARKER).is_file()
    assert json.loads((root / MARKER).read_text())["recipe_hash"] == fixture_recipe()["recipe_hash"] == root.name
    catalogue, report = load_catalogue(root)
    assert report.skipped == {} and report.flagged == {}
    frame = catalogue.frame
    assert len(catalogue.categories) >= 6 and FIXTURE_FINETUNE_CATEGORY in catalogue.categories
    assert set(catalogue.categories) == set(FIXTURE_CATEGORIES)
    per_category = frame.groupby("category")["group_id"].nunique()
    assert (per_category >= 300).all()
    editions = frame.groupby(["category", "group_id"]).size()
    assert (editions > 1).groupby("category").sum().min() >= 5  # duplicate editions in every category
    assert frame["title"].str.contains(r", The:", regex=True).sum() >= 10
    assert (frame["author"] == "").sum() >= 10
    assert frame["title"].map(lambda t: not t.isascii()).any()
    spans = frame.groupby("group_id")["category"].nunique()
    assert (spans > 1).sum() >= 8  # books listed in two categories
    modes = {Image.open(p).mode for p in frame["image_path"]}
    assert modes == {"RGB", "L"}
    assert all(Image.open(p).size == (128, 128) for p in frame["image_path"][:50])
    # the split keeps every two-category book on one side
    views = split(catalogue, train_categories=[c for c in catalogue.categories if c != FIXTURE_FINETUNE_CATEGORY])
    assert views.withheld >= 1 and len(views.cross) > 250
