"""Hostile inputs on the slices surface: metadata values no slicing can use, ten thousand authors, titles in a
right-to-left script, markup in labels, and run reports whose Slices section was tampered with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.data.loader import load_catalogue
from harness.evaluate.slice_discovery import discover
from harness.evaluate.slices import cut
from harness.report.model import RunReport
from harness.report.slices import slices_markdown, store_section
from harness.settings import StatSettings

RTL_TITLE = "الحب في زمن الكوليرا"


def _rows(hostile, n: int, img: str) -> list[dict]:
    rows = []
    for i in range(n):
        row = hostile.row(f"Book {i:05d}" if i else RTL_TITLE, img)
        row["author"] = f"Author {i:05d}"  # every book its own author
        rows.append(row)
    bad_prices = ["nan", "inf", "-inf", "1e400", "-3", "", "ten", "0"]
    bad_stars = ["-1", "7", "nan", "four", "", "inf", "-0.5", "5.5"]
    for i, (price, stars) in enumerate(zip(bad_prices, bad_stars, strict=True)):
        rows[i + 1]["price"], rows[i + 1]["book_depository_stars"] = price, stars
    rows[20]["format"] = "[x](javascript:alert(1)) | <b>"
    return rows


def test_hostile_metadata_is_counted_never_an_error(tmp_path: Path, hostile) -> None:
    folder = tmp_path / "cat" / "Health"
    folder.mkdir(parents=True)
    (folder / "cover.jpg").write_bytes(hostile.jpeg_bytes())
    hostile.write_csv(folder / "Health.csv", _rows(hostile, 10_000, "dataset/Health/cover.jpg"))
    catalogue, _ = load_catalogue(tmp_path / "cat")
    assert len(catalogue) == 10_000
    table = cut(catalogue)
    assert table.unusable["price"] == 8 and table.unusable["stars"] == 8  # a price of 0 is no price either
    assert table.labels["script"][0] == "non-Latin script" and table.labels["script"][1] == "Latin script"
    assert len(set(table.labels["author"])) == 10_000
    assert set(table.labels["placeholder"]) == {"placeholder (shared)"}  # one file behind every book

    rng = np.random.default_rng(0)
    base = rng.geometric(0.3, size=len(catalogue))
    per_query = {
        "cross/image_to_text": {
            "item_ids": list(table.book_ids),
            "titles": catalogue.titles,
            "ranks": {"baseline": base.tolist(), "candidate": np.roll(base, 1).tolist()},
        }
    }
    analysis = discover(per_query, table, settings=StatSettings(200, 0.95, 0), metrics=("recall@5",))
    assert analysis.too_small["author"] == 10_000  # ten thousand one-book authors: counted, not tested
    assert analysis.whole["placeholder"] == 1
    assert analysis.unusable["price"] == 8
    assert all(r.n >= 30 for r in analysis.results)
    markdown = "\n".join(slices_markdown(analysis))
    assert "javascript" not in markdown or "\\[x\\]\\(javascript" in markdown
    assert "<b>" not in markdown


def _run_with_section(tmp_path: Path, section: dict) -> Path:
    report = RunReport(kind="compare")
    report.per_query = {
        "cross/image_to_text": {
            "item_ids": ["a", "b"],
            "titles": ["A", "B"],
            "ranks": {"baseline": [1, 2], "candidate": [2, 1]},
        }
    }
    report.sections["slices"] = section
    return report.write(tmp_path / "run.json")


def _one_line(capsys, args: list[str], needle: str) -> None:
    """The CLI in this process: exit 2 and one `bookclip: error:` line naming `needle`."""
    from harness.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("bookclip: error:")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err


def test_a_tampered_slices_section_is_one_line(tmp_path: Path, hostile, capsys) -> None:
    cases = {
        "newer": {"version": 99, "analysis": {}},
        "not a table": {"version": 1, "analysis": "x"},
        "codes": {
            "version": 1,
            "analysis": {"level": 0.05, "min_n": 30},
            "labels": {"book_ids": ["a", "b"], "labels": {"format": {"names": ["P"], "codes": [0, 5]}}},
        },
    }
    for name, section in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        run = _run_with_section(folder, section)
        if name == "newer":  # one through the real command line: no traceback, one line
            hostile.assert_one_line_error(hostile.run_cli("slices", str(run), cwd=folder), 2, "slice")
        else:
            _one_line(capsys, ["slices", str(run), "--root", str(folder)], "slice")


def test_bad_options_and_missing_catalogue_are_one_line(tmp_path: Path, capsys) -> None:
    report = RunReport(kind="compare")
    report.per_query = {
        "cross/image_to_text": {"item_ids": ["a"], "titles": ["A"], "ranks": {"baseline": [1], "candidate": [2]}}
    }
    run = report.write(tmp_path / "run.json")
    for args, needle in (
        (["--level", "2"], "--level"),
        (["--level", "nan"], "--level"),
        (["--min-n", "0"], "--min-n"),
        (["--metric", "accuracy"], "accuracy"),
        ([], "--data"),  # no section, no recorded sources
    ):
        _one_line(capsys, ["slices", str(run), "--root", str(tmp_path), *args], needle)
    _one_line(capsys, ["slices", str(tmp_path / "absent.json"), "--root", str(tmp_path)], "does not exist")
    (tmp_path / "labels.json").write_text(json.dumps({"schema_version": 2, "sections": {"slices": []}}))
    _one_line(capsys, ["slices", str(tmp_path / "labels.json"), "--root", str(tmp_path)], "slices")


def test_store_section_keeps_hostile_labels_as_data(tmp_path: Path) -> None:
    from harness.evaluate.slices import SliceTable

    labels = ("\u202eevil", "a\x1bb", "ok")
    table = SliceTable(("a", "b", "c"), {"format": labels})
    report = RunReport(kind="compare")
    report.per_query = {
        "cross/image_to_text": {
            "item_ids": ["a", "b", "c"],
            "titles": ["A", "B", "C"],
            "ranks": {"baseline": [1, 2, 3], "candidate": [1, 2, 3]},
        }
    }
    store_section(report, discover(report.per_query, table, min_n=1), table)
    again = RunReport.read(report.write(tmp_path / "run.json"))
    assert SliceTable.from_dict(again.sections["slices"]["labels"]).labels["format"] == labels


def test_a_source_without_a_metadata_column_leaves_its_rows_unusable(tmp_path: Path, hostile) -> None:
    import csv

    root = tmp_path / "cat"
    for category in ("Health", "Medical"):
        (root / category).mkdir(parents=True)
        (root / category / "c.jpg").write_bytes(hostile.jpeg_bytes())
    hostile.write_csv(root / "Health" / "Health.csv", [hostile.row("Alpha", "dataset/Health/c.jpg")])
    with open(root / "Medical" / "Medical.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "category", "img_paths"])  # no format, stars or price
        writer.writerow(["Beta", "Medical", "dataset/Medical/c.jpg"])
    catalogue, _ = load_catalogue(root)
    table = cut(catalogue)
    assert table.labels["format"] == ("Paperback", None) and table.unusable["stars"] == 1
    only_medical, _ = load_catalogue(root / "Medical")
    skipped = cut(only_medical).skipped
    assert set(skipped) == {"format", "stars", "price"} and "absent from the catalogue" in skipped["price"]
