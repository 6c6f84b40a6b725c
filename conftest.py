"""Shared pytest setup for the project's own tests and for suites/."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
REAL_BOOKCOVERS = ROOT.parent / "shared" / "data" / "bookcovers"


@pytest.fixture(scope="session")
def real_bookcovers() -> Path:
    """The real Book Depository sample beside the project (never copied into it)."""
    if not (REAL_BOOKCOVERS / "Medical" / "Medical.csv").is_file():
        pytest.fail(f"real book-cover data not found at {REAL_BOOKCOVERS}; tests expect ../shared/data/bookcovers")
    return REAL_BOOKCOVERS
