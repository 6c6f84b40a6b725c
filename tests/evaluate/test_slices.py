"""The slicing registry: labels per catalogue row, skips for absent columns, one entry adds a slicing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from harness.data.catalogue import Catalogue
from harness.errors import ConfigError
from harness.evaluate.slices import SliceTable, Slicing, cut, is_latin, registered_slicing, slicings


def _catalogue(tmp_path: Path, rows: list[dict[str, str]], *, grey: frozenset[int] = frozenset()) -> Catalogue:
    frame = pd.DataFrame(rows)
    paths, digests = [], []
    for i in range(len(frame)):
        path = tmp_path / f"{i}.jpg"
        Image.new("L" if i in grey else "RGB", (8, 12), 128).save(path, format="JPEG")
        paths.append(str(path))
        digests.append(f"d{i}")
    frame["book_id"] = [f"b{i}" for i in range(len(frame))]
    frame["image_path"] = paths
    for column in ("author", "category", "isbn", "title_key"):
        if column not in frame:
            frame[column] = ""
    if "group_id" not in frame:
        frame["group_id"] = [f"g{i}" for i in range(len(frame))]
    return Catalogue(frame.astype(str), tuple(digests))


def test_every_declared_slicing_is_registered() -> None:
    names = {s.name for s in slicings()}
    assert {
        "format",
        "author",
        "category",
        "stars",
        "price",
        "title_tokens",
        "editions",
        "colour",
        "placeholder",
        "subtitle",
        "script",
        "moved_article",
    } <= names


def test_labels_follow_the_columns(tmp_path: Path) -> None:
    rows = [
        {"title": "The Power of Now", "format": "Paperback", "book_depository_stars": "4.5", "price": "9.99"},
        {"title": "Power of Now, The: A Guide", "format": "Hardback", "book_depository_stars": "3.0", "price": "20"},
        {"title": "Война и мир", "format": "", "book_depository_stars": "-1", "price": "inf"},
        {"title": "Gifts", "format": "Paperback", "book_depository_stars": "nan", "price": "abc"},
    ]
    table = cut(_catalogue(tmp_path, rows, grey=frozenset({1})))
    assert table.labels["format"] == ("Paperback", "Hardback", None, "Paperback")
    assert table.labels["stars"] == ("[4.5, 5]", "[0, 3.5)", None, None)
    assert table.labels["price"][2:] == (None, None)
    assert table.labels["colour"] == ("colour", "greyscale", "colour", "colour")
    assert table.labels["subtitle"] == ("no subtitle", "subtitle", "no subtitle", "no subtitle")
    assert table.labels["moved_article"] == ("as written", "moved article", "as written", "as written")
    assert table.labels["script"] == ("Latin script", "Latin script", "non-Latin script", "Latin script")
    assert table.unusable["format"] == 1 and table.unusable["stars"] == 2 and table.unusable["price"] == 2


def test_a_slicing_whose_column_is_absent_is_a_counted_skip(tmp_path: Path) -> None:
    table = cut(_catalogue(tmp_path, [{"title": "Gifts"}, {"title": "Roots"}]))
    assert set(table.skipped) == {"format", "stars", "price"}
    assert "absent" in table.skipped["format"]
    assert "format" not in table.labels and "subtitle" in table.labels


def test_shared_cover_bytes_of_several_books_are_a_placeholder(tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, [{"title": t} for t in ("A", "B", "C")])
    shared = Catalogue(catalogue.frame, ("same", "same", "other"))
    assert cut(shared, ["placeholder"]).labels["placeholder"] == (
        "placeholder (shared)",
        "placeholder (shared)",
        "own cover",
    )
    # two editions of one book sharing a cover are not a placeholder
    frame = catalogue.frame.assign(group_id=["g", "g", "h"])
    assert cut(Catalogue(frame, ("same", "same", "other")), ["placeholder"]).labels["placeholder"][0] == "own cover"


def test_editions_count_the_rows_of_one_book(tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, [{"title": t} for t in "ABCDEF"])
    frame = catalogue.frame.assign(group_id=["g", "g", "h", "h", "h", "i"])
    labels = cut(Catalogue(frame, catalogue.image_digests), ["editions"]).labels["editions"]
    assert labels == ("2 editions", "2 editions", "3+ editions", "3+ editions", "3+ editions", "1 edition")


def test_adding_a_slicing_is_one_registry_entry(tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, [{"title": t, "isbn": i} for t, i in (("A", "978x"), ("B", "979y"))])
    entry = Slicing("isbn_prefix", lambda cat: [x[:3] or None for x in cat.frame["isbn"]], columns=("isbn",))
    with registered_slicing(entry):
        assert cut(catalogue).labels["isbn_prefix"] == ("978", "979")
        other = Slicing("isbn_prefix", lambda cat: [None] * len(cat))
        with pytest.raises(ConfigError, match="registered already"), registered_slicing(other):
            pass
    assert "isbn_prefix" not in {s.name for s in slicings()}


def test_unknown_slicing_and_bad_declarations_are_one_line_errors(tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, [{"title": "A"}])
    with pytest.raises(ConfigError, match="unknown slicing 'no_such'"):
        cut(catalogue, ["no_such"])
    with pytest.raises(ConfigError, match="kind"):
        Slicing("x", lambda cat: [], kind="weird")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="labelled 0 rows"), registered_slicing(Slicing("empty", lambda cat: [])):
        cut(catalogue, ["empty"])


def test_a_table_round_trips_through_json_and_restricts_to_books(tmp_path: Path) -> None:
    rows = [{"title": t, "format": f} for t, f in (("A", "Paperback"), ("B", ""), ("C", "Hardback"))]
    table = cut(_catalogue(tmp_path, rows), ["format", "subtitle"])
    again = SliceTable.from_dict(table.to_dict())
    assert again.labels == table.labels and again.book_ids == table.book_ids
    small = table.restricted(["b2", "b1", "missing"])
    assert small.book_ids == ("b2", "b1") and small.labels["format"] == ("Hardback", None)
    broken = table.to_dict()
    broken["labels"]["format"]["codes"] = [7, 0, 0]
    with pytest.raises(ConfigError, match="do not match"):
        SliceTable.from_dict(broken)


@pytest.mark.parametrize(
    ("title", "latin"),
    [("Café Crème", True), ("Война и мир", False), ("الحب في زمن الكوليرا", False), ("1984", True)],
)
def test_script_of_a_title(title: str, latin: bool) -> None:
    assert is_latin(title) is latin


def test_a_cover_changed_in_place_is_read_again(tmp_path):
    """cover_mode keeps each file's mode for the process (a run slices its catalogue more than once);
    a cover replaced under the same path must not keep its old label."""
    import os

    from PIL import Image

    from harness.evaluate.slices import cover_mode

    path = tmp_path / "cover.jpg"
    Image.new("L", (8, 12), 128).save(path)
    assert cover_mode(str(path)) == "L"
    Image.new("RGB", (8, 12), (200, 10, 10)).save(path)
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    assert cover_mode(str(path)) == "RGB"
    path.unlink()
    assert cover_mode(str(path)) is None
