"""Fixtures for the evaluation tests: small slices of the real catalogue, tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def real_catalogue(real_bookcovers: Path):
    """Two real categories (Medical, Biography) as loaded by harness.data."""
    from harness.data import load_catalogue

    catalogue, _ = load_catalogue([real_bookcovers / "Medical", real_bookcovers / "Biography"])
    return catalogue


@pytest.fixture(scope="session")
def small_catalogue(real_catalogue):
    """80 real rows per category, including editions that share a group (duplicate titles)."""
    frame = real_catalogue.frame
    picked: list[int] = []
    for category in ("Medical", "Biography"):
        rows = np.flatnonzero(frame["category"].to_numpy() == category)
        groups = frame["group_id"].to_numpy()[rows]
        _, counts = np.unique(groups, return_counts=True)
        shared = set(np.unique(groups)[counts > 1][:5])
        dup_rows = [r for r in rows if frame["group_id"].iat[r] in shared]
        rest = [r for r in rows if r not in set(dup_rows)]
        picked += (dup_rows + rest)[:80]
    return real_catalogue.subset(sorted(picked))


@pytest.fixture(scope="session")
def tiny_model():
    from harness.models import load

    return load("tiny:vit-xs")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory for tests that check what is cached."""
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
