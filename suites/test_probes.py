"""Perturbed-title probes: typos and rewrites of a title should still find its cover;
near-miss titles should not."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.suite("probes")


def test_gate(bookclip, gate):
    bookclip.check(gate)
