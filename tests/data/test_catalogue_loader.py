"""load_catalogue on a corpus of bad inputs built in a temp dir, each with its documented outcome."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.data import load_catalogue, title_key
from harness.data import load_report as reasons
from harness.errors import DataError

LONG_TITLE = " ".join(f"word{i} another{i}" for i in range(60))


def _open_events():
    """Paths opened by this process while the returned list is active (sys.addaudithook cannot be removed)."""
    events: list[str] = []
    if not hasattr(_open_events, "hook"):

        def hook(name, args):
            sink = getattr(_open_events, "sink", None)
            if sink is not None and name == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                sink.append(os.fsdecode(args[0]))

        sys.addaudithook(hook)
        _open_events.hook = hook
    _open_events.sink = events
    return events


@pytest.fixture
def corpus(tmp_path, put_image, build):
    """A catalogue directory with one row per bad-input case (plus good rows), and the file outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.jpg"
    secret.write_bytes(build.image_bytes())
    good = put_image("Health/0000001.jpg")
    jpeg = build.image_bytes()
    (tmp_path / "root" / "Health").mkdir(parents=True, exist_ok=True)
    os.symlink(secret, tmp_path / "root" / "Health" / "link.jpg")
    (tmp_path / "root" / "Health" / "folder.jpg").mkdir()
    rows = [
        build.row("The Gifts of Imperfection", good, isbn="9781592858491"),
        build.row("Grey Cover", put_image("Health/0000002.jpg", build.image_bytes(mode="L", colour=90))),
        build.row("", put_image("Health/0000003.jpg")),
        build.row("NaN", put_image("Health/0000004.jpg")),
        build.row("Missing Image", "dataset/Health/0009999.jpg"),
        build.row("Zero Bytes", put_image("Health/0000005.jpg", b"")),
        build.row("Truncated", put_image("Health/0000006.jpg", jpeg[: len(jpeg) // 2])),
        build.row("Corrupt", put_image("Health/0000007.jpg", b"this is not an image at all" * 10)),
        build.row(
            "Png In Disguise", put_image("Health/0000008.jpg", build.image_bytes("PNG", "RGBA", colour=(1, 2, 3, 128)))
        ),
        build.row("Webp In Disguise", put_image("Health/0000009.jpg", build.image_bytes("WEBP"))),
        build.row("Escapes Upwards", "dataset/../../outside/secret.jpg"),
        build.row("Absolute Path", str(secret)),
        build.row("Etc Passwd", "../../etc/passwd"),
        build.row("Symlink Out", "dataset/Health/link.jpg"),
        build.row("The Gifts of Imperfection", good, isbn="9781592858491"),  # exact duplicate of row 1
        build.row(LONG_TITLE, put_image("Health/0000010.jpg")),
        build.row(
            "Gifts Of Imperfection, The:",
            put_image("Mind-Body-Spirit/0000001.jpg"),
            category="Mind-Body-Spirit",
            isbn="9781491513712",
        ),
        build.row(
            "Another Name Same Isbn",
            put_image("Mind-Body-Spirit/0000002.jpg"),
            category="Mind-Body-Spirit",
            isbn="978-1-4915-1371-2",
        ),
        build.row("No Category", put_image("Health/0000011.jpg"), category=""),
        build.row("No Image Path", ""),
        build.row("A Folder", "dataset/Health/folder.jpg"),
        build.row("Bad Isbn", put_image("Health/0000012.jpg"), isbn="9.78E+12"),
    ]
    csv_path = build.write_csv(tmp_path / "root" / "Health" / "Health.csv", rows)
    return csv_path, secret


def test_every_bad_input_has_its_documented_outcome(corpus):
    csv_path, _ = corpus
    catalogue, report = load_catalogue(csv_path)
    assert report.total_rows == 22
    assert report.skipped == {
        reasons.SKIP_DUPLICATE_ROW: 1,
        reasons.SKIP_EMPTY_CATEGORY: 1,
        reasons.SKIP_NO_IMAGE_PATH: 1,
        reasons.SKIP_EMPTY_TITLE: 2,
        reasons.SKIP_EMPTY_IMAGE: 1,
        reasons.SKIP_MISSING_IMAGE: 1,
        reasons.SKIP_NOT_AN_IMAGE: 1,
        reasons.SKIP_PATH_ESCAPES: 4,
        reasons.SKIP_TRUNCATED_IMAGE: 1,
        reasons.SKIP_UNREADABLE_IMAGE: 1,
    }
    assert report.flagged == {reasons.FLAG_FORMAT_MISMATCH: 2, reasons.FLAG_LONG_TITLE: 1, reasons.FLAG_BAD_ISBN: 1}
    assert report.kept_rows == len(catalogue) == 22 - 14
    assert sorted(catalogue.titles) == sorted(
        [
            "The Gifts of Imperfection",
            "Grey Cover",
            "Png In Disguise",
            "Webp In Disguise",
            LONG_TITLE,
            "Gifts Of Imperfection, The:",
            "Another Name Same Isbn",
            "Bad Isbn",
        ]
    )
    assert report.kept_by_category == {"Health": 6, "Mind-Body-Spirit": 2}
    assert report.skipped_by_category["Health"][reasons.SKIP_PATH_ESCAPES] == 4
    assert any("Health.csv:12" in ex for ex in report.examples[reasons.SKIP_PATH_ESCAPES])


def test_kept_covers_open_in_rgb_including_disguised_formats(corpus):
    catalogue, _ = load_catalogue(corpus[0])
    for i in range(len(catalogue)):
        image = catalogue.open_image(i)
        assert image.mode == "RGB" and image.size == (40, 60)
    png = catalogue.open_image(catalogue.titles.index("Png In Disguise"))
    assert png.getpixel((0, 0)) == (128, 128, 129)  # alpha 128 of (1,2,3) over white


def test_no_path_outside_the_image_root_is_opened(corpus, tmp_path):
    csv_path, secret = corpus
    events = _open_events()
    try:
        _, report = load_catalogue(csv_path)
    finally:
        _open_events.sink = None
    root = os.path.realpath(tmp_path / "root")
    # Libraries open their own files (bytecode, cgroup limits); what counts is every file of this test's tree.
    ours = [os.path.realpath(p) for p in events if os.path.realpath(p).startswith(os.path.realpath(tmp_path))]
    assert len(ours) >= 9, "the audit hook did not see the CSV and the covers being probed"
    assert all(p.startswith(root + os.sep) for p in ours), ours
    assert "/etc/passwd" not in map(os.path.realpath, events)
    assert report.skipped[reasons.SKIP_PATH_ESCAPES] == 4


def test_editions_share_a_group_by_title_key_and_by_isbn(corpus):
    catalogue, _ = load_catalogue(corpus[0])
    frame = catalogue.frame.set_index("title")
    gifts = frame.loc[["The Gifts of Imperfection", "Gifts Of Imperfection, The:", "Another Name Same Isbn"]]
    assert gifts["group_id"].nunique() == 1
    assert frame.loc["Another Name Same Isbn", "isbn"] == "9781491513712"
    assert frame.loc["Grey Cover", "group_id"] != gifts["group_id"].iloc[0]
    assert frame.loc["Bad Isbn", "isbn"] == ""
    assert (catalogue.frame["title_key"] == catalogue.frame["title"].map(title_key)).all()


def test_strict_turns_skips_into_one_line_error(corpus):
    with pytest.raises(DataError) as info:
        load_catalogue(corpus[0], strict=True)
    message = str(info.value)
    assert "\n" not in message and "14 of 22 rows skipped" in message and "without --strict" in message


def test_book_ids_are_stable_and_independent_of_source_order(tmp_path, put_image, build):
    a = build.write_csv(tmp_path / "root" / "A" / "A.csv", [build.row("Alpha", put_image("A/1.jpg"), category="A")])
    b = build.write_csv(tmp_path / "root" / "B" / "B.csv", [build.row("Beta", put_image("B/1.jpg"), category="B")])
    one, _ = load_catalogue([a, b])
    two, _ = load_catalogue([b, a])
    assert dict(zip(one.titles, one.frame["book_id"], strict=True)) == dict(
        zip(two.titles, two.frame["book_id"], strict=True)
    )
    assert one.frame["book_id"].is_unique
    assert one.fingerprint != two.fingerprint  # row order is part of the content (cached arrays follow it)
    assert one.fingerprint == load_catalogue([a, b])[0].fingerprint


def test_fingerprint_follows_image_bytes(tmp_path, put_image, build):
    img = put_image("A/1.jpg")
    csv_path = build.write_csv(tmp_path / "root" / "A" / "A.csv", [build.row("Alpha", img, category="A")])
    before = load_catalogue(csv_path)[0].fingerprint
    put_image("A/1.jpg", build.image_bytes(colour=(0, 0, 255)))
    assert load_catalogue(csv_path)[0].fingerprint != before


def test_image_root_overrides_the_default(tmp_path, put_image, build):
    put_image("Health/1.jpg")
    csv_path = build.write_csv(tmp_path / "elsewhere" / "list.csv", [build.row("Moved", "dataset/Health/1.jpg")])
    _, default_report = load_catalogue(csv_path)
    assert default_report.skipped == {reasons.SKIP_MISSING_IMAGE: 1}
    catalogue, report = load_catalogue(csv_path, image_root=tmp_path / "root")
    assert report.skipped == {}
    assert Path(catalogue.frame["image_path"][0]) == (tmp_path / "root" / "Health" / "1.jpg").resolve()


@pytest.mark.parametrize(
    "encoding, flag",
    [("latin-1", reasons.FLAG_NOT_UTF8), ("utf-8-sig", reasons.FLAG_BOM), ("cp1252", reasons.FLAG_NOT_UTF8)],
)
def test_non_utf8_and_bom_csvs_are_read(tmp_path, put_image, build, encoding, flag):
    csv_path = build.write_csv(
        tmp_path / "root" / "Cookery" / "Cookery.csv",
        [build.row("Crème Brûlée Café", put_image("Cookery/1.jpg"), category="Cookery", author="Zoë Müller")],
        encoding=encoding,
    )
    catalogue, report = load_catalogue(csv_path)
    assert catalogue.titles == ["Crème Brûlée Café"] and catalogue.frame["author"][0] == "Zoë Müller"
    assert report.flagged == {flag: 1}


def test_missing_required_column_is_a_one_line_error(tmp_path, put_image, build):
    columns = [c for c in build.row("x", "y") if c != "img_paths"]
    csv_path = build.write_csv(
        tmp_path / "root" / "A" / "A.csv", [build.row("Alpha", "x", category="A")], columns=columns
    )
    with pytest.raises(DataError, match=r"lacks required column\(s\) img_paths") as info:
        load_catalogue(csv_path)
    assert "\n" not in str(info.value)


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: d / "nope.csv", "does not exist"),
        (lambda d: str(d / "*.nomatch"), "matches no files"),
        (lambda d: _written(d / "empty.csv", b""), "is empty"),
        (lambda d: (d / "Cat" / "Cat.csv").mkdir(parents=True) or d, "cannot read catalogue CSV"),
        (lambda d: _written(d / "bad.csv", b'name,category,img_paths\n"unterminated,x,y\n'), "cannot be parsed"),
        (lambda d: (d / "none").mkdir() or d / "none", "holds no"),
    ],
)
def test_missing_or_unreadable_csv_is_a_one_line_error(tmp_path, make, match):
    with pytest.raises(DataError, match=match) as info:
        load_catalogue(make(tmp_path))
    assert "\n" not in str(info.value)


