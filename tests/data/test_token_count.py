"""The torch-free CLIP token counter agrees with open_clip's SimpleTokenizer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.data.token_count import ClipTokenCounter


@pytest.fixture(scope="module")
def pair():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(), ClipTokenCounter()


def test_counts_match_open_clip_on_real_titles(pair, real_bookcovers):
    import pandas as pd

    reference, counter = pair
    titles = pd.read_csv(
        real_bookcovers / "Science-Fiction-Fantasy-Horror" / "Science-Fiction-Fantasy-Horror.csv",
        dtype=str,
        keep_default_na=False,
    )["name"].tolist()
    titles += ["Crème brûlée &amp; Café", "Ｆｕｌｌ ｗｉｄｔｈ", "ÆSIR 1984 ®", "<start_of_text> hi", "a" * 300]
    assert [counter.count(t) for t in titles] == [len(reference.encode(t)) for t in titles]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80))
def test_counts_match_open_clip_on_any_text(pair, text):
    reference, counter = pair
    assert counter.count(text) == len(reference.encode(text))
