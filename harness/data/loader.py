"""load_catalogue: Book Depository CSVs + cover files -> a validated Catalogue and a LoadReport.

Covers are not decoded here: each file is read once (a regular file, non-empty, a known image
format, not cut short, header dimensions within the decompression-bomb and aspect-ratio limits)
and hashed, its content hash being the cover's identity in the catalogue fingerprint.
`decode=True` also decodes every cover in full (what `data validate --strict` does), so a file
that evaluation would reject is skipped here instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness.data import load_report as reasons
from harness.data.catalogue import COLUMNS, METADATA_COLUMNS, Catalogue
from harness.data.csv_sources import Sources, read_csv, resolve_sources
from harness.data.grouping import group_ids
from harness.data.image_paths import default_image_root, resolve_under_root
from harness.data.images import ImageProbe, NotRegularFileError, open_cover, probe_image
from harness.data.load_report import LoadReport, ReportBuilder
from harness.data.titles import normalise_isbn, title_key
from harness.data.token_count import ClipTokenCounter
from harness.errors import DataError
from harness.io import sha256_hex

# CLIP-family text towers read 77 tokens including start and end markers.
CONTEXT_LENGTH = 77
_NULL_TITLES = {"nan", "none", "null", "n/a"}
_EXTENSION_FORMATS = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".webp": "webp",
    ".gif": "gif",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
}


def load_catalogue(
    sources: Sources,
    *,
    image_root: str | os.PathLike[str] | None = None,
    strict: bool = False,
    context_length: int = CONTEXT_LENGTH,
    decode: bool = False,
) -> tuple[Catalogue, LoadReport]:
    """Load CSVs (files, globs, or a directory of `<Category>/<Category>.csv`) into a Catalogue.

    Every row that cannot be used is skipped and counted in the LoadReport with its reason;
    `strict=True` raises DataError instead when any row was skipped. `decode=True` decodes every
    kept cover in full and skips those that fail. A missing or unreadable
    CSV, or one without the `name`, `category` and `img_paths` columns, always raises.
    """
    report = ReportBuilder()
    root_override = Path(os.path.realpath(os.fspath(image_root))) if image_root is not None else None
    if root_override is not None and not root_override.is_dir():
        raise DataError(f"image root {root_override} is not a directory; pass the folder holding <Category>/ images")
    rows: list[dict[str, str]] = []
    digests: list[str] = []
    seen_ids: set[str] = set()
    metadata: set[str] = set()  # the metadata columns some source has
    for csv_path in resolve_sources(sources):
        table = read_csv(csv_path)
        metadata.update(c for c in METADATA_COLUMNS if c in table.frame.columns)
        report.sources.append(str(csv_path))
        if table.encoding == "utf-8-sig":
            report.flag(reasons.FLAG_BOM, str(csv_path))
        if table.encoding == "mixed":
            for line in table.legacy_lines:
                report.flag(reasons.FLAG_MIXED_ENCODING, f"{csv_path.name}:{line}")
        elif table.encoding not in ("utf-8", "utf-8-sig"):
            report.flag(reasons.FLAG_NOT_UTF8, f"{csv_path} ({table.encoding})")
        root = root_override or Path(os.path.realpath(default_image_root(csv_path)))
        _load_rows(table.frame, csv_path, root, report, rows, digests, seen_ids, decode)
    _flag_long_titles(rows, context_length, report)
    present = [c for c in METADATA_COLUMNS if c in metadata]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "group_id"] + ["_where", *present])
    frame["group_id"] = group_ids(frame["title_key"].tolist(), frame["isbn"].tolist())
    frame = frame[[*COLUMNS, *present]].astype(str)
    kept_by_category = frame["category"].value_counts().to_dict()
    final = report.build({k: int(v) for k, v in kept_by_category.items()})
    if strict and final.skipped_rows:
        raise DataError(f"strict load: {final.summary_line()}; fix those rows or load without --strict")
    return Catalogue(frame, tuple(digests)), final


def _load_rows(
    frame: pd.DataFrame,
    csv_path: Path,
    root: Path,
    report: ReportBuilder,
    rows: list[dict[str, str]],
    digests: list[str],
    seen_ids: set[str],
    decode: bool = False,
) -> None:
    get = {
        c: (frame[c].tolist() if c in frame.columns else [""] * len(frame))
        for c in ("name", "author", "category", "img_paths", "isbn", *METADATA_COLUMNS)
    }
    for i in range(len(frame)):
        where = f"{csv_path.name}:{i + 2}"  # line 1 is the header
        category = get["category"][i].strip()
        report.row_seen(category or "?")
        title = " ".join(get["name"][i].split())
        img_paths = get["img_paths"][i].strip()
        if not category:
            report.skip(reasons.SKIP_EMPTY_CATEGORY, "?", where)
            continue
        problem = title_problem(title)
        if problem is not None:
            report.skip(problem, category, where if problem == reasons.SKIP_EMPTY_TITLE else f"{where}: {title!r}")
            continue
        key = title_key(title)
        if not img_paths:
            report.skip(reasons.SKIP_NO_IMAGE_PATH, category, where)
            continue
        if not usable_file_name(img_paths):
            report.skip(reasons.SKIP_BAD_IMAGE_PATH, category, f"{where}: {img_paths!r}")
            continue
        image_path = resolve_under_root(img_paths, root)
        if image_path is None:
            report.skip(reasons.SKIP_PATH_ESCAPES, category, f"{where}: {img_paths!r}")
            continue
        raw_isbn = get["isbn"][i].strip()
        isbn = normalise_isbn(raw_isbn)
        if raw_isbn and not isbn:
            report.flag(reasons.FLAG_BAD_ISBN, f"{where}: {raw_isbn!r}")
        book_id = "b" + sha256_hex(category, os.path.relpath(image_path, root), title, isbn)[:15]
        if book_id in seen_ids:
            report.skip(reasons.SKIP_DUPLICATE_ROW, category, where)
            continue
        reason = cover_problem(image_path, where, report, decode=decode)
        if isinstance(reason, tuple):
            report.skip(reason[0], category, reason[1])
            continue
        seen_ids.add(book_id)
        digests.append(reason.digest)
        rows.append(
            {
                "book_id": book_id,
                "title": title,
                "author": " ".join(get["author"][i].split()),
                "category": category,
                "image_path": str(image_path),
                "isbn": isbn,
                "title_key": key,
                "_where": where,
                **{c: " ".join(str(get[c][i]).split()) for c in METADATA_COLUMNS},
            }
        )


def usable_file_name(text: str) -> bool:
    """No NUL or other control character: a path or file name that the OS takes as written."""
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def title_problem(title: str) -> str | None:
    """The skip reason of a title, or None: empty, a null word ("nan", "n/a", ...), or no letters or digits
    (unrelated books would share its empty key and count as editions of each other)."""
    if not title.strip() or title.strip().casefold() in _NULL_TITLES:
        return reasons.SKIP_EMPTY_TITLE
    return None if title_key(title) else reasons.SKIP_TITLE_WITHOUT_WORDS


def cover_problem(
    image_path: Path, where: str, report: ReportBuilder, *, decode: bool = False
) -> ImageProbe | tuple[str, str]:
    """The cover's ImageProbe, or (skip reason, example) when it is unusable; `decode` also decodes it in full."""
    reason = _image_problem(image_path, where, report)
    if isinstance(reason, str):
        return reason, f"{where}: {image_path}"
    if decode:
        try:
            open_cover(image_path, digest=reason.digest)
        except DataError as exc:
            return reasons.SKIP_UNDECODABLE_IMAGE, f"{where}: {exc}"
    return reason


