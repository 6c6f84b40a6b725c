"""Catalogues of book covers: loading and validation, splits, decoded-image cache, generated fixtures."""

from __future__ import annotations

from harness.data.catalogue import COLUMNS, Catalogue
from harness.data.fixture_covers import draw_cover
from harness.data.fixture_vocabulary import FIXTURE_CATEGORIES, FIXTURE_FINETUNE_CATEGORY
from harness.data.fixtures import fixture_catalogue, fixture_recipe, make_fixture_catalogue
from harness.data.image_cache import decoded_images, resize_and_crop
from harness.data.images import open_cover
from harness.data.load_report import LoadReport
from harness.data.loader import load_catalogue
from harness.data.split import Splits, split
from harness.data.titles import restore_article, title_key

__all__ = [
    "COLUMNS",
    "Catalogue",
    "FIXTURE_CATEGORIES",
    "FIXTURE_FINETUNE_CATEGORY",
    "LoadReport",
    "Splits",
    "decoded_images",
    "draw_cover",
    "fixture_catalogue",
    "fixture_recipe",
    "load_catalogue",
    "make_fixture_catalogue",
    "open_cover",
    "resize_and_crop",
    "restore_article",
    "split",
    "title_key",
]
