"""The Catalogue: one validated row per book edition, with lazy access to its cover images."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from PIL import Image

from harness.data.images import open_cover, probe_image
from harness.errors import DataError
from harness.io import sha256_hex

COLUMNS = ("book_id", "title", "author", "category", "image_path", "isbn", "group_id", "title_key")
# Book Depository columns a catalogue keeps as read (text) when its CSVs have them: slices are cut by them.
# A catalogue whose sources lack one has no such column.
METADATA_COLUMNS = ("format", "book_depository_stars", "price")


@dataclass(frozen=True, eq=False)
class Catalogue:
    """Book editions (`frame`, one row each, RangeIndex, columns COLUMNS) and their cover files.

    `image_digests` (SHA-256 of each cover file's bytes) is filled by the loader; when absent the
    fingerprint reads it from the files. `open_image` refuses a file whose content changed since.
    """

    frame: pd.DataFrame
    image_digests: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.frame.columns]
        if missing:
            raise DataError(
                f"catalogue frame lacks column(s) {', '.join(missing)}; "
                "build catalogues with harness.data.load_catalogue"
            )
        if not isinstance(self.frame.index, pd.RangeIndex) or (len(self.frame) and self.frame.index[0] != 0):
            object.__setattr__(self, "frame", self.frame.reset_index(drop=True))
        if self.image_digests is not None and len(self.image_digests) != len(self.frame):
            raise DataError("catalogue image_digests do not match its rows; rebuild it with load_catalogue")

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} rows, categories={list(self.categories)}, fingerprint={self.fingerprint[:12]})"

    @property
    def titles(self) -> list[str]:
        titles: list[str] = self.frame["title"].tolist()
        return titles

    @cached_property
    def image_paths(self) -> tuple[str, ...]:
        """Each row's cover file (read once: a pandas lookup per cover costs as much as resizing it)."""
        return tuple(self.frame["image_path"].astype(str))

    @cached_property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted(self.frame["category"].unique()))

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of the rows (in order) and of each cover file's bytes."""
        digests = self.image_digests
        if digests is None:
            digests = tuple(probe_image(p).digest for p in self.frame["image_path"])
        cols = self.frame[["book_id", "title", "author", "category", "isbn", "group_id"]]
        rows = [
            "\x1f".join(values) + "\x1f" + digest
            for values, digest in zip(cols.itertuples(index=False, name=None), digests, strict=True)
        ]
        return sha256_hex("catalogue-v2", "\x1e".join(rows))

    def subset(self, selector: Sequence[int] | Sequence[bool] | np.ndarray | pd.Series) -> Catalogue:
        """Rows picked by integer positions or a boolean mask, in the order given, re-indexed from 0."""
        index = np.asarray(selector)
        if index.dtype == bool:
            if len(index) != len(self):
                raise DataError(f"boolean mask has {len(index)} entries for a catalogue of {len(self)} rows")
            index = np.flatnonzero(index)
        elif index.size == 0:
            index = index.astype(np.int64)
        elif not np.issubdtype(index.dtype, np.integer):
            raise DataError(f"catalogue subset takes integer positions or a boolean mask, not {index.dtype}")
        frame = self.frame.iloc[index].reset_index(drop=True)
        digests = None if self.image_digests is None else tuple(self.image_digests[i] for i in index)
        return Catalogue(frame, digests)

    def concat(self, other: Catalogue) -> Catalogue:
        """This catalogue's rows, then `other`'s (book ids must not repeat)."""
        clash = set(self.frame["book_id"]) & set(other.frame["book_id"])
        if clash:
            raise DataError(f"cannot join catalogues that share book ids ({sorted(clash)[0]!r}, ...)")
        frame = pd.concat(
            [self.frame, other.frame.reindex(columns=self.frame.columns, fill_value="")], ignore_index=True
        )
        digests = (
            None
            if self.image_digests is None or other.image_digests is None
            else self.image_digests + other.image_digests
        )
        return Catalogue(frame, digests)

    def by_category(self, names: str | Iterable[str]) -> Catalogue:
        """Rows whose category is one of `names` (raises DataError for a category not in the catalogue)."""
        wanted = [names] if isinstance(names, str) else list(names)
        unknown = sorted(set(wanted) - set(self.categories))
        if unknown:
            raise DataError(
                f"unknown category {', '.join(map(repr, unknown))}; this catalogue has: {', '.join(self.categories)}"
            )
        return self.subset(self.frame["category"].isin(wanted).to_numpy())

    def open_image(self, i: int, *, keep_grey: bool = False) -> Image.Image:
        """Cover of row `i`, decoded into RGB, or L with `keep_grey` (see open_cover); raises DataError when
        the file cannot be decoded."""
        digest = None if self.image_digests is None else self.image_digests[i]
        return open_cover(self.image_paths[i], digest=digest, keep_grey=keep_grey)
