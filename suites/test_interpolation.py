"""Weight interpolation (WiSE-FT) between baseline and candidate: the frontier of
in-category against cross-category retrieval, and the best mixing weight."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.suite("interpolation")


def test_gate(bookclip, gate):
    bookclip.check(gate)
