"""The slicing registry: every way bookclip cuts a catalogue into slices, declared once.

A slicing gives each catalogue row one label (the slice it falls in) or None (its value is absent
or unusable, e.g. a price of "inf" or stars of -1). It names the catalogue columns it reads; a
catalogue without one of them skips the slicing, counted and reported with the reason, never an
error. Adding a slicing is one entry (another package adds one through the entry-point group
`bookclip.slicings`, naming a `Slicing` object):

    register_slicing(Slicing("currency", columns=("currency",), kind="categorical",
                             labels=lambda cat: cat.frame["currency"].tolist()))

Kinds: "categorical" (a column's values), "binned" (a numeric column cut into bins), "cover"
(properties of the cover file), "title" (properties of the title text).

`cut(catalogue)` applies every registered slicing: one label per row and slicing, with the skipped
slicings and the count of unusable values. Which slices are large enough to test is decided per
view by the caller (harness.evaluate.slice_discovery), from the queries the view holds.
"""

from __future__ import annotations

import functools
import math
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from harness.data.titles import restore_article
from harness.errors import ConfigError
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.data.catalogue import Catalogue
    from harness.data.token_count import ClipTokenCounter

SlicingKind = Literal["categorical", "binned", "cover", "title"]
SLICING_KINDS: tuple[SlicingKind, ...] = get_args(SlicingKind)
ENTRY_POINT_GROUP = "bookclip.slicings"
Labels = Sequence["str | None"]


@dataclass(frozen=True)
class Slicing:
    """One way to cut a catalogue: `labels(catalogue)` gives each row its slice's label, or None."""

    name: str
    labels: Callable[[Catalogue], Labels]
    kind: SlicingKind = "categorical"
    columns: tuple[str, ...] = ()  # catalogue columns it reads; one absent skips it
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SLICING_KINDS:
            raise ConfigError(f"slicing {self.name!r}: kind must be one of {SLICING_KINDS}")
        if not self.name or "/" in self.name or "=" in self.name:
            raise ConfigError(f"slicing name {self.name!r} must be non-empty, without '/' or '='")


def _as_slicing(value: object) -> Slicing:
    if not isinstance(value, Slicing):
        raise ConfigError(f"{value!r} is not a harness.evaluate.slices.Slicing; point the entry point at one")
    return value


SLICINGS: Registry[Slicing] = Registry("slicing", check=_as_slicing, groups=(ENTRY_POINT_GROUP,))


def register_slicing(slicing: Slicing) -> Slicing:
    """Add a slicing to the registry (a name already taken by another slicing is an error)."""
    if slicing.name in SLICINGS and SLICINGS.get(slicing.name) is not slicing:
        raise ConfigError(f"slicing {slicing.name!r} is registered already; choose another name")
    SLICINGS.register(slicing.name, _as_slicing(slicing))
    return slicing


def unregister_slicing(name: str) -> None:
    SLICINGS.unregister(name)


@contextmanager
def registered_slicing(slicing: Slicing) -> Iterator[Slicing]:
    """A slicing registered for the duration of a block (tests, plugins trying one out)."""
    register_slicing(slicing)
    try:
        yield slicing
    finally:
        unregister_slicing(slicing.name)


def slicings() -> tuple[Slicing, ...]:
    """The registered slicings, in registration order; entry points included."""
    return tuple(SLICINGS.values())


# --------------------------------------------------------------------------- cutting


