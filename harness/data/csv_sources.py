"""Finding catalogue CSVs (files, globs, directories) and reading them whatever their encoding."""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.errors import DataError

Sources = str | os.PathLike | Iterable[str | os.PathLike]

REQUIRED_COLUMNS = ("name", "category", "img_paths")
LAYOUT = "image,name,author,format,book_depository_stars,price,currency,old_price,isbn,category,img_paths"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class CsvTable:
    """One CSV's rows as strings, with how its bytes were decoded."""

    path: Path
    frame: pd.DataFrame
    encoding: str  # "utf-8", "utf-8-sig", "cp1252", "latin-1" or "mixed" (some lines UTF-8, some not)
    legacy_lines: tuple[int, ...] = ()  # 1-based lines not valid UTF-8, decoded as cp1252 (latin-1 if not)


def resolve_sources(sources: Sources) -> list[Path]:
    """Expand files, globs and directories (holding <Category>/<Category>.csv) into CSV paths, in order."""
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not items:
        raise DataError("no catalogue given; pass a CSV, a glob or a directory of <Category>/<Category>.csv")
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = sorted(path.glob("*/*.csv")) or sorted(path.glob("*.csv"))
            if not matches:
                raise DataError(
                    f"directory {path} holds no <Category>/<Category>.csv or *.csv files; "
                    "point at the catalogue's root directory"
                )
        elif path.is_file():
            matches = [path]
        elif path.exists():  # a FIFO, socket or device: reading it could block forever
            raise DataError(
                f"catalogue CSV {path} is not a regular file (a FIFO, socket or device); pass the CSV file itself"
            )
        elif _GLOB_CHARS & set(text):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)) if not Path(p).is_dir())
            if not matches:
                raise DataError(f"glob {text!r} matches no files; check the pattern")
        else:
            raise DataError(f"catalogue CSV {path} does not exist; check the path")
        found.extend(matches)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


def decode_csv_bytes(raw: bytes) -> tuple[str, str]:
    """Text and encoding name: UTF-8 (with or without BOM), else line by line (see decode_csv_lines)."""
    text, encoding, _ = decode_csv_lines(raw)
    return text, encoding


def decode_csv_lines(raw: bytes) -> tuple[str, str, tuple[int, ...]]:
    """Text, encoding name and the 1-based lines that were not UTF-8.

    Each line is decoded on its own: one latin-1 row in a UTF-8 file must not make every valid
    row decode as cp1252 (mojibake). A line that is not UTF-8 is read as cp1252, else latin-1 (which
    maps every byte). The byte 0x0A never occurs inside a UTF-8 sequence, so splitting there is exact.
    """
    bom = raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:] if bom else raw
    try:
        return body.decode("utf-8"), "utf-8-sig" if bom else "utf-8", ()
    except UnicodeDecodeError:
        pass
    lines = body.split(b"\n")
    out: list[str] = []
    legacy: list[int] = []
    used: set[str] = set()
    for number, line in enumerate(lines, start=1):
        try:
            out.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        legacy.append(number)
        try:
            out.append(line.decode("cp1252"))
            used.add("cp1252")
        except UnicodeDecodeError:  # cp1252 leaves five bytes undefined
            out.append(line.decode("latin-1"))
            used.add("latin-1")
    legacy_set = set(legacy)
    non_ascii_utf8 = any(not line.isascii() for i, line in enumerate(lines, start=1) if i not in legacy_set)
    if non_ascii_utf8 or bom:
        encoding = "mixed"
    else:
        encoding = "latin-1" if "latin-1" in used else "cp1252"
    return "\n".join(out), encoding, tuple(legacy)


def read_csv(path: Path) -> CsvTable:
    """Read one CSV as strings, or raise DataError naming the file and the fix."""
    from harness.data.images import NotRegularFileError, read_regular_bytes

    try:
        raw = read_regular_bytes(path)
    except NotRegularFileError:
        raise DataError(
            f"catalogue CSV {path} is not a regular file (a FIFO, socket or device); "
            "replace it with the CSV file or remove it from the catalogue folder"
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot read catalogue CSV {path} ({exc.strerror or exc}); check that it exists and is readable"
        ) from None
    if not raw.strip():
        raise DataError(f"catalogue CSV {path} is empty; expected a header line {LAYOUT}")
    text, encoding, legacy_lines = decode_csv_lines(raw)
    try:
        # pandas 2's C parser ends a field at a NUL byte (a crafted path would lose its tail silently);
        # the Python engine keeps it, so the loader's path check sees it and skips the row by name
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="python" if "\x00" in text else "c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = " ".join(str(exc).split())
        raise DataError(
            f"catalogue CSV {path} cannot be parsed ({first}); expected comma-separated columns {LAYOUT}"
        ) from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        have = ",".join(frame.columns[:12])
        raise DataError(
            f"catalogue CSV {path} lacks required column(s) {', '.join(missing)} "
            f"(has: {have}); expected the layout {LAYOUT}"
        )
    return CsvTable(path=path, frame=frame, encoding=encoding, legacy_lines=legacy_lines)
