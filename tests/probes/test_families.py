"""Property tests of the title perturbation families and their registry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.probes.families import (
    ENTRY_POINT_GROUP,
    Family,
    FamilyRegistry,
    Severity,
    TitleContext,
    default_registry,
    families,
    register_family,
)

FAMILIES = families(entry_points=False)
FAMILY_IDS = [f.name for f in FAMILIES]

# The issue's list of families, each a name in the registry.
EXPECTED = {
    "repeated_letters",
    "dropped_letter",
    "adjacent_swap",
    "keyboard_typo",
    "ocr_confusion",
    "homoglyph",
    "case",
    "punctuation_stripped",
    "spacing",
    "article_moved",
    "word_dropped",
    "word_order_shuffled",
    "ampersand_and",
    "numerals_words",
    "subtitle",
    "author_appended",
    "category_prefix",
    "unicode_normalisation",
    "overlong",
}

# Titles like the catalogue's: words, articles, "&", numerals, accents, subtitles, odd spacing.
title_words = st.sampled_from(
    [
        "The",
        "A",
        "an",
        "Power",
        "of",
        "Now",
        "&",
        "and",
        "7",
        "Seven",
        "Café",
        "Noël",
        "rn",
        "Ol1",
        "Daring:",
        "Greatly",
        "-",
        "(Part",
        "2)",
        "mind",
        "Body",
        "ß",
        "İstanbul",
        "naïve",
        ",",
        "The:",
        "Habits",
    ]
)
catalogue_like = st.lists(title_words, min_size=0, max_size=8).map(" ".join)
titles = st.one_of(st.text(max_size=40), catalogue_like, st.text(alphabet=st.characters(codec="utf-8"), max_size=20))
contexts = st.builds(
    TitleContext,
    author=st.one_of(st.just(""), st.text(max_size=20)),
    category=st.one_of(st.just(""), st.text(max_size=20)),
    context_length=st.integers(min_value=1, max_value=77),
)
seeds = st.integers(min_value=0, max_value=2**32)


def test_registry_holds_every_family_the_issue_lists() -> None:
    assert EXPECTED <= set(FAMILY_IDS)
    assert all(isinstance(f.severity, Severity) and f.description and f.unchanged_doc for f in FAMILIES)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
@settings(max_examples=60, deadline=None)
@given(title=titles, context=contexts, seed=seeds)
def test_family_properties(family: Family, title: str, context: TitleContext, seed: int) -> None:
    out = family.apply(title, seed, context)
    assert isinstance(out, str)
    assert family.apply(title, seed, context) == out  # deterministic for a seed
    lo, hi = family.length_bounds(title, context)
    assert lo <= len(out) <= hi, (title, out)
    if out == title:  # unchanged only where the family says it may be
        assert family.may_be_unchanged(title, context), (family.unchanged_doc, title)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
@settings(max_examples=30, deadline=None)
@given(titles=st.lists(catalogue_like, min_size=1, max_size=6), seed=seeds)
def test_family_result_does_not_depend_on_call_order(family: Family, titles: list[str], seed: int) -> None:
    forward = {t: family.apply(t, seed) for t in titles}
    backward = {t: family.apply(t, seed) for t in reversed(titles)}
    assert forward == backward


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_seed_changes_the_choice_somewhere(family: Family) -> None:
    # over many seeds a randomised family must make more than one choice on a rich title
    title = "The 7 Habits & Powers and Seven Nows: Café Notes"
    context = TitleContext(author="Eckhart Tolle", category="Mind-Body-Spirit")
    outs = {family.apply(title, seed, context) for seed in range(40)}
    deterministic = {"article_moved", "author_appended", "category_prefix", "punctuation_stripped", "subtitle"}
    assert len(outs) == 1 if family.name in deterministic else len(outs) > 1


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        ("article_moved", "The Power of Now", "Power of Now, The"),
        ("article_moved", "Gifts Of Imperfection, The:", "The Gifts Of Imperfection"),
        ("ampersand_and", "Pride & Prejudice", "Pride and Prejudice"),
        ("ampersand_and", "Rock&Roll", "Rock and Roll"),
        ("ampersand_and", "Pride and Prejudice", "Pride & Prejudice"),
        ("numerals_words", "7 Habits", "Seven Habits"),
        ("numerals_words", "The Seven Habits", "The 7 Habits"),
        ("subtitle", "Daring Greatly: How the Courage", "Daring Greatly"),
        ("subtitle", "Gifts Of Imperfection, The:", None),
        ("punctuation_stripped", "Now: A Guide!", "Now A Guide"),
        ("author_appended", "The Power of Now", "The Power of Now by Eckhart Tolle"),
        ("category_prefix", "The Power of Now", "Mind-Body-Spirit: The Power of Now"),
        ("unicode_normalisation", "Café", None),
    ],
)
def test_family_examples(name: str, title: str, expected: str | None) -> None:
    family = default_registry().get(name)
    out = family.apply(title, 0, TitleContext(author="Eckhart Tolle", category="Mind-Body-Spirit"))
    if expected is not None:
        assert out == expected
    elif name == "subtitle":  # a trailing colon is no subtitle: one is added instead
        assert out.startswith(title + ": ") and len(out) > len(title) + 3
    else:
        assert out != title and unicodedata.normalize("NFC", out) in {"Café", "Cafe"}


@settings(max_examples=40, deadline=None)
@given(title=catalogue_like, seed=seeds)
def test_repeated_letters_only_inserts_copies_of_one_letter(title: str, seed: int) -> None:
    out = default_registry().get("repeated_letters").apply(title, seed)
    extra = len(out) - len(title)
    if any(ch.isalpha() for ch in title):
        assert 1 <= extra <= 3
        i = next(i for i, (a, b) in enumerate(zip(title + "\0", out, strict=False)) if a != b)  # first difference
        assert set(out[i - 1 : i + extra]) == {out[i - 1]} and out[:i] + out[i + extra :] == title


def test_overlong_overflows_the_tokenizer_and_keeps_the_title_in_front() -> None:
    from open_clip.tokenizer import SimpleTokenizer

    family = default_registry().get("overlong")
    out = family.apply("The Power of Now", 3, TitleContext(context_length=77))
    assert out.startswith("The Power of Now - ")
    assert len(SimpleTokenizer().encode(out)) + 2 > 77  # + start and end tokens


def test_homoglyphs_look_alike_but_are_cyrillic() -> None:
    out = default_registry().get("homoglyph").apply("The Power of Now", 1)
    changed = [(a, b) for a, b in zip("The Power of Now", out, strict=True) if a != b]
    assert changed and all("CYRILLIC" in unicodedata.name(b) for _, b in changed)


def test_registry_rejects_a_second_family_under_a_taken_name() -> None:
    registry = FamilyRegistry()

    @register_family("mine", severity=Severity.TYPO, registry=registry)
    def mine(title, rng, context):  # noqa: ANN001 - the shape a user writes
        return title + "!"

    assert registry.get("mine")("x") == "x!" and "mine" not in default_registry()
    with pytest.raises(ConfigError, match="already registered"):

        @register_family("mine", severity=Severity.TYPO, registry=registry)
        def other(title, rng, context):  # noqa: ANN001
            return title

    with pytest.raises(ConfigError, match="unknown probe family 'nope'"):
        registry.get("nope")
    with pytest.raises(ConfigError, match="must be lowercase"):
        register_family("Bad Name", severity=Severity.TYPO, registry=registry)


def test_user_families_from_decorator_and_entry_point(tmp_path) -> None:  # noqa: ANN001
    # a real installed-looking distribution on sys.path, in a fresh interpreter
    (tmp_path / "shout_probe.py").write_text(
        textwrap.dedent("""
        from harness.probes.families import Severity, register_family

        @register_family("shout", severity=Severity.COSMETIC,
                         unchanged_when=lambda t, c: t == t.upper())
        def shout(title, rng, context):
            return title.upper()
    """)
    )
    dist = tmp_path / "shout_probe-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nshout = shout_probe:shout\n")
    script = textwrap.dedent("""
        import sys
        from harness.probes.families import families
        plain = [f.name for f in families(entry_points=False)]
        names = [f.name for f in families()]
        print(names[-1], "shout" in plain, families(["shout"])[0].apply("The Power of Now"))
    """)
    # entry points are loaded on demand; importing the plugin module registers it for good
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
        check=True,
    )
    assert result.stdout.split() == ["shout", "False", "THE", "POWER", "OF", "NOW"]


def test_a_broken_entry_point_is_a_one_line_config_error(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    dist = tmp_path / "broken_probe-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module:thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="'broken'.*failed to load") as info:
        FamilyRegistry().load_entry_points()
    assert "\n" not in str(info.value)