@dataclass(frozen=True)
class SliceTable:
    """Each applied slicing's label per catalogue row (aligned with `book_ids`), and what was skipped."""

    book_ids: tuple[str, ...]
    labels: dict[str, tuple[str | None, ...]]  # slicing -> label per row
    skipped: dict[str, str] = field(default_factory=dict)  # slicing -> why it was not applied
    unusable: dict[str, int] = field(default_factory=dict)  # slicing -> rows without a usable value

    def sizes(self, slicing: str) -> dict[str, int]:
        """Rows per label of one slicing, largest first."""
        counts = pd.Series([x for x in self.labels[slicing] if x is not None], dtype=object).value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def restricted(self, book_ids: Iterable[str]) -> SliceTable:
        """The rows of these books only (in first-seen order; a book the table lacks is left out)."""
        index = {b: i for i, b in enumerate(self.book_ids)}
        rows = [index[b] for b in dict.fromkeys(book_ids) if b in index]
        labels = {name: tuple(values[r] for r in rows) for name, values in self.labels.items()}
        return SliceTable(
            tuple(self.book_ids[r] for r in rows),
            labels,
            dict(self.skipped),
            {name: sum(x is None for x in values) for name, values in labels.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """Compact: per slicing the label names and one code per book (-1: no usable value)."""
        out: dict[str, Any] = {"book_ids": list(self.book_ids), "labels": {}, "skipped": dict(self.skipped)}
        for name, values in self.labels.items():
            names = sorted({x for x in values if x is not None})
            code = {x: i for i, x in enumerate(names)}
            out["labels"][name] = {"names": names, "codes": [-1 if x is None else code[x] for x in values]}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SliceTable:
        book_ids = tuple(str(b) for b in d["book_ids"])
        labels: dict[str, tuple[str | None, ...]] = {}
        for name, one in d.get("labels", {}).items():
            names = [str(x) for x in one["names"]]
            codes = [int(c) for c in one["codes"]]
            if len(codes) != len(book_ids) or any(not -1 <= c < len(names) for c in codes):
                raise ConfigError(f"slice labels of {name!r} do not match the {len(book_ids)} books stored with them")
            labels[str(name)] = tuple(None if c < 0 else names[c] for c in codes)
        unusable = {name: sum(x is None for x in values) for name, values in labels.items()}
        return cls(book_ids, labels, {str(k): str(v) for k, v in d.get("skipped", {}).items()}, unusable)


def cut(catalogue: Catalogue, chosen: Sequence[str] | None = None) -> SliceTable:
    """Every registered slicing (or those `chosen`) applied to `catalogue`."""
    known = {s.name: s for s in slicings()} if chosen is None else {name: SLICINGS.get(name) for name in chosen}
    frame = catalogue.frame
    labels: dict[str, tuple[str | None, ...]] = {}
    skipped: dict[str, str] = {}
    unusable: dict[str, int] = {}
    for name, slicing in known.items():
        absent = [c for c in slicing.columns if c not in frame.columns]
        if absent:
            skipped[name] = f"column {', '.join(absent)} absent from the catalogue"
            continue
        values = tuple(None if x is None else str(x) for x in slicing.labels(catalogue))
        if len(values) != len(frame):
            raise ConfigError(f"slicing {name!r} labelled {len(values)} rows of a catalogue of {len(frame)}")
        labels[name] = values
        unusable[name] = sum(x is None for x in values)
    return SliceTable(tuple(frame["book_id"].astype(str)), labels, skipped, unusable)


# --------------------------------------------------------------------------- label helpers


def _text(value: object) -> str | None:
    text = " ".join(str(value).split())
    return text or None


def _numbers(catalogue: Catalogue, column: str, low: float, high: float) -> np.ndarray:
    """The column as floats; NaN where the text is no number, is not finite or lies outside [low, high]."""
    values: np.ndarray = pd.to_numeric(catalogue.frame[column].astype(str).str.strip(), errors="coerce").to_numpy(
        np.float64
    )
    with np.errstate(invalid="ignore"):
        values[~np.isfinite(values) | (values < low) | (values > high)] = np.nan
    return values


def bins(values: np.ndarray, edges: Sequence[float], names: Sequence[str]) -> list[str | None]:
    """Each value's bin name: bin i holds [edges[i], edges[i+1]), the last one includes its upper edge."""
    out: list[str | None] = []
    top = len(edges) - 2
    for v in values.tolist():
        if not math.isfinite(v) or v < edges[0] or v > edges[-1]:
            out.append(None)
            continue
        i = min(int(np.searchsorted(edges, v, side="right")) - 1, top)
        out.append(names[i])
    return out


def _categorical(column: str) -> Callable[[Catalogue], Labels]:
    return lambda catalogue: [_text(x) for x in catalogue.frame[column].tolist()]


STAR_EDGES = (0.0, 3.5, 4.0, 4.5, 5.0)


def _stars(catalogue: Catalogue) -> Labels:
    names = [f"[{a:g}, {b:g})" for a, b in zip(STAR_EDGES[:-2], STAR_EDGES[1:-1], strict=True)]
    return bins(_numbers(catalogue, "book_depository_stars", 0.0, 5.0), STAR_EDGES, [*names, "[4.5, 5]"])


PRICE_BINS = 4  # quartiles of the catalogue's own prices


def _price(catalogue: Catalogue) -> Labels:
    values = _numbers(catalogue, "price", 0.0, 1e9)
    values[values <= 0] = np.nan
    usable = values[np.isfinite(values)]
    if usable.size == 0:
        return [None] * len(values)
    edges = np.unique(np.quantile(usable, np.linspace(0.0, 1.0, PRICE_BINS + 1)))
    if edges.size < 2:
        return [None if not math.isfinite(v) else f"{edges[0]:.2f}" for v in values.tolist()]
    names = [
        f"q{i + 1} [{a:.2f}, {b:.2f}{']' if i == edges.size - 2 else ')'}"
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    return bins(values, edges.tolist(), names)


TOKEN_EDGES = (1.0, 5.0, 9.0, 17.0, math.inf)
TOKEN_NAMES = ("1-4 tokens", "5-8 tokens", "9-16 tokens", "17+ tokens")


def _title_tokens(catalogue: Catalogue) -> Labels:
    counter = _token_counter()
    counts = np.array([counter.count(t) for t in catalogue.titles], dtype=np.float64)
    return bins(counts, TOKEN_EDGES[:-1] + (1e9,), TOKEN_NAMES)


def _editions(catalogue: Catalogue) -> Labels:
    """How many rows of the catalogue are the same book (its group: same normalised title or ISBN)."""
    sizes = catalogue.frame.groupby("group_id")["group_id"].transform("size").to_numpy()
    return ["1 edition" if n == 1 else "2 editions" if n == 2 else "3+ editions" for n in sizes.tolist()]


GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def cover_mode(path: str) -> str | None:
    """The cover's Pillow mode from its header (nothing decoded), or None when it cannot be read. Kept per
    file (path, size, modification time, inode) for the process: a run slices its catalogue once per
    comparison, and a file that changes is read again."""
    from PIL import Image

    from harness.data.images import open_regular

    try:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _MODES:
            with open_regular(path) as fh, Image.open(fh) as image:
                _MODES[key] = str(image.mode)
        return _MODES[key]
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


_MODES: dict[tuple[str, int, int, int], str] = {}


@functools.cache
def _token_counter() -> ClipTokenCounter:
    """One counter a process: its vocabulary is read once and its per-word counts are kept."""
    from harness.data.token_count import ClipTokenCounter

    return ClipTokenCounter()


def _colour(catalogue: Catalogue) -> Labels:
    modes = [cover_mode(p) for p in catalogue.image_paths]
    return [None if m is None else "greyscale" if m in GREY_MODES else "colour" for m in modes]


def _placeholder(catalogue: Catalogue) -> Labels:
    """A cover whose bytes several books share (a publisher's placeholder) against a book's own cover."""
    from harness.data.images import probe_image

    digests = catalogue.image_digests
    if digests is None:
        digests = tuple(probe_image(p).digest for p in catalogue.image_paths)
    frame = pd.DataFrame({"digest": digests, "group": catalogue.frame["group_id"].to_numpy()})
    books = frame.groupby("digest")["group"].transform("nunique").to_numpy()
    return ["placeholder (shared)" if n > 1 else "own cover" for n in books.tolist()]


def _subtitle(catalogue: Catalogue) -> Labels:
    return ["subtitle" if ":" in restore_article(t).strip(": ") else "no subtitle" for t in catalogue.titles]


def is_latin(title: str) -> bool:
    """Every letter of the title is a Latin letter (accents included)."""
    for ch in title:
        if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
            return False
    return True


def _script(catalogue: Catalogue) -> Labels:
    return ["Latin script" if is_latin(t) else "non-Latin script" for t in catalogue.titles]


def _moved_article(catalogue: Catalogue) -> Labels:
    """'Power of Now, The:' (the catalogue's moved-article form) against titles written as they read."""
    return ["moved article" if restore_article(t) != " ".join(t.split()) else "as written" for t in catalogue.titles]


register_slicing(Slicing("format", _categorical("format"), columns=("format",), description="the edition's format"))
register_slicing(Slicing("author", _categorical("author"), columns=("author",), description="one author's books"))
register_slicing(Slicing("category", _categorical("category"), columns=("category",), description="the category"))
register_slicing(
    Slicing(
        "stars",
        _stars,
        kind="binned",
        columns=("book_depository_stars",),
        description="Book Depository stars in half-star bins (0 to 5; other values unusable)",
    )
)
register_slicing(
    Slicing("price", _price, kind="binned", columns=("price",), description="quartiles of the catalogue's prices")
)
register_slicing(
    Slicing("title_tokens", _title_tokens, kind="binned", description="the title's length in CLIP BPE tokens")
)
register_slicing(
    Slicing("editions", _editions, kind="binned", description="rows of the catalogue that are the same book")
)
register_slicing(Slicing("colour", _colour, kind="cover", description="the cover file's colour mode"))
register_slicing(
    Slicing("placeholder", _placeholder, kind="cover", description="a cover whose bytes several books share")
)
register_slicing(Slicing("subtitle", _subtitle, kind="title", description="a ':' subtitle in the title"))
register_slicing(Slicing("script", _script, kind="title", description="a letter outside the Latin script"))
register_slicing(
    Slicing("moved_article", _moved_article, kind="title", description="'Title, The:' form of a leading article")
)