def _image_problem(image_path: Path, where: str, report: ReportBuilder) -> ImageProbe | str:
    """The file's ImageProbe, or the skip reason when it is unusable."""
    try:
        probe = probe_image(image_path)
    except FileNotFoundError:
        return reasons.SKIP_MISSING_IMAGE
    except NotRegularFileError:
        return reasons.SKIP_SPECIAL_FILE
    except OSError:
        return reasons.SKIP_UNREADABLE_IMAGE
    if probe.size == 0:
        return reasons.SKIP_EMPTY_IMAGE
    if probe.format is None:
        return reasons.SKIP_NOT_AN_IMAGE
    if probe.truncated:
        return reasons.SKIP_TRUNCATED_IMAGE
    if probe.header_problem is not None:
        oversized = probe.width is not None or "too large" in probe.header_problem
        return reasons.SKIP_OVERSIZED_IMAGE if oversized else reasons.SKIP_UNDECODABLE_IMAGE
    expected = _EXTENSION_FORMATS.get(image_path.suffix.lower())
    if expected is not None and expected != probe.format:
        report.flag(reasons.FLAG_FORMAT_MISMATCH, f"{where}: {image_path.name} is {probe.format.upper()}")
    return probe


def _flag_long_titles(rows: Sequence[dict[str, str]], context_length: int, report: ReportBuilder) -> None:
    # A BPE token covers at least one non-space character, so short titles cannot overflow and
    # the vocabulary is read only when some title might.
    budget = context_length - 2
    maybe = [r for r in rows if sum(not ch.isspace() for ch in r["title"]) > budget]
    if not maybe:
        return
    counter = ClipTokenCounter()
    for row in maybe:
        n = counter.count(row["title"])
        if n > budget:
            report.flag(reasons.FLAG_LONG_TITLE, f"{row['_where']}: {n} tokens")
