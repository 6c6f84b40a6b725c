"""Small, real building blocks for probe tests: a character-trigram text encoder and catalogue frames.

The trigram encoder is a real (if simple) title embedding: it lowercases, so case changes are
invisible to it, and similar spellings get similar vectors — enough to check what the probes
compute without loading a CLIP model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

DIM = 96


def trigram_encode(titles: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(titles), DIM), dtype=np.float32)
    for i, title in enumerate(titles):
        text = f"  {' '.join(title.lower().split())}  "
        for j in range(len(text) - 2):
            h = int.from_bytes(hashlib.blake2b(text[j : j + 3].encode(), digest_size=4).digest(), "little")
            out[i, h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


def book_frame(
    titles: Sequence[str], *, groups: Sequence[str] | None = None, authors: Sequence[str] | None = None
) -> pd.DataFrame:
    from harness.data import title_key

    n = len(titles)
    return pd.DataFrame(
        {
            "book_id": [f"b{i:04d}" for i in range(n)],
            "title": list(titles),
            "author": list(authors) if authors is not None else ["Ann Author"] * n,
            "category": ["Mind-Body-Spirit"] * n,
            "image_path": [f"/covers/{i:04d}.jpg" for i in range(n)],
            "isbn": [""] * n,
            "group_id": list(groups) if groups is not None else [f"g{i:04d}" for i in range(n)],
            "title_key": [title_key(t) for t in titles],
        }
    )


TITLES = [
    "The Power of Now",
    "The Power of Habit",
    "Health Power",
    "Lord of the Rings",
    "Milk and Honey",
    "The Happiness Trap",
    "Daring Greatly",
    "The Body Keeps the Score",
    "Quiet",
    "Atomic Habits",
    "The Untethered Soul",
    "A New Earth",
    "Man's Search for Meaning",
    "The Alchemist",
    "Ikigai",
    "The Four Agreements",
    "Thinking, Fast and Slow",
    "The Secret",
    "Big Magic",
    "Wherever You Go",
]


def covers_for(titles: Sequence[str], seed: int = 0, noise: float = 0.3) -> np.ndarray:
    """Cover embeddings near their titles' embeddings, so exact titles mostly find their covers."""
    rng = np.random.default_rng(seed)
    covers = trigram_encode(titles) + noise * rng.standard_normal((len(titles), DIM)).astype(np.float32) / np.sqrt(DIM)
    return covers / np.linalg.norm(covers, axis=1, keepdims=True)
