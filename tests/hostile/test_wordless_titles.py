"""Titles with no letters or digits name no book: each is a counted skip, never a shared group that makes
unrelated books editions of each other; invisible format characters do not split a title's key."""

from __future__ import annotations

from harness.data import load_catalogue
from harness.data import load_report as reasons
from harness.data.titles import title_key

WORDLESS = ["!!!", "...", "?!", "\u200b", "\u2066\u2067\u2069", "— —"]


def test_wordless_titles_are_counted_skips(catalogue_dir) -> None:
    names = [*WORDLESS, "Real Book", "Edu\u200dcated", "Educated"]
    catalogue, report = load_catalogue(catalogue_dir(titles=names) / "Medical" / "Medical.csv")
    assert catalogue.titles == ["Real Book", "Edu\u200dcated", "Educated"]
    assert report.skipped == {reasons.SKIP_TITLE_WITHOUT_WORDS: len(WORDLESS)}
    assert all("" != key for key in catalogue.frame["title_key"])
    groups = catalogue.frame["group_id"].tolist()
    assert groups[1] == groups[2] and groups[0] != groups[1]  # the zero-width joiner does not split a title


def test_format_characters_do_not_change_a_title_key() -> None:
    assert title_key("Edu\u200dcated") == title_key("Educated") == "educated"
    assert title_key("The \u202ePower\u202c of Now") == title_key("The Power of Now")
    assert all(title_key(t) == "" for t in WORDLESS)
