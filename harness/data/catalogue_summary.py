"""What `bookclip data validate` shows: per-category rows, skips, duplicate groups, cross-category overlaps."""

from __future__ import annotations

from collections import Counter, defaultdict
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
            "overlaps": [
                {"categories": list(o.categories), "groups": o.groups, "examples": list(o.examples)}
                for o in self.overlaps
            ],
        }


def summarise(catalogue: Catalogue, report: LoadReport) -> CatalogueSummary:
    """Per-category counts (rows seen in the CSVs, kept, skipped by reason) and edition/overlap structure."""
    frame = catalogue.frame
    names = sorted(set(report.rows_by_category) | set(catalogue.categories))
    per_group_category = frame.groupby(["category", "group_id"]).size()
    repeated = per_group_category[per_group_category > 1]  # editions: a group with several rows in a category
    dup_groups = repeated.groupby(level=0).size().to_dict()
    dup_rows = repeated.groupby(level=0).sum().to_dict()
    categories_of_group = frame.groupby("group_id")["category"].agg(lambda s: tuple(sorted(set(s))))
    shared = categories_of_group[categories_of_group.map(len) > 1]
    # indexed by category and by pair, one pass over the shared groups (a loop over category pairs was
    # quadratic in the categories: 74 s for 5,000 of them)
    shared_by_category: Counter[str] = Counter(c for cats in shared for c in cats)
    groups_by_pair: dict[tuple[str, str], list[str]] = defaultdict(list)
    for group, cats in shared.items():
        for pair in combinations(cats, 2):
            groups_by_pair[pair].append(group)
    summaries = []
    for name in names:
        summaries.append(
            CategorySummary(
                category=name,
                rows=report.rows_by_category.get(name, 0),
                kept=report.kept_by_category.get(name, 0),
                skipped=dict(report.skipped_by_category.get(name, {})),
                duplicate_groups=int(dup_groups.get(name, 0)),
                duplicate_rows=int(dup_rows.get(name, 0)),
                shared_groups=int(shared_by_category.get(name, 0)),
            )
        )
    first_title = frame.drop_duplicates("group_id").set_index("group_id")["title"]
    overlaps = []
    for pair in sorted(groups_by_pair):
        both = groups_by_pair[pair]
        examples = tuple(sorted(first_title[g] for g in both)[:MAX_OVERLAP_EXAMPLES])
        overlaps.append(CategoryOverlap(pair, len(both), examples))
    return CatalogueSummary(tuple(summaries), tuple(overlaps), int(frame["group_id"].nunique()), catalogue.fingerprint)
