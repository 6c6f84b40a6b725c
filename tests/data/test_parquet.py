"""Catalogues as Parquet: the round trip keeps rows, order and fingerprint; every command reads it."""

from __future__ import annotations

import pytest

from harness.data import load_catalogue, make_fixture_catalogue
from harness.data.parquet import export_parquet, is_parquet_catalogue, load_any, read_parquet_catalogue
from harness.errors import DataError


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return load_catalogue(make_fixture_catalogue(tmp_path_factory.mktemp("fx") / "fx", books_per_category=10))[0]


def test_round_trip_keeps_the_fingerprint(catalogue, tmp_path) -> None:
    out = export_parquet(catalogue, tmp_path / "pq")
    assert is_parquet_catalogue(out)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(f"category={c}" for c in catalogue.categories)
    back, report = read_parquet_catalogue(out)
    assert back.fingerprint == catalogue.fingerprint
    assert back.frame["book_id"].tolist() == catalogue.frame["book_id"].tolist()
    assert report.kept_rows == len(catalogue)
    assert load_any([str(out)])[0].fingerprint == catalogue.fingerprint
    again = export_parquet(back, tmp_path / "pq2")  # a Parquet catalogue exports again unchanged
    assert read_parquet_catalogue(again)[0].fingerprint == catalogue.fingerprint


def test_a_changed_folder_fails_in_one_line(catalogue, tmp_path) -> None:
    out = export_parquet(catalogue, tmp_path / "pq")
    (out / "_bookclip_catalogue.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="unknown Parquet catalogue format"):
        read_parquet_catalogue(out)


def test_cli_export_then_eval_reads_it(catalogue, tmp_path, capsys) -> None:
    from harness.cli import main

    fx = tmp_path / "fx"
    make_fixture_catalogue(fx, books_per_category=10)
    assert main(["data", "export", str(fx), "--parquet", str(tmp_path / "pq")]) == 0
    assert "fingerprint" in capsys.readouterr().out
    assert main(["data", "validate", str(tmp_path / "pq"), "--json"]) == 0


def test_more_than_1024_categories_export_and_read_back(catalogue, tmp_path) -> None:
    """pyarrow caps a write at 1,024 partitions by default: a catalogue with more categories once failed
    with an ArrowInvalid traceback."""
    import pandas as pd

    from harness.data import Catalogue

    n = 1100
    row = catalogue.frame.iloc[[0] * n].reset_index(drop=True)
    row["category"] = [f"C{i:04d}" for i in range(n)]
    row["book_id"] = [f"b{i:04d}" for i in range(n)]
    row["group_id"] = row["book_id"]
    wide = Catalogue(pd.DataFrame(row), tuple([catalogue.image_digests[0]] * n))
    out = export_parquet(wide, tmp_path / "wide")
    back, report = read_parquet_catalogue(out)
    assert len(back.categories) == n and report.kept_rows == n and back.fingerprint == wide.fingerprint


def test_a_damaged_cached_cover_is_written_again(catalogue, tmp_path, monkeypatch) -> None:
    """One flipped byte in the cover cache once broke the catalogue for good: a cached file of the right size
    was never rewritten, and exporting again did not help."""
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "cache"))
    out = export_parquet(catalogue, tmp_path / "pq")
    first, _ = read_parquet_catalogue(out)
    cached = first.frame["image_path"].iat[0]
    with open(cached, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    again, _ = read_parquet_catalogue(out)
    assert again.fingerprint == catalogue.fingerprint
    assert again.frame["image_path"].iat[0] == cached
