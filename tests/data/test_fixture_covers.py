"""Fixture covers: word signatures that survive 64 px, a title region that the control view blanks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.data import FIXTURE_CATEGORIES, draw_cover
from harness.data.fixture_covers import (
    COVER_SIZE,
    MAX_TILES,
    PANEL_COLOUR,
    TILE_GAP,
    TILE_HEIGHT,
    TILE_LEFT,
    TILE_TOP,
    TILE_WIDTH,
    TITLE_REGION,
)
from harness.data.fixture_vocabulary import (
    SIGNATURE_COLOURS,
    all_words,
    category_style,
    signature_words,
    word_signatures,
)
from harness.data.image_cache import resize_and_crop

LEFT, TOP, RIGHT, BOTTOM = TITLE_REGION


def _region(image: Image.Image) -> np.ndarray:
    return np.asarray(image)[TOP : BOTTOM + 1, LEFT : RIGHT + 1]


def test_every_vocabulary_word_has_its_own_signature():
    signatures = word_signatures()
    words = all_words()
    assert len(signatures) == len(words) == len({w.casefold() for w in words})
    assert len(set(signatures.values())) == len(words)
    assert all(s.first != s.second for s in signatures.values())


def test_signature_words_reads_vocabulary_words_in_title_order():
    signatures = word_signatures()
    found = signature_words("The Power of Chakra and Crème", signatures)
    assert found == [signatures["power"], signatures["chakra"], signatures["crème"]]
    assert signature_words("Of the and a", signatures) == []


def test_title_region_depends_only_on_the_title():
    a = draw_cover("The Secret of Karma", "Ada Khan", "Mind-Body-Spirit", seed=1)
    b = draw_cover("The Secret of Karma", "", "Mind-Body-Spirit", seed=99)
    c = draw_cover("The Secret of Karma", "Ada Khan", "Cookery", seed=1)
    d = draw_cover("The Secret of Tarot", "Ada Khan", "Mind-Body-Spirit", seed=1)
    assert np.array_equal(_region(a), _region(b)) and np.array_equal(_region(a), _region(c))
    assert not np.array_equal(_region(a), _region(d))
    assert not np.array_equal(np.asarray(a), np.asarray(b))  # editions differ outside the title region
    assert np.array_equal(
        np.asarray(a), np.asarray(draw_cover("The Secret of Karma", "Ada Khan", "Mind-Body-Spirit", seed=1))
    )


def test_moved_article_form_draws_the_natural_title():
    assert np.array_equal(
        _region(draw_cover("Secret of Karma, The:", "", "Health", seed=0)),
        _region(draw_cover("The Secret of Karma", "", "Health", seed=0)),
    )


def test_without_title_the_region_is_blank_and_the_rest_is_unchanged():
    with_title = np.asarray(draw_cover("Dragon Galaxy and Ghost", "Wei Xu", "Science-Fiction-Fantasy-Horror", seed=5))
    control = np.asarray(
        draw_cover("Dragon Galaxy and Ghost", "Wei Xu", "Science-Fiction-Fantasy-Horror", seed=5, with_title=False)
    )
    assert (control[TOP : BOTTOM + 1, LEFT : RIGHT + 1] == PANEL_COLOUR).all()
    outside = np.ones((COVER_SIZE, COVER_SIZE), dtype=bool)
    outside[TOP : BOTTOM + 1, LEFT : RIGHT + 1] = False
    assert np.array_equal(with_title[outside], control[outside])
    assert not (with_title[TOP : BOTTOM + 1, LEFT : RIGHT + 1] == PANEL_COLOUR).all()
    other_title = np.asarray(
        draw_cover("Robot Void", "Wei Xu", "Science-Fiction-Fantasy-Horror", seed=5, with_title=False)
    )
    assert (other_title[TOP : BOTTOM + 1, LEFT : RIGHT + 1] == PANEL_COLOUR).all()  # no title text or tiles left


def test_categories_look_different():
    means = [np.asarray(draw_cover("Power", "", c, seed=0))[100:].reshape(-1, 3).mean(0) for c in FIXTURE_CATEGORIES]
    distances = [np.abs(a - b).sum() for i, a in enumerate(means) for b in means[i + 1 :]]
    assert min(distances) > 30
    assert category_style("Unknown Category") == category_style("Unknown Category")


def _read_tiles(cover: Image.Image, n: int) -> list[tuple[int, int]]:
    """Nearest signature colour of each tile's first and second colour, read off the 64 px cover."""
    small = np.asarray(resize_and_crop(cover, 64)).astype(int)
    palette = np.array(SIGNATURE_COLOURS)
    read = []
    for i in range(n):
        x0 = (TILE_LEFT + i * (TILE_WIDTH + TILE_GAP)) // 2
        y0 = TILE_TOP // 2
        tile = small[y0 + 1 : y0 + TILE_HEIGHT // 2 - 1, x0 + 1 : x0 + TILE_WIDTH // 2 - 1].reshape(-1, 3)
        nearest = np.abs(tile[:, None, :] - palette[None]).sum(-1).argmin(1)
        counts = np.bincount(nearest, minlength=len(palette))
        read.append(tuple(sorted(np.argsort(counts)[-2:].tolist())))
    return read


def test_tile_colours_survive_jpeg_and_64px(tmp_path):
    import random

    rng = random.Random(0)
    words = list(word_signatures())
    palette = list(SIGNATURE_COLOURS)
    for k in range(30):
        chosen = rng.sample(words, rng.randint(2, MAX_TILES))
        title = " and ".join(w.title() for w in chosen)
        path = tmp_path / f"{k}.jpg"
        draw_cover(title, "Ada Khan", rng.choice(FIXTURE_CATEGORIES), seed=k).save(path, quality=92)
        signatures = signature_words(title, word_signatures())
        expected = [tuple(sorted((palette.index(s.first), palette.index(s.second)))) for s in signatures]
        assert _read_tiles(Image.open(path).convert("RGB"), len(expected)) == expected, title


@pytest.mark.parametrize("title", ["", "x" * 400, "Crème Brûlée Café", "日本語のタイトル", "A " * 100])
def test_any_title_draws(title):
    cover = draw_cover(title, "Zoë Müller", "Cookery", seed=0)
    assert cover.size == (COVER_SIZE, COVER_SIZE) and cover.mode == "RGB"
