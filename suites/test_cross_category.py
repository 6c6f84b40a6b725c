"""Does tuning on one category hurt the others? Retrieval on the categories outside the
fine-tuning set, candidate against baseline."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.suite("cross_category")


def test_gate(bookclip, gate):
    bookclip.check(gate)
