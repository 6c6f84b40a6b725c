"""Builders for throwaway catalogues: real JPEG/PNG/WebP files and CSVs in the Book Depository layout."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

LAYOUT = (
    "image",
    "name",
    "author",
    "format",
    "book_depository_stars",
    "price",
    "currency",
    "old_price",
    "isbn",
    "category",
    "img_paths",
)


def image_bytes(
    fmt: str = "JPEG",
    mode: str = "RGB",
    size: tuple[int, int] = (40, 60),
    colour: int | tuple[int, ...] = (200, 40, 40),
) -> bytes:
    image = Image.new(mode, size, colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def row(name: str, img: str, *, category: str = "Health", author: str = "A. Writer", isbn: str = "") -> dict:
    return {
        "image": "",
        "name": name,
        "author": author,
        "format": "Paperback",
        "book_depository_stars": "4.0",
        "price": "9.99",
        "currency": "$",
        "old_price": "",
        "isbn": isbn,
        "category": category,
        "img_paths": img,
    }


def write_csv(path: Path, rows: list[dict], *, encoding: str = "utf-8", columns=LAYOUT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.fixture
def put_image(tmp_path: Path) -> Callable[..., str]:
    """put_image("Health/0000001.jpg", data) writes the file under tmp_path/root and returns its img_paths."""

    def put(relative: str, data: bytes | None = None) -> str:
        target = tmp_path / "root" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image_bytes() if data is None else data)
        return f"dataset/{relative}"

    return put


@pytest.fixture
def build():
    """The builders above, for tests (conftest modules are not importable by name)."""
    import types

    return types.SimpleNamespace(image_bytes=image_bytes, row=row, write_csv=write_csv)