def test_header_only_csv_gives_an_empty_catalogue(tmp_path, build):
    csv_path = build.write_csv(tmp_path / "root" / "A" / "A.csv", [])
    catalogue, report = load_catalogue(csv_path)
    assert len(catalogue) == 0 and report.total_rows == 0 and list(catalogue.frame.columns)


def test_real_catalogue_loads_whole(real_bookcovers):
    catalogue, report = load_catalogue(real_bookcovers)
    assert (len(catalogue), report.total_rows, report.skipped) == (4944, 4944, {})
    assert catalogue.categories == (
        "Biography",
        "Health",
        "Medical",
        "Mind-Body-Spirit",
        "Science-Fiction-Fantasy-Horror",
    )
    frame = catalogue.frame
    power = frame[frame["title"] == "The Power of Now"]
    assert set(power["category"]) == {"Mind-Body-Spirit", "Health"} and power["group_id"].nunique() == 1
    gifts = frame[frame["title_key"] == "the gifts of imperfection"]
    assert "Gifts Of Imperfection, The:" in set(gifts["title"]) and gifts["group_id"].nunique() == 1
    assert frame["book_id"].is_unique
    assert all(Path(p).is_absolute() and p.startswith(str(real_bookcovers.resolve())) for p in frame["image_path"])
    assert catalogue.open_image(int(frame.index[frame["category"] == "Health"][0])).mode == "RGB"
