"""Crafted Parquet catalogue folders: a missing column, a null cover, an unusable image name or a malformed
manifest is one line naming it (exit 2 on the command line), never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.data import load_catalogue, make_fixture_catalogue
from harness.data.parquet import MANIFEST, export_parquet, read_parquet_catalogue
from harness.errors import DataError


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pq")
    catalogue = load_catalogue(make_fixture_catalogue(root / "fx", books_per_category=10))[0]
    return export_parquet(catalogue, root / "good")


def _rewrite(exported: Path, out: Path, change) -> Path:
    table = ds.dataset(str(exported), format="parquet", partitioning="hive").to_table()
    pq.write_to_dataset(change(table), str(out), partition_cols=["category"])
    shutil.copy(exported / MANIFEST, out / MANIFEST)
    return out


def _set(table: pa.Table, column: str, values: list) -> pa.Table:
    index = table.column_names.index(column)
    return table.set_column(index, column, pa.array(values, table.schema.field(column).type))


CASES = {
    "no cover": (lambda t: t.drop_columns(["cover"]), r"lacks column\(s\) cover"),
    "no row": (lambda t: t.drop_columns(["row"]), r"lacks column\(s\) row"),
    "no digest": (lambda t: t.drop_columns(["digest"]), r"lacks column\(s\) digest"),
    "no image_name": (lambda t: t.drop_columns(["image_name"]), r"lacks column\(s\) image_name"),
    "null cover": (lambda t: _set(t, "cover", [None] + t.column("cover").to_pylist()[1:]), "column cover has 1 empty"),
    "NUL image_name": (
        lambda t: _set(t, "image_name", ["a\x00.jpg"] + t.column("image_name").to_pylist()[1:]),
        "unusable file name",
    ),
    "long image_name": (
        lambda t: _set(t, "image_name", ["a" * 300 + ".jpg"] + t.column("image_name").to_pylist()[1:]),
        "unusable file name",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_folders_are_one_line(exported, tmp_path, case, capsys) -> None:
    change, message = CASES[case]
    folder = _rewrite(exported, tmp_path / "bad", change)
    with pytest.raises(DataError, match=message) as info:
        read_parquet_catalogue(folder)
    assert "\n" not in str(info.value)
    assert main(["data", "validate", str(folder)]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "manifest, message",
    [
        ([1, 2], "is a JSON list"),
        ({"format": None}, "unknown Parquet catalogue format"),
        ("no rows", "lacks a row count"),
    ],
)
def test_malformed_manifests_are_one_line(exported, tmp_path, manifest, message) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(exported, folder)
    if manifest == "no rows":
        manifest = {k: v for k, v in json.loads((exported / MANIFEST).read_text()).items() if k != "rows"}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=message):
        read_parquet_catalogue(folder)


def test_bad_content_is_skipped_with_the_csv_loaders_reasons(exported, tmp_path, capsys) -> None:
    """Digests and fingerprint recomputed so the folder is self-consistent: non-image bytes, and empty, blank,
    "nan" or wordless titles were all kept ("240 of 240 kept", exit 0 under --strict). They are now skipped
    and counted with the CSV loader's reasons, and --strict exits 1."""
    import hashlib

    from harness.data import Catalogue
    from harness.data import load_report as reasons
    from harness.data.catalogue import COLUMNS

    table = ds.dataset(str(exported), format="parquet", partitioning="hive").to_table()
    table = table.take(pa.array(sorted(range(table.num_rows), key=lambda i: table.column("row")[i].as_py())))
    titles, covers = table.column("title").to_pylist(), table.column("cover").to_pylist()
    titles[0], titles[1], titles[2], titles[3] = "", "   ", "nan", "!!!"
    covers[4] = b"this is not an image at all" * 10
    digests = [hashlib.sha256(c).hexdigest() for c in covers]
    table = _set(_set(_set(table, "title", titles), "cover", covers), "digest", digests)
    folder = tmp_path / "bad"
    pq.write_to_dataset(table, str(folder), partition_cols=["category"])
    frame = table.to_pandas()
    frame["image_path"] = frame["image_name"]
    manifest = json.loads((exported / MANIFEST).read_text())
    manifest["fingerprint"] = Catalogue(frame[list(COLUMNS)].astype(str), tuple(digests)).fingerprint
    (folder / MANIFEST).write_text(json.dumps(manifest))

    catalogue, report = read_parquet_catalogue(folder)
    assert report.skipped == {
        reasons.SKIP_EMPTY_TITLE: 3,
        reasons.SKIP_TITLE_WITHOUT_WORDS: 1,
        reasons.SKIP_NOT_AN_IMAGE: 1,
    }
    assert len(catalogue) == table.num_rows - 5 and report.kept_rows == len(catalogue)
    assert main(["data", "validate", str(folder)]) == 0
    assert main(["data", "validate", "--strict", str(folder)]) == 1
    assert "strict" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["..", ".", "/"])
def test_a_link_to_a_folder_is_refused_before_any_file_is_read(exported, tmp_path, target, monkeypatch) -> None:
    """A link to its parent inside a partition made pyarrow read the catalogue 41 times over (the kernel's
    link limit), then report 41 times the manifest's rows; a link elsewhere would read foreign files."""
    folder = tmp_path / "looped"
    shutil.copytree(exported, folder)
    partition = next(p for p in folder.iterdir() if p.is_dir())
    (partition / "loop").symlink_to(target)
    opened: list[str] = []
    real_dataset = ds.dataset
    monkeypatch.setattr(ds, "dataset", lambda *a, **k: opened.append(str(a[0])) or real_dataset(*a, **k))
    with pytest.raises(DataError, match=r"loop is a link to a folder") as info:
        read_parquet_catalogue(folder)
    assert "\n" not in str(info.value) and opened == []
    assert main(["data", "validate", str(folder)]) == 2
