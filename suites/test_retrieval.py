"""Title retrieval on held-out books of the fine-tuning categories, both directions,
duplicate-aware: every edition's title is a correct answer for a cover."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.suite("retrieval")


def test_gate(bookclip, gate):
    bookclip.check(gate)


def test_candidate_differs_from_baseline(baseline, candidate):
    # A "fine-tuned" checkpoint identical to its parent is the original write-up's bug.
    assert candidate.fingerprint != baseline.fingerprint, "candidate has the baseline's exact weights"


def test_views_are_disjoint_by_book(bookclip):
    splits = bookclip.splits
    train, heldout = set(splits.train.frame["group_id"]), set(splits.heldout.frame["group_id"])
    assert not train & heldout, f"{len(train & heldout)} books are in both train and heldout"
    assert not train & set(splits.cross.frame["group_id"])
