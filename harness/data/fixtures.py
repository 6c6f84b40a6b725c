"""The generated fixture catalogue: a deterministic synthetic Book Depository catalogue (CSV + JPEG).

It is the embedded default that suites evaluate and fine-tune on. Titles are new combinations
of per-category words, each word drawn on the cover as a signature tile, so a small CLIP can learn
them; the real catalogue's quirks are put in on purpose (editions, "Title, The:" forms, empty
authors, greyscale covers, accented titles, books in two categories).
"""

from __future__ import annotations

import ast
import csv
import inspect
import io
import os
import random
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import PIL

from harness.data import fixture_covers, fixture_vocabulary
from harness.data.file_lock import exclusive_lock
from harness.data.fixture_covers import draw_cover
from harness.data.fixture_vocabulary import (
    CATEGORY_WORDS,
    FIRST_NAMES,
    FIXTURE_CATEGORIES,
    FORMATS,
    LAST_NAMES,
    NON_ASCII_WORD,
    SHARED_WORD_PROBABILITY,
    SHARED_WORDS,
    TITLE_TEMPLATES,
)
from harness.data.titles import title_key
from harness.errors import DataError
from harness.io import atomic_write_json, cache_dir, sha256_hex

MARKER = "fixture.json"
COLUMNS = (
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
JPEG_QUALITY = 92
# Distinct books per category (before editions and cross-listings). Sized so the cross-category
# gates can be decided: the baseline pretrains on 40% of its categories' books, which leaves about
# 1,950 books of the five other categories that no model trained on (see README "Gates").
BOOKS_PER_CATEGORY = 600
# Quirk rates, per book.
EMPTY_AUTHOR_RATE = 0.03
GREYSCALE_RATE = 0.04
MOVED_ARTICLE_RATE = 0.12  # of titles starting with "The"
EDITION_RATE = 0.08
# (from, to, how many books): the same book listed in two categories.
CROSS_LISTINGS = (
    ("Mind-Body-Spirit", "Health", 4),
    ("Medical", "Biography", 3),
    ("Health", "Cookery", 3),
    ("Science-Fiction-Fantasy-Horror", "Biography", 2),
)


@dataclass(frozen=True)
class FixtureBook:
    """One CSV row of the fixture and how its cover is drawn."""

    name: str
    author: str
    category: str
    isbn: str
    format: str
    stars: str
    price: str
    old_price: str
    cover_title: str
    cover_category: str
    cover_seed: int
    greyscale: bool


def fixture_recipe(seed: int = 0, books_per_category: int = BOOKS_PER_CATEGORY) -> dict[str, Any]:
    """Everything the fixture's bytes depend on; its hash names the cache entry."""
    # the code's syntax tree, not its text: reformatting or a comment does not change the fixture's bytes
    code = "".join(
        ast.dump(ast.parse(inspect.getsource(m))) for m in (fixture_vocabulary, fixture_covers, sys.modules[__name__])
    )
    recipe = {
        "seed": seed,
        "books_per_category": books_per_category,
        "categories": list(FIXTURE_CATEGORIES),
        "pillow": PIL.__version__,
        "code": sha256_hex(code)[:16],
    }
    recipe["recipe_hash"] = sha256_hex(repr(sorted(recipe.items())))[:16]
    return recipe


def fixture_catalogue(seed: int = 0, *, books_per_category: int = BOOKS_PER_CATEGORY) -> Path:
    """Directory of the fixture for `seed` under cache_dir()/fixtures/<recipe-hash>, generated if missing."""
    recipe = fixture_recipe(seed, books_per_category)
    dest: Path = cache_dir() / "fixtures" / recipe["recipe_hash"]
    if (dest / MARKER).is_file():
        return dest
    with exclusive_lock(dest.parent / f".{dest.name}.lock"):
        if not (dest / MARKER).is_file():
            make_fixture_catalogue(dest, seed=seed, books_per_category=books_per_category)
    return dest


def make_fixture_catalogue(
    dest: str | os.PathLike[str], *, seed: int = 0, books_per_category: int = BOOKS_PER_CATEGORY
) -> Path:
    """Write the fixture (<Category>/<Category>.csv and <Category>/NNNNNNN.jpg, plus fixture.json) into `dest`.

    Same seed and size -> byte-identical files. `dest` must be absent, empty, or an earlier fixture
    (which is replaced); the new tree is built beside it and moved into place.
    """
    if books_per_category < 10:
        raise DataError(f"books_per_category={books_per_category} is too small; use at least 10")
    target = Path(dest).expanduser().resolve()
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MARKER).is_file())):
        raise DataError(
            f"{target} exists and is not an empty directory or an earlier fixture; choose a new or empty directory"
        )
    books = generate_books(seed=seed, books_per_category=books_per_category)
    staging = target.parent / f".{target.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        counts = _write_tree(staging, books)
        recipe = fixture_recipe(seed, books_per_category)
        atomic_write_json(staging / MARKER, {**recipe, "rows": counts})
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def generate_books(*, seed: int = 0, books_per_category: int = BOOKS_PER_CATEGORY) -> dict[str, list[FixtureBook]]:
    """Rows of each category's CSV, in file order (pure: no files written)."""
    rng = random.Random(f"bookclip-fixture:{seed}")
    used_keys: set[str] = set()
    isbns = _IsbnSource(rng)
    by_category: dict[str, list[FixtureBook]] = {}
    for category in FIXTURE_CATEGORIES:
        books = []
        for index in range(books_per_category):
            forced = NON_ASCII_WORD if (category == "Cookery" and index == 0) else None
            title = _new_title(rng, category, used_keys, forced)
            books.append(_new_book(rng, title, category, isbns))
        by_category[category] = books
    rows = {c: list(books) for c, books in by_category.items()}
    for category, books in by_category.items():
        for book in books:
            if rng.random() < EDITION_RATE:
                rows[category].append(_new_edition(rng, book, isbns))
    for source, target, n in CROSS_LISTINGS:
        if source in by_category and target in by_category:
            for book in rng.sample(by_category[source], n):
                rows[target].append(replace(book, category=target))
    for category in rows:
        rng.shuffle(rows[category])
    return rows


