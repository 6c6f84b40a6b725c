"""What loading a catalogue kept, skipped and flagged, by reason, with a few examples of each."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 3

# Skip reasons (the row is not in the catalogue) and flag reasons (kept, but worth a look).
SKIP_EMPTY_TITLE = "empty title"
SKIP_TITLE_WITHOUT_WORDS = "title without letters or digits"  # "!!!", "...", a zero-width space: no identity
SKIP_EMPTY_CATEGORY = "empty category"
SKIP_NO_IMAGE_PATH = "empty img_paths"
SKIP_PATH_ESCAPES = "path escapes image root"
SKIP_MISSING_IMAGE = "missing image"
SKIP_UNREADABLE_IMAGE = "unreadable image"
SKIP_EMPTY_IMAGE = "zero-byte image"
SKIP_NOT_AN_IMAGE = "not an image"
SKIP_TRUNCATED_IMAGE = "truncated image"
SKIP_DUPLICATE_ROW = "duplicate row"
SKIP_BAD_IMAGE_PATH = "img_paths not a usable path"  # NUL or other control characters
SKIP_SPECIAL_FILE = "image not a regular file"  # FIFO, socket or device: never opened
SKIP_UNDECODABLE_IMAGE = "image cannot be decoded"  # header unreadable, or (full decode) broken data
SKIP_OVERSIZED_IMAGE = "image too large or too elongated"  # decompression bomb, extreme aspect ratio
FLAG_FORMAT_MISMATCH = "image format differs from extension"
FLAG_LONG_TITLE = "title longer than the text context"
FLAG_NOT_UTF8 = "CSV not UTF-8 (decoded as cp1252 or latin-1)"
FLAG_MIXED_ENCODING = "CSV line not UTF-8 in a UTF-8 file (that line decoded as cp1252)"
FLAG_BOM = "CSV has a UTF-8 byte-order mark"
FLAG_BAD_ISBN = "isbn not an ISBN-10/13 (ignored for grouping)"


@dataclass(frozen=True)
class LoadReport:
    """Per-reason counts of skipped and flagged rows, kept/total rows, and examples ("file:line: detail")."""

    sources: tuple[str, ...]
    total_rows: int
    kept_rows: int
    skipped: dict[str, int]
    flagged: dict[str, int]
    examples: dict[str, tuple[str, ...]]
    rows_by_category: dict[str, int]
    kept_by_category: dict[str, int]
    skipped_by_category: dict[str, dict[str, int]]

    @property
    def skipped_rows(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "total_rows": self.total_rows,
            "kept_rows": self.kept_rows,
            "skipped_rows": self.skipped_rows,
            "skipped": dict(self.skipped),
            "flagged": dict(self.flagged),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "rows_by_category": dict(self.rows_by_category),
            "kept_by_category": dict(self.kept_by_category),
            "skipped_by_category": {k: dict(v) for k, v in self.skipped_by_category.items()},
        }

    def summary_line(self) -> str:
        """One line for errors: counts by reason and the first example."""
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items()))
        first = next((ex[0] for reason, ex in sorted(self.examples.items()) if reason in self.skipped and ex), "")
        return f"{self.skipped_rows} of {self.total_rows} rows skipped ({reasons})" + (
            f"; first: {first}" if first else ""
        )


@dataclass
class ReportBuilder:
    """Collects outcomes while one load runs; `build()` freezes them into a LoadReport."""

    sources: list[str] = field(default_factory=list)
    total_rows: int = 0
    skipped: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows_by_category: Counter = field(default_factory=Counter)
    skipped_by_category: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def row_seen(self, category: str) -> None:
        self.total_rows += 1
        self.rows_by_category[category] += 1

    def skip(self, reason: str, category: str, where: str) -> None:
        self.skipped[reason] += 1
        self.skipped_by_category[category][reason] += 1
        self._example(reason, where)

    def flag(self, reason: str, where: str, n: int = 1) -> None:
        self.flagged[reason] += n
        self._example(reason, where)

    def _example(self, reason: str, where: str) -> None:
        if len(self.examples[reason]) < MAX_EXAMPLES:
            self.examples[reason].append(where)

    def build(self, kept_by_category: dict[str, int]) -> LoadReport:
        kept = sum(kept_by_category.values())
        return LoadReport(
            sources=tuple(self.sources),
            total_rows=self.total_rows,
            kept_rows=kept,
            skipped=dict(sorted(self.skipped.items())),
            flagged=dict(sorted(self.flagged.items())),
            examples={k: tuple(v) for k, v in sorted(self.examples.items())},
            rows_by_category=dict(sorted(self.rows_by_category.items())),
            kept_by_category=dict(sorted(kept_by_category.items())),
            skipped_by_category={k: dict(sorted(v.items())) for k, v in sorted(self.skipped_by_category.items())},
        )
