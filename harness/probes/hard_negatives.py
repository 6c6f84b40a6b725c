"""Hard-negative probe: real near-miss titles must score below the true title for a cover.

Near misses come from the catalogue itself: titles of other books that share a content word
with the item's title ("The Power of Habit" for "The Power of Now"), most similar first by word
overlap. For each (cover, near miss) pair the probe fails when the near miss scores at least as
high as the true title. Items with no near miss in the catalogue are counted, not probed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.probes.intervals import MetricSample
from harness.probes.scoring import CatalogueScores

# words that make two titles look alike without making them near misses
STOPWORDS = frozenset(
    """a an the of and or to in on for with by at from as is are be your you my our
his her its their this that it i we how what why who when where not no all into about over
""".split()
)


def content_words(title_key: str) -> frozenset[str]:
    return frozenset(w for w in title_key.split() if w not in STOPWORDS and len(w) > 1)


@dataclass(frozen=True)
class NearMisses:
    """For each probed row, the rows of its near-miss titles (most similar first)."""

    rows: np.ndarray  # probed rows that have at least one near miss
    negatives: tuple[tuple[int, ...], ...]  # aligned with rows
    without: int  # probed rows with no near miss in the catalogue


def find_near_misses(scores: CatalogueScores, rows: Sequence[int] | np.ndarray, *, per_item: int = 5) -> NearMisses:
    """Up to `per_item` distinct near-miss titles per row, from other books of the catalogue.

    A near miss shares at least one content word with the title; candidates are ordered by the
    Jaccard overlap of all words, then by title and book_id, so the choice is deterministic and
    independent of row order. Each distinct title appears once (its smallest book_id stands for it).
    """
    keys = scores.title_keys
    words = [content_words(k) for k in keys]
    all_words = [frozenset(k.split()) for k in keys]
    index: dict[str, list[int]] = defaultdict(list)
    for j, ws in enumerate(words):
        for w in ws:
            index[w].append(j)
    kept_rows, negatives, without = [], [], 0
    for i in rows:
        candidates = {j for w in words[i] for j in index[w]}
        best: dict[str, tuple[float, str, str, int]] = {}
        for j in candidates:
            if scores.groups[j] == scores.groups[i] or keys[j] == keys[i]:
                continue
            union = len(all_words[i] | all_words[j])
            overlap = len(all_words[i] & all_words[j]) / union if union else 0.0
            entry = (-overlap, keys[j], str(scores.book_ids[j]), j)
            if keys[j] not in best or entry < best[keys[j]]:
                best[keys[j]] = entry
        chosen = sorted(best.values())[:per_item]
        if chosen:
            kept_rows.append(int(i))
            negatives.append(tuple(entry[3] for entry in chosen))
        else:
            without += 1
    return NearMisses(np.asarray(kept_rows, dtype=np.int64), tuple(negatives), without)


@dataclass(frozen=True)
class HardNegativeResult:
    """Per-item outcomes, sorted by book_id: how many near misses beat the true title, and the margin."""

    book_ids: np.ndarray
    titles: tuple[str, ...]
    failures: np.ndarray  # near misses scoring >= the true title, per item
    pairs: np.ndarray  # near misses probed, per item
    margin: np.ndarray  # cos(cover, true title) - max cos(cover, near miss)
    strongest: tuple[str, ...]  # the best-scoring near-miss title, per item
    without: int

    def __len__(self) -> int:
        return len(self.book_ids)

    def samples(self) -> dict[str, MetricSample]:
        """failure_rate (share of pairs, averaged per item), any_failure_rate (share of items), margin."""
        ids = self.book_ids
        return {
            "failure_rate": MetricSample(ids, self.failures / np.maximum(self.pairs, 1)),
            "any_failure_rate": MetricSample(ids, self.failures > 0),
            "margin_mean": MetricSample(ids, self.margin),
            "margin_p50": MetricSample(ids, self.margin),
        }

    def worst(self, n: int = 5) -> list[dict[str, object]]:
        order = np.lexsort((self.book_ids, self.margin))[:n]
        return [
            {
                "book_id": str(self.book_ids[i]),
                "title": self.titles[i],
                "near_miss": self.strongest[i],
                "margin": float(self.margin[i]),
            }
            for i in order
        ]


def hard_negative_probe(
    scores: CatalogueScores, rows: Sequence[int] | np.ndarray, *, per_item: int = 5
) -> HardNegativeResult:
    """Score every probed cover against its true title and its near-miss titles."""
    near = find_near_misses(scores, rows, per_item=per_item)
    order = np.argsort(scores.book_ids[near.rows], kind="stable")
    failures, pairs, margin, strongest = [], [], [], []
    for pos in order:
        i, negs = int(near.rows[pos]), np.asarray(near.negatives[pos], dtype=np.int64)
        neg_scores = scores.texts[negs] @ scores.covers[i]
        true_score = scores.exact_similarity[i]
        failures.append(int((neg_scores >= true_score).sum()))
        pairs.append(len(negs))
        margin.append(float(true_score - neg_scores.max()))
        strongest.append(scores.titles[int(negs[int(np.argmax(neg_scores))])])
    rows_sorted = near.rows[order]
    return HardNegativeResult(
        book_ids=scores.book_ids[rows_sorted],
        titles=tuple(scores.titles[i] for i in rows_sorted),
        failures=np.asarray(failures, dtype=np.int64),
        pairs=np.asarray(pairs, dtype=np.int64),
        margin=np.asarray(margin, dtype=np.float64),
        strongest=tuple(strongest),
        without=near.without,
    )
