"""Cover-text control: fixture covers redrawn without titles, real covers masked in their upper part."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.data import load_catalogue
from harness.data.fixture_covers import draw_cover
from harness.data.fixtures import generate_books, make_fixture_catalogue
from harness.errors import DataError
from harness.probes.cover_control import control_view, hide_title_region


def test_mask_fills_the_upper_part_and_keeps_the_rest() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (100, 80, 3), dtype=np.uint8))
    hidden = np.asarray(hide_title_region(image, fraction=0.4))
    top = hidden[:40].reshape(-1, 3)
    assert (top == top[0]).all()  # one flat colour
    np.testing.assert_array_equal(hidden[40:], np.asarray(image)[40:])
    blurred = np.asarray(hide_title_region(image, fraction=0.4, method="blur"))
    assert blurred[:40].std() < np.asarray(image)[:40].std() / 2
    with pytest.raises(DataError, match="unknown cover-control method"):
        hide_title_region(image, method="paint")


@pytest.fixture(scope="module")
def small_fixture(tmp_path_factory):  # noqa: ANN001, ANN201
    return make_fixture_catalogue(tmp_path_factory.mktemp("fixture") / "books", seed=2, books_per_category=10)


def test_fixture_covers_are_redrawn_without_their_title(small_fixture) -> None:  # noqa: ANN001
    catalogue, _ = load_catalogue(small_fixture)
    catalogue = catalogue.subset(range(0, len(catalogue), 7))
    view = control_view(catalogue)
    assert view.redrawn == len(catalogue) and view.masked == 0
    books = generate_books(seed=2, books_per_category=10)
    for i in range(len(catalogue)):
        source = catalogue.frame["image_path"].iat[i]
        category, name = source.split("/")[-2:]
        book = books[category][int(name[:7]) - 1]
        expected = (
            draw_cover(book.cover_title, book.author, book.cover_category, seed=book.cover_seed, with_title=False)
            .convert("L" if book.greyscale else "RGB")
            .convert("RGB")
        )
        hidden = np.asarray(view.catalogue.open_image(i), dtype=np.int16)
        original = np.asarray(catalogue.open_image(i), dtype=np.int16)
        assert np.abs(hidden - np.asarray(expected, dtype=np.int16)).mean() < 3  # JPEG noise only
        assert np.abs(hidden[5:60] - original[5:60]).mean() > 5  # the title panel changed
        np.testing.assert_allclose(hidden[100:].mean(), original[100:].mean(), atol=3)
    assert view.catalogue.frame.drop(columns="image_path").equals(catalogue.frame.drop(columns="image_path"))
    assert control_view(catalogue).catalogue.fingerprint == view.catalogue.fingerprint  # reused, same files


def test_real_covers_are_masked(real_bookcovers) -> None:  # noqa: ANN001
    catalogue, _ = load_catalogue(real_bookcovers / "Biography")
    catalogue = catalogue.subset([0, 1, 2])
    view = control_view(catalogue)
    assert view.masked == 3 and view.redrawn == 0 and "masked" in view.method
    for i in range(3):
        hidden = np.asarray(view.catalogue.open_image(i))
        original = np.asarray(catalogue.open_image(i))
        cut = int(round(hidden.shape[0] * 0.45))
        assert (hidden[:cut].reshape(-1, 3) == hidden[0, 0]).all()
        np.testing.assert_array_equal(hidden[cut:], original[cut:])
