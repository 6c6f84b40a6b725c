"""Embedding and scoring pieces every probe shares: titles to unit vectors, ranks, top-1 answers.

Covers are always ranked against the whole catalogue given to a probe; a query's correct
covers are every edition of its book (same group_id), as in harness.evaluate.retrieval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from harness.errors import EvaluationError

if TYPE_CHECKING:  # imported for annotations only; both packages load torch/open_clip lazily
    from harness.data import Catalogue
    from harness.models import ClipModel

CHUNK_ROWS = 1024  # query rows per score block: CHUNK_ROWS x N floats at a time


def unit_rows(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """float32 rows scaled to unit L2 norm (zero rows stay zero)."""
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    array = array.astype(np.float32, copy=False)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def encode_titles(model: ClipModel, titles: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
    """Titles as the model's L2-normalised float32 text embeddings, (len(titles), embed_dim), through the
    embedding cache (keyed by the model's identity and the titles)."""
    from harness.evaluate.embed import cached_texts

    out = cached_texts(model, list(titles), batch_size=batch_size)
    if not np.isfinite(out).all():
        raise EvaluationError(
            f"model {model.spec} gave non-finite text embeddings for probe titles; check its weights (fingerprint)"
        )
    return out


def catalogue_embeddings(
    model: ClipModel, catalogue: Catalogue, *, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(cover embeddings, exact-title embeddings), both (N, d) L2-normalised, via harness.evaluate's cache."""
    from harness.evaluate.embed import embed

    embeddings = embed(model, catalogue, template="{title}", batch_size=batch_size)
    return np.asarray(embeddings.images, dtype=np.float32), np.asarray(embeddings.texts, dtype=np.float32)


def pair_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (M, d) arrays of unit vectors."""
    similarity: np.ndarray = np.einsum("ij,ij->i", a, b, dtype=np.float64).astype(np.float32)
    return similarity


def text_to_cover_ranks(
    queries: np.ndarray,
    query_groups: Sequence[str],
    covers: np.ndarray,
    cover_groups: Sequence[str],
    *,
    where: str = "probe",
) -> np.ndarray:
    """1-based rank of each query's best correct cover (pessimistic ties), via harness.evaluate.retrieval."""
    from harness.evaluate.retrieval import query_ranks

    return query_ranks(queries, list(query_groups), covers, list(cover_groups), where=where)


def top_cover_groups(
    queries: np.ndarray, covers: np.ndarray, cover_groups: Sequence[str], cover_ids: Sequence[str]
) -> np.ndarray:
    """group_id of the cover each query ranks first; ties go to the smallest book_id.

    Breaking ties by book_id (not by row position) keeps the answer independent of row order.
    """
    order = np.argsort(np.asarray(cover_ids, dtype=str), kind="stable")
    ordered = torch.from_numpy(np.ascontiguousarray(covers[order], dtype=np.float32))
    groups = np.asarray(cover_groups, dtype=str)[order]
    best = np.empty(len(queries), dtype=np.int64)
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    for start in range(0, len(q), CHUNK_ROWS):
        scores = q[start : start + CHUNK_ROWS] @ ordered.T
        best[start : start + CHUNK_ROWS] = scores.argmax(dim=1).numpy()  # first maximum
    return groups[best]


def sample_rows(book_ids: Sequence[str], limit: int | None, seed: int) -> np.ndarray:
    """Up to `limit` row positions, chosen by a seeded hash of book_id, returned sorted by book_id.

    The choice depends only on the set of book_ids and the seed, never on row order.
    """
    from harness.io import sha256_hex

    ids = np.asarray(book_ids, dtype=str)
    if limit is None or limit >= len(ids):
        return np.argsort(ids, kind="stable")
    keys = np.array([sha256_hex(str(seed), book_id) for book_id in ids])
    chosen = np.argsort(keys, kind="stable")[:limit]
    return chosen[np.argsort(ids[chosen], kind="stable")]


class CatalogueScores:
    """What every probe needs about one (model, catalogue) pair, computed once.

    covers/texts: unit embeddings of each row's cover and exact title; exact_rank: rank of the
    row's cover for its exact title; exact_top_group: the group of the cover that title ranks first.
    """

    def __init__(self, covers: np.ndarray, texts: np.ndarray, frame: pd.DataFrame) -> None:
        if len(covers) != len(frame) or len(texts) != len(frame):
            raise EvaluationError(
                f"{len(covers)} cover and {len(texts)} title embeddings for a catalogue "
                f"of {len(frame)} rows; embed the same catalogue for both"
            )
        self.covers = np.ascontiguousarray(covers, dtype=np.float32)
        self.texts = np.ascontiguousarray(texts, dtype=np.float32)
        self.book_ids = frame["book_id"].to_numpy(dtype=str)
        self.groups = frame["group_id"].to_numpy(dtype=str)
        self.titles = frame["title"].astype(str).tolist()
        self.authors = frame["author"].astype(str).tolist()
        self.categories = frame["category"].astype(str).tolist()
        self.title_keys = frame["title_key"].astype(str).tolist()
        self.exact_rank = text_to_cover_ranks(self.texts, self.groups, self.covers, self.groups, where="exact titles")
        self.exact_top_group = top_cover_groups(self.texts, self.covers, self.groups, self.book_ids)
        self.exact_similarity = pair_similarity(self.covers, self.texts)

    def __len__(self) -> int:
        return len(self.book_ids)
