"""TitleTokenizer gives open_clip's own token ids, through its word table and its plain-title shortcut."""

from __future__ import annotations

from pathlib import Path

import ftfy
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data import load_catalogue
from harness.models.tokenizer import TitleTokenizer
from harness.probes.families import families

HOSTILE_TITLES = [
    "",
    "   ",
    "The Power of Nowww",
    "Fish &amp; Chips &lt;b&gt;",  # HTML entities: unescaped twice by open_clip
    "AT&T: a history",
    "line\r\nbreak\rand\u2028more",
    "tab\tand\x0bvertical\x0cfeed",
    "bell\x07 and \x1b[31mred\x1b[0m escapes\x7f",
    "âœ” No problems",  # mojibake ftfy repairs
    "ＬＯＵＤ　ＮＯＩＳＥＳ",
    "ﬂubberiﬁc “curly” ‘quotes’",
    "Ça va? Ünïcödé, 東京, Ελληνικά, emoji 📚📚",
    "combining e\u0301 and NFC é",
    "C\x80\x9f1 controls",
    "lone surrogate-free \ufffd replacement",
    "<b>tags</b> &amp; <i>entities</i>",
    "'s 't 're Words's can't 1999 2,000 A.B.C.",
    "a <start_of_text> inside, then <end_of_text> and <END_OF_TEXT>",  # special tokens keep their ids
    "word " * 200,  # past the context length
    "x" * 5000,
]


def _reference(tokenizer: TitleTokenizer, titles: list[str]) -> tuple[torch.Tensor, int]:
    """open_clip's own ids, cut as TitleTokenizer cuts them, built one text at a time; how many were cut."""
    inner = tokenizer.inner
    rows = torch.zeros(len(titles), tokenizer.context_length, dtype=torch.long)
    cut = 0
    for i, title in enumerate(titles):
        tokens = [inner.sot_token_id, *inner.encode(title), inner.eot_token_id]
        if len(tokens) > tokenizer.context_length:
            cut += 1
            tokens = tokens[: tokenizer.context_length]
            tokens[-1] = inner.eot_token_id
        rows[i, : len(tokens)] = torch.tensor(tokens)
    return rows, cut


@pytest.fixture(scope="module")
def tokenizer() -> TitleTokenizer:
    return TitleTokenizer(77)


def test_every_real_title_and_its_perturbations_get_open_clips_ids(tokenizer, real_bookcovers: Path) -> None:
    catalogue, _ = load_catalogue(real_bookcovers)
    titles = catalogue.frame["title"].astype(str).tolist()
    perturbed = [family.apply(title, seed=0) for family in families() for title in titles[:200]]
    every = titles + perturbed + HOSTILE_TITLES
    ids, truncated = TitleTokenizer(77).tokenize(every)  # a fresh word table
    reference, cut = _reference(tokenizer, every)
    assert torch.equal(ids, reference)
    assert truncated == cut >= 2  # at least the two long hostile titles
    again, _ = tokenizer.tokenize(every[::-1])  # words already in the table
    assert torch.equal(again, ids.flip(0))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_gets_open_clips_ids(tokenizer, text: str) -> None:
    assert tokenizer.encode(text) == tokenizer.inner.encode(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=60))
def test_the_plain_shortcut_is_what_ftfy_and_unescaping_leave(tokenizer, text: str) -> None:
    if text.isprintable() and "&" not in text:
        assert ftfy.fix_text(text) == text
    assert tokenizer.encode(text) == tokenizer.inner.encode(text)


def test_every_whole_word_token_is_what_bpe_makes_of_its_word_in_the_pinned_vocabulary(tokenizer) -> None:
    from open_clip.tokenizer import default_bpe

    from harness.io import sha256_file
    from harness.models.tokenizer import WHOLE_WORD_VOCABULARIES

    assert sha256_file(default_bpe()) in WHOLE_WORD_VOCABULARIES and tokenizer.whole_words
    inner = tokenizer.inner
    saved, inner.cache = inner.cache, {}  # open_clip's own merges, not a table
    try:
        end = "</w>"
        words = [token[: -len(end)] for token in inner.encoder if token.endswith(end) and len(token) > len(end)]
        assert len(words) > 30_000
        assert [w for w in words if inner.bpe(w) != w + "</w>"] == []
    finally:
        inner.cache = saved


def test_a_tokenizer_over_another_vocabulary_merges_every_word(tokenizer) -> None:
    other = TitleTokenizer(77, inner=tokenizer.inner)  # a vocabulary it cannot vouch for
    assert not other.whole_words
    titles = ["The Power of Now", "Healing Herbs and Crystals"]
    assert torch.equal(other(titles), tokenizer(titles))
