"""Zero-shot category classification with category prompts."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.suite("zero_shot")


def test_gate(bookclip, gate):
    bookclip.check(gate)
