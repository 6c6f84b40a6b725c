"""Per-query ranks of two runs over the same items, aligned by item id, or the reason they cannot be paired.

The one check behind every paired comparison of stored runs (`report --against` and `report A B`): a pair
is only formed from well-formed ranks, so no command can report a difference that another refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PairedRanks:
    """Ranks of the same items in two runs, in the first run's item order."""

    ids: list[str]
    titles: list[str]
    first: np.ndarray
    second: np.ndarray


def pair_ranks(
    first: dict[str, Any],
    second: dict[str, Any],
    first_role: str,
    second_role: str,
) -> PairedRanks | str:
    """`first` and `second` are per_query entries of one view/direction; returns the aligned ranks of
    `first_role` in the first and `second_role` in the second, or why they cannot be paired."""
    try:
        ids_a, ids_b = [str(i) for i in first["item_ids"]], [str(i) for i in second["item_ids"]]
        a = np.asarray(first["ranks"][first_role], dtype=np.float64)
        b = np.asarray(second["ranks"][second_role], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return f"per-query ranks for {first_role!r} or {second_role!r} missing or malformed"
    if a.ndim != 1 or b.ndim != 1 or len(ids_a) != len(a) or len(ids_b) != len(b):
        return "per-query ids and ranks differ in length"
    if len(set(ids_a)) != len(ids_a) or set(ids_a) != set(ids_b):
        shared = len(set(ids_a) & set(ids_b))
        return f"items differ: {len(ids_a)} and {len(ids_b)}, shared {shared}"
    for ranks in (a, b):
        if not (np.all(np.isfinite(ranks)) and ranks.min(initial=1) >= 1 and np.all(ranks == np.floor(ranks))):
            return "per-query ranks are not all whole numbers >= 1"
    if not ids_a:
        return "no queries"
    position = {item: i for i, item in enumerate(ids_b)}
    titles = list(first.get("titles") or [""] * len(ids_a))
    return PairedRanks(ids_a, titles, a, b[[position[item] for item in ids_a]])
