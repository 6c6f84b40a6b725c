"""Finding catalogue CSVs (files, globs, directories) and reading them whatever their encoding."""
from __future__ import annotations

import glob
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

import pandas as pd

from harness.errors import DataError

Sources = Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]

REQUIRED_COLUMNS = ("name", "category", "img_paths")
LAYOUT = "image,name,author,format,book_depository_stars,price,currency,old_price,isbn,category,img_paths"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class CsvTable:
    """One CSV's rows as strings, with how its bytes were decoded."""

    path: Path
    frame: pd.DataFrame
    encoding: str  # "utf-8", "utf-8-sig", "cp1252" or "latin-1"


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
                raise DataError(f"directory {path} holds no <Category>/<Category>.csv or *.csv files; "
                                "point at the catalogue's root directory")
        elif path.is_file():
            matches = [path]
        elif path.exists():  # a FIFO, socket or device: reading it could block forever
            raise DataError(f"catalogue CSV {path} is not a regular file (a FIFO, socket or device); "
                            "pass the CSV file itself")
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
    """Text and encoding name: UTF-8 (with or without BOM), else cp1252, else latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 maps every byte
        return raw.decode("latin-1"), "latin-1"


def read_csv(path: Path) -> CsvTable:
    """Read one CSV as strings, or raise DataError naming the file and the fix."""
    from harness.data.images import NotRegularFileError, read_regular_bytes

    try:
        raw = read_regular_bytes(path)
    except NotRegularFileError:
        raise DataError(f"catalogue CSV {path} is not a regular file (a FIFO, socket or device); "
                        "replace it with the CSV file or remove it from the catalogue folder") from None
    except OSError as exc:
        raise DataError(f"cannot read catalogue CSV {path} ({exc.strerror or exc}); "
                        "check that it exists and is readable") from None
    if not raw.strip():
        raise DataError(f"catalogue CSV {path} is empty; expected a header line {LAYOUT}")
    text, encoding = decode_csv_bytes(raw)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = " ".join(str(exc).split())
        raise DataError(f"catalogue CSV {path} cannot be parsed ({first}); "
                        f"expected comma-separated columns {LAYOUT}") from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        have = ",".join(frame.columns[:12])
        raise DataError(f"catalogue CSV {path} lacks required column(s) {', '.join(missing)} "
                        f"(has: {have}); expected the layout {LAYOUT}")
    return CsvTable(path=path, frame=frame, encoding=encoding)
