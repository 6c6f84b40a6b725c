"""What `bookclip data validate` shows: per-category rows, skips, duplicate groups, cross-category overlaps."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from harness.data.catalogue import Catalogue
from harness.data.load_report import LoadReport

MAX_OVERLAP_EXAMPLES = 3


@dataclass(frozen=True)
class CategorySummary:
    category: str
    rows: int
    kept: int
    skipped: dict[str, int]
    duplicate_groups: int  # books with more than one edition (row) in this category
    duplicate_rows: int  # rows in those groups
    shared_groups: int  # books of this category also listed in another category


@dataclass(frozen=True)
class CategoryOverlap:
    categories: tuple[str, str]
    groups: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class CatalogueSummary:
    categories: tuple[CategorySummary, ...]
    overlaps: tuple[CategoryOverlap, ...]
    groups: int
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "groups": self.groups,
            "categories": [vars(c) | {"skipped": dict(c.skipped)} for c in self.categories],
            "overlaps": [{"categories": list(o.categories), "groups": o.groups, "examples": list(o.examples)}
                         for o in self.overlaps],
        }


def summarise(catalogue: Catalogue, report: LoadReport) -> CatalogueSummary:
    """Per-category counts (rows seen in the CSVs, kept, skipped by reason) and edition/overlap structure."""
    frame = catalogue.frame
    names = sorted(set(report.rows_by_category) | set(catalogue.categories))
    per_group_category = frame.groupby(["category", "group_id"]).size()
    categories_of_group = frame.groupby("group_id")["category"].agg(lambda s: tuple(sorted(set(s))))
    shared = categories_of_group[categories_of_group.map(len) > 1]
    summaries = []
    for name in names:
        sizes = per_group_category[name] if name in per_group_category.index.get_level_values(0) else None
        dup = sizes[sizes > 1] if sizes is not None else []
        summaries.append(CategorySummary(
            category=name,
            rows=report.rows_by_category.get(name, 0),
            kept=report.kept_by_category.get(name, 0),
            skipped=dict(report.skipped_by_category.get(name, {})),
            duplicate_groups=int(len(dup)),
            duplicate_rows=int(sum(dup)) if len(dup) else 0,
            shared_groups=int(sum(name in cats for cats in shared)),
        ))
    first_title = frame.drop_duplicates("group_id").set_index("group_id")["title"]
    overlaps = []
    for a, b in combinations(sorted(catalogue.categories), 2):
        both = [g for g, cats in shared.items() if a in cats and b in cats]
        if both:
            examples = tuple(sorted(first_title[g] for g in both)[:MAX_OVERLAP_EXAMPLES])
            overlaps.append(CategoryOverlap((a, b), len(both), examples))
    return CatalogueSummary(tuple(summaries), tuple(overlaps), int(frame["group_id"].nunique()),
                            catalogue.fingerprint)
