"""harness.models names its lazy exports twice: _EXPORTS (where each lives) and a literal __all__ (for linters)."""

from __future__ import annotations

import harness.models


def test_all_lists_every_lazy_export() -> None:
    assert harness.models.__all__ == sorted(harness.models._EXPORTS)
