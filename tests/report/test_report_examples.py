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
