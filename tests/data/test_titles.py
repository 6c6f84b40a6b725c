"""Title keys: one key for every spelling of a title; ISBN normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.data.titles import normalise_isbn, restore_article, title_key


@pytest.mark.parametrize(
    "a, b",
    [
        ("Gifts Of Imperfection, The:", "The Gifts of Imperfection"),
        ("First Forty Days, The:The Essential Art", "The First Forty Days: The Essential Art"),
        ("Tale of Two Cities, A", "A Tale of Two Cities"),
        ("Wes Anderson Collection, The", "the wes anderson collection"),
        ("Barnes & Noble", "Barnes and Noble"),
        ("  The   Power of  Now ", "The Power of Now!"),
        ("ＴＨＥ ＰＯＷＥＲ", "the power"),
    ],
)
def test_spellings_of_one_title_share_a_key(a, b):
    assert title_key(a) == title_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("The Power of Now", "The Power of Habit"),
        ("Wherever You Go, There You Are", "There You Are Wherever You Go"),
        ("Café", "Cafe"),  # accents can tell titles apart
        ("The Boy, The Mole, The Fox and The Horse", "The Boy"),
    ],
)
def test_different_titles_keep_different_keys(a, b):
    assert title_key(a) != title_key(b)


def test_restore_article_leaves_commas_that_are_not_moved_articles():
    assert restore_article("Wherever You Go, There You Are") == "Wherever You Go, There You Are"
    assert restore_article("The Boy, The Mole, The Fox and The Horse") == "The Boy, The Mole, The Fox and The Horse"
    assert restore_article("Gifts Of Imperfection, The:") == "The Gifts Of Imperfection"


@given(st.text(max_size=60))
def test_title_key_is_idempotent_and_clean(text):
    key = title_key(text)
    assert title_key(key) == key
    assert key == key.strip() and "  " not in key and key == key.casefold()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("978-1-4915-1371-2", "9781491513712"),
        ("0 306 40615 x", "030640615X"),
        ("9.78E+12", ""),
        ("", ""),
        ("12345", ""),
    ],
)
def test_normalise_isbn(raw, expected):
    assert normalise_isbn(raw) == expected