def moved_article(title: str) -> str:
    """ "The Power of Now: A Guide" -> "Power of Now, The: A Guide" (the catalogue's moved-article form)."""
    head, sep, rest = title[4:].partition(":")
    return f"{head.strip()}, The:{rest}" if sep else f"{head.strip()}, The:"


class _IsbnSource:
    """Unique, valid ISBN-13s in a seeded order."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def next(self) -> str:
        while True:
            body = "978" + "".join(str(self._rng.randrange(10)) for _ in range(9))
            check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
            isbn = f"{body}{check}"
            if isbn not in self._seen:
                self._seen.add(isbn)
                return isbn


def _new_title(rng: random.Random, category: str, used_keys: set[str], forced: str | None) -> str:
    templates = [t for t, _ in TITLE_TEMPLATES]
    weights = [w for _, w in TITLE_TEMPLATES]
    own = CATEGORY_WORDS[category]
    for _ in range(1000):
        template = rng.choices(templates, weights)[0]
        slots = template.count("{")
        words: list[str] = [forced] if forced else []
        while len(words) < slots:
            pool = SHARED_WORDS if rng.random() < SHARED_WORD_PROBABILITY else own
            word = rng.choice(pool)
            if word not in words:
                words.append(word)
        rng.shuffle(words)
        title = template.format(*words)
        key = title_key(title)
        if key not in used_keys:
            used_keys.add(key)
            return title
    raise DataError(f"cannot make more distinct titles for {category}; lower books_per_category")


def _new_book(rng: random.Random, title: str, category: str, isbns: _IsbnSource) -> FixtureBook:
    author = "" if rng.random() < EMPTY_AUTHOR_RATE else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    name = moved_article(title) if title.startswith("The ") and rng.random() < MOVED_ARTICLE_RATE else title
    price = rng.uniform(4.0, 30.0)
    old_price = f"{price * rng.uniform(1.05, 1.6):.2f}" if rng.random() < 0.6 else ""
    return FixtureBook(
        name=name,
        author=author,
        category=category,
        isbn=isbns.next(),
        format=rng.choice(FORMATS[:2]),
        stars=rng.choice(("3.5", "4.0", "4.5", "5.0")),
        price=f"{price:.2f}",
        old_price=old_price,
        cover_title=title,
        cover_category=category,
        cover_seed=rng.randrange(2**31),
        greyscale=rng.random() < GREYSCALE_RATE,
    )


def _new_edition(rng: random.Random, book: FixtureBook, isbns: _IsbnSource) -> FixtureBook:
    title = book.cover_title
    name = moved_article(title) if title.startswith("The ") and rng.random() < 0.5 else title
    other_format = rng.choice([f for f in FORMATS if f != book.format])
    return replace(
        book,
        name=name,
        isbn=isbns.next(),
        format=other_format,
        cover_seed=rng.randrange(2**31),
        price=f"{float(book.price) * rng.uniform(0.8, 1.5):.2f}",
    )


def _write_tree(root: Path, rows: dict[str, list[FixtureBook]]) -> dict[str, int]:
    counts = {}
    for category, books in rows.items():
        folder = root / category
        folder.mkdir(parents=True)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for number, book in enumerate(books, start=1):
            filename = f"{number:07d}.jpg"
            _save_cover(book, folder / filename)
            writer.writerow(
                [
                    f"https://covers.bookclip.invalid/{book.isbn}.jpg",
                    book.name,
                    book.author,
                    book.format,
                    book.stars,
                    book.price,
                    "$",
                    book.old_price,
                    book.isbn,
                    category,
                    f"dataset/{category}/{filename}",
                ]
            )
        (folder / f"{category}.csv").write_text(buffer.getvalue(), encoding="utf-8")
        counts[category] = len(books)
    return counts


def _save_cover(book: FixtureBook, path: Path) -> None:
    image = draw_cover(book.cover_title, book.author, book.cover_category, seed=book.cover_seed)
    if book.greyscale:
        image = image.convert("L")
    image.save(path, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
