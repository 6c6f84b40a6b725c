"""Invariance probe (CheckList's INV): a perturbed title should still find its cover.

For each item and family, the perturbed title is the query against every cover of the catalogue.
Per item we keep the rank of the true cover (exact vs perturbed title), whether the top-1 answer
changed book (a flip), and how much the true cover's similarity dropped. Items whose title the
family leaves unchanged are not probed; they are counted as `unchanged`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.probes.families import Family, TitleContext
from harness.probes.intervals import MetricSample
from harness.probes.scoring import CatalogueScores, pair_similarity, text_to_cover_ranks, top_cover_groups

Encoder = Callable[[Sequence[str]], np.ndarray]  # titles -> (n, d) unit embeddings


@dataclass(frozen=True)
class PerturbedTitles:
    """A family applied to some catalogue rows: the rows it changed and their new titles."""

    family: str
    rows: np.ndarray  # catalogue row positions whose title changed, in the order given
    titles: tuple[str, ...]  # perturbed titles, aligned with rows
    unchanged: int  # rows the family returned unchanged (not applicable to it)


def perturb_rows(
    family: Family, scores: CatalogueScores, rows: Sequence[int] | np.ndarray, *, seed: int, context_length: int
) -> PerturbedTitles:
    """Apply `family` to each row's title, with the row's author and category as context."""
    kept, titles = [], []
    for row in rows:
        title = scores.titles[row]
        context = TitleContext(
            author=scores.authors[row], category=scores.categories[row], context_length=context_length
        )
        perturbed = family.apply(title, seed, context)
        if perturbed != title:
            kept.append(row)
            titles.append(perturbed)
    return PerturbedTitles(
        family.name, np.asarray(kept, dtype=np.int64), tuple(titles), unchanged=len(rows) - len(kept)
    )


@dataclass(frozen=True)
class InvarianceResult:
    """Per-item outcomes of one family, sorted by book_id."""

    family: str
    severity: str
    book_ids: np.ndarray
    originals: tuple[str, ...]
    perturbed: tuple[str, ...]
    exact_rank: np.ndarray
    perturbed_rank: np.ndarray
    flipped: np.ndarray  # top-1 cover belongs to another book than with the exact title
    similarity_drop: np.ndarray  # cos(cover, exact title) - cos(cover, perturbed title)
    unchanged: int
    truncated: int = 0  # perturbed titles cut at the model's context length

    def __len__(self) -> int:
        return len(self.book_ids)

    def samples(self, *, k: int) -> dict[str, MetricSample]:
        """flip_rate, recall@1, recall@k, lost@k, mean_rank_change and the similarity-drop distribution."""
        ids = self.book_ids
        in_top_k = self.exact_rank <= k
        return {
            "flip_rate": MetricSample(ids, self.flipped),
            "recall@1": MetricSample(ids, self.perturbed_rank <= 1),
            f"recall@{k}": MetricSample(ids, self.perturbed_rank <= k),
            # of the items whose exact title finds the cover in the top k, the share that loses it
            f"lost@{k}": MetricSample(ids[in_top_k], self.perturbed_rank[in_top_k] > k),
            "mean_rank_change": MetricSample(ids, self.perturbed_rank - self.exact_rank),
            "similarity_drop_mean": MetricSample(ids, self.similarity_drop),
            "similarity_drop_p50": MetricSample(ids, self.similarity_drop),
            "similarity_drop_p90": MetricSample(ids, self.similarity_drop),
        }

    def similarity_drop_quantiles(self) -> dict[str, float]:
        """The spread of the similarity drop (p10, p25, p50, p75, p90, max); empty when nothing was probed."""
        if len(self) == 0:
            return {}
        qs = np.quantile(self.similarity_drop, [0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
        return dict(zip(("p10", "p25", "p50", "p75", "p90", "max"), (float(q) for q in qs), strict=True))

    def worst(self, n: int = 5) -> list[dict[str, object]]:
        """The items whose true cover lost most similarity, most affected first."""
        order = np.lexsort((self.book_ids, -self.similarity_drop))[:n]
        return [
            {
                "book_id": str(self.book_ids[i]),
                "title": self.originals[i],
                "perturbed": self.perturbed[i],
                "exact_rank": int(self.exact_rank[i]),
                "perturbed_rank": int(self.perturbed_rank[i]),
                "similarity_drop": float(self.similarity_drop[i]),
            }
            for i in order
        ]


def invariance_probe(
    family: Family,
    scores: CatalogueScores,
    rows: Sequence[int] | np.ndarray,
    encode: Encoder,
    *,
    seed: int = 0,
    context_length: int = 77,
    count_truncated: Callable[[Sequence[str]], int] | None = None,
) -> InvarianceResult:
    """Run one family over `rows` of the catalogue, every cover of it being a candidate."""
    perturbed = perturb_rows(family, scores, rows, seed=seed, context_length=context_length)
    idx = perturbed.rows
    order = np.argsort(scores.book_ids[idx], kind="stable")  # canonical order: by book_id
    idx = idx[order]
    titles = tuple(perturbed.titles[i] for i in order)
    if len(idx):
        queries = np.asarray(encode(list(titles)), dtype=np.float32)
        ranks = text_to_cover_ranks(
            queries, scores.groups[idx], scores.covers, scores.groups, where=f"probe {family.name}"
        )
        top = top_cover_groups(queries, scores.covers, scores.groups, scores.book_ids)
        drop = scores.exact_similarity[idx] - pair_similarity(scores.covers[idx], queries)
    else:
        ranks, top, drop = (np.empty(0, dtype=np.int64), np.empty(0, dtype=str), np.empty(0, dtype=np.float32))
    return InvarianceResult(
        family=family.name,
        severity=family.severity.name.lower(),
        book_ids=scores.book_ids[idx],
        originals=tuple(scores.titles[i] for i in idx),
        perturbed=titles,
        exact_rank=scores.exact_rank[idx],
        perturbed_rank=np.asarray(ranks, dtype=np.int64),
        flipped=top != scores.exact_top_group[idx],
        similarity_drop=np.asarray(drop, dtype=np.float64),
        unchanged=perturbed.unchanged,
        truncated=count_truncated(titles) if count_truncated else 0,
    )


def exact_samples(scores: CatalogueScores, rows: Sequence[int] | np.ndarray, *, k: int) -> dict[str, MetricSample]:
    """The reference: recall@1, recall@k and mean rank with the unperturbed titles."""
    idx = np.asarray(rows, dtype=np.int64)
    ids, ranks = scores.book_ids[idx], scores.exact_rank[idx]
    return {
        "recall@1": MetricSample(ids, ranks <= 1),
        f"recall@{k}": MetricSample(ids, ranks <= k),
        "mean_rank": MetricSample(ids, ranks),
    }
