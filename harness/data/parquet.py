"""Catalogues as Parquet: one folder, partitioned by category, with each row's cover bytes.

`export_parquet` writes book_id, title, author, isbn, group_id, title_key, the cover's bytes, its
file name and digest, the row's position (`row`) and `category` (the partition column): every
column the catalogue fingerprint covers. `read_parquet_catalogue` puts the rows back in their
order (the fingerprint, and every cache keyed by it, depend on row order), writes each cover once
under the cache folder by content hash, and checks the fingerprint against the one recorded at
export. `load_any` is what commands call for `--data`: a Parquet folder, else load_catalogue.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.catalogue import COLUMNS, Catalogue
from harness.data.images import content_digest, probe_image
from harness.data.load_report import LoadReport, ReportBuilder
from harness.errors import DataError
from harness.io import atomic_path, cache_dir, sha256_hex

FORMAT = "bookclip-catalogue-parquet-v1"
MANIFEST = "_bookclip_catalogue.json"


def is_parquet_catalogue(path: Any) -> bool:
    try:
        return (Path(os.fspath(path)) / MANIFEST).is_file()
    except TypeError:
        return False


def export_parquet(catalogue: Catalogue, out_dir: str | os.PathLike[str]) -> Path:
    """Write `catalogue` as a Parquet folder partitioned by category (replaces `out_dir` in one step)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    if out.exists() and not is_parquet_catalogue(out) and any(out.iterdir()):
        raise DataError(f"{out} exists and is not a bookclip Parquet catalogue; pass an empty or new folder")
    frame = catalogue.frame
    covers = [Path(p).read_bytes() for p in frame["image_path"]]
    digests = catalogue.image_digests or tuple(probe_image(p).digest for p in frame["image_path"])
    table = pa.table(
        {
            "row": pa.array(np.arange(len(frame), dtype=np.int64)),
            **{c: pa.array(frame[c].astype(str).tolist(), pa.string()) for c in COLUMNS if c != "image_path"},
            "image_name": pa.array([Path(p).name for p in frame["image_path"]], pa.string()),
            "digest": pa.array(list(digests), pa.string()),
            "cover": pa.array(covers, pa.binary()),
        }
    )
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    # one partition a category: pyarrow's default cap of 1,024 partitions would fail a larger catalogue
    pq.write_to_dataset(
        table, str(tmp), partition_cols=["category"], max_partitions=max(1024, len(catalogue.categories) + 1)
    )
    manifest = {
        "format": FORMAT,
        "fingerprint": catalogue.fingerprint,
        "rows": len(catalogue),
        "categories": list(catalogue.categories),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def read_parquet_catalogue(path: str | os.PathLike[str], *, decode: bool = False) -> tuple[Catalogue, LoadReport]:
    """The catalogue a Parquet folder holds (same rows, order and fingerprint as the one exported), less the
    rows the CSV loader would skip (empty or wordless titles, unusable covers; `decode`: covers that do not
    decode in full), each counted with the loader's reason."""
    import pyarrow.dataset as ds

    from harness.data.loader import cover_problem, title_problem

    root = Path(path)
    manifest = _manifest(root)
    _check_no_folder_links(root)
    try:
        table = ds.dataset(str(root), format="parquet", partitioning="hive", exclude_invalid_files=True).to_table()
    except Exception as exc:  # pyarrow raises several types for unreadable folders
        raise DataError(f"cannot read the Parquet catalogue {root}: {type(exc).__name__}: {exc}") from None
    _check_structure(root, table)
    frame = table.drop_columns(["cover"]).to_pandas()
    frame["category"] = frame["category"].astype(str)
    order = np.argsort(frame["row"].to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    covers = table.column("cover").take(order).to_pylist()
    if len(frame) != manifest["rows"] or not np.array_equal(frame["row"].to_numpy(), np.arange(len(frame))):
        raise DataError(f"{root} holds {len(frame)} rows, its manifest {manifest['rows']}; export it again")
    folder = cache_dir() / "parquet-covers"
    paths = [_stored_cover(folder, data, name) for data, name in zip(covers, frame["image_name"], strict=True)]
    frame["image_path"] = [str(p) for p in paths]
    digests = [content_digest(data) for data in covers]
    if digests != frame["digest"].tolist():
        raise DataError(f"{root}: cover bytes do not match their recorded digests; export the catalogue again")
    everything = Catalogue(frame[list(COLUMNS)].astype(str), tuple(digests))
    if everything.fingerprint != manifest["fingerprint"]:
        raise DataError(
            f"{root}: the rows give fingerprint {everything.fingerprint[:12]}, the export recorded "
            f"{manifest['fingerprint'][:12]}; the folder was changed after export: export it again"
        )
    # the CSV loader's rules, with its reasons and counts: a row it would skip is skipped here too
    builder = ReportBuilder()
    builder.sources.append(str(root))
    keep = []
    for i, (category, title, path) in enumerate(zip(frame["category"], frame["title"].astype(str), paths, strict=True)):
        builder.row_seen(category)
        where = f"{root.name}: row {i}"
        problem = title_problem(title)
        if problem is not None:
            builder.skip(problem, category, f"{where}: {title!r}")
            continue
        cover = cover_problem(path, where, builder, decode=decode)
        if isinstance(cover, tuple):
            builder.skip(cover[0], category, cover[1])
            continue
        keep.append(i)
    catalogue = everything if len(keep) == len(frame) else everything.subset(keep)
    kept = {str(k): int(v) for k, v in catalogue.frame["category"].value_counts().items()}
    return catalogue, builder.build(kept)


def load_any(
    sources: Any, *, image_root: Any = None, strict: bool = False, decode: bool = False
) -> tuple[Catalogue, LoadReport]:
    """`--data` for every command: a Parquet catalogue folder, else CSVs through load_catalogue
    (`decode` decodes every cover in full, as `data validate --strict` does)."""
    single = sources[0] if isinstance(sources, (list, tuple)) and len(sources) == 1 else sources
    if not isinstance(single, (list, tuple)) and is_parquet_catalogue(single):
        catalogue, report = read_parquet_catalogue(single, decode=decode)
        if strict and report.skipped_rows:
            raise DataError(f"strict load: {report.summary_line()}; fix those rows or load without --strict")
        return catalogue, report
    from harness.data.loader import load_catalogue

    return load_catalogue(sources, image_root=image_root, strict=strict, decode=decode)


def _check_no_folder_links(root: Path) -> None:
    """An export holds plain folders. pyarrow follows links to folders, so a link to a parent read the whole
    catalogue again at every level until the kernel's link limit (41 times over); refuse one at once."""
    for folder, subfolders, _ in os.walk(root, followlinks=False):
        for name in subfolders:
            link = Path(folder) / name
            if link.is_symlink():
                raise DataError(
                    f"{root}: {link.relative_to(root)} is a link to a folder; a Parquet catalogue holds plain "
                    "folders (export it again, or copy the link's target in its place)"
                )


def _manifest(root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        raise DataError(
            f"{root} is not a bookclip Parquet catalogue (no readable {MANIFEST}); "
            "write one with `bookclip data export --parquet DIR`"
        ) from None
    if not isinstance(manifest, dict):
        raise DataError(f"{root}: {MANIFEST} is a JSON {type(manifest).__name__}, not an object; export it again")
    if manifest.get("format") != FORMAT:
        raise DataError(f"{root}: unknown Parquet catalogue format {manifest.get('format')!r}; expected {FORMAT}")
    rows, fingerprint = manifest.get("rows"), manifest.get("fingerprint")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0 or not isinstance(fingerprint, str):
        raise DataError(f"{root}: {MANIFEST} lacks a row count or a fingerprint (rows={rows!r}); export it again")
    return manifest


MAX_IMAGE_NAME = 255  # a file name, as file systems allow


def _check_structure(root: Path, table: Any) -> None:
    """Every column a Parquet catalogue needs, no missing cover, usable image names: one line naming the
    column (a crafted folder once gave a KeyError or ValueError traceback)."""
    from harness.data.loader import usable_file_name

    needed = ["row", "cover", "digest", "image_name", *(c for c in COLUMNS if c not in ("image_path", "category"))]
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise DataError(f"{root}: the Parquet catalogue lacks column(s) {', '.join(missing)}; export it again")
    for column in ("row", "cover", "digest", "image_name"):
        nulls = table.column(column).null_count
        if nulls:
            raise DataError(f"{root}: column {column} has {nulls} empty value(s); export it again")
    for name in table.column("image_name").to_pylist():
        if len(name) > MAX_IMAGE_NAME or not usable_file_name(name) or "/" in name:
            raise DataError(
                f"{root}: column image_name holds an unusable file name {ascii(name[:40])}; export it again"
            )


def _stored_cover(folder: Path, data: bytes, name: str) -> Path:
    """The cover written once under the cache folder, named by its content hash (same bytes, same file); a
    cached file whose bytes differ (a flipped byte, a truncated write) is written again."""
    path = folder / f"{sha256_hex(data)[:32]}{Path(name).suffix.lower()}"
    if not path.is_file() or path.stat().st_size != len(data) or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return path


__all__ = ["export_parquet", "is_parquet_catalogue", "load_any", "read_parquet_catalogue"]
