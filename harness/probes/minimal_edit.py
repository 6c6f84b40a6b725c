"""Minimal failing edit: how many character edits push a title's cover out of the top k.

For each item whose exact title ranks its cover within the top k, a seeded beam search tries
single-character edits (delete, substitute, insert, swap neighbours) level by level: level d
holds titles d edits away. At each level every candidate is scored and the search stops at the
first level where one candidate loses the cover; the beam keeps the candidates closest to
failing (smallest margin). The level found is the item's robustness radius, an upper bound on
the true minimum (the beam does not try every edit). Items where no edit within `max_edits`
succeeds are censored at max_edits + 1; items the time budget cut short are counted apart.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.io import sha256_hex
from harness.probes.intervals import MetricSample
from harness.probes.scoring import CatalogueScores

Encoder = Callable[[Sequence[str]], np.ndarray]
_ALPHABET = string.ascii_lowercase + " "


@dataclass(frozen=True)
class EditSearchConfig:
    """Bounds of the search. `time_budget_s` covers all items of one run."""

    k: int = 1
    max_edits: int = 4
    beam_width: int = 6
    candidates_per_title: int = 40
    time_budget_s: float = 60.0
    seed: int = 0


@dataclass(frozen=True)
class EditOutcome:
    """One item's search: `radius` edits found (None when none within max_edits or out of time)."""

    book_id: str
    title: str
    radius: int | None
    edited: str | None  # the title that lost the cover, when found
    status: str  # "found", "censored" (none within max_edits) or "timeout"
    searched: int  # candidate titles scored

    def to_dict(self) -> dict[str, object]:
        return {
            "book_id": self.book_id,
            "title": self.title,
            "radius": self.radius,
            "edited": self.edited,
            "status": self.status,
            "searched": self.searched,
        }


def single_edits(title: str, rng: random.Random, limit: int) -> list[str]:
    """Up to `limit` distinct titles one character edit away, sampled with `rng` (sorted, so seeded)."""
    n = len(title)
    letters = sorted(set(_ALPHABET) | {ch.lower() for ch in title})
    edits: set[str] = set()
    ops = ["delete", "substitute", "insert", "swap"] if n else ["insert"]
    attempts = 0
    while len(edits) < limit and attempts < limit * 8:
        attempts += 1
        op = rng.choice(ops)
        i = rng.randrange(n + 1 if op == "insert" else max(n, 1))
        if op == "delete":
            candidate = title[:i] + title[i + 1 :]
        elif op == "substitute":
            candidate = title[:i] + rng.choice(letters) + title[i + 1 :]
        elif op == "insert":
            candidate = title[:i] + rng.choice(letters) + title[i:]
        else:
            if i + 1 >= n:
                continue
            candidate = title[:i] + title[i + 1] + title[i] + title[i + 2 :]
        if candidate != title:
            edits.add(candidate)
    return sorted(edits)


def _margins(queries: np.ndarray, positive: np.ndarray, scores: CatalogueScores, k: int) -> np.ndarray:
    """best positive cover score - k-th best negative cover score; <= 0 means the cover is out of the top k."""
    sims = queries @ scores.covers.T
    best_positive = sims[:, positive].max(axis=1)
    negatives = sims[:, ~positive]
    if negatives.shape[1] < k:
        return np.full(len(queries), np.inf)
    kth = np.partition(negatives, negatives.shape[1] - k, axis=1)[:, negatives.shape[1] - k]
    margins: np.ndarray = best_positive - kth
    return margins


def search_item(
    row: int, scores: CatalogueScores, encode: Encoder, config: EditSearchConfig, deadline: float
) -> EditOutcome:
    """Beam search for the smallest edit of row's title that loses its cover."""
    title = scores.titles[row]
    book_id = str(scores.book_ids[row])
    rng = random.Random(int(sha256_hex("minimal-edit", str(config.seed), book_id)[:16], 16))
    positive = scores.groups == scores.groups[row]
    beam, seen, searched = [title], {title}, 0
    for depth in range(1, config.max_edits + 1):
        if time.monotonic() > deadline:
            return EditOutcome(book_id, title, None, None, "timeout", searched)
        candidates = sorted(
            {c for parent in beam for c in single_edits(parent, rng, config.candidates_per_title)} - seen
        )
        if not candidates:
            break
        seen.update(candidates)
        margins = _margins(np.asarray(encode(candidates), dtype=np.float32), positive, scores, config.k)
        searched += len(candidates)
        order = np.lexsort((np.arange(len(candidates)), margins))  # smallest margin first, ties by text
        if margins[order[0]] <= 0:
            return EditOutcome(book_id, title, depth, candidates[int(order[0])], "found", searched)
        beam = [candidates[int(i)] for i in order[: config.beam_width]]
    return EditOutcome(book_id, title, None, None, "censored", searched)


@dataclass(frozen=True)
class MinimalEditResult:
    """Outcomes sorted by book_id, and the items not searched because their exact title misses."""

    outcomes: tuple[EditOutcome, ...]
    not_retrieved: int
    config: EditSearchConfig

    def radii(self) -> tuple[np.ndarray, np.ndarray]:
        """(book_ids, radius) per searched item, censored items at max_edits + 1 (timeouts left out)."""
        censor = self.config.max_edits + 1
        done = [o for o in self.outcomes if o.status != "timeout"]
        return (
            np.asarray([o.book_id for o in done], dtype=str),
            np.asarray([o.radius if o.status == "found" else censor for o in done], dtype=np.float64),
        )

    def histogram(self) -> dict[str, int]:
        counts = {str(d): 0 for d in range(1, self.config.max_edits + 1)}
        counts[f">{self.config.max_edits}"] = 0
        counts["timeout"] = 0
        for o in self.outcomes:
            key = (
                str(o.radius)
                if o.status == "found"
                else ("timeout" if o.status == "timeout" else f">{self.config.max_edits}")
            )
            counts[key] += 1
        return counts

    def samples(self) -> dict[str, MetricSample]:
        """radius_p50 and radius_mean (censored at max_edits + 1, so lower bounds when censored), and
        fragile_rate: the share of items one edit breaks."""
        ids, radii = self.radii()
        return {
            "radius_p50": MetricSample(ids, radii),
            "radius_mean": MetricSample(ids, radii),
            "fragile_rate": MetricSample(ids, radii <= 1),
        }

    def worst(self, n: int = 5) -> list[dict[str, object]]:
        found = sorted((o for o in self.outcomes if o.status == "found"), key=lambda o: (o.radius, o.book_id))
        return [o.to_dict() for o in found[:n]]


def minimal_edit_probe(
    scores: CatalogueScores,
    rows: Sequence[int] | np.ndarray,
    encode: Encoder,
    config: EditSearchConfig = EditSearchConfig(),
    advance: Callable[..., None] | None = None,
) -> MinimalEditResult:
    """Search each row whose exact title ranks its cover within the top k; others are counted."""
    idx = np.asarray(rows, dtype=np.int64)
    idx = idx[np.argsort(scores.book_ids[idx], kind="stable")]
    retrieved = idx[scores.exact_rank[idx] <= config.k]
    deadline = time.monotonic() + config.time_budget_s
    outcomes = []
    for row in retrieved:
        outcomes.append(search_item(int(row), scores, encode, config, deadline))
        if advance:
            advance(1)
    return MinimalEditResult(tuple(outcomes), not_retrieved=len(idx) - len(retrieved), config=config)
