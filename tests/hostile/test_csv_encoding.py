"""Item 13: one latin-1 row in a UTF-8 CSV is decoded on its own (and flagged with its line); every
valid UTF-8 row keeps its characters. Item 11: a NUL byte in img_paths is a counted skip of that row."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from harness.data import load_catalogue
from harness.data import load_report as reasons


def _catalogue(tmp_path: Path, real_bookcovers: Path, hostile, names: list[str]) -> list[dict]:
    rows = hostile.real_rows(real_bookcovers, "Medical", len(names))
    for r, name in zip(rows, names, strict=True):
        r["name"] = name
        shutil.copy(
            real_bookcovers / "Medical" / Path(r["img_paths"]).name,
            tmp_path / "cat" / "Medical" / Path(r["img_paths"]).name,
        )
    return rows


def _write(path: Path, hostile, rows: list[dict], encodings: list[str]) -> Path:
    """One CSV whose data rows are each encoded as given (the header is ASCII)."""
    header = ",".join(hostile.layout) + "\n"
    lines = []
    for r, encoding in zip(rows, encodings, strict=True):
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=list(r), lineterminator="\n").writerow(r)
        lines.append(buffer.getvalue().encode(encoding))
    path.write_bytes(header.encode("ascii") + b"".join(lines))
    return path


def test_one_latin1_row_does_not_garble_the_utf8_rows(tmp_path, real_bookcovers, hostile) -> None:
    (tmp_path / "cat" / "Medical").mkdir(parents=True)
    names = ["Crème Brûlée Café", "Zoë's Naïve Œuvre — “quoted”", "Señor Müller", "Plain Title"]
    rows = _catalogue(tmp_path, real_bookcovers, hostile, names)
    csv_path = _write(
        tmp_path / "cat" / "Medical" / "Medical.csv", hostile, rows, ["utf-8", "utf-8", "latin-1", "utf-8"]
    )
    catalogue, report = load_catalogue(csv_path)
    assert catalogue.titles == names  # before: every UTF-8 row decoded as cp1252 ("CrÃ¨me BrÃ»lÃ©e")
    assert report.flagged == {reasons.FLAG_MIXED_ENCODING: 1}
    assert report.examples[reasons.FLAG_MIXED_ENCODING] == ("Medical.csv:4",)


def test_whole_cp1252_file_is_still_read_as_cp1252(tmp_path, real_bookcovers, hostile) -> None:
    (tmp_path / "cat" / "Medical").mkdir(parents=True)
    names = ["Crème Brûlée Café", "Plain Title", "Œuvre — “quoted”"]
    rows = _catalogue(tmp_path, real_bookcovers, hostile, names)
    csv_path = _write(tmp_path / "cat" / "Medical" / "Medical.csv", hostile, rows, ["cp1252"] * 3)
    catalogue, report = load_catalogue(csv_path)
    assert catalogue.titles == names
    assert report.flagged == {reasons.FLAG_NOT_UTF8: 1}


def test_nul_byte_in_img_paths_is_a_counted_skip(tmp_path, real_bookcovers, hostile) -> None:
    (tmp_path / "cat" / "Medical").mkdir(parents=True)
    rows = _catalogue(tmp_path, real_bookcovers, hostile, ["Good One", "Nul Path", "Good Two"])
    rows[1]["img_paths"] = "dataset/Medical/0000002\x00.jpg"
    csv_path = hostile.write_csv(tmp_path / "cat" / "Medical" / "Medical.csv", rows)
    catalogue, report = load_catalogue(csv_path)
    assert catalogue.titles == ["Good One", "Good Two"]
    assert report.skipped == {reasons.SKIP_BAD_IMAGE_PATH: 1}
    result = hostile.run_cli("data", "validate", str(csv_path), timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "\\x00" in result.stdout
